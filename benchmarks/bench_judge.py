"""Benchmark: how much the independent judge's verdicts move with its training seed, one network
against the average of several.

The first independent judge (`premirna.validate.judge`) is a 1-D network trained on other species'
hairpins and decoys; generated molecules are called pre-miRNAs when it gives them 0.5 or more.
This trains one judge of `--networks` networks (seeds seed, seed + 1, ...; the run's own judge
settings otherwise) on a finished run's judge set, then scores, with every network alone and
with every choice of `--members` of them averaged (what `validate.judge.members` does): the
run's real test split (ROC AUC, the share of pre-miRNAs and of negatives called pre-miRNA) and
validate's molecules (the share called pre-miRNA of generated, real, shuffled and random
molecules, and of the worst generated condition). It prints the range of each figure over the
single networks and over the averages, and appends the rows to `--out`.

    .venv/bin/python benchmarks/bench_judge.py [--results results] [--networks 5] [--members 3]

Inputs are a finished run's `validate/judge/molecules.tsv` and `model.pt` (the judge set and its
settings), `fold/folded.tsv` (the test split) and `validate/molecules.tsv` (`make run` writes
them all to results/).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

from common import REPO, RESULTS, need

FIGURES = ["roc_auc", "test_premirnas", "test_negatives", "generated", "real", "shuffled",
           "random", "worst_condition"]


def figures(judge, test, molecules) -> dict[str, float]:
    """The benchmark's figures for one judge: its accuracy on the real `test` split as validate
    reports it (`premirna.validate.stage.judge_accuracy`), and its shares of `molecules` (validate's
    table) called pre-miRNA, per set and for the worst generated condition."""
    from premirna.validate.metrics import JUDGE_THRESHOLD
    from premirna.validate.stage import judge_accuracy

    accuracy = judge_accuracy({"judge": judge}, test).iloc[0]
    score = judge(molecules["sequence"].tolist(), molecules["refolded"].tolist())
    called = score >= JUDGE_THRESHOLD
    out = {"roc_auc": accuracy["roc_auc"],
           "test_premirnas": accuracy["called_premirna_of_premirnas"],
           "test_negatives": accuracy["called_premirna_of_negatives"]}
    for name in ("generated", "real", "shuffled", "random"):
        out[name] = float(called[(molecules["set"] == name).to_numpy()].mean())
    generated = molecules["set"].to_numpy() == "generated"
    per_condition = [called[generated & (molecules["condition"] == c).to_numpy()].mean()
                     for c in molecules.loc[generated, "condition"].unique()]
    out["worst_condition"] = float(min(per_condition))
    return {k: round(float(v), 4) for k, v in out.items()}


def averaged(judges, chosen):
    """The judge that averages the probabilities of `judges[i]` for i in `chosen`."""
    import numpy as np

    return lambda sequences, structures: np.mean(
        [judges[i](sequences, structures) for i in chosen], 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results",
                        help="a finished pipeline's results folder")
    parser.add_argument("--networks", type=int, default=5, help="networks trained (seeds)")
    parser.add_argument("--members", type=int, default=3, help="networks per average")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per network (default: the run's judge settings)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "judge_seeds.tsv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import pandas as pd

    from premirna.core.tables import read_table
    from premirna.training.checkpoints import read_checkpoint
    from premirna.validate.judge import JudgeSettings, scorer, train_judge

    judge_set = read_table(need(args.results / "validate" / "judge" / "molecules.tsv"),
                           ("sequence", "structure", "label"))
    config = read_checkpoint(need(args.results / "validate" / "judge" / "model.pt"))["config"]
    settings = JudgeSettings.from_dict({**config, "members": args.networks,
                                        "threads": args.threads,
                                        "epochs": args.epochs or config["epochs"]})
    folded = read_table(need(args.results / "fold" / "folded.tsv"),
                        ("sequence", "structure", "label", "split"))
    test = folded[folded["split"] == "test"].reset_index(drop=True)
    molecules = read_table(need(args.results / "validate" / "molecules.tsv"),
                           ("set", "condition", "sequence", "refolded"))

    started = time.monotonic()
    ensemble, _ = train_judge(judge_set["sequence"].tolist(), judge_set["structure"].tolist(),
                              judge_set["label"].astype(int).to_numpy(), settings)
    seconds = (time.monotonic() - started) / args.networks
    judges = [scorer(network, settings.max_length) for network in ensemble.members]
    rows = []
    for size in sorted({1, args.members}):
        for chosen in itertools.combinations(range(args.networks), size):
            rows.append({"networks": size, "seeds": " ".join(str(settings.seed + i)
                                                             for i in chosen),
                         **figures(averaged(judges, chosen), test, molecules),
                         "seconds_per_network": round(seconds, 1), "threads": args.threads,
                         "results": str(args.results), "date": time.strftime("%Y-%m-%d")})
    table = pd.DataFrame(rows)
    print(table.drop(columns=["results", "date"]).to_string(index=False))
    print("\nrange (min-max) over", ", ".join(f"{(table['networks'] == n).sum()} judges of {n}"
                                                for n in sorted(set(table["networks"]))))
    for figure in FIGURES:
        spans = [f"{n} network(s): {g[figure].min():.3f}-{g[figure].max():.3f}"
                 for n, g in table.groupby("networks")]
        print(f"  {figure:16s}", " | ".join(spans))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, sep="\t", index=False, mode="a", header=not args.out.exists())


if __name__ == "__main__":
    main()

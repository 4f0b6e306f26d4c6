"""Benchmark: does pre-training the CVAE on other species' hairpins, then fine-tuning it on the
configured species, make molecules that judges which never saw them accept more often?

The judges learn from other species' hairpins, so a CVAE that also learns from them must not
share a species with them. The species of miRBase other than `--species` are dealt, seeded, into
two halves: the CVAE pre-trains on hairpins of half A (at most `--positives`, 40-180 nt, none
whose sequence is a molecule of the configured species or a hairpin of half B), and both judges
are rebuilt from half B alone (`premirna.validate.judge.build_judge` with half A excluded). Steps,
each written to `--workdir` and skipped when its output is there:

1. `judge`: the judges of half B (`judge/model.pt`, `judge/molecules.tsv`);
2. `pretrain_set`: half A's hairpins, folded (ViennaRNA) and encoded (`pretrain.npz`);
3. `pretrain`: the CVAE on them, with the configured species' training bins as its conditions,
   `--pretrain-epochs` epochs with a KL warm-up of `--pretrain-anneal` (`pretrain/model.pt`);
4. `finetune`: the CVAE from those weights on the configured species' training split with the
   configuration's settings (`finetune/model.pt`);
5. a results folder (`results/`) that holds the pipeline's folds, images and CNN from `--results`
   and the judges of half B, to score with

       .venv/bin/python benchmarks/bench_generation.py --results WORKDIR/results --reuse-model \\
           --workdir benchmarks/work/NAME   # with NAME/run/train_cvae/model.pt the CVAE scored

   once with the fine-tuned CVAE and once with the pipeline's own (trained on the configured
   species alone), as the same judges must score both.

    .venv/bin/python benchmarks/bench_cvae_pretrain.py --results results --workdir \\
        benchmarks/work/cvae_pretrain

Measured on the default run (benchmarks/README.md, "Generated against real with 95 % intervals,
and a CVAE pre-trained on other species"): judge 422 s, pre-training set 34 s, pre-training
230 s, fine-tuning 224 s, on one thread beside two benchmarks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from common import REPO, WORK

import premirna.generator.train as cvae_training
from premirna.core.logs import setup_logging
from premirna.core.tables import read_folded
from premirna.data.mirbase import species_of
from premirna.encode.stage import encode_table
from premirna.fold.table import fold_table
from premirna.generator.config import CVAETrainConfig
from premirna.generator.data import load_hairpins
from premirna.rna.seqio import read_records
from premirna.validate.judge import build_judge

log = logging.getLogger("bench_cvae_pretrain")


def species_halves(hairpin: Path, species: list[str], seed: int) -> tuple[list[str], list[str]]:
    """The other species of the hairpin file, dealt at random (seeded) into halves A and B."""
    records = read_records(hairpin, iupac="drop").records
    others = sorted({species_of(r.id) for r in records} - set(species))
    order = np.random.default_rng(seed).permutation(len(others))
    half = len(others) // 2
    return sorted(others[i] for i in order[:half]), sorted(others[i] for i in order[half:])


def pretrain_set(hairpin: Path, molecules: Path, half_a: list[str], half_b: list[str],
                 positives: int, seed: int, out: Path, threads: int) -> None:
    """Half A's hairpins (none equal to a configured-species molecule or a half-B hairpin),
    folded and encoded as `out/pretrain.npz` with the fold table `out/pretrain_folded.tsv`."""
    records = read_records(hairpin, iupac="drop").records
    table = pd.DataFrame({"id": [r.id for r in records],
                          "sequence": [r.sequence for r in records]})
    table["species"] = table["id"].map(species_of)
    excluded = set(pd.read_csv(molecules, sep="\t")["sequence"])
    excluded |= set(table.loc[table["species"].isin(half_b), "sequence"])
    table = table[table["species"].isin(half_a) & ~table["sequence"].isin(excluded)]
    table = table.drop_duplicates("sequence")
    table = table[table["sequence"].str.len().between(40, 180)]
    log.info("half A: %d species, %d usable hairpins", len(half_a), len(table))
    if len(table) > positives:
        chosen = np.random.default_rng(seed).choice(len(table), positives, replace=False)
        table = table.iloc[np.sort(chosen)]
    table = table.assign(label=1, source="mirbase_pretrain", split="train")
    table[["id", "sequence", "label", "species", "source", "split"]].to_csv(
        out / "pretrain_molecules.tsv", sep="\t", index=False)
    fold_table(out / "pretrain_molecules.tsv", out / "pretrain_folded.tsv", processes=threads)
    encode_table(out / "pretrain_folded.tsv", out / "pretrain_unlabelled.npz")
    with np.load(out / "pretrain_unlabelled.npz") as found:
        arrays = dict(found)
    arrays["labels"] = np.ones(len(arrays["ids"]), dtype=np.int8)
    np.savez(out / "pretrain.npz", **arrays)


def train(results: Path, out: Path, settings: dict, pretrained: Path | None) -> None:
    """The CVAE on half A with the configured species' bins (`pretrained` None), or on the
    configured species' training split starting from `pretrained`'s weights."""
    table = read_folded(results / "fold" / "folded.tsv")
    training = load_hairpins(results / "encode" / "train.npz", table)
    validation = load_hairpins(results / "encode" / "val.npz", table)
    config = CVAETrainConfig.from_dict(settings)
    (out / "model.pt").parent.mkdir(parents=True, exist_ok=True)
    if pretrained is None:
        bins = cvae_training.quantile_bins(training.attributes, training.labels,
                                           list(config.attributes), config.bins)
        cvae_training.quantile_bins = lambda *args, **kwargs: bins  # the human bins throughout
        molecules = load_hairpins(out.parent / "pretrain.npz",
                                  read_folded(out.parent / "pretrain_folded.tsv"))
        cvae_training.fit(molecules, validation, config, out / "model.pt", resume=False)
        return
    weights = torch.load(pretrained, weights_only=True)["model"]
    start = cvae_training._start

    def from_pretrained(*args):
        run = start(*args)
        run.model.load_state_dict(weights)
        return run

    cvae_training._start = from_pretrained
    cvae_training.fit(training, validation, config, out / "model.pt", resume=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results",
                        help="a default run's results folder")
    parser.add_argument("--workdir", type=Path, default=WORK / "cvae_pretrain")
    parser.add_argument("--positives", type=int, default=8000)
    parser.add_argument("--sample-seed", type=int, default=None,
                        help="seed of the sample of half A's hairpins (default: the config's)")
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--pretrain-anneal", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    setup_logging(str(work / "bench.log"))
    torch.set_num_threads(args.threads)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    seed = config["seed"]
    species = config["download"]["species"]
    results = args.results.resolve()
    hairpin = results / "download" / "mirbase" / "hairpin.fa.gz"
    molecules = results / "download" / "molecules.tsv"
    half_a, half_b = species_halves(hairpin, species, seed)
    (work / "halves.json").write_text(json.dumps({"A": half_a, "B": half_b}))
    times = {}
    started = time.monotonic()
    if not (work / "judge" / "molecules.tsv").exists():
        (work / "judge").mkdir(exist_ok=True)
        build_judge(hairpin, REPO / config["download"]["coding"], molecules, species + half_a,
                    work / "judge" / "model.pt", work / "judge" / "history.tsv",
                    settings={**config["validate"]["judge"], "seed": seed,
                              "threads": args.threads},
                    fold={k: config["fold"][k] for k in ("temperature", "dangles")},
                    processes=args.threads, out_table=work / "judge" / "molecules.tsv")
    times["judge"], started = time.monotonic() - started, time.monotonic()
    if not (work / "pretrain.npz").exists():
        sample_seed = seed if args.sample_seed is None else args.sample_seed
        pretrain_set(hairpin, molecules, half_a, half_b, args.positives, sample_seed, work,
                     args.threads)
    times["pretrain_set"], started = time.monotonic() - started, time.monotonic()
    settings = {**config["train_cvae"], "seed": seed, "threads": args.threads}
    if not (work / "pretrain" / "model.pt").exists():
        train(results, work / "pretrain", {**settings, "epochs": args.pretrain_epochs,
                                           "kl_anneal_epochs": args.pretrain_anneal}, None)
    times["pretrain"], started = time.monotonic() - started, time.monotonic()
    if not (work / "finetune" / "model.pt").exists():
        train(results, work / "finetune", settings, work / "pretrain" / "model.pt")
    times["finetune"] = time.monotonic() - started
    scored = work / "results"
    (scored / "validate").mkdir(parents=True, exist_ok=True)
    for name in ("fold", "encode", "train_cnn"):
        if not (scored / name).exists():
            os.symlink(results / name, scored / name)
    if not (scored / "validate" / "judge").exists():
        os.symlink(work / "judge", scored / "validate" / "judge")
    print(f"species: A {len(half_a)}, B {len(half_b)}; seconds: "
          + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    print(f"fine-tuned CVAE: {work / 'finetune' / 'model.pt'}; results to score with: {scored}")


if __name__ == "__main__":
    main()

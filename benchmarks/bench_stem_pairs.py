"""Benchmark: where in the stem generated molecules depart from real ones, and which features set
a condition's molecules apart for the trees judge.

Prints, for the generated pre-miRNAs of one or more finished runs (`validate/molecules.tsv` under
each `--runs` folder, the kept sequences with their re-folded structures; `--raw`: the decoder's
sequences with their drawn structures), the share of G-C and of G-U pairs at each place in the
stem counted from the terminal loop, beside the training pre-miRNAs of the fold table. With
`--judge-set` (a run's `validate/judge/molecules.tsv`) it also fits the trees judge as `validate`
does and, for the molecules of `--condition`, replaces blocks of their features (1-, 2-, 3-mer
shares, paired-state runs, nucleotide-by-state shares, hairpin attributes) by those of random
real pre-miRNAs of the same bins (training and validation splits; the judge learnt from
neither), and reports how the judge's share of molecules called pre-miRNA moves: the blocks
that close the gap to real molecules are what the judge holds against them.

    .venv/bin/python benchmarks/bench_stem_pairs.py --folded results/fold/folded.tsv \\
        --runs benchmarks/work/a/run benchmarks/work/b/run \\
        [--condition gc=high --judge-set results/validate/judge/molecules.tsv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from common import need

PLACES = 12  # pairs from the loop in the profile


def profile(sequences: list[str], structures: list[str]) -> np.ndarray:
    """PLACES x 2: the shares of G-C and of G-U pairs among the pairs at each place."""
    from premirna.generator.stem_pairs import KINDS, kind_of
    from premirna.rna.structure import pair_table

    counts = np.zeros((PLACES, 4))
    for sequence, structure in zip(sequences, structures, strict=True):
        table = pair_table(structure)
        pairs = sorted(((i, int(j)) for i, j in enumerate(table) if j > i), reverse=True)
        for index, (i, j) in enumerate(pairs[:PLACES]):
            counts[index, kind_of(sequence[i], sequence[j])] += 1  # -1: another pair
    shares = counts / np.maximum(1, counts.sum(axis=1, keepdims=True))
    return shares[:, [KINDS.index("GC"), KINDS.index("GU")]]


def in_bins(table: pd.DataFrame, condition: str | None, reference: pd.DataFrame) -> pd.Series:
    """Rows of `table` in the tertile of `reference` that `condition` ("gc=high") names."""
    if not condition:
        return pd.Series(True, index=table.index)
    attribute, name = condition.split("=")
    low, high = np.quantile(reference[attribute], [1 / 3, 2 / 3])
    value = table[attribute]
    return {"low": value < low, "mid": (value >= low) & (value < high), "high": value >= high}[name]


def block_swaps(args: argparse.Namespace, generated: pd.DataFrame, real: pd.DataFrame) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    from premirna.validate.trees_judge import TREES_ITERATIONS, TREES_LEARNING_RATE, judge_features
    from premirna.validate.two_sample import FEATURE_NAMES

    judge_set = pd.read_csv(need(args.judge_set), sep="\t")
    x = judge_features(judge_set["sequence"].tolist(), judge_set["structure"].tolist())
    model = HistGradientBoostingClassifier(max_iter=TREES_ITERATIONS,
                                           learning_rate=TREES_LEARNING_RATE,
                                           early_stopping=False, random_state=args.seed)
    with threadpool_limits(1, user_api="openmp"):
        model.fit(x, judge_set["label"].astype(int).to_numpy())
    xg = judge_features(generated["sequence"].tolist(), generated["refolded"].tolist())
    xr = judge_features(real["sequence"].tolist(), real["structure"].tolist())
    called = float((model.predict_proba(xg)[:, 1] > 0.5).mean())
    print(f"\ntrees judge, {args.condition or 'all'}: generated {called:.3f} ({len(xg)}), real "
          f"{(model.predict_proba(xr)[:, 1] > 0.5).mean():.3f} ({len(xr)})")
    names = list(FEATURE_NAMES)
    blocks = {
        "1-mers": [i for i, n in enumerate(names) if n.isupper() and len(n) == 1],
        "2-mers": [i for i, n in enumerate(names) if n.isupper() and len(n) == 2],
        "3-mers": [i for i, n in enumerate(names) if n.isupper() and len(n) == 3],
        "paired-state runs": [i for i, n in enumerate(names) if n.startswith("pairing")],
        "nucleotide by state": [i for i, n in enumerate(names) if n.endswith("paired")],
        "hairpin attributes": [i for i, n in enumerate(names)
                               if n.islower() and not n.startswith("pairing")],
        "mfe_per_nt": [names.index("mfe_per_nt")],
    }
    rng = np.random.default_rng(args.seed)
    for block, columns in blocks.items():
        moved = []
        for _ in range(5):
            swapped = xg.copy()
            swapped[:, columns] = xr[rng.integers(0, len(xr), len(xg))][:, columns]
            moved.append((model.predict_proba(swapped)[:, 1] > 0.5).mean() - called)
        print(f"  {block:<20} {len(columns):>3} features: share {np.mean(moved):+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folded", type=Path, default=Path("results/fold/folded.tsv"))
    parser.add_argument("--runs", type=Path, nargs="+", default=[Path("results")])
    parser.add_argument("--condition", default=None, help="one bin, as 'gc=high'")
    parser.add_argument("--raw", action="store_true", help="the decoder's drawn molecules")
    parser.add_argument("--judge-set", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=20191108)
    args = parser.parse_args()

    table = pd.read_csv(need(args.folded), sep="\t")
    positives = table[table["label"].astype(int) == 1]
    train = positives[positives["split"] == "train"]
    runs = [pd.read_csv(need(run / "validate" / "molecules.tsv"), sep="\t") for run in args.runs]
    generated = pd.concat(runs, ignore_index=True).query("set == 'generated'")
    wanted = f"pre-miRNA, {args.condition}" if args.condition else None
    generated = generated[generated["condition"] == wanted] if wanted else generated[
        generated["condition"].str.startswith("pre-miRNA")]
    real = train[in_bins(train, args.condition, train)]
    columns = ("raw_sequence", "intended") if args.raw else ("sequence", "refolded")
    drawn = profile(generated[columns[0]].tolist(), generated[columns[1]].tolist())
    truth = profile(real["sequence"].tolist(), real["structure"].tolist())
    frame = pd.DataFrame({"GC generated": drawn[:, 0], "GC training": truth[:, 0],
                          "GU generated": drawn[:, 1], "GU training": truth[:, 1]},
                         index=pd.RangeIndex(1, PLACES + 1, name="pair from the loop"))
    print(f"{len(generated)} generated pre-miRNAs ({args.condition or 'all conditions'}), "
          f"{len(real)} training pre-miRNAs")
    print(frame.round(3).to_string())
    if args.judge_set is not None:
        held = positives[positives["split"].isin(["train", "val"])]
        block_swaps(args, generated, held[in_bins(held, args.condition, train)])


if __name__ == "__main__":
    main()

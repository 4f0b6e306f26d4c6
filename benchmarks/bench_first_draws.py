"""Benchmark: how often the CVAE's decoder alone draws a hairpin in the requested bin.

For every binned condition of `generate` ("single": each attribute's low, mid and high bin of
the pre-miRNA class), draws `--n` molecules the way `generate`'s first round does (the open
attributes completed from training molecules of the requested bins, z from their posteriors at
the configured latent scale) under each `--guidance` value of `generate.requested_guidance`
and each `--steering` strength (`generate.steering`, of the requested attribute or of all
steerable ones: `--steer`), and counts the share whose drawn hairpin falls in the requested bin
(`premirna.generator.request.in_requested_bins`, the stage's own test). No redraws, no repair
walk, no folding: this isolates the decoder. Each `--seeds` value gives new latents and noise.
It also records where the drawn values lie (quartiles, beside the bin edges), how the drawn
values in the bin lie against those of the training pre-miRNAs in the bin (`real_auc`: the ROC
AUC of drawn against real, 0.5 alike, below 0.5 lower, above higher; the reference attribute
matching's critic learns from), and the share of drawn hairpins with a pair ViennaRNA cannot
form (`non_canonical`).

    .venv/bin/python benchmarks/bench_first_draws.py --results results \\
        [--guidance 1 1.25 1.5] [--steering 0 0.1] [--steer all] [--seeds 1 2 3 4] [--n 100]

Inputs are a finished run's train_cvae, fold and encode outputs (`make run` writes them to
results/). Rows go to `--out` (default benchmarks/results/first_draws.tsv, replaced).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import RESULTS, need
from scipy.stats import mannwhitneyu


def non_canonical(sequences: list[str], structures: list[str]) -> float:
    """Share of drawn hairpins with at least one pair ViennaRNA cannot form."""
    from premirna.interpret.determinants import PAIRS
    from premirna.rna.structure import pair_table

    def odd(sequence: str, structure: str) -> bool:
        table = pair_table(structure)
        return any(j > i and sequence[i] + sequence[j] not in PAIRS
                   for i, j in enumerate(table))

    return float(np.mean([odd(s, t) for s, t in zip(sequences, structures, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 1.25, 1.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=100, help="molecules per condition")
    parser.add_argument("--latent-scale", type=float, default=0.5)
    parser.add_argument("--steering", type=float, nargs="+", default=[0.0, 0.1],
                        help="strengths of attribute steering (generate.steering)")
    parser.add_argument("--steer", choices=("requested", "all"), default="all",
                        help="steer the requested attribute or every steerable one")
    parser.add_argument("--out", type=Path, default=RESULTS / "first_draws.tsv")
    args = parser.parse_args()

    from premirna.core.tables import read_folded
    from premirna.generator.conditions import (
        binned_reference,
        condition_rows,
        parse_conditions,
        requested_columns,
    )
    from premirna.generator.posterior import load_cvae, posterior_latents, training_posteriors
    from premirna.generator.realism import real_in_bins
    from premirna.generator.request import drawn_attributes, in_requested_bins
    from premirna.generator.sample import Decoding, decode_latents
    from premirna.generator.steering import source_targets, steering_targets
    from premirna.training.device import use_threads

    use_threads(1)
    model, checkpoint = load_cvae(need(args.results / "train_cvae" / "model.pt"))
    table = read_folded(need(args.results / "fold" / "folded.tsv"))
    reference = binned_reference(table, checkpoint)
    images = sorted((args.results / "encode").glob("*.npz"))
    posterior = training_posteriors(model, checkpoint, reference, images, table)
    conditions = [c for c in parse_conditions("single", checkpoint) if c.bins]
    every = steering_targets(table[table["split"] == "train"])
    dim = model.config.latent_dim
    rows = []
    for seed, weight, strength in itertools.product(args.seeds, args.guidance, args.steering):
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        for k, condition in enumerate(conditions):
            sources: list[str] = []
            conds = condition_rows(condition, args.n, checkpoint, reference, rng, sources)
            noise = rng.standard_normal((args.n, dim)) * args.latent_scale
            z = posterior_latents(posterior, sources, noise.astype(np.float32))
            asked = np.repeat(requested_columns(condition, checkpoint)[None], args.n, axis=0)
            (attribute,) = condition.bins
            targets = source_targets(every, sources, condition.bins, args.steer == "all")
            decoding = Decoding(requested_guidance=weight, steering=strength)
            decoded = decode_latents(model, z, conds, decoding, seed=1000 * seed + k,
                                     requested=asked, targets=targets)
            drawn = drawn_attributes(decoded.sequences, decoded.structures, [attribute])
            q1, median, q3 = np.nanpercentile(drawn[attribute], [25, 50, 75])
            hit = in_requested_bins(decoded, condition, checkpoint)
            real = real_in_bins(table, condition, checkpoint, (attribute,))[attribute]
            auc = mannwhitneyu(drawn.loc[hit, attribute], real).statistic / (
                hit.sum() * len(real))
            rows.append({"seed": seed, "requested_guidance": weight, "steering": strength,
                         "condition": condition.name,
                         "in_bin": float(hit.mean()), "real_auc": auc,
                         "edges": checkpoint["bins"][attribute],
                         "drawn_q1": q1, "drawn_median": median, "drawn_q3": q3,
                         "non_canonical": non_canonical(decoded.sequences,
                                                        decoded.structures)})
        mean = np.mean([r["in_bin"] for r in rows[-len(conditions):]])
        print(f"seed {seed}, requested_guidance {weight}, steering {strength}: first-draw "
              f"control {mean:.3f} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out, sep="\t", index=False, float_format="%.4g")
    for value in ("in_bin", "real_auc"):
        wide = frame.pivot_table(index="condition", columns=["requested_guidance", "steering"],
                                 values=value,
                                 aggfunc="mean", sort=False)
        print(f"\n{value}, mean over the seeds:\n{wide.round(2).to_string()}")


if __name__ == "__main__":
    main()

"""Benchmark of the fold stage: ViennaRNA MFE folding time per sequence on real human hairpins.

Folds the human (hsa) hairpins of miRBase 22 with `premirna.rna.folding.fold_sequences` using 1, 2,
... processes and prints a table: sequences, processes, seconds, ms per sequence and speed-up over
one process (best of `--repeats` runs each, so a busy shared machine disturbs the figures less).

    .venv/bin/python benchmarks/bench_fold.py [--processes 1 2] [--limit N] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import RNA
from common import REPO

from premirna.rna.folding import fold_sequences
from premirna.rna.seqio import read_records

HAIRPINS = REPO / "resources" / "mirbase_v22" / "hairpin.fa.gz"


def human_hairpins(path: Path, limit: int | None) -> list[str]:
    """Sequences of the hsa- hairpins of a miRBase hairpin FASTA, in file order."""
    records = read_records(path, iupac="drop").records
    sequences = [record.sequence for record in records if record.id.startswith("hsa-")]
    return sequences[:limit] if limit else sequences


def best_time(sequences: list[str], processes: int, repeats: int) -> float:
    """Fastest of `repeats` wall-clock timings (seconds) of folding all sequences."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fold_sequences(sequences, processes=processes)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hairpins", type=Path, default=HAIRPINS, help="miRBase hairpin.fa(.gz)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--limit", type=int, default=None, help="fold only the first N hairpins")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    sequences = human_hairpins(args.hairpins, args.limit)
    lengths = [len(seq) for seq in sequences]
    median, mean = statistics.median(lengths), statistics.mean(lengths)
    print(
        f"ViennaRNA {RNA.__version__}, {len(sequences)} human hairpins from {args.hairpins.name} "
        f"(length median {median:.0f} nt, mean {mean:.1f}), best of {args.repeats}"
    )
    print(
        f"{'sequences':>9}  {'processes':>9}  {'seconds':>8}  {'ms/sequence':>11}  {'speed-up':>8}"
    )
    baseline = None
    for processes in args.processes:
        seconds = best_time(sequences, processes, args.repeats)
        if processes == 1:
            baseline = seconds
        speed_up = f"{baseline / seconds:8.2f}" if baseline else f"{'-':>8}"
        print(
            f"{len(sequences):>9}  {processes:>9}  {seconds:>8.2f}  "
            f"{1000 * seconds / len(sequences):>11.2f}  {speed_up}"
        )


if __name__ == "__main__":
    main()

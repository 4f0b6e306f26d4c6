"""Benchmark: hairpins per second drawn (`encode_many`) and read back (`decode_many`) on one core.

The oracle's 2,049 real hairpins that have a hairpin loop (1,500 human miRBase, 500 CODING, 49 edge
cases) with their RNAfold 2.1.3 structures, repeated to `--n` (20,000), are drawn by `encode_many`
(structures given; validation, loop choice, walk and painting counted, folding not) and the
images read back by `decode_many` (reading, the redraw check and the dot-brackets counted). The
process pins itself to one CPU (as `taskset -c 0`) and sets the BLAS/OpenMP thread counts to 1
before numpy loads; the table gives the best of `--repeats` runs (other load on the machine only
slows a run down).

    .venv/bin/python benchmarks/bench_encode.py --out benchmarks/results/encode_speed.tsv
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402 (one thread per library, set before numpy is imported)
import datetime  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from common import REPO  # noqa: E402

from premirna.encode.decode import decode_many  # noqa: E402
from premirna.encode.render import encode, encode_many  # noqa: E402

ORACLE = REPO / "tests" / "fixtures" / "cordero_encoding_oracle" / "oracle.npz"


def best_rate(func, n_items: int, repeats: int) -> float:
    """Items per second of the fastest of `repeats` calls."""
    func()  # warm caches and lazy imports
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return n_items / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="hairpins per run (default 20000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs; the best counts (default 5)")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0)")
    parser.add_argument("--out", help="append the table to this TSV file")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})

    with np.load(ORACLE) as z:
        ok = z["status"] == "ok"
        sequences = [str(s) for s in z["sequences"][ok]]
        structures = [str(s) for s in z["structures_2_1_3"][ok]]
    reps = -(-args.n // len(sequences))
    sequences = (sequences * reps)[: args.n]
    structures = (structures * reps)[: args.n]
    images, _ = encode_many(sequences, structures)
    mean_length = sum(map(len, sequences)) / len(sequences)

    single = min(2_000, args.n)
    rows = [
        ("encode_many", best_rate(lambda: encode_many(sequences, structures), args.n,
                                  args.repeats)),
        ("decode_many", best_rate(lambda: decode_many(images), args.n, args.repeats)),
        (
            "encode (one call per hairpin)",
            best_rate(
                lambda: [encode(s, t) for s, t in zip(sequences[:single], structures[:single],
                                                      strict=True)],
                single,
                max(1, args.repeats // 2),
            ),
        ),
    ]
    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    # Other processes on the pinned CPU slow every run down; say how busy the machine was.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.n} oracle hairpins (mean {mean_length:.0f} nt), 1 CPU ({machine}), "
          f"best of {args.repeats}, load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'operation':32s} {'hairpins/s':>12s}")
    for name, rate in rows:
        print(f"{name:32s} {rate:12,.0f}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        new = not out.exists()
        with out.open("a") as handle:
            if new:
                handle.write("date\tmachine\tload_average\thairpins\tmean_length\toperation\t"
                             "hairpins_per_second\n")
            today = datetime.date.today().isoformat()
            for name, rate in rows:
                handle.write(f"{today}\t{machine}\t{load:.1f}\t{args.n}\t{mean_length:.1f}\t"
                             f"{name}\t{rate:.0f}\n")


if __name__ == "__main__":
    main()

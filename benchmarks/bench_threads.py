"""Benchmark: CVAE training speed with the second core idle or busy, and OpenMP's wait policy.

On a 2-core workstation or login node the other core is often busy. With OpenMP's default
(active) waiting, a torch thread that finishes its share of a parallel region spins for the
other, which is waiting for a core; with ``OMP_WAIT_POLICY=PASSIVE`` (what `premirna` sets on
import, in `premirna/__init__.py`, for every stage) it sleeps and hands the core back. This
times one train_cvae epoch (the rule's 2 threads, the default model) for each wait policy, with
the second core idle and then kept busy by a spinning process, alternating `--repeats` times, and
prints the median epoch seconds and the busy/idle ratio per policy.

    .venv/bin/python benchmarks/bench_threads.py [--results results] [--molecules 2000]

Inputs are a finished run's encode and fold outputs (`make run` writes them to results/).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, RESULTS, need

SPIN = "while True: pass"


def one_epoch(results: Path, molecules: int, threads: int) -> float:
    """Seconds of one training epoch on the first `molecules` training molecules."""
    import numpy as np

    from premirna.core.tables import read_folded
    from premirna.generator.config import CVAETrainConfig
    from premirna.generator.data import load_hairpins
    from premirna.generator.train import fit

    table = read_folded(results / "fold" / "folded.tsv")
    train = load_hairpins(results / "encode" / "train.npz", table)
    val = load_hairpins(results / "encode" / "val.npz", table)
    train = train.subset(np.arange(len(train)) < molecules)
    val = val.subset(np.arange(len(val)) < molecules // 5)
    config = CVAETrainConfig.from_dict({"epochs": 1, "threads": threads, "device": "cpu"})
    with tempfile.TemporaryDirectory() as folder:
        _, checkpoint = fit(train, val, config, Path(folder) / "model.pt", resume=False)
    return float(checkpoint["history"][0]["seconds"])


def policy_env(policy: str) -> dict[str, str]:
    """The environment of a policy: PASSIVE or ACTIVE; ``default`` (libgomp's own: spin a while,
    then sleep; an empty value, which premirna leaves alone and libgomp ignores); or ``spin:N``
    (the default with GOMP_SPINCOUNT=N)."""
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if policy == "default":
        return {**env, "OMP_WAIT_POLICY": ""}
    if policy.startswith("spin:"):
        return {**env, "OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": policy.split(":", 1)[1]}
    return {**env, "OMP_WAIT_POLICY": policy}


def measure(policy: str, busy: bool, args: argparse.Namespace) -> float:
    """One epoch in a fresh process (the policy is read when OpenMP starts), with or without a
    spinning process beside it."""
    env = policy_env(policy)
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", "--results", str(args.results),
             "--molecules", str(args.molecules), "--threads", str(args.threads)],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "results",
                        help="a finished run's results folder (encode and fold outputs)")
    parser.add_argument("--molecules", type=int, default=2000, help="training molecules")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the rule's 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policies", nargs="+", default=["PASSIVE", "ACTIVE", "default"],
                        help="PASSIVE, ACTIVE, default or spin:N (see policy_env)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"seconds": one_epoch(args.results, args.molecules, args.threads)}))
        return
    need(args.results / "encode" / "train.npz")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    rows = []
    for policy in args.policies:
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for busy in (False, True):
                times[busy].append(measure(policy, busy, args))
        idle, busy = statistics.median(times[False]), statistics.median(times[True])
        rows.append({"policy": policy, "idle_s": round(idle, 2), "busy_s": round(busy, 2),
                     "busy_over_idle": round(busy / idle, 2), "molecules": args.molecules,
                     "threads": args.threads, "idle_all": times[False], "busy_all": times[True]})
        print(json.dumps(rows[-1]))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    out = RESULTS / "threads.tsv"
    with open(out, "w") as handle:
        handle.write("policy\tidle_s\tbusy_s\tbusy_over_idle\tmolecules\tthreads\n")
        for row in rows:
            handle.write("\t".join(str(row[k]) for k in ("policy", "idle_s", "busy_s",
                                                         "busy_over_idle", "molecules",
                                                         "threads")) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

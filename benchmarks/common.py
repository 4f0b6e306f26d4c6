"""What the benchmarks share: where the repository is, where the shared data sets are, and where
scratch files go.

The data sets the benchmarks measure on are not in the repository (they are large, and some
belong to their authors): they are read from a data folder, by default `../shared/data` beside the
repository, or the folder given with `--data` (its README describes every set). Scratch files
(caches, work folders of whole runs) go under `benchmarks/work/`, which git ignores; result tables
are kept in `benchmarks/results/`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The shared data folder beside the repository.
SHARED_DATA = REPO.parent / "shared" / "data"
#: Caches and work folders (git-ignored).
WORK = REPO / "benchmarks" / "work"
#: Result tables kept in the repository.
RESULTS = REPO / "benchmarks" / "results"


def add_data_option(parser: argparse.ArgumentParser) -> None:
    """`--data FOLDER`: the shared data folder (default: ../shared/data beside the repository)."""
    parser.add_argument("--data", type=Path, default=SHARED_DATA,
                        help=f"the shared data folder (default {SHARED_DATA})")


def need(path: Path) -> Path:
    """`path`, or a clear exit when the data set is not there."""
    if not path.exists():
        raise SystemExit(f"{path}: not found; give the shared data folder with --data")
    return path

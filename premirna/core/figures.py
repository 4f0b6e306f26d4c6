"""Figures: matplotlib on the file-only Agg backend (no display on cluster nodes), saved
atomically at one resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from premirna.core.atomic import atomic_path

#: Resolution of every figure the pipeline writes.
DPI = 110


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> None:
    """Save a figure atomically (format from the suffix, PNG by default) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format=Path(path).suffix.lstrip(".") or "png",
                    bbox_inches="tight")
    pyplot().close(fig)

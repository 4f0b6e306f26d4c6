"""Figures: matplotlib on the file-only Agg backend (no display on cluster nodes), saved
atomically at one resolution.

Every PNG records, as a text chunk ``premirna:smallest_font_pt``, the size of its smallest visible
text, so that a check (tests/workflow/test_report.py) can tell from the width a viewer shows it at
whether a reader can still read it: text shown below `MIN_SHOWN_PT` is too small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from premirna.core.atomic import atomic_path

#: Resolution of every figure the pipeline writes.
DPI = 110
#: Smallest text, in points at the displayed size, that a figure may show (CSS: 96 px per inch).
MIN_SHOWN_PT = 9.0
FONT_KEY = "premirna:smallest_font_pt"


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: The widest figure (inches) that a report viewer shows at full size (`DPI` px per inch).
MAX_WIDTH_IN = 9.0


def panel_grid(n: int, panel_width: float, panel_height: float, max_columns: int = 3,
               **kwargs: Any) -> tuple[Any, list[Any]]:
    """A figure of `n` panels in rows of at most `max_columns` (and at most `MAX_WIDTH_IN`
    wide), instead of one long row that a viewer would shrink; the unused cells are hidden.
    Returns the figure and the `n` axes in reading order."""
    columns = max(1, min(n, max_columns, int(MAX_WIDTH_IN // panel_width) or 1))
    rows = -(-n // columns)
    fig, axes = pyplot().subplots(rows, columns, squeeze=False,
                                  figsize=(panel_width * columns, panel_height * rows), **kwargs)
    flat = list(axes.ravel())
    for axis in flat[n:]:
        axis.set_visible(False)
    return fig, flat[:n]


def smallest_font_pt(fig: Any) -> float:
    """The size (points) of the smallest visible, non-empty text of `fig`; inf when it has none."""
    from matplotlib.text import Text

    sizes = [text.get_fontsize() for text in fig.findobj(Text)
             if text.get_visible() and text.get_text().strip()]
    return min(sizes, default=float("inf"))


def shown_font_pt(smallest_pt: float, natural_px: float, shown_px: float) -> float:
    """The size at which text of `smallest_pt` appears when a figure saved at `DPI` that is
    `natural_px` wide is shown `shown_px` CSS pixels wide (96 CSS px per inch)."""
    return smallest_pt * DPI / 96 * shown_px / natural_px


def save_figure(fig: Any, path: str | Path) -> None:
    """Save a figure atomically (format from the suffix, PNG by default) and close it."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    metadata = {FONT_KEY: f"{smallest_font_pt(fig):.2f}"} if fmt == "png" else None
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format=fmt, bbox_inches="tight", metadata=metadata)
    pyplot().close(fig)

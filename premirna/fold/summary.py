"""The fold stage's summary for the report: attributes per class and split, and histograms."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from premirna.core.atomic import write_tsv
from premirna.core.figures import panel_grid, save_figure
from premirna.core.splits import SPLITS
from premirna.core.tables import CLASS_WORDS, read_table

#: Attributes summarised per class, as (column of folded.tsv, label for people).
FOLD_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("length", "length (nt)"),
    ("gc", "GC content"),
    ("mfe_per_nt", "MFE per nt (kcal/mol/nt)"),
    ("stem_length", "stem length (bp)"),
    ("loop_size", "terminal-loop size (nt)"),
)


def fold_summary(folded_tsv: str | os.PathLike[str]) -> pd.DataFrame:
    """Median and quartiles of each fold attribute per class and split (and over all splits)."""
    columns = ("label", "split", "hairpin_loops", *(c for c, _ in FOLD_ATTRIBUTES))
    folded = read_table(folded_tsv, columns, nonempty=True)
    folded = folded.assign(cls=folded["label"].map(CLASS_WORDS))
    rows = []
    groups = [(split, folded[folded["split"] == split]) for split in SPLITS]
    groups.append(("all", folded))
    for split, part in groups:
        for label in (1, 0):
            sub = part[part["label"] == label]
            if sub.empty:
                continue
            row: dict[str, object] = {
                "class": CLASS_WORDS[label],
                "split": split,
                "molecules": len(sub),
                "single_hairpin": round(float((sub["hairpin_loops"] == 1).mean()), 4),
            }
            for column, _ in FOLD_ATTRIBUTES:
                q1, median, q3 = np.nanpercentile(sub[column].to_numpy(float), [25, 50, 75])
                row[f"{column}_median"] = round(float(median), 4)
                row[f"{column}_iqr"] = f"{q1:.4g} to {q3:.4g}"
            rows.append(row)
    return pd.DataFrame(rows)


def plot_fold_distributions(
    folded_tsv: str | os.PathLike[str], path: str | os.PathLike[str]
) -> None:
    """Histograms of the fold attributes, pre-miRNAs against negatives (all splits)."""
    folded = read_table(folded_tsv, ("label", *(c for c, _ in FOLD_ATTRIBUTES)), nonempty=True)
    fig, axes = panel_grid(len(FOLD_ATTRIBUTES), 3.0, 2.8)
    for ax, (column, title) in zip(axes, FOLD_ATTRIBUTES, strict=True):
        values = folded[column].to_numpy(float)
        finite = values[np.isfinite(values)]
        bins = np.histogram_bin_edges(finite, bins=40) if finite.size else 10
        for label, colour in ((1, "tab:red"), (0, "tab:blue")):
            part = folded.loc[folded["label"] == label, column].to_numpy(float)
            part = part[np.isfinite(part)]
            name = f"{CLASS_WORDS[label]} ({part.size})"
            ax.hist(part, bins=bins, alpha=0.55, color=colour, label=name)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=9)
    for ax in axes[::3]:
        ax.set_ylabel("molecules")
    axes[0].legend(fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def write_fold_summary(
    folded_tsv: str | os.PathLike[str],
    out_tsv: str | os.PathLike[str],
    out_png: str | os.PathLike[str],
) -> pd.DataFrame:
    """`fold_summary` and `plot_fold_distributions`, both written atomically."""
    table = fold_summary(folded_tsv)
    write_tsv(table, out_tsv)
    plot_fold_distributions(folded_tsv, out_png)
    return table

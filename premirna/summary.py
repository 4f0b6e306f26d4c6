"""Data summaries for the report: what went into the pipeline, and how it folds.

Two small tables and one figure, made from files the `download` and `fold` stages already wrote:

- `download_summary`: molecules per class, source, species and split, each row carrying the
  miRBase release and the MD5 of the hairpin file it came from (``results/download/summary.tsv``);
- `fold_summary`: per class and split, the median and quartiles of length, GC, MFE per nt, stem
  length and terminal-loop size, and the share of molecules that fold into a single hairpin
  (``results/fold/summary.tsv``), with histograms of the same attributes
  (``results/fold/distributions.png``).

They are the report's "1. download" and "2. fold" sections; nothing downstream reads them.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from premirna.atomic import atomic_open, write_tsv
from premirna.errors import InputError

CLASS_NAMES: dict[int, str] = {1: "pre-miRNA", 0: "negative"}
#: Attributes summarised per class, as (column of folded.tsv, label for people).
FOLD_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("length", "length (nt)"),
    ("gc", "GC content"),
    ("mfe_per_nt", "MFE per nt (kcal/mol/nt)"),
    ("stem_length", "stem length (bp)"),
    ("loop_size", "terminal-loop size (nt)"),
)
SPLIT_ORDER: tuple[str, ...] = ("train", "val", "test", "all")


def _read(path: str | os.PathLike[str], columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"cannot be read as a tab-separated table: {exc}") from exc
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}")
    if table.empty:
        raise InputError(path, "has no rows")
    return table


def download_summary(
    molecules_tsv: str | os.PathLike[str], manifest_tsv: str | os.PathLike[str]
) -> pd.DataFrame:
    """Count molecules per class, source, species and split; add release and hairpin-file MD5.

    Species with fewer than 1% of a class's molecules are pooled as "other" so that an
    all-species run gives a readable table.
    """
    molecules = _read(molecules_tsv, ("id", "label", "species", "source", "split"))
    manifest = _read(manifest_tsv, ("file", "release", "md5"))
    hairpin = manifest[manifest["file"] == "hairpin.fa.gz"]
    if hairpin.empty:
        raise InputError(manifest_tsv, "has no row for hairpin.fa.gz")
    release, md5 = str(hairpin["release"].iloc[0]), str(hairpin["md5"].iloc[0])

    table = molecules.assign(cls=molecules["label"].map(CLASS_NAMES))
    if table["cls"].isna().any():
        bad = table.loc[table["cls"].isna(), "id"].iloc[0]
        raise InputError(molecules_tsv, "label must be 0 or 1", record=str(bad))
    share = table.groupby(["cls", "species"])["id"].transform("size") / table.groupby("cls")[
        "id"
    ].transform("size")
    table["species"] = table["species"].where(share >= 0.01, "other")
    counts = table.pivot_table(
        index=["cls", "source", "species"],
        columns="split",
        values="id",
        aggfunc="size",
        fill_value=0,
    )
    counts = counts.reindex(columns=[s for s in SPLIT_ORDER[:3] if s in counts.columns])
    counts["all"] = counts.sum(axis=1)
    counts = counts.reset_index().rename(columns={"cls": "class"})
    counts.columns.name = None
    counts = counts.sort_values(["class", "all"], ascending=[False, False], kind="stable")
    counts["mirbase_release"] = release
    counts["hairpin_md5"] = md5
    return counts.reset_index(drop=True)


def fold_summary(folded_tsv: str | os.PathLike[str]) -> pd.DataFrame:
    """Median and quartiles of each fold attribute per class and split (and over all splits)."""
    columns = ("label", "split", "hairpin_loops", *(c for c, _ in FOLD_ATTRIBUTES))
    folded = _read(folded_tsv, columns)
    folded = folded.assign(cls=folded["label"].map(CLASS_NAMES))
    rows = []
    groups = [(split, folded[folded["split"] == split]) for split in SPLIT_ORDER[:3]]
    groups.append(("all", folded))
    for split, part in groups:
        for label in (1, 0):
            sub = part[part["label"] == label]
            if sub.empty:
                continue
            row: dict[str, object] = {
                "class": CLASS_NAMES[label],
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folded = _read(folded_tsv, ("label", *(c for c, _ in FOLD_ATTRIBUTES)))
    fig, axes = plt.subplots(1, len(FOLD_ATTRIBUTES), figsize=(3.2 * len(FOLD_ATTRIBUTES), 2.8))
    for ax, (column, title) in zip(axes, FOLD_ATTRIBUTES, strict=True):
        values = folded[column].to_numpy(float)
        finite = values[np.isfinite(values)]
        bins = np.histogram_bin_edges(finite, bins=40) if finite.size else 10
        for label, colour in ((1, "tab:red"), (0, "tab:blue")):
            part = folded.loc[folded["label"] == label, column].to_numpy(float)
            part = part[np.isfinite(part)]
            name = f"{CLASS_NAMES[label]} ({part.size})"
            ax.hist(part, bins=bins, alpha=0.55, color=colour, label=name)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("molecules")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def write_download_summary(
    molecules_tsv: str | os.PathLike[str],
    manifest_tsv: str | os.PathLike[str],
    out_tsv: str | os.PathLike[str],
) -> pd.DataFrame:
    """`download_summary` written atomically to ``out_tsv``."""
    table = download_summary(molecules_tsv, manifest_tsv)
    write_tsv(table, out_tsv)
    return table


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

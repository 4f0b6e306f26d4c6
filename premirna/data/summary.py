"""The download stage's summary for the report: molecules per class, source, species and split."""

from __future__ import annotations

import os

import pandas as pd

from premirna.core.atomic import write_tsv
from premirna.core.errors import InputError
from premirna.core.splits import SPLITS
from premirna.core.tables import CLASS_WORDS, read_table


def download_summary(
    molecules_tsv: str | os.PathLike[str], manifest_tsv: str | os.PathLike[str]
) -> pd.DataFrame:
    """Count molecules per class, source, species and split; add release and hairpin-file MD5.

    Species with fewer than 1% of a class's molecules are pooled as "other" so that an
    all-species run gives a readable table.
    """
    molecules = read_table(
        molecules_tsv, ("id", "label", "species", "source", "split"), nonempty=True
    )
    manifest = read_table(manifest_tsv, ("file", "release", "md5"), nonempty=True)
    hairpin = manifest[manifest["file"] == "hairpin.fa.gz"]
    if hairpin.empty:
        raise InputError(manifest_tsv, "has no row for hairpin.fa.gz")
    release, md5 = str(hairpin["release"].iloc[0]), str(hairpin["md5"].iloc[0])

    table = molecules.assign(cls=molecules["label"].map(CLASS_WORDS))
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
    counts = counts.reindex(columns=[s for s in SPLITS if s in counts.columns])
    counts["all"] = counts.sum(axis=1)
    counts = counts.reset_index().rename(columns={"cls": "class"})
    counts.columns.name = None
    counts = counts.sort_values(["class", "all"], ascending=[False, False], kind="stable")
    counts["mirbase_release"] = release
    counts["hairpin_md5"] = md5
    return counts.reset_index(drop=True)


def write_download_summary(
    molecules_tsv: str | os.PathLike[str],
    manifest_tsv: str | os.PathLike[str],
    out_tsv: str | os.PathLike[str],
) -> pd.DataFrame:
    """`download_summary` written atomically to ``out_tsv``."""
    table = download_summary(molecules_tsv, manifest_tsv)
    write_tsv(table, out_tsv)
    return table

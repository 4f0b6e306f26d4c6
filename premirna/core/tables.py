"""The tables the stages hand each other: their columns, and one reader for all of them.

Every tab-separated artefact of the pipeline (docs/ARCHITECTURE.md) is read through `read_table`,
with one convention for empty cells: in a text column (ids, sequences, structures, names) an empty
cell is the empty string, in a number column it is NaN. Unreadable files, missing columns and empty
tables raise `InputError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import pandas as pd

from premirna.core.errors import InputError
from premirna.core.files import open_input

#: Class label -> the word `classify` and the checkpoints use (the probability is of class 1).
LABELS: dict[int, str] = {0: "not", 1: "pre-miRNA"}
#: Class label -> the word the report's summary tables use.
CLASS_WORDS: dict[int, str] = {1: "pre-miRNA", 0: "negative"}
#: Columns of a molecule table before the split (the download stage builds it from these).
MOLECULE_COLUMNS: tuple[str, ...] = ("id", "sequence", "label", "species", "source")
#: Columns of ``results/download/molecules.tsv``, in order.
MOLECULES_COLUMNS: tuple[str, ...] = (*MOLECULE_COLUMNS, "split")
#: Columns of ``results/download/mature.tsv``, in order.
MATURE_COLUMNS: tuple[str, ...] = ("hairpin_id", "mature_id", "accession", "arm", "start", "end")
#: Columns that hold text in any of the tables (every other column holds numbers).
TEXT_COLUMNS: frozenset[str] = frozenset(
    {
        "id", "sequence", "structure", "species", "source", "split", "hairpin_id", "mature_id",
        "accession", "arm", "set", "condition", "source_id", "raw_sequence", "intended",
        "refolded", "attribute", "method", "group", "region", "kind", "file", "md5",
        "content_md5", "release", "date",
    }
)
#: `read_table(..., text=ALL_TEXT)` keeps every cell as written (to pass a table on unchanged).
ALL_TEXT = "all"


def _check_rectangular(path: str | os.PathLike[str]) -> None:
    """InputError naming the first line whose number of tab-separated fields is not the header's
    (pandas would fill a short row with empty cells, and the error would surface later as an empty
    sequence with no line number)."""
    fields = None
    try:
        with open_input(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip(b"\r\n"):
                    continue
                count = line.count(b"\t") + 1
                if fields is None:
                    fields = count
                elif count != fields:
                    raise InputError(path, f"line {number} has {count} tab-separated fields but "
                                           f"the header has {fields}")
    except (EOFError, OSError) as err:  # a corrupt or truncated gzip file
        raise InputError(path, f"unreadable gzip file ({err})") from None


def read_table(
    path: str | os.PathLike[str],
    required: Collection[str] = (),
    *,
    text: Collection[str] | str = TEXT_COLUMNS,
    nonempty: bool = False,
) -> pd.DataFrame:
    """Read a tab-separated table with a header line.

    Columns in `text` are strings ("" where empty); the others are parsed as numbers where they
    can be (NaN where empty). With ``text=ALL_TEXT`` every column stays text, exactly as written.
    Raises InputError when the file cannot be read, lacks a `required` column, or (with
    `nonempty`) has no rows.
    """
    _check_rectangular(path)
    try:
        if text == ALL_TEXT:
            table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
        else:
            header = pd.read_csv(path, sep="\t", nrows=0).columns
            strings = [c for c in header if c in text]
            table = pd.read_csv(
                path, sep="\t", dtype=dict.fromkeys(strings, str), keep_default_na=False,
                na_values=[""],
            )
            table[strings] = table[strings].fillna("")
    except FileNotFoundError as err:
        raise InputError(path, "no such file") from err
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(path, f"cannot be read as a tab-separated table: {err}") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}")
    if nonempty and table.empty:
        raise InputError(path, "has no rows")
    return table


def read_folded(
    path: str | os.PathLike[str], required: Collection[str] = ("id", "sequence", "structure")
) -> pd.DataFrame:
    """The fold stage's table (``results/fold/folded.tsv``) indexed by id, the id kept as a column
    too; a repeated id keeps its first row."""
    table = read_table(path, required)
    return table.drop_duplicates("id").set_index("id", drop=False)

"""The `fold` stage: every molecule folded with ViennaRNA (MFE), with its hairpin features.

Folding itself is `premirna.rna.folding`; this module folds the molecule table. For clusters the
table is folded in contiguous chunks (`fold_table` with `chunk`, sized by
`premirna.fold.chunks.chunk_count`) that `gather_folds` concatenates back in order into
``results/fold/folded.tsv``, with the energy model in ``results/fold/settings.json``.
`fold_file` is ``python -m premirna fold``: any sequence file in, the same columns out.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import RNA

from premirna.core.atomic import atomic_open, write_tsv
from premirna.core.errors import InputError
from premirna.core.files import check_output
from premirna.core.logs import Progress
from premirna.core.tables import ALL_TEXT, read_table
from premirna.fold.chunks import chunk_count
from premirna.rna.folding import (
    DEFAULT_FOLD,
    MAX_FOLD_LENGTH,
    FoldSettings,
    fold_sequences,
    sequence_problem,
)
from premirna.rna.seqio import read_records
from premirna.rna.structure import FEATURE_COLUMNS, features

log = logging.getLogger(__name__)

#: Columns that `fold_table` adds after the columns of ``molecules.tsv`` (docs/ARCHITECTURE.md).
FOLD_COLUMNS: tuple[str, ...] = ("structure", "mfe", *FEATURE_COLUMNS)

MATURE_POSITION_COLUMNS: tuple[str, ...] = (
    "mature_5p_start",
    "mature_5p_end",
    "mature_3p_start",
    "mature_3p_end",
)

#: Columns of the table that `fold_file` (``python -m premirna fold``) writes.
FILE_COLUMNS: tuple[str, ...] = ("id", "sequence", *FOLD_COLUMNS)


def _read_molecules(path: str | os.PathLike[str]) -> pd.DataFrame:
    # Everything as text, nothing as NaN: ids such as "NA" and the labels must come out unchanged.
    frame = read_table(path, ("id", "sequence"), text=ALL_TEXT)
    taken = [column for column in (*FOLD_COLUMNS, *MATURE_POSITION_COLUMNS) if column in frame]
    if taken:
        raise InputError(path, f"already has the fold column(s) {', '.join(taken)}")
    duplicated = frame["id"][frame["id"].duplicated()]
    if len(duplicated):
        raise InputError(path, "duplicate id", record=duplicated.iloc[0])
    return frame


def _check_sequences(path: str | os.PathLike[str], ids: Sequence[str], seqs: Sequence[str]) -> None:
    for record_id, sequence in zip(ids, seqs, strict=True):
        problem = sequence_problem(sequence)
        if problem:
            raise InputError(path, problem, record=record_id)


def _fold_columns(
    sequences: Sequence[str], processes: int, fold: FoldSettings, what: str
) -> pd.DataFrame:
    """Fold and compute the features: one row per sequence, columns `FOLD_COLUMNS`."""
    progress = Progress(len(sequences), what, log) if sequences else None
    folds = fold_sequences(sequences, processes, fold, progress)
    rows = []
    for sequence, (structure, mfe) in zip(sequences, folds, strict=True):
        row = {"structure": structure, "mfe": mfe}
        row.update(features(sequence, structure, mfe))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(FOLD_COLUMNS))
    for column in ("gc", "mfe_per_nt"):
        frame[column] = frame[column].astype(float).round(4)
    integer = ["length", "hairpin_loops", "loop_size", "stem_length", "bulges", "internal_loops"]
    frame[integer] = frame[integer].astype("int64")
    return frame


def read_mature_positions(mature_tsv: str | os.PathLike[str]) -> pd.DataFrame:
    """Mature 5p/3p start and end per hairpin (1-based, inclusive) from ``mature.tsv``.

    Indexed by hairpin id, columns `MATURE_POSITION_COLUMNS` (nullable integers). When miRBase
    names two products on one arm, the one nearest the 5' end of the hairpin is kept.
    """
    table = read_table(mature_tsv, ("hairpin_id", "arm", "start", "end"), text=ALL_TEXT)
    bad_arm = table[~table["arm"].isin(["5p", "3p"])]
    if len(bad_arm):
        row = bad_arm.iloc[0]
        raise InputError(
            mature_tsv, f"arm {row['arm']!r} is not 5p or 3p", record=row["hairpin_id"]
        )
    for column in ("start", "end"):
        numbers = pd.to_numeric(table[column], errors="coerce")
        if numbers.isna().any():
            row = table[numbers.isna()].iloc[0]
            raise InputError(
                mature_tsv, f"{column} {row[column]!r} is not a number", record=row["hairpin_id"]
            )
        table[column] = numbers.astype("int64")
    table = table.sort_values(["hairpin_id", "arm", "start", "end"], kind="stable")
    first = table.drop_duplicates(["hairpin_id", "arm"], keep="first")
    if len(first) < len(table):
        log.info(
            "%s: %d extra mature products on an arm ignored", mature_tsv, len(table) - len(first)
        )
    wide = pd.DataFrame(index=pd.Index(sorted(set(table["hairpin_id"])), name="hairpin_id"))
    for arm in ("5p", "3p"):
        positions = first[first["arm"] == arm].set_index("hairpin_id")
        wide[f"mature_{arm}_start"] = positions["start"]
        wide[f"mature_{arm}_end"] = positions["end"]
    return wide[list(MATURE_POSITION_COLUMNS)].astype("Int64")


def fold_table(
    molecules_tsv: str | os.PathLike[str],
    out_tsv: str | os.PathLike[str],
    mature_tsv: str | os.PathLike[str] | None = None,
    processes: int = 1,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
    chunk: int | None = None,
    chunk_size: int | None = None,
) -> pd.DataFrame:
    """Fold a molecule table (or one chunk of it) and write it with the fold columns added.

    The output holds every column of `molecules_tsv` unchanged, then `FOLD_COLUMNS` and
    `MATURE_POSITION_COLUMNS` (joined on ``id`` = ``hairpin_id`` from `mature_tsv`; empty when
    miRBase gives none or no `mature_tsv` is given). With `chunk` (0-based) and `chunk_size`, only
    rows ``chunk * chunk_size`` up to ``(chunk + 1) * chunk_size`` are folded: contiguous slices, so
    `gather_folds` on chunks ``0 .. chunk_count(n, chunk_size) - 1`` gives the unchunked table.
    Written atomically; the table is also returned.
    """
    fold = FoldSettings.of(fold)
    molecules = _read_molecules(molecules_tsv)
    if (chunk is None) != (chunk_size is None):
        raise ValueError("give both chunk and chunk_size, or neither")
    what = f"fold {Path(molecules_tsv).name}"
    if chunk is not None and chunk_size is not None:
        n_chunks = chunk_count(len(molecules), chunk_size)
        if not 0 <= chunk < n_chunks:
            raise ValueError(
                f"chunk {chunk} out of range: {len(molecules)} molecules make {n_chunks}"
            )
        molecules = molecules.iloc[chunk * chunk_size : (chunk + 1) * chunk_size]
        molecules = molecules.reset_index(drop=True)
        what = f"{what} chunk {chunk + 1}/{n_chunks}"
    ids = molecules["id"].tolist()
    sequences = molecules["sequence"].tolist()
    _check_sequences(molecules_tsv, ids, sequences)
    log.info(
        "%s: %d molecules, %d process(es), ViennaRNA %s, %.1f C, dangles %d",
        what,
        len(sequences),
        processes,
        RNA.__version__,
        fold.temperature,
        fold.dangles,
    )
    folded = pd.concat([molecules, _fold_columns(sequences, processes, fold, what)], axis=1)
    if mature_tsv is not None:
        positions = read_mature_positions(mature_tsv).reindex(folded["id"])
        for column in MATURE_POSITION_COLUMNS:
            folded[column] = positions[column].array  # stays Int64: whole numbers, empty if none
        log.info(
            "%s: mature positions for %d molecules", what, int(positions.notna().any(axis=1).sum())
        )
    else:
        for column in MATURE_POSITION_COLUMNS:
            folded[column] = pd.array([pd.NA] * len(folded), dtype="Int64")
    write_tsv(folded, out_tsv)
    return folded


def gather_folds(
    chunk_tsvs: Sequence[str | os.PathLike[str]],
    out_tsv: str | os.PathLike[str],
    settings_json: str | os.PathLike[str],
    molecules_tsv: str | os.PathLike[str] | None = None,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
) -> pd.DataFrame:
    """Concatenate chunk tables in the order given into `out_tsv`; write `settings_json`.

    With `molecules_tsv`, the gathered ids must be exactly its ids in its order (a chunk folded from
    an older molecule table is an error, not a silent mix). `fold` is the energy model the chunks
    were folded with; it goes into `settings_json` with the ViennaRNA version.
    """
    if not chunk_tsvs:
        raise ValueError("no chunk tables to gather")
    frames = [read_table(path, text=ALL_TEXT) for path in chunk_tsvs]
    for path, frame in zip(chunk_tsvs, frames, strict=True):
        if list(frame.columns) != list(frames[0].columns):
            raise InputError(path, f"columns differ from those of {chunk_tsvs[0]}")
    gathered = pd.concat(frames, ignore_index=True)
    if molecules_tsv is not None:
        expected = _read_molecules(molecules_tsv)["id"].tolist()
        if gathered["id"].tolist() != expected:
            raise InputError(
                molecules_tsv,
                f"the {len(chunk_tsvs)} fold chunks do not hold its molecules in its order "
                "(re-run the fold chunks)",
            )
    write_tsv(gathered, out_tsv)
    settings = FoldSettings.of(fold).describe()
    settings["molecules"] = len(gathered)
    settings["chunks"] = len(chunk_tsvs)
    with atomic_open(settings_json, "w") as handle:
        json.dump(settings, handle, indent=2)
        handle.write("\n")
    log.info("gathered %d chunk(s), %d molecules, into %s", len(chunk_tsvs), len(gathered), out_tsv)
    return gathered


def fold_file(
    in_path: str | os.PathLike[str],
    out_tsv: str | os.PathLike[str],
    processes: int = 1,
    fold: FoldSettings = DEFAULT_FOLD,
    max_length: int = MAX_FOLD_LENGTH,
) -> pd.DataFrame:
    """Fold every record of a sequence file (FASTA, RNAfold or triplet-SVM format, .gz allowed).

    Writes `out_tsv` with the columns `FILE_COLUMNS` (id, sequence, structure, mfe and the
    hairpin features); a structure already in the file is ignored and folded afresh. IUPAC letters
    are kept (ViennaRNA leaves them unpaired). Raises InputError naming the record for an
    unreadable record, a sequence that cannot be folded or one longer than `max_length`, before
    any folding.
    """
    check_output(out_tsv)
    if processes < 1:
        raise ValueError(f"processes must be at least 1, not {processes}")
    records = read_records(in_path, iupac="keep").records
    ids = [record.id for record in records]
    sequences = [record.sequence for record in records]
    _check_sequences(in_path, ids, sequences)
    for record_id, sequence in zip(ids, sequences, strict=True):
        if len(sequence) > max_length:
            raise InputError(
                in_path,
                f"{len(sequence)} nt, longer than the longest fold allowed ({max_length} nt: "
                "folding time grows with the cube of the length); cut long sequences into "
                "overlapping windows (such as 200 nt, step 50) or raise --max-length",
                record=record_id,
            )
    folds = _fold_columns(sequences, processes, fold, f"fold {Path(in_path).name}")
    table = pd.concat([pd.DataFrame({"id": ids, "sequence": sequences}), folds], axis=1)
    write_tsv(table, out_tsv)
    return table

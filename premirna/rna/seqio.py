"""Read and write the sequence files that pre-miRNA data sets come in.

Three formats occur in the published data (see ``shared/data/README.md``): plain FASTA with
sequences wrapped over several lines; RNAfold output, where a dot-bracket line ending in
``(MFE)`` follows the sequence; and the triplet-SVM three-line records (Xue et al. 2005), whose
structure line has no energy and whose header carries tab-separated metadata. `read_records`
detects the format of each file from its first record and then holds every record to it. Every
sequence comes out as upper-case RNA (lower case accepted, T read as U); gzip is chosen by the
``.gz`` suffix; CRLF and blank lines are tolerated. Anything malformed raises
`premirna.core.errors.InputError` naming the file, the record (id and line) and the problem,
because a silently skipped record is a silently biased data set.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from premirna.core.atomic import atomic_open
from premirna.core.errors import InputError
from premirna.core.files import open_input
from premirna.rna.sequence import IUPAC_LETTERS, RNA_LETTERS, to_rna

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("fasta", "rnafold", "triplet")

IUPAC_POLICIES: tuple[str, ...] = ("drop", "keep", "error")

# RNAfold writes the energy right after the structure, padded inside the brackets for short
# numbers: "((...)) (-12.30)" or "....... (  0.00)".
_RNAFOLD_STRUCTURE = re.compile(r"^(?P<structure>[.()]+)\s+\(\s*(?P<mfe>[-+]?\d+(?:\.\d*)?)\s*\)$")
_PLAIN_STRUCTURE = re.compile(r"^[.()]+$")
_STRUCTURE_START = frozenset(".()")


@dataclass(frozen=True)
class Record:
    """One molecule read from a sequence file.

    `sequence` is upper-case RNA. `structure` (dot-bracket) and `mfe` (kcal/mol) are None when the
    file does not give them. `description` is the rest of the header after the id, and `line` the
    1-based line number of the header, so that later checks can still point at the source.
    """

    id: str
    sequence: str
    structure: str | None = None
    mfe: float | None = None
    description: str = ""
    line: int = 0

    def has_iupac(self) -> bool:
        """True when the sequence holds a letter other than A, C, G and U."""
        return not set(self.sequence) <= RNA_LETTERS


@dataclass
class ReadResult:
    """What `read_records` found: the records kept, the file's format and the ids dropped."""

    records: list[Record]
    format: str
    iupac_dropped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)


def text_lines(path: str | os.PathLike[str], *, strict: bool = True) -> Iterator[tuple[int, str]]:
    """(line number, line without its LF or CRLF) of a UTF-8 text file, gunzipped for ``.gz``.

    Each line is decoded alone, so bytes that are not UTF-8 (a binary file, or a header saved as
    Windows-1252) raise InputError naming their line and column; `strict=False` replaces them.
    A truncated or corrupt gzip file raises InputError too. CRLF (the triplet-SVM and microPred
    files) reads as LF.
    """
    try:
        with open_input(path) as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8", "strict" if strict else "replace")
                except UnicodeDecodeError as err:
                    raise InputError(
                        path,
                        f"line {number}, column {err.start + 1}: byte 0x{raw[err.start]:02x} is "
                        "not UTF-8 text (a binary file, or text saved in another encoding?)",
                    ) from err
                yield number, text.rstrip("\r\n")
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise InputError(path, f"unreadable gzip file ({err})") from err


@dataclass
class _RawRecord:
    header: str
    line: int
    body: list[tuple[int, str]] = field(default_factory=list)


def _raw_records(path: Path) -> Iterator[_RawRecord]:
    """Group the non-blank lines of a file into header + body, checking only the grouping."""
    current: _RawRecord | None = None
    for number, raw in text_lines(path):
        text = raw.strip()
        if not text:
            continue
        if text.startswith(">"):
            if current is not None:
                yield current
            current = _RawRecord(text[1:].strip(), number)
        elif current is None:
            raise InputError(path, f"line {number}: sequence data before the first '>' header")
        else:
            current.body.append((number, text))
    if current is not None:
        yield current


def _record_label(raw: _RawRecord, record_id: str) -> str:
    return f"{record_id or '<no id>'} (line {raw.line})"


def _normalise_sequence(path: Path, label: str, lines: list[tuple[int, str]]) -> str:
    sequence = to_rna("".join(text for _, text in lines))
    bad = set(sequence) - RNA_LETTERS - IUPAC_LETTERS
    if bad:
        # Point at the first offending line and column: the fastest way to fix a file by hand.
        for number, text in lines:
            for column, char in enumerate(text.upper(), start=1):
                if char in bad:
                    raise InputError(
                        path,
                        f"illegal character {char!r} in the sequence at line {number}, "
                        f"column {column} (allowed: A C G U T and IUPAC codes "
                        f"{''.join(sorted(IUPAC_LETTERS))})",
                        record=label,
                    )
    return sequence


def _check_structure(path: Path, label: str, structure: str, sequence: str, line: int) -> None:
    if len(structure) != len(sequence):
        raise InputError(
            path,
            f"structure at line {line} has {len(structure)} characters but the sequence has "
            f"{len(sequence)} nt",
            record=label,
        )
    depth = 0
    for column, char in enumerate(structure, start=1):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise InputError(
                path,
                f"unbalanced structure at line {line}: ')' at column {column} has no '('",
                record=label,
            )
    if depth:
        raise InputError(
            path, f"unbalanced structure at line {line}: {depth} '(' left open", record=label
        )


def _record_format(body: list[tuple[int, str]]) -> str:
    structure_lines = [text for _, text in body if text[0] in _STRUCTURE_START]
    if not structure_lines:
        return "fasta"
    return "rnafold" if _RNAFOLD_STRUCTURE.match(structure_lines[-1]) else "triplet"


def _parse(path: Path, raw: _RawRecord, fmt: str, id_from: str) -> Record:
    if id_from == "header":
        # Some sets name records "5S_rRNA 1", "5S_rRNA 2": only the whole header is unique.
        # Joining its words with "_" gives the ids of microPred's own fixed file.
        record_id, description = "_".join(raw.header.split()), ""
    else:
        # The first word; triplet-SVM headers separate it from their metadata by a tab.
        parts = raw.header.split(None, 1)
        record_id = parts[0] if parts else ""
        description = parts[1] if len(parts) > 1 else ""
    label = _record_label(raw, record_id)
    if not record_id:
        raise InputError(path, "header has no id after '>'", record=label)
    if not raw.body:
        raise InputError(path, "empty record: a header with no sequence", record=label)

    split_at = len(raw.body)
    for index, (_, text) in enumerate(raw.body):
        if text[0] in _STRUCTURE_START:
            split_at = index
            break
    sequence_lines, structure_lines = raw.body[:split_at], raw.body[split_at:]
    if not sequence_lines:
        raise InputError(path, "empty record: a structure but no sequence", record=label)
    sequence = _normalise_sequence(path, label, sequence_lines)

    structure: str | None = None
    mfe: float | None = None
    if fmt == "fasta":
        if structure_lines:
            number, text = structure_lines[0]
            raise InputError(
                path,
                f"line {number} starts with {text[0]!r}: a structure line in a plain FASTA file "
                "(or an illegal character in the sequence)",
                record=label,
            )
    else:
        if not structure_lines:
            raise InputError(
                path,
                f"no structure line, but the file is {fmt} (detected from its first record)",
                record=label,
            )
        if len(structure_lines) > 1:
            number, _ = structure_lines[1]
            raise InputError(
                path, f"unexpected line {number} after the structure line", record=label
            )
        number, text = structure_lines[0]
        if fmt == "rnafold":
            match = _RNAFOLD_STRUCTURE.match(text)
            if match is None:
                raise InputError(
                    path,
                    f"line {number} is not an RNAfold structure line ('dot-bracket (MFE)'): "
                    f"{text[:60]!r}",
                    record=label,
                )
            structure, mfe = match["structure"], float(match["mfe"])
        else:
            if _RNAFOLD_STRUCTURE.match(text):
                raise InputError(
                    path,
                    f"line {number} carries an energy, but the file is triplet-SVM format "
                    "(structure without energy, detected from its first record)",
                    record=label,
                )
            if not _PLAIN_STRUCTURE.match(text):
                bad = next(c for c in text if c not in _STRUCTURE_START)
                raise InputError(
                    path,
                    f"illegal character {bad!r} in the structure at line {number} (allowed: . ( ))",
                    record=label,
                )
            structure = text
        _check_structure(path, label, structure, sequence, number)
    return Record(record_id, sequence, structure, mfe, description, raw.line)


def detect_format(path: str | os.PathLike[str]) -> str:
    """Format of a sequence file from its first record: ``fasta``, ``rnafold`` or ``triplet``.

    A record whose body has a line starting with ``.``, ``(`` or ``)`` carries a structure; with
    a trailing ``(energy)`` it is RNAfold output, without one the triplet-SVM format.
    """
    for file_format, _ in iter_records(path):
        return file_format  # the first record, checked like any other, decides
    raise AssertionError("unreachable: iter_records raises on a file without records")


def iter_records(
    path: str | os.PathLike[str], fmt: str = "auto", id_from: str = "word"
) -> Iterator[tuple[str, Record]]:
    """Yield (format, record) for every record of a file, checked, IUPAC letters kept as they are.

    `fmt` forces a format; ``auto`` takes it from the first record (`detect_format`). The id is
    the first word of the header (``id_from="word"``, the FASTA convention; the rest is the
    description) or the whole header with its spaces turned into ``_`` (``"header"``). Raises
    InputError for a sequence before any header, an empty record, an illegal character, a
    structure of the wrong length or with unbalanced brackets, a record that does not match the
    file's format, or a duplicate id.
    """
    path = Path(path)
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
    if id_from not in ("word", "header"):
        raise ValueError(f"unknown id_from {id_from!r}; expected word or header")
    seen: dict[str, int] = {}
    file_format = None if fmt == "auto" else fmt
    empty = True
    for raw in _raw_records(path):
        empty = False
        if file_format is None:
            file_format = _record_format(raw.body) if raw.body else "fasta"
        record = _parse(path, raw, file_format, id_from)
        if record.id in seen:
            raise InputError(
                path,
                f"duplicate id {record.id!r} (first seen at line {seen[record.id]})",
                record=_record_label(raw, record.id),
            )
        seen[record.id] = record.line
        yield file_format, record
    if empty:
        raise InputError(path, "no records (an empty sequence file)")


def read_records(
    path: str | os.PathLike[str], fmt: str = "auto", iupac: str = "drop", id_from: str = "word"
) -> ReadResult:
    """Read every record of a FASTA, RNAfold or triplet-SVM file (gzipped or not).

    `iupac` says what to do with a sequence holding an IUPAC ambiguity code (N, R, Y ...): ``drop``
    the record (the ids are in `ReadResult.iupac_dropped` and the count is logged), ``keep`` it, or
    raise InputError (``error``). `fmt`, `id_from` and the other checks are those of
    `iter_records`.
    """
    if iupac not in IUPAC_POLICIES:
        raise ValueError(f"unknown IUPAC policy {iupac!r}; expected one of drop, keep, error")
    records: list[Record] = []
    dropped: list[str] = []
    file_format = "fasta"
    for found_format, record in iter_records(path, fmt, id_from):
        file_format = found_format
        if record.has_iupac():
            if iupac == "error":
                letters = "".join(sorted(set(record.sequence) - RNA_LETTERS))
                raise InputError(
                    path,
                    f"IUPAC ambiguity code(s) {letters} in the sequence (download.iupac: error)",
                    record=f"{record.id} (line {record.line})",
                )
            if iupac == "drop":
                dropped.append(record.id)
                continue
        records.append(record)
    log.info(
        "%s: %d records read (%s format), %d dropped for IUPAC codes (policy %s)",
        path,
        len(records) + len(dropped),
        file_format,
        len(dropped),
        iupac,
    )
    return ReadResult(records, file_format, dropped)


def format_fasta(records: Iterable[Record], width: int = 60) -> Iterator[str]:
    """Yield FASTA text, one record at a time: header then the sequence wrapped at `width`."""
    if width < 1:
        raise ValueError("width must be positive")
    for record in records:
        header = f">{record.id} {record.description}".rstrip()
        lines = [record.sequence[i : i + width] for i in range(0, len(record.sequence), width)]
        yield "\n".join([header, *lines]) + "\n"


def write_fasta(records: Iterable[Record], path: str | os.PathLike[str], width: int = 60) -> int:
    """Write records as FASTA (gzip when `path` ends in ``.gz``), atomically; return the count."""
    count = 0
    with atomic_open(path, "w", newline="\n") as handle:
        for text in format_fasta(records, width):
            handle.write(text)
            count += 1
    return count

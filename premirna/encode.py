"""The Cordero, Menkovski & Allmer (2019) hairpin image, drawn as the authors' ImageCalc.jar draws
it, its per-column discrete factors, and its inverse. Rules (SCIENCE.md section 1 and the oracle's
PROVENANCE.md, refined against the oracle): the central loop is the ``(.+)`` whose opening index i
or exclusive end j + 1 is nearest ``n // 2`` (the 5'-most on a tie;
`premirna.structure.central_hairpin_loop` picks another loop in 5 of the 131 multi-loop oracle
rows); two streams are walked from the outside in, top = positions 0..j-1 and bottom = positions
n-1..i+1, where two dots or two brackets make one column, a dot facing a bracket gets a gap
opposite, and the walk stops when either stream runs out; the columns are reversed so that column 0
is the loop, and columns from 100 on are cut. Each half-bar is L + 1 px, plus 2r for an unpaired
nucleotide, at most 13 px (5' half) or 12 px (3' half); L comes from the column's two letters (G-C
1, A-U 2, G-U 3, other 4; a 5'-half letter facing a gap 1; a gap facing A/C/G/U 1, facing another
letter 4); r counts a half's unpaired nucleotides outward from the last pair (a one-sided ramp),
except in the terminal run: after g leading gaps, its k-th of D nucleotides gets min(k + 1, D - k +
2g), the loop's symmetric tent when g = 0. Measured: 2,052 / 2,052 oracle images and 2,440 / 2,440
modhsa images with a known sequence are byte-identical given the RNAfold 2.1.3 structures (no
exceptions), and all 3,660 modhsa images, the 1,220 of unknown sequence included, read back as
factors that redraw them pixel for pixel. Inferred from few images and unverifiable here: a gap
facing a non-A/C/G/U letter (one oracle row, 2048; other letters facing a gap: rows 2031, 2047,
2050), the 2g term (g + 1 fits the 173 gapped runs equally; only 2g gives the tent at g = 0), and
terminal loops of 100 or more columns (tent over the drawn columns). What the image cannot
distinguish, and what `decode` returns: IUPAC and other non-A/C/G/U letters (black: ``N``); case
and T/U (upper-case ``ACGU``); columns past 99 (the inner 100 columns are returned, a hairpin with
the loop); in multi-loop folds, which bracket a walked column holds, which nucleotides a
non-partner bracket column pairs and the part of the molecule the walk never reached (the
single-stem hairpin the columns spell is returned); loop-less folds (all black: two empty strings).
A structure with exactly one hairpin loop, A/C/G/U/T letters (IUPAC come back as N) and at most 100
columns decodes to its upper-case RNA sequence and its structure exactly. `Factors` (per
column: 5'-half code, 3'-half code, paired) is what a generative model predicts: `render` draws any
factor values, `image_to_factors` reads them back, and `factors_to_hairpin` turns them into a
balanced hairpin.
"""

from __future__ import annotations

import logging
import os
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from premirna.atomic import atomic_path, save_npz, write_tsv
from premirna.errors import InputError
from premirna.structure import central_hairpin_loop

log = logging.getLogger(__name__)

#: Declared for checkpoints (`premirna.cnn_train.encoding_version`).
ENCODING_VERSION = "cordero2019-rgb-25x100x3"

ROWS, COLUMNS = 25, 100
#: Rows 0-12 hold the 5' arm (bars grow up from row 12), rows 13-24 the 3' arm (down from row 13).
TOP_ROWS, BOTTOM_ROWS = 13, 12

#: Factor codes of one half of one column.
NONE, NT_A, NT_C, NT_G, NT_U, NT_N, GAP = range(7)
N_CODES = 7
#: Letter written by `factors_to_hairpin` for each code ("" = nothing, "-" = gap, never written).
CODE_LETTERS = ("", "A", "C", "G", "U", "N", "-")

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
#: RGB of each code: A yellow, C blue, G red, U green, other letters and gaps black, none white.
PALETTE = np.array(
    [WHITE, (255, 255, 0), (0, 0, 255), (255, 0, 0), (0, 255, 0), BLACK, BLACK], dtype=np.uint8
)

# Sequence letter -> code: T/t are read as U (the JAR's toRNA), lower case as upper case, any other
# letter as N; -1 = not a letter (rejected).
_SEQ_CODE = np.full(256, -1, dtype=np.int8)
for _letter in string.ascii_letters:
    _SEQ_CODE[ord(_letter)] = NT_N
for _letter, _code in zip("ACGUT", (NT_A, NT_C, NT_G, NT_U, NT_U), strict=True):
    _SEQ_CODE[ord(_letter)] = _SEQ_CODE[ord(_letter.lower())] = _code
# Structure character -> 0 dot, 1 "(", 2 ")"; -1 = anything else.
_DOT, _OPEN, _CLOSE = 0, 1, 2
_STRUCT_CODE = np.full(256, -1, dtype=np.int8)
_STRUCT_CODE[ord(".")], _STRUCT_CODE[ord("(")], _STRUCT_CODE[ord(")")] = _DOT, _OPEN, _CLOSE


def _pair_length_table() -> np.ndarray:
    """L (bar length beyond the axis pixel) of a column, indexed [5' code, 3' code]."""
    table = np.zeros((N_CODES, N_CODES), dtype=np.int16)
    letters = (NT_A, NT_C, NT_G, NT_U, NT_N)
    for top in letters:
        for bottom in letters:
            table[top, bottom] = 4  # mismatch, and anything with an IUPAC letter
        table[top, GAP] = 1  # a 5'-arm letter facing a gap, IUPAC included (oracle rows 2031, 2050)
        table[GAP, top] = 1 if top != NT_N else 4  # a gap facing IUPAC on the 3' arm: 4 (row 2048)
    for a, b, length in ((NT_G, NT_C, 1), (NT_A, NT_U, 2), (NT_G, NT_U, 3)):
        table[a, b] = table[b, a] = length
    return table


_PAIR_LENGTH = _pair_length_table()
_IS_LETTER = np.zeros(N_CODES, dtype=bool)
_IS_LETTER[[NT_A, NT_C, NT_G, NT_U, NT_N]] = True
_IS_ACGU = np.zeros(N_CODES, dtype=bool)
_IS_ACGU[[NT_A, NT_C, NT_G, NT_U]] = True
_LETTER_BYTES = np.frombuffer(b"\0ACGUN-", dtype=np.uint8)
# Drawing in chunks keeps the temporary (chunk, 25, 100) arrays in cache and memory bounded.
_CHUNK = 2048


@dataclass(frozen=True, eq=False)
class Factors:
    """The discrete factors an image is drawn from, one entry per column (last axis = 100 columns).

    - ``top_nt`` (int8): the 5'-arm half of the column (rows 0-12): `NONE` (no column: white),
      `NT_A`, `NT_C`, `NT_G`, `NT_U`, `NT_N` (any other letter: black) or `GAP` (black stub).
    - ``bottom_nt`` (int8): the 3'-arm half (rows 13-24), same codes.
    - ``paired`` (bool): the column is a base pair (a bracket on both arms), else both halves are
      unpaired nucleotides or one is a gap.
    - ``top_pos``/``bottom_pos`` (int32 or None): the 0-based sequence position each half draws,
      -1 for a gap or no column; only when the factors come from `columns`/`columns_many`.

    Arrays are 1-D (one hairpin) or 2-D (a batch). Everything else in the image follows from these
    (`render`): the colours from the codes, L from the two codes, the ramp r from the run of
    unpaired columns. Any values in range render and read back (`normalize_factors` says how).
    """

    top_nt: np.ndarray
    bottom_nt: np.ndarray
    paired: np.ndarray
    top_pos: np.ndarray | None = None
    bottom_pos: np.ndarray | None = None

    @property
    def n_columns(self) -> np.ndarray:
        """Drawn columns (int, or an array for a batch): columns before the first empty one."""
        has = _IS_LETTER[self.top_nt] | _IS_LETTER[self.bottom_nt]
        return np.cumprod(has, axis=-1).sum(axis=-1)

    @property
    def encodable(self) -> np.ndarray:
        """True where column 0 holds a nucleotide (a hairpin loop was found)."""
        return _IS_LETTER[self.top_nt[..., 0]] | _IS_LETTER[self.bottom_nt[..., 0]]


# --------------------------------------------------------------------------------------------
# The central loop and the walk, one molecule at a time (the readable reference).


def central_loop(structure: str) -> tuple[int, int] | None:
    """Closing pair (i, j), 0-based, of the hairpin loop the JAR draws at column 0, or None.

    The rule (the ``(...)`` match nearest the middle, 5'-most on a tie) lives in
    `premirna.structure.central_hairpin_loop`, so that the fold stage's `loop_size` and
    `stem_length` describe the same loop the image draws; it reproduces all 131 multi-loop oracle
    rows.
    """
    return central_hairpin_loop(structure)


def _walk(structure: str, loop: tuple[int, int]) -> list[tuple[int, int]]:
    """The JAR's naive walk: (5' position, 3' position) per column, -1 for a gap, loop first."""
    ls, le = loop[0] + 1, loop[1] - 1
    p, q = 0, len(structure) - 1
    pairs: list[tuple[int, int]] = []
    while p <= le and q >= ls:
        top_dot, bottom_dot = structure[p] == ".", structure[q] == "."
        if top_dot == bottom_dot:  # two dots or two brackets: one column
            pairs.append((p, q))
            p, q = p + 1, q - 1
        elif top_dot:
            pairs.append((p, -1))
            p += 1
        else:
            pairs.append((-1, q))
            q -= 1
    return pairs[::-1]


def _check_one(sequence: str, structure: str, record: object, source: str) -> np.ndarray:
    if len(sequence) != len(structure):
        raise InputError(
            source,
            f"sequence ({len(sequence)} nt) and structure ({len(structure)}) differ in length",
            record,
        )
    try:
        raw = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
        shape = np.frombuffer(structure.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as err:
        where = f"position {err.start + 1}"
        raise InputError(source, f"non-ASCII character at {where}", record) from err
    codes = _SEQ_CODE[raw]
    if (codes < 0).any():
        pos = int(np.argmax(codes < 0))
        raise InputError(source, f"{sequence[pos]!r} at position {pos + 1} is not a letter", record)
    kinds = _STRUCT_CODE[shape]
    if (kinds < 0).any():
        pos = int(np.argmax(kinds < 0))
        raise InputError(
            source, f"{structure[pos]!r} at position {pos + 1} of the structure is not . ( )",
            record,
        )
    depth = np.cumsum(np.where(kinds == _OPEN, 1, np.where(kinds == _CLOSE, -1, 0)))
    if len(depth) and (depth.min() < 0 or depth[-1] != 0):
        raise InputError(source, "unbalanced structure", record)
    iupac_paired = (codes == NT_N) & (kinds != _DOT)
    if iupac_paired.any():
        pos = int(np.argmax(iupac_paired))
        raise InputError(
            source, f"the structure pairs {sequence[pos]!r} at position {pos + 1}; "
            "only A, C, G, U (T) can pair", record,
        )
    return codes


def columns(sequence: str, structure: str) -> Factors:
    """The factors of one hairpin (1-D arrays of 100), with the positions each column draws.

    Walks the structure one column at a time (the readable reference of `columns_many`). A
    structure without a hairpin loop gives all `NONE` (the JAR's all-black failure image).
    """
    codes = _check_one(sequence, structure, None, "<sequence>")
    top_nt = np.zeros(COLUMNS, dtype=np.int8)
    bottom_nt = np.zeros(COLUMNS, dtype=np.int8)
    paired = np.zeros(COLUMNS, dtype=bool)
    top_pos = np.full(COLUMNS, -1, dtype=np.int32)
    bottom_pos = np.full(COLUMNS, -1, dtype=np.int32)
    loop = central_loop(structure)
    if loop is not None:
        for col, (p, q) in enumerate(_walk(structure, loop)[:COLUMNS]):
            top_nt[col] = codes[p] if p >= 0 else GAP
            bottom_nt[col] = codes[q] if q >= 0 else GAP
            top_pos[col], bottom_pos[col] = p, q
            paired[col] = p >= 0 and q >= 0 and structure[p] != "."
    return Factors(top_nt, bottom_nt, paired, top_pos, bottom_pos)


# --------------------------------------------------------------------------------------------
# The same, vectorised over a batch.


def _ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for every length, concatenated."""
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)


def _ragged_exclusive_cumsum(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per group of `lengths` consecutive values, the sum of the group's values before each one."""
    exclusive = np.cumsum(values) - values
    starts = np.cumsum(lengths) - lengths
    # An empty group may start at len(values); it repeats nothing, so any base will do.
    base = np.concatenate([exclusive, np.zeros(1, dtype=exclusive.dtype)])[starts]
    return exclusive - np.repeat(base, lengths)


def _as_flat(texts: Sequence[str], what: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ASCII bytes of `texts` and their lengths."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    try:
        flat = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        for index, text in enumerate(texts):
            if not text.isascii():
                raise InputError(source, f"non-ASCII character in the {what}", index) from None
        raise
    return flat, lengths


def _record_of(flat_index: int, lengths: np.ndarray) -> int:
    return int(np.searchsorted(np.cumsum(lengths), flat_index, side="right"))


def _check_many(
    sequences: Sequence[str], structures: Sequence[str], source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a batch; return flat sequence codes, flat structure kinds and lengths."""
    if len(sequences) != len(structures):
        raise InputError(
            source, f"{len(sequences)} sequences but {len(structures)} structures"
        )
    seq_bytes, lengths = _as_flat(sequences, "sequence", source)
    st_bytes, st_lengths = _as_flat(structures, "structure", source)
    if (lengths != st_lengths).any():
        index = int(np.argmax(lengths != st_lengths))
        raise InputError(
            source, f"sequence ({lengths[index]} nt) and structure ({st_lengths[index]}) differ in "
            "length", index,
        )
    codes = _SEQ_CODE[seq_bytes]
    kinds = _STRUCT_CODE[st_bytes]
    if (codes < 0).any() or (kinds < 0).any():
        index = _record_of(int(np.argmax((codes < 0) | (kinds < 0))), lengths)
        _check_one(sequences[index], structures[index], index, source)
        raise InputError(source, "invalid character", index)  # not reached
    step = np.where(kinds == _OPEN, 1, np.where(kinds == _CLOSE, -1, 0)).astype(np.int32)
    depth = _ragged_exclusive_cumsum(step, lengths) + step
    ends = np.cumsum(lengths) - 1
    nonempty = lengths > 0
    bad = np.zeros(len(lengths), dtype=bool)
    bad[nonempty] = depth[ends[nonempty]] != 0
    if len(depth):
        negative = np.flatnonzero(depth < 0)
        if len(negative):
            bad[_record_of(int(negative[0]), lengths)] = True
    iupac_paired = (codes == NT_N) & (kinds != _DOT)
    if iupac_paired.any():
        bad[_record_of(int(np.argmax(iupac_paired)), lengths)] = True
    if bad.any():
        index = int(np.argmax(bad))
        _check_one(sequences[index], structures[index], index, source)
        raise InputError(source, "invalid sequence or structure", index)  # not reached
    return codes, kinds, lengths


def _central_loops(kinds: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised `central_loop`: local (i, j) per molecule, -1 where there is none."""
    n_mol = len(lengths)
    best_i = np.full(n_mol, -1, dtype=np.int64)
    best_j = np.full(n_mol, -1, dtype=np.int64)
    if not len(kinds):
        return best_i, best_j
    index = np.arange(len(kinds), dtype=np.int64)
    last_bracket = np.maximum.accumulate(np.where(kinds != _DOT, index, -1))
    closes = np.flatnonzero(kinds == _CLOSE)
    closes = closes[closes > 0]
    previous = last_bracket[closes - 1]
    # Balanced structures never reach back into the previous molecule here: a ")" preceded only
    # by dots within its molecule would make the depth negative, which `_check_many` rejects.
    hairpin = (previous >= 0) & (kinds[np.maximum(previous, 0)] == _OPEN) & (closes - previous >= 2)
    opens, closes = previous[hairpin], closes[hairpin]
    molecule = np.searchsorted(np.cumsum(lengths), opens, side="right")
    starts = np.cumsum(lengths) - lengths
    i = opens - starts[molecule]
    j = closes - starts[molecule]
    middle = lengths[molecule] // 2
    distance = np.minimum(np.abs(i - middle), np.abs(j + 1 - middle))
    order = np.lexsort((i, distance, molecule))
    first = np.unique(molecule[order], return_index=True)
    chosen = order[first[1]]
    best_i[first[0]] = i[chosen]
    best_j[first[0]] = j[chosen]
    return best_i, best_j


def _stream(
    kinds: np.ndarray, lengths: np.ndarray, positions: np.ndarray
) -> dict[str, np.ndarray]:
    """Tokens of one stream (flat `positions`, `lengths` per molecule): bracket flag, segment
    index (brackets before the token) and offset of a dot inside its segment."""
    is_bracket = kinds[positions] != _DOT
    segment = _ragged_exclusive_cumsum(is_bracket.astype(np.int64), lengths)
    token = np.arange(len(positions), dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    last_bracket = np.maximum.accumulate(np.where(is_bracket, token, -1))
    segment_start = np.maximum(last_bracket + 1, np.repeat(starts, lengths))
    # For a dot, the last bracket is strictly before it; brackets get an unused offset.
    offset = token - segment_start
    # Every stream has at least two tokens (the loop's bracket and a loop nucleotide), so no
    # start equals the next one, as reduceat needs.
    brackets = np.add.reduceat(is_bracket.astype(np.int64), starts) if len(starts) else starts
    return {
        "bracket": is_bracket,
        "segment": segment,
        "offset": offset,
        "count": brackets,
    }


def columns_many(
    sequences: Sequence[str],
    structures: Sequence[str],
    *,
    source: str = "<sequences>",
    positions: bool = True,
) -> Factors:
    """`columns` for a batch (2-D arrays, N x 100), vectorised with numpy; `positions=False`
    skips the position arrays (`encode_many` does not need them).

    The walk pairs the k-th bracket of the top stream with the k-th bracket of the bottom stream;
    between brackets, segment m holds D_m top dots and E_m bottom dots in max(D_m, E_m) columns
    (dots side by side from the outer end, gaps facing the surplus). The last segment drawn,
    m* = min(t, u) for t top and u bottom brackets, has D_m* columns if t < u, E_m* if t > u,
    min(D_m*, E_m*) if t == u: the walk stopped when a stream ran out.
    """
    codes, kinds, lengths = _check_many(sequences, structures, source)
    n_mol = len(lengths)
    top_nt = np.zeros((n_mol, COLUMNS), dtype=np.int8)
    bottom_nt = np.zeros((n_mol, COLUMNS), dtype=np.int8)
    paired = np.zeros((n_mol, COLUMNS), dtype=bool)
    top_pos = np.full((n_mol, COLUMNS), -1, dtype=np.int32)
    bottom_pos = np.full((n_mol, COLUMNS), -1, dtype=np.int32)
    loop_i, loop_j = _central_loops(kinds, lengths)
    mols = np.flatnonzero(loop_i >= 0)
    if not len(mols):
        return Factors(top_nt, bottom_nt, paired, top_pos, bottom_pos)
    starts = (np.cumsum(lengths) - lengths)[mols]
    n = lengths[mols]
    ls, le = loop_i[mols] + 1, loop_j[mols] - 1

    top_len = le + 1
    bottom_len = n - ls
    top_local = _ragged_arange(top_len)
    bottom_local = (np.repeat(n, bottom_len) - 1) - _ragged_arange(bottom_len)
    top_flat = np.repeat(starts, top_len) + top_local
    bottom_flat = np.repeat(starts, bottom_len) + bottom_local
    top = _stream(kinds, top_len, top_flat)
    bottom = _stream(kinds, bottom_len, bottom_flat)
    top_mol = np.repeat(np.arange(len(mols)), top_len)
    bottom_mol = np.repeat(np.arange(len(mols)), bottom_len)

    t, u = top["count"], bottom["count"]
    last = np.minimum(t, u)
    n_segments = last + 1
    segment_base = np.cumsum(n_segments) - n_segments
    n_seg_total = int(n_segments.sum())

    def dots_per_segment(stream: dict[str, np.ndarray], mol: np.ndarray) -> np.ndarray:
        use = ~stream["bracket"] & (stream["segment"] <= last[mol])
        key = segment_base[mol[use]] + stream["segment"][use]
        return np.bincount(key, minlength=n_seg_total)

    top_dots = dots_per_segment(top, top_mol)
    bottom_dots = dots_per_segment(bottom, bottom_mol)
    width = np.maximum(top_dots, bottom_dots)
    final = segment_base + last
    width[final] = np.where(
        t < u, top_dots[final], np.where(t > u, bottom_dots[final],
                                         np.minimum(top_dots[final], bottom_dots[final]))
    )
    segment_start = _ragged_exclusive_cumsum(width + 1, n_segments)
    total = segment_start[final] + width[final]

    def place(stream: dict[str, np.ndarray], stream_len: np.ndarray, flat: np.ndarray,
              local: np.ndarray, nt: np.ndarray, pos: np.ndarray | None) -> np.ndarray:
        """Write the stream's drawn tokens into `nt` (and `pos`); return the paired cells."""
        seg, is_bracket = stream["segment"], stream["bracket"]
        last_rep = np.repeat(last, stream_len)
        key = np.repeat(segment_base, stream_len) + np.minimum(seg, last_rep)
        seg_width = width[key]
        # A bracket sits just outside its segment's columns; a dot at its offset inside them.
        outward = segment_start[key] + np.where(is_bracket, seg_width, stream["offset"])
        column = np.repeat(total - 1, stream_len) - outward
        dot_drawn = (seg <= last_rep) & (stream["offset"] < seg_width)
        keep = np.where(is_bracket, seg < last_rep, dot_drawn)
        keep &= column < COLUMNS
        cells = np.repeat(mols * COLUMNS, stream_len)[keep] + column[keep]
        nt.ravel()[cells] = codes[flat[keep]]
        if pos is not None:
            pos.ravel()[cells] = local[keep]
        return cells[is_bracket[keep]]

    drawn = np.minimum(total, COLUMNS)
    within = np.arange(COLUMNS)[None, :] < drawn[:, None]
    top_nt[mols] = np.where(within, GAP, NONE)
    bottom_nt[mols] = np.where(within, GAP, NONE)
    pair_cells = place(top, top_len, top_flat, top_local, top_nt, top_pos if positions else None)
    place(bottom, bottom_len, bottom_flat, bottom_local, bottom_nt,
          bottom_pos if positions else None)
    paired.ravel()[pair_cells] = True
    if not positions:
        return Factors(top_nt, bottom_nt, paired)
    return Factors(top_nt, bottom_nt, paired, top_pos, bottom_pos)


# --------------------------------------------------------------------------------------------
# Factors -> image.


def _as_batch(factors: Factors) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    top = np.asarray(factors.top_nt)
    bottom = np.asarray(factors.bottom_nt)
    paired = np.asarray(factors.paired)
    single = top.ndim == 1
    if single:
        top, bottom, paired = top[None], bottom[None], paired[None]
    if top.ndim != 2 or top.shape[1] != COLUMNS or bottom.shape != top.shape or (
        paired.shape != top.shape
    ):
        raise InputError(
            "<factors>", f"factor arrays must all be (N, {COLUMNS}) or ({COLUMNS},); got "
            f"{top.shape}, {bottom.shape}, {paired.shape}",
        )
    for name, codes in (("top_nt", top), ("bottom_nt", bottom)):
        bad = (codes < 0) | (codes >= N_CODES)
        if bad.any():
            record = int(np.argmax(bad.any(axis=1)))
            raise InputError("<factors>", f"{name} has a code outside 0-{N_CODES - 1}", record)
    return top.astype(np.int8), bottom.astype(np.int8), paired.astype(bool), single


def normalize_factors(factors: Factors) -> Factors:
    """The factors `render` and `factors_to_hairpin` actually use (identity on `columns` output).

    1. The hairpin ends at the first column with no nucleotide in either half (both `NONE` or
       `GAP`); later columns become `NONE`. 2. Before that, a `NONE` half becomes a `GAP`.
    3. A column stays paired only if both halves are A, C, G or U (non-Watson-Crick pairs such
       as G-G are kept: the JAR draws them, 5 px, in multi-loop folds). 4. Column 0 is never
       paired, so the terminal loop has at least one column. 5. If no column is paired, the
       outermost column from 1 on with A/C/G/U in both halves becomes paired, so that the loop
       has a closing pair; where there is no such column no hairpin is possible and the factors
       spell an unpaired stretch (`columns` output never needs this rule unless its terminal
       loop fills all 100 columns). Codes outside 0-6 raise InputError.
    """
    top, bottom, paired, single = _as_batch(factors)
    has = _IS_LETTER[top] | _IS_LETTER[bottom]
    inside = np.cumprod(has, axis=1).astype(bool)
    top = np.where(inside, np.where(top == NONE, GAP, top), NONE).astype(np.int8)
    bottom = np.where(inside, np.where(bottom == NONE, GAP, bottom), NONE).astype(np.int8)
    paired = paired & inside & _IS_ACGU[top] & _IS_ACGU[bottom]
    paired[:, 0] = False
    can_pair = inside & _IS_ACGU[top] & _IS_ACGU[bottom]
    can_pair[:, 0] = False
    lonely = ~paired.any(axis=1) & can_pair.any(axis=1)
    if lonely.any():
        outermost = COLUMNS - 1 - np.argmax(can_pair[lonely, ::-1], axis=1)
        paired[np.flatnonzero(lonely), outermost] = True
    if single:
        return Factors(top[0], bottom[0], paired[0], factors.top_pos, factors.bottom_pos)
    return Factors(top, bottom, paired, factors.top_pos, factors.bottom_pos)


def _bar_heights(
    own: np.ndarray, length: np.ndarray, paired: np.ndarray, limit: int
) -> np.ndarray:
    """Pixels of each half-bar: L + 1, plus 2r for an unpaired nucleotide; clipped at `limit`."""
    unpaired = _IS_LETTER[own] & ~paired
    steps = np.cumsum(unpaired, axis=1, dtype=np.int16)
    column = np.arange(COLUMNS, dtype=np.int16)
    last_pair = np.maximum.accumulate(np.where(paired, column, -1), axis=1)
    before = np.take_along_axis(steps, np.maximum(last_pair, 0), axis=1)
    ramp = np.where(last_pair >= 0, steps - before, steps)
    # The terminal run (the unpaired nucleotides after any gaps at column 0) is a tent: with g
    # leading gaps and D nucleotides, the k-th (0-based) gets min(k + 1, D - k + 2g). With g = 0
    # that is the symmetric tent of the loop; g > 0 happens where the naive walk of a multi-loop
    # fold ran out on the other arm (173 such halves in the oracle and modhsa images).
    gaps = np.cumprod(own == GAP, axis=1, dtype=np.int16).sum(axis=1, dtype=np.int16)[:, None]
    leading = column < gaps
    run = np.cumprod(unpaired | leading, axis=1, dtype=np.int16).sum(axis=1, dtype=np.int16)
    run = run[:, None] - gaps
    k = column - gaps
    tent = np.minimum(k + 1, run - k + 2 * gaps)
    ramp = np.where((k >= 0) & (k < run), tent, ramp)
    height = np.where(_IS_LETTER[own] | (own == GAP), length + 1, 0)
    height = height + 2 * ramp * unpaired
    return np.minimum(height, limit).astype(np.int16)


# Depth of each row below (5' half) or above (3' half) its axis pixel: a row is painted when its
# depth is less than the bar's height.
_TOP_DEPTH = (TOP_ROWS - 1 - np.arange(TOP_ROWS, dtype=np.uint8))[:, None]
_BOTTOM_DEPTH = np.arange(BOTTOM_ROWS, dtype=np.uint8)[:, None]


def _paint(top: np.ndarray, bottom: np.ndarray, paired: np.ndarray) -> np.ndarray:
    """Images of factors (N x 100 each) drawn as the JAR draws them, without normalising."""
    n_mol = len(top)
    images = np.empty((n_mol, ROWS, COLUMNS, 3), dtype=np.uint8)
    for lo in range(0, n_mol, _CHUNK):
        hi = min(lo + _CHUNK, n_mol)
        t, b, p = top[lo:hi], bottom[lo:hi], paired[lo:hi]
        length = _PAIR_LENGTH[t, b]
        # Work on rows of 300 bytes (100 pixels x RGB) so that every step is a plain SIMD loop:
        # per-pixel lookups of 3-byte colours are several times slower.
        top_h = np.repeat(_bar_heights(t, length, p, TOP_ROWS).astype(np.uint8), 3, axis=1)
        bottom_h = np.repeat(_bar_heights(b, length, p, BOTTOM_ROWS).astype(np.uint8), 3, axis=1)
        rows = images[lo:hi].reshape(hi - lo, ROWS, COLUMNS * 3)
        rows.fill(255)
        np.copyto(rows[:, :TOP_ROWS], PALETTE[t].reshape(hi - lo, 1, COLUMNS * 3),
                  where=_TOP_DEPTH < top_h[:, None, :])
        np.copyto(rows[:, TOP_ROWS:], PALETTE[b].reshape(hi - lo, 1, COLUMNS * 3),
                  where=_BOTTOM_DEPTH < bottom_h[:, None, :])
        # No hairpin loop: the JAR writes an all-black image.
        images[lo:hi][t[:, 0] == NONE] = 0
    return images


def render(factors: Factors) -> np.ndarray:
    """Draw factors (after `normalize_factors`): (25, 100, 3) uint8, or (N, 25, 100, 3) for a batch.

    Factors whose column 0 is empty draw the JAR's all-black failure image.
    """
    normal = normalize_factors(factors)
    top, bottom, paired, single = _as_batch(normal)
    images = _paint(top, bottom, paired)
    return images[0] if single else images


def encode(sequence: str, structure: str) -> np.ndarray:
    """The 25 x 100 x 3 uint8 image of one hairpin (all black when it has no hairpin loop)."""
    factors = columns(sequence, structure)
    return _paint(factors.top_nt[None], factors.bottom_nt[None], factors.paired[None])[0]


def encode_many(
    sequences: Sequence[str], structures: Sequence[str], *, source: str = "<sequences>"
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 25, 100, 3) uint8 and `encodable` (N,) bool (False: no hairpin loop, all black).

    Bad input (length mismatch, a character that is not a letter or not ``.()``, unbalanced
    brackets, a paired IUPAC letter) raises InputError naming `source` and the record index.
    """
    factors = columns_many(sequences, structures, source=source, positions=False)
    images = _paint(factors.top_nt, factors.bottom_nt, factors.paired)
    return images, factors.top_nt[:, 0] != NONE


# --------------------------------------------------------------------------------------------
# Image -> factors -> hairpin.

# Colour key (top bit of R, G, B -> 3 bits) -> code; black is resolved by bar height. Keys that
# are no colour of the image (cyan, magenta) map to N and fail the redraw check.
_BLACK_KEY, _WHITE_KEY = 0, 7
_KEY_CODE = np.full(8, NT_N, dtype=np.int8)
_KEY_CODE[[7, 6, 1, 4, 2, 0]] = [NONE, NT_A, NT_C, NT_G, NT_U, NT_N]


def _read_chunk(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factors of a chunk of images, read without any check."""
    key = (chunk[..., 0] >> 7) << 2
    key |= (chunk[..., 1] >> 7) << 1
    key |= chunk[..., 2] >> 7
    top_h = (key[:, :TOP_ROWS] != _WHITE_KEY).sum(axis=1, dtype=np.int16)
    bottom_h = (key[:, TOP_ROWS:] != _WHITE_KEY).sum(axis=1, dtype=np.int16)
    t = _KEY_CODE[key[:, TOP_ROWS - 1]]
    b = _KEY_CODE[key[:, TOP_ROWS]]
    t[(t == NT_N) & ((top_h == 2) | (top_h == 5))] = GAP
    b[(b == NT_N) & (bottom_h == 2)] = GAP
    length = _PAIR_LENGTH[t, b]
    p = _IS_ACGU[t] & _IS_ACGU[b] & (top_h == length + 1) & (bottom_h == length + 1)
    # The JAR's failure image is all black; it stands for no hairpin at all.
    black = (key == _BLACK_KEY).all(axis=(1, 2))
    t[black], b[black], p[black] = NONE, NONE, False
    return t, b, p


def image_to_factors(images: np.ndarray, *, source: str = "<images>") -> Factors:
    """Read the factors back from images ((25, 100, 3) or (N, 25, 100, 3) uint8).

    Colour gives the letter; a black half is a gap when its bar is 2 px (5' or 3' half) or 5 px
    (5' half facing an IUPAC letter), else an IUPAC letter; a column is paired when both halves
    are A/C/G/U and both bars are exactly L + 1. The factors are drawn again and must give the
    image back pixel for pixel; anything else (a colour outside the six, a bar that is not one
    colour from the axis, a height the rules cannot give) raises InputError naming the record.
    An all-black image (the JAR's failure image) gives all `NONE`.
    """
    images = np.asarray(images)
    shape = images.shape
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] != (ROWS, COLUMNS, 3):
        raise InputError(source, f"images must be ({ROWS}, {COLUMNS}, 3) each; got {shape}")
    if images.dtype != np.uint8:
        raise InputError(source, f"images must be uint8; got {images.dtype}")
    n_mol = len(images)
    top = np.zeros((n_mol, COLUMNS), dtype=np.int8)
    bottom = np.zeros((n_mol, COLUMNS), dtype=np.int8)
    paired = np.zeros((n_mol, COLUMNS), dtype=bool)
    for lo in range(0, n_mol, _CHUNK):
        hi = min(lo + _CHUNK, n_mol)
        chunk = images[lo:hi]
        t, b, p = _read_chunk(chunk)
        top[lo:hi], bottom[lo:hi], paired[lo:hi] = t, b, p
        drawn = _paint(t, b, p)
        if not np.array_equal(drawn, chunk):
            _explain_mismatch(drawn, chunk, lo, source)
    if single:
        return Factors(top[0], bottom[0], paired[0])
    return Factors(top, bottom, paired)


def _explain_mismatch(drawn: np.ndarray, chunk: np.ndarray, lo: int, source: str) -> None:
    """Raise InputError for the first image of a chunk that is not its own redrawing."""
    wrong = (drawn != chunk).any(axis=(1, 2, 3))
    index = int(np.argmax(wrong))
    image = chunk[index]
    record = lo + index
    colours = {tuple(int(v) for v in rgb) for rgb in image.reshape(-1, 3)}
    foreign = sorted(colours - {tuple(int(v) for v in rgb) for rgb in PALETTE})
    if foreign:
        raise InputError(
            source, f"colour {foreign[0]} is not one of the six of the Cordero image", record
        )
    column = int(np.argmax((drawn[index] != image).any(axis=(0, 2))))
    raise InputError(
        source, f"not a Cordero hairpin image: the bars of column {column} do not follow the "
        "drawing rules", record,
    )


def factors_to_hairpins(factors: Factors) -> tuple[list[str], list[str]]:
    """Sequences and dot-brackets of a batch of factors (after `normalize_factors`).

    The 5' arm is the top half read from the outermost column in to column 0, the 3' arm the bottom
    half read from column 0 outward; gaps are skipped; a paired column gives ``(`` and ``)``, any
    other nucleotide ``.``. The unpaired columns before the first pair hold the terminal loop.
    When each of them has a nucleotide in both halves, the loop is drawn twice (mirrored, in
    every single-stem image) and is read once, from the 5' half (which wins if a generated
    sample's halves disagree). When one of them has a gap, the halves show different stretches
    (what the naive walk draws for some multi-loop folds) and both are kept, 5' half first. The
    result is balanced with exactly one hairpin loop of at least one nucleotide; the exceptions
    are two empty strings when column 0 is empty, and an unpaired stretch when no column from 1
    on has A/C/G/U in both halves (nothing can close a loop). `columns_many` of the result gives
    the factors of the image the hairpin really has (`render` draws the factors as given).
    """
    normal = normalize_factors(factors)
    top, bottom, paired, _ = _as_batch(normal)
    column = np.arange(COLUMNS)
    first_pair = np.where(paired.any(axis=1), np.argmax(paired, axis=1), COLUMNS)
    in_loop = column[None, :] < first_pair[:, None]
    both = _IS_LETTER[top] & _IS_LETTER[bottom]
    drawn = _IS_LETTER[top] | _IS_LETTER[bottom]
    loop_twice = (both | ~(in_loop & drawn)).all(axis=1)
    keep_top = _IS_LETTER[top][:, ::-1]
    keep_bottom = _IS_LETTER[bottom] & ~(loop_twice[:, None] & in_loop)
    keep = np.concatenate([keep_top, keep_bottom], axis=1)
    letters = np.concatenate([_LETTER_BYTES[top][:, ::-1], _LETTER_BYTES[bottom]], axis=1)
    dot, open_, close = ord("."), ord("("), ord(")")
    brackets = np.concatenate(
        [np.where(paired, open_, dot)[:, ::-1], np.where(paired, close, dot)], axis=1
    ).astype(np.uint8)
    counts = keep.sum(axis=1)
    ends = np.cumsum(counts)
    seq_text = letters[keep].tobytes().decode("ascii")
    st_text = brackets[keep].tobytes().decode("ascii")
    spans = list(zip((ends - counts).tolist(), ends.tolist(), strict=True))
    return [seq_text[a:b] for a, b in spans], [st_text[a:b] for a, b in spans]


def factors_to_hairpin(factors: Factors) -> tuple[str, str]:
    """(sequence, dot-bracket) of one hairpin's factors (1-D arrays); see `factors_to_hairpins`."""
    top = np.asarray(factors.top_nt)
    if top.ndim != 1:
        raise InputError("<factors>", "one hairpin expected; use factors_to_hairpins for a batch")
    sequences, structures = factors_to_hairpins(
        Factors(top[None], np.asarray(factors.bottom_nt)[None], np.asarray(factors.paired)[None])
    )
    return sequences[0], structures[0]


def decode(image: np.ndarray) -> tuple[str, str]:
    """(sequence, dot-bracket) drawn in one image; ("", "") for the all-black failure image."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise InputError("<image>", f"one image must be ({ROWS}, {COLUMNS}, 3); got {image.shape}")
    sequences, structures = decode_many(image[None], source="<image>")
    return sequences[0], structures[0]


def decode_many(
    images: np.ndarray, *, source: str = "<images>"
) -> tuple[list[str], list[str]]:
    """`decode` for a batch (N, 25, 100, 3): image -> factors -> hairpin, with the same checks."""
    return factors_to_hairpins(image_to_factors(np.asarray(images), source=source))


# --------------------------------------------------------------------------------------------
# Stage glue: files in, files out.


def _read_table(path: str | os.PathLike[str]) -> Any:
    import pandas as pd

    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # a parser error names no file; say which
        raise InputError(path, f"cannot read the table: {err}") from err
    return table


def _encode_rows(
    table: Any, sequences: list[str], structures: list[str], path: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    """`encode_many` whose errors name the row by its id, as the other stages do."""
    try:
        return encode_many(sequences, structures, source=str(path))
    except InputError as err:
        if err.record is None:
            raise
        raise InputError(path, err.problem, record=table["id"].iat[int(err.record)]) from err


def encode_table(
    in_tsv: str | os.PathLike[str],
    out_npz: str | os.PathLike[str],
    *,
    processes: int = 1,
    temperature: float = 37.0,
    dangles: int = 2,
) -> int:
    """`python -m premirna encode IN.tsv OUT.npz`: draw every row of a table.

    IN has columns ``id``, ``sequence`` and optionally ``structure`` (folded with
    `premirna.fold.fold_sequences` when the column is absent). OUT holds ``ids`` (str), ``images``
    (uint8, N x 25 x 100 x 3) and ``encodable`` (bool). Returns the number of rows; logs how many
    had no hairpin loop.
    """
    table = _read_table(in_tsv)
    for column in ("id", "sequence"):
        if column not in table.columns:
            raise InputError(in_tsv, f"no {column!r} column (columns: {', '.join(table.columns)})")
    sequences = table["sequence"].tolist()
    if "structure" in table.columns:
        structures = table["structure"].tolist()
    else:
        from premirna.fold import fold_sequences

        for index, sequence in enumerate(sequences):
            if not sequence:
                raise InputError(in_tsv, "empty sequence", table["id"].iat[index])
        try:
            folds = fold_sequences(
                sequences, processes=processes, temperature=temperature, dangles=dangles
            )
        except ValueError as err:  # fold names the 0-based index of a sequence it cannot fold
            raise InputError(in_tsv, str(err)) from err
        structures = [structure for structure, _ in folds]
    images, encodable = _encode_rows(table, sequences, structures, in_tsv)
    if (~encodable).any():
        log.warning("%d of %d rows have no hairpin loop: all-black images",
                    int((~encodable).sum()), len(encodable))
    save_npz(out_npz, ids=table["id"].to_numpy(dtype=str), images=images, encodable=encodable)
    return len(table)


def decode_file(in_npz: str | os.PathLike[str], out_tsv: str | os.PathLike[str]) -> int:
    """`python -m premirna decode IN.npz OUT.tsv`: recover id, sequence, structure from images.

    IN holds ``images`` (N x 25 x 100 x 3 uint8) and optionally ``ids``; OUT has columns ``id``,
    ``sequence``, ``structure`` (empty for an all-black image). Returns the number of rows.
    """
    import pandas as pd

    try:
        archive = np.load(in_npz, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise InputError(in_npz, f"not a numpy .npz archive: {err}") from err
    if not hasattr(archive, "files"):
        raise InputError(in_npz, "a single array, not an .npz archive with 'images' and 'ids'")
    with archive:
        if "images" not in archive.files:
            raise InputError(in_npz, f"no 'images' array (arrays: {', '.join(archive.files)})")
        try:
            images = archive["images"]
            ids = archive["ids"].astype(str) if "ids" in archive.files else None
        except ValueError as err:  # object arrays need pickle, which is not allowed
            raise InputError(in_npz, f"cannot read the arrays: {err}") from err
    if images.ndim != 4:
        raise InputError(in_npz, f"images must be N x {ROWS} x {COLUMNS} x 3; got {images.shape}")
    if ids is None:
        ids = np.array([str(i) for i in range(len(images))])
    if len(ids) != len(images):
        raise InputError(in_npz, f"{len(ids)} ids but {len(images)} images")
    try:
        sequences, structures = decode_many(images, source=str(in_npz))
    except InputError as err:
        if err.record is None:
            raise
        raise InputError(in_npz, err.problem, record=ids[int(err.record)]) from err
    write_tsv(pd.DataFrame({"id": ids, "sequence": sequences, "structure": structures}), out_tsv)
    return len(ids)


SPLITS = ("train", "val", "test")


def encode_splits(
    folded_tsv: str | os.PathLike[str],
    outputs: Mapping[str, str | os.PathLike[str]],
    examples_png: str | os.PathLike[str],
    *,
    n_examples: int = 4,
    seed: int = 0,
) -> dict[str, int]:
    """The `encode` stage: ``results/fold/folded.tsv`` -> one npz per split and an example figure.

    `outputs` maps each split (train, val, test) to its npz: ``ids`` (str), ``images`` (uint8),
    ``labels`` (int8) and ``encodable`` (bool; False = no hairpin loop, an all-black image to
    leave out of training). `examples_png` shows `n_examples` positives and as many negatives
    (seeded choice among the encodable test rows, or any split if test has too few). Returns the
    rows per split.
    """
    table = _read_table(folded_tsv)
    needed = ("id", "sequence", "structure", "label", "split")
    absent = [c for c in needed if c not in table.columns]
    if absent:
        raise InputError(folded_tsv, f"missing columns: {', '.join(absent)}")
    unknown = sorted(set(table["split"]) - set(SPLITS))
    if unknown:
        raise InputError(folded_tsv, f"unknown split names: {', '.join(unknown)}")
    bad_label = ~table["label"].isin(["0", "1"])
    if bad_label.any():
        row = int(np.argmax(bad_label.to_numpy()))
        raise InputError(folded_tsv, f"label {table['label'].iat[row]!r} is not 0 or 1",
                         record=table["id"].iat[row])
    images, encodable = _encode_rows(
        table, table["sequence"].tolist(), table["structure"].tolist(), folded_tsv
    )
    labels = table["label"].astype(np.int8).to_numpy()
    ids = table["id"].to_numpy(dtype=str)
    split = table["split"].to_numpy()
    counts: dict[str, int] = {}
    for name in SPLITS:
        rows = split == name
        save_npz(outputs[name], ids=ids[rows], images=images[rows], labels=labels[rows],
                 encodable=encodable[rows])
        counts[name] = int(rows.sum())
        log.info("%s: %d molecules, %d without a hairpin loop", name, counts[name],
                 int((~encodable[rows]).sum()))
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in (1, 0):
        pool = np.flatnonzero(encodable & (labels == label) & (split == "test"))
        if len(pool) < n_examples:
            pool = np.flatnonzero(encodable & (labels == label))
        chosen.extend(sorted(rng.choice(pool, size=min(n_examples, len(pool)), replace=False)))
    titles = [f"{ids[i]} ({'pre-miRNA' if labels[i] == 1 else 'negative'})" for i in chosen]
    plot_examples(images[chosen], titles, examples_png)
    return counts


def plot_examples(
    images: np.ndarray, titles: Sequence[str], path: str | os.PathLike[str]
) -> None:
    """A column of images, each drawn large with nearest-neighbour pixels and its title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(images), 1)
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.9 * n), squeeze=False)
    for ax, image, title in zip(axes[:, 0], images, titles, strict=False):
        ax.imshow(image, interpolation="nearest", aspect="equal")
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xticks([0, 20, 40, 60, 80, 99])
        ax.set_yticks([0, 12, 13, 24])
        ax.set_xlabel("column (0 = terminal loop)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(images):, 0]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)

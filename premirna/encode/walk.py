"""From a folded molecule to the factors of its image: the authors' walk, one molecule at a time
(the readable reference) and vectorised over a batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from premirna.core.errors import InputError
from premirna.encode.image import (
    _CLOSE,
    _DOT,
    _OPEN,
    _SEQ_CODE,
    _STRUCT_CODE,
    COLUMNS,
    GAP,
    NONE,
    NT_N,
    Factors,
)
from premirna.rna.structure import central_hairpin_loop


def central_loop(structure: str) -> tuple[int, int] | None:
    """Closing pair (i, j), 0-based, of the hairpin loop the JAR draws at column 0, or None.

    The rule (the ``(...)`` match nearest the middle, 5'-most on a tie) lives in
    `premirna.rna.structure.central_hairpin_loop`, so that the fold stage's `loop_size` and
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


@dataclass
class _Walked:
    """One stream (top: positions 0..j-1; bottom: n-1..i+1) of every molecule with a loop."""

    tokens: dict[str, np.ndarray]  # `_stream` of the stream
    lengths: np.ndarray  # tokens per molecule
    flat: np.ndarray  # index of each token in the flat batch
    local: np.ndarray  # its 0-based position in its molecule
    molecule: np.ndarray  # which of the walked molecules it belongs to


def _walk_streams(
    kinds: np.ndarray, lengths: np.ndarray, loop_i: np.ndarray, loop_j: np.ndarray,
    mols: np.ndarray,
) -> tuple[_Walked, _Walked]:
    """The two streams the walk reads, from the outside in, for the molecules `mols`."""
    starts = (np.cumsum(lengths) - lengths)[mols]
    n = lengths[mols]
    ls, le = loop_i[mols] + 1, loop_j[mols] - 1
    top_len = le + 1
    bottom_len = n - ls
    top_local = _ragged_arange(top_len)
    bottom_local = (np.repeat(n, bottom_len) - 1) - _ragged_arange(bottom_len)
    top_flat = np.repeat(starts, top_len) + top_local
    bottom_flat = np.repeat(starts, bottom_len) + bottom_local
    index = np.arange(len(mols))
    top = _Walked(_stream(kinds, top_len, top_flat), top_len, top_flat, top_local,
                  np.repeat(index, top_len))
    bottom = _Walked(_stream(kinds, bottom_len, bottom_flat), bottom_len, bottom_flat,
                     bottom_local, np.repeat(index, bottom_len))
    return top, bottom


@dataclass
class _Segments:
    """Where each segment between brackets lands: its width and first column (outward)."""

    last: np.ndarray  # the last segment drawn, per molecule
    base: np.ndarray  # index of each molecule's first segment
    width: np.ndarray  # columns of every segment
    start: np.ndarray  # outward offset of every segment's first column
    total: np.ndarray  # columns of each molecule's drawing


def _segments(top: _Walked, bottom: _Walked) -> _Segments:
    t, u = top.tokens["count"], bottom.tokens["count"]
    last = np.minimum(t, u)
    n_segments = last + 1
    base = np.cumsum(n_segments) - n_segments
    n_total = int(n_segments.sum())

    def dots_per_segment(stream: _Walked) -> np.ndarray:
        use = ~stream.tokens["bracket"] & (stream.tokens["segment"] <= last[stream.molecule])
        key = base[stream.molecule[use]] + stream.tokens["segment"][use]
        return np.bincount(key, minlength=n_total)

    top_dots = dots_per_segment(top)
    bottom_dots = dots_per_segment(bottom)
    width = np.maximum(top_dots, bottom_dots)
    final = base + last
    width[final] = np.where(
        t < u, top_dots[final], np.where(t > u, bottom_dots[final],
                                         np.minimum(top_dots[final], bottom_dots[final]))
    )
    start = _ragged_exclusive_cumsum(width + 1, n_segments)
    return _Segments(last, base, width, start, start[final] + width[final])


def _place(
    stream: _Walked, segments: _Segments, mols: np.ndarray, codes: np.ndarray, nt: np.ndarray,
    pos: np.ndarray | None,
) -> np.ndarray:
    """Write the stream's drawn tokens into `nt` (and `pos`); return the paired cells."""
    seg, is_bracket = stream.tokens["segment"], stream.tokens["bracket"]
    last_rep = np.repeat(segments.last, stream.lengths)
    key = np.repeat(segments.base, stream.lengths) + np.minimum(seg, last_rep)
    seg_width = segments.width[key]
    # A bracket sits just outside its segment's columns; a dot at its offset inside them.
    outward = segments.start[key] + np.where(is_bracket, seg_width, stream.tokens["offset"])
    column = np.repeat(segments.total - 1, stream.lengths) - outward
    dot_drawn = (seg <= last_rep) & (stream.tokens["offset"] < seg_width)
    keep = np.where(is_bracket, seg < last_rep, dot_drawn)
    keep &= column < COLUMNS
    cells = np.repeat(mols * COLUMNS, stream.lengths)[keep] + column[keep]
    nt.ravel()[cells] = codes[stream.flat[keep]]
    if pos is not None:
        pos.ravel()[cells] = stream.local[keep]
    return cells[is_bracket[keep]]


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
    top, bottom = _walk_streams(kinds, lengths, loop_i, loop_j, mols)
    segments = _segments(top, bottom)
    drawn = np.minimum(segments.total, COLUMNS)
    within = np.arange(COLUMNS)[None, :] < drawn[:, None]
    top_nt[mols] = np.where(within, GAP, NONE)
    bottom_nt[mols] = np.where(within, GAP, NONE)
    pair_cells = _place(top, segments, mols, codes, top_nt, top_pos if positions else None)
    _place(bottom, segments, mols, codes, bottom_nt, bottom_pos if positions else None)
    paired.ravel()[pair_cells] = True
    if not positions:
        return Factors(top_nt, bottom_nt, paired)
    return Factors(top_nt, bottom_nt, paired, top_pos, bottom_pos)

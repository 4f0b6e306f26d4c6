"""The inverse: image -> factors -> sequence and dot-bracket structure."""

from __future__ import annotations

import numpy as np

from premirna.core.errors import InputError
from premirna.encode.image import (
    _CHUNK,
    _IS_ACGU,
    _IS_LETTER,
    _LETTER_BYTES,
    _PAIR_LENGTH,
    COLUMNS,
    GAP,
    NONE,
    NT_A,
    NT_C,
    NT_G,
    NT_N,
    NT_U,
    PALETTE,
    ROWS,
    TOP_ROWS,
    Factors,
)
from premirna.encode.render import _as_batch, _paint, normalize_factors

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

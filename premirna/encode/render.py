"""From factors to pixels: the image drawn as ImageCalc.jar draws it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from premirna.core.errors import InputError
from premirna.encode.image import (
    _CHUNK,
    _IS_ACGU,
    _IS_LETTER,
    _PAIR_LENGTH,
    BOTTOM_ROWS,
    COLUMNS,
    GAP,
    N_CODES,
    NONE,
    PALETTE,
    ROWS,
    TOP_ROWS,
    Factors,
)
from premirna.encode.walk import columns, columns_many


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

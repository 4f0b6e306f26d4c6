"""Keeping the molecules that match the request: redrawing those whose drawing misses a bin."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import RNA

from premirna.generator.conditions import Condition, assign_bins
from premirna.generator.sample import Decoded
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.structure import features


def drawn_attributes(
    sequences: Sequence[str], structures: Sequence[str], attributes: Sequence[str],
    fold: FoldSettings = DEFAULT_FOLD,
) -> pd.DataFrame:
    """`attributes` of each molecule as drawn: its features (`premirna.rna.structure.features`) on
    the drawn structure, with the free energy of that structure (ViennaRNA's evaluation, not a
    fold) for `mfe_per_nt`. Where ViennaRNA folds the molecule as drawn these are the attributes
    the validate stage measures."""
    md = fold.model_details() if "mfe_per_nt" in attributes else None
    rows = []
    for sequence, structure in zip(sequences, structures, strict=True):
        energy = None
        if md is not None and sequence:
            energy = RNA.fold_compound(sequence, md).eval_structure(structure)
        values = features(sequence, structure, energy) if sequence else {}
        rows.append({a: values.get(a, math.nan) for a in attributes})
    return pd.DataFrame(rows, columns=list(attributes))


def in_requested_bins(
    decoded: Decoded, condition: Condition, checkpoint: Mapping[str, Any],
    fold: FoldSettings = DEFAULT_FOLD,
) -> np.ndarray:
    """Per molecule: does its drawn hairpin fall in every bin `condition` requests?"""
    hit = np.ones(len(decoded.sequences), dtype=bool)
    if not condition.bins:
        return hit
    values = drawn_attributes(decoded.sequences, decoded.structures, list(condition.bins), fold)
    for attribute, wanted in condition.bins.items():
        reached = assign_bins(values[attribute].to_numpy(dtype=np.float64),
                              checkpoint["bins"][attribute])
        hit &= reached == wanted
    return hit


def in_length_range(
    decoded: Decoded, condition: Condition, checkpoint: Mapping[str, Any]
) -> np.ndarray:
    """Per molecule: is its length within its class's range (`checkpoint["lengths"]`: the
    lengths inside the training molecules' 1st-99th percentiles with confidence,
    `premirna.generator.train.length_ranges`; all True for a checkpoint without them)?"""
    lengths = np.array([len(s) for s in decoded.sequences])
    ranges = checkpoint.get("lengths") or {}
    span = ranges.get(condition.label, ranges.get(str(condition.label)))
    if span is None:
        return np.ones(len(lengths), dtype=bool)
    return (lengths >= span[0]) & (lengths <= span[1])


def _take(decoded: Decoded, rows: np.ndarray) -> Decoded:
    return Decoded(decoded.tokens[rows], decoded.images[rows],
                   [decoded.sequences[i] for i in rows], [decoded.structures[i] for i in rows])


def _put(decoded: Decoded, rows: np.ndarray, other: Decoded) -> None:
    decoded.tokens[rows] = other.tokens
    decoded.images[rows] = other.images
    for k, i in enumerate(rows):
        decoded.sequences[i] = other.sequences[k]
        decoded.structures[i] = other.structures[k]


@dataclass
class Matched:
    """The molecules of one condition after `match_request`."""

    decoded: Decoded
    conditions: np.ndarray  # N x K condition rows each molecule was decoded under
    z: np.ndarray  # N x D latents
    draws: np.ndarray  # draws each molecule took (1 = the first)
    first_hit: np.ndarray  # did the first draw fall in the requested bins? (the decoder alone)
    hit: np.ndarray  # does the kept molecule?


#: draw(m, round) -> m new molecules (new latents, new noise), their condition rows and latents.
Drawer = Callable[[int, int], "tuple[Decoded, np.ndarray, np.ndarray]"]


def match_request(
    draw: Drawer, condition: Condition, n: int, rounds: int, checkpoint: Mapping[str, Any],
    fold: FoldSettings = DEFAULT_FOLD, accept: Callable[[Decoded], np.ndarray] | None = None,
) -> Matched:
    """`n` molecules for `condition`, redrawing those whose drawn hairpin misses a requested bin
    or whose length is outside its class's training range (`in_length_range`), or that `accept`
    (if given: one more test per molecule of a Decoded, `premirna.generator.realism.Acceptance`)
    turns down.

    `draw(m, round)` returns (Decoded, conditions, z) for m new molecules (new latents, new noise).
    A molecule that misses after `rounds` redraws keeps its first draw that met its bins and
    length range, else its very first draw, so the validate stage still sees every miss. This
    samples the decoder's distribution restricted to the requested bins and the training lengths
    (rejection sampling on what the decoder drew, not on a re-fold, and never on a judge's
    verdict); `first_hit` keeps the decoder's own control of the bins for the report.
    """
    def tests(decoded: Decoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        in_bins = in_requested_bins(decoded, condition, checkpoint, fold)
        fits = in_bins & in_length_range(decoded, condition, checkpoint)
        return in_bins, fits, fits & accept(decoded) if accept is not None else fits

    decoded, rows, z = draw(n, 0)
    first_hit, fits, hit = tests(decoded)
    draws = np.ones(n, dtype=np.int64)
    for round_ in range(1, rounds + 1):
        missing = np.flatnonzero(~hit)
        if not len(missing):
            break
        again, again_rows, again_z = draw(len(missing), round_)
        draws[missing] += 1
        _, fits_again, now = tests(again)
        # kept: a draw that passes every test, or, for a molecule whose kept draw misses even
        # its bins or length range, the first redraw that meets them
        better = now | (fits_again & ~fits[missing])
        keep = missing[better]
        if len(keep):
            _put(decoded, keep, _take(again, np.flatnonzero(better)))
            rows[keep] = again_rows[better]
            z[keep] = again_z[better]
            hit[keep] = now[better]
            fits[keep] = True
    return Matched(decoded, rows, z, draws, first_hit, hit)

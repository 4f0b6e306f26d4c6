"""Repair generated hairpins whose sequence does not fold into the structure their image draws.

The CVAE decodes an image: a sequence and the structure it is meant to take. When ViennaRNA folds
that sequence differently, the usual culprit is a loop or bulge whose nucleotides happen to pair
(with each other or with the stem) and so reshape the hairpin. `refine_hairpins` runs a short
adaptive walk per molecule, in the manner of ViennaRNA's RNAinverse (Hofacker et al. 1994), that
only ever changes nucleotides the intended structure leaves **unpaired**: every base pair the
decoder drew, and so the stem, stays as generated. A step picks an unpaired position that the
current fold pairs (else any untried unpaired position), tries the three other nucleotides, and
keeps the best if it lowers the base-pair distance between the MFE structure and the intended
one. The walk stops at distance 0, when no position is left to try, or after `steps` steps.

Two or three letters often fold equally well (in about 0.6 of the changes the walk made to the
default run's molecules). With `neighbours` (`neighbour_scores` of the training pre-miRNAs) the
tie goes to the letter whose two molecule-order dinucleotides those molecules make most often for
their composition (the sum of their log observed/expected), so that a repair does not add
dinucleotides pre-miRNAs avoid, CpG above all; without it, to a seeded random one. On the default
run a random letter raised the CpG of the repaired molecules by 0.001-0.004 per dinucleotide in
every condition (benchmarks/README.md, "A repair walk that keeps the neighbours usual").

The generate stage writes the raw decoder output (`raw_sequence`) and the number of changed
nucleotides beside each refined molecule, so the repair is never hidden; `steps: 0` turns it off.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import RNA

from premirna.encode.render import encode_many
from premirna.generator.dinucleotides import NUCLEOTIDES, dinucleotide_table
from premirna.generator.sample import Decoded
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.structure import pair_table

_model = None
_neighbours: np.ndarray | None = None


@dataclass(frozen=True)
class Refined:
    """One molecule after the walk."""

    sequence: str
    changed: int  # nucleotides that differ from the input sequence
    distance: int  # base-pair distance of its MFE structure to the intended one


def _fold(sequence: str, md) -> str:
    structure, _ = RNA.fold_compound(sequence, md).mfe()
    return structure


def neighbour_scores(sequences: Sequence[str]) -> np.ndarray:
    """4 x 4 log(observed / expected) of the molecule-order dinucleotides of `sequences` (row:
    the 5' nucleotide, column: the 3' one, in `NUCLEOTIDES`; each count plus 1), expected from
    the shares of the 5' and 3' nucleotides."""
    counts = dinucleotide_table(sequences) + 1.0
    p = counts / counts.sum()
    return np.log(p / np.outer(p.sum(axis=1), p.sum(axis=0)))


def _usual(current: list[str], position: int, letter: str, neighbours: np.ndarray) -> float:
    """How usual `letter` at `position` makes its two molecule-order dinucleotides."""
    index = NUCLEOTIDES.find(letter)
    score = 0.0
    if position > 0 and (before := NUCLEOTIDES.find(current[position - 1])) >= 0:
        score += neighbours[before, index]
    if position + 1 < len(current) and (after := NUCLEOTIDES.find(current[position + 1])) >= 0:
        score += neighbours[index, after]
    return float(score)


def refine_one(
    sequence: str, intended: str, steps: int, seed: int, md=None,
    neighbours: np.ndarray | None = None,
) -> Refined:
    """The adaptive walk for one molecule (see the module docstring); deterministic in `seed`.
    `neighbours` (`neighbour_scores`) breaks ties between equally good letters."""
    md = md if md is not None else DEFAULT_FOLD.model_details()
    if len(sequence) != len(intended):
        raise ValueError(f"sequence of {len(sequence)} nt, intended structure of {len(intended)}")
    folded = _fold(sequence, md)
    distance = RNA.bp_distance(folded, intended)
    target = pair_table(intended)
    unpaired = [i for i in range(len(sequence)) if target[i] < 0]
    if distance == 0 or steps <= 0 or not unpaired:
        return Refined(sequence, 0, distance)
    rng = np.random.default_rng(seed)
    current = list(sequence)
    tried: set[int] = set()
    for _ in range(steps):
        now = pair_table(folded)
        pool = [i for i in unpaired if now[i] >= 0 and i not in tried]
        pool = pool or [i for i in unpaired if i not in tried]
        if not pool:
            break
        position = int(rng.choice(pool))
        trials: list[tuple[int, str, str]] = []
        for letter in rng.permutation([c for c in "ACGU" if c != current[position]]):
            trial = current.copy()
            trial[position] = str(letter)
            trial_fold = _fold("".join(trial), md)
            trials.append((RNA.bp_distance(trial_fold, intended), str(letter), trial_fold))
        lowest = min(t[0] for t in trials)
        ties = [t for t in trials if t[0] == lowest]
        best = ties[0]
        if neighbours is not None and len(ties) > 1:
            best = max(ties, key=lambda t: _usual(current, position, t[1], neighbours))
        if best[0] < distance:
            distance, current[position], folded = best
            tried.clear()  # the fold changed: every position is worth another look
        else:
            tried.add(position)
        if distance == 0:
            break
    refined = "".join(current)
    changed = sum(a != b for a, b in zip(refined, sequence, strict=True))
    return Refined(refined, changed, distance)


def _init(fold: FoldSettings, neighbours: np.ndarray | None) -> None:
    global _model, _neighbours
    _model = fold.model_details()
    _neighbours = neighbours


def _refine_task(task: tuple[str, str, int, int]) -> Refined:
    sequence, intended, steps, seed = task
    return refine_one(sequence, intended, steps, seed, _model, _neighbours)


def refine_hairpins(
    sequences: Sequence[str],
    intended: Sequence[str],
    steps: int = 30,
    seed: int = 0,
    processes: int = 1,
    fold: FoldSettings = DEFAULT_FOLD,
    neighbours: np.ndarray | None = None,
) -> list[Refined]:
    """`refine_one` for every molecule (molecule i walks with seed (seed, i); ties broken by
    `neighbours`), in input order; the result does not depend on `processes`."""
    if len(sequences) != len(intended):
        raise ValueError(f"{len(sequences)} sequences but {len(intended)} structures")
    seeds = np.random.SeedSequence(seed).generate_state(max(1, len(sequences)))
    tasks = [(s, t, steps, int(k)) for s, t, k in zip(sequences, intended, seeds, strict=False)]
    if processes <= 1 or len(tasks) < 2:
        _init(fold, neighbours)
        return [_refine_task(task) for task in tasks]
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(processes, initializer=_init, initargs=(fold, neighbours)) as pool:
        return list(pool.imap(_refine_task, tasks, chunksize=16))


def refine_decoded(
    decoded: Decoded, steps: int, seed: int, fold: FoldSettings = DEFAULT_FOLD,
    processes: int = 1, neighbours: np.ndarray | None = None,
) -> Decoded:
    """`decoded` after the repair walk (`refine_hairpins`: unpaired nucleotides changed until the
    sequence folds as drawn, ties broken by `neighbours`), images redrawn; the decoder's
    sequences are kept beside."""
    if steps <= 0 or not decoded.sequences:
        return decoded
    refined = refine_hairpins(decoded.sequences, decoded.structures, steps=steps, seed=seed,
                              processes=processes, fold=fold, neighbours=neighbours)
    sequences = [r.sequence for r in refined]
    images = decoded.images.copy()
    changed = [i for i, r in enumerate(refined) if r.changed]
    if changed:
        images[changed] = encode_many([sequences[i] for i in changed],
                                      [decoded.structures[i] for i in changed],
                                      source="<refined>")[0]
    return Decoded(decoded.tokens, images, sequences, list(decoded.structures),
                   raw_sequences=list(decoded.sequences),
                   refined_nt=np.array([r.changed for r in refined], dtype=np.int64))

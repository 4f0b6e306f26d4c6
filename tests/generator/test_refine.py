"""The repair walk that makes generated hairpins fold as drawn (premirna.generator.refine)."""

from __future__ import annotations

import numpy as np
import pytest
import RNA

from premirna.generator.refine import neighbour_scores, refine_hairpins, refine_one
from premirna.rna.structure import pair_table

# hsa-let-7a-1 and its ViennaRNA MFE structure: already folds as intended.
LET7A1 = "UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCCUA"

# A 12-bp G/C stem around a 14-nt loop whose own nucleotides form a small hairpin (GGGG...CCCC):
# ViennaRNA folds the loop into a second stem, so the sequence does not fold as drawn.
STEM5, STEM3 = "GCAUCGGAUCCG", "CGGAUCCGAUGC"
LOOP = "GGGGAAUUCCCCAA"
MOLECULE = STEM5 + LOOP + STEM3
INTENDED = "(" * 12 + "." * 14 + ")" * 12


def test_a_molecule_that_folds_as_drawn_is_left_alone():
    structure, _ = RNA.fold(LET7A1)
    result = refine_one(LET7A1, structure, steps=20, seed=1)
    assert (result.sequence, result.changed, result.distance) == (LET7A1, 0, 0)


def test_the_walk_repairs_a_loop_that_pairs_and_keeps_every_drawn_pair():
    structure, _ = RNA.fold(MOLECULE)
    before = RNA.bp_distance(structure, INTENDED)
    assert before > 0  # the loop folds on itself
    result = refine_one(MOLECULE, INTENDED, steps=30, seed=7)
    assert result.distance < before
    assert result.distance == RNA.bp_distance(RNA.fold(result.sequence)[0], INTENDED)
    assert result.changed == sum(a != b for a, b in zip(result.sequence, MOLECULE, strict=True))
    assert 0 < result.changed <= 30
    paired = pair_table(INTENDED) >= 0
    for i, (old, new) in enumerate(zip(MOLECULE, result.sequence, strict=True)):
        if paired[i]:
            assert old == new, f"paired position {i} changed"


def test_no_steps_means_no_change():
    result = refine_one(MOLECULE, INTENDED, steps=0, seed=1)
    assert result.sequence == MOLECULE and result.changed == 0 and result.distance > 0


def test_seeded_and_independent_of_the_number_of_processes():
    sequences = [MOLECULE, LET7A1, MOLECULE[::-1]]
    intended = [INTENDED, RNA.fold(LET7A1)[0], INTENDED]
    one = refine_hairpins(sequences, intended, steps=15, seed=3, processes=1)
    two = refine_hairpins(sequences, intended, steps=15, seed=3, processes=2)
    assert one == two
    assert refine_hairpins(sequences, intended, steps=15, seed=3) == one


def test_neighbour_scores_are_log_observed_over_expected_dinucleotides():
    # "AUGCAUGC": AU 2, UG 2, GC 2, CA 1 in molecule order; every count plus 1 (16 + 7 = 23)
    scores = neighbour_scores(["AUGCAUGC"])
    counts = np.ones((4, 4))
    for pair, n in {"AU": 2, "UG": 2, "GC": 2, "CA": 1}.items():
        counts["ACGU".index(pair[0]), "ACGU".index(pair[1])] += n
    p = counts / 23
    expected = np.log(p / np.outer(p.sum(axis=1), p.sum(axis=0)))
    np.testing.assert_allclose(scores, expected)
    assert scores[0, 3] > 0 > scores[1, 2]  # AU made more often than expected, CG less


def _favouring(letter: str) -> np.ndarray:
    """Neighbour scores under which `letter` makes the most usual dinucleotides whatever its
    neighbours."""
    table = np.zeros((4, 4))
    table["ACGU".index(letter), :] += 1
    table[:, "ACGU".index(letter)] += 1
    return table


def test_ties_go_to_the_letter_with_the_most_usual_neighbours():
    molecules = [(MOLECULE, INTENDED), (MOLECULE[::-1], INTENDED)]

    def chosen(neighbours: np.ndarray | None) -> list[str]:
        letters = []
        for sequence, intended in molecules:
            for seed in range(12):
                result = refine_one(sequence, intended, 30, seed, neighbours=neighbours)
                letters += [b for a, b in zip(sequence, result.sequence, strict=True) if a != b]
        return letters

    random = chosen(None)
    for letter in "ACGU":
        favoured = chosen(_favouring(letter))
        # a letter is chosen more often where ties go to it than where they go by chance
        assert favoured.count(letter) / len(favoured) > random.count(letter) / len(random)
    # and the walk stays seeded through the process pool
    table = neighbour_scores([LET7A1])
    assert refine_hairpins([MOLECULE] * 3, [INTENDED] * 3, steps=20, seed=5, processes=2,
                           neighbours=table) == refine_hairpins(
        [MOLECULE] * 3, [INTENDED] * 3, steps=20, seed=5, neighbours=table)


def test_lengths_must_match():
    with pytest.raises(ValueError, match="sequence of 38 nt, intended structure of 37"):
        refine_one(MOLECULE, INTENDED[:-1], steps=5, seed=0)
    with pytest.raises(ValueError, match="2 sequences but 1 structures"):
        refine_hairpins([MOLECULE, MOLECULE], [INTENDED])

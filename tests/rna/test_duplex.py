"""The duplex-end stabilities: ViennaRNA's energy of opening the end pairs, and their difference."""

from __future__ import annotations

import math

import RNA

from premirna.rna.duplex import duplex_asymmetry, end_stabilities, opening_cost

# hsa-let-7a-1 (miRBase MI0000060) and its MFE structure; 5p miRNA 6-27, 3p 57-77 (1-based).
LET7 = ("UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCCUA")


def _fold(sequence: str) -> str:
    return RNA.fold(sequence)[0]


def test_opening_pairs_costs_energy_and_nothing_paired_costs_nothing() -> None:
    structure = _fold(LET7)
    paired = [i for i, c in enumerate(structure) if c == "("][:4]
    unpaired = [i for i, c in enumerate(structure) if c == "."][:4]
    assert opening_cost(LET7, structure, paired) > 0
    assert opening_cost(LET7, structure, unpaired) == 0.0


def test_a_gc_clamp_makes_an_end_more_stable_than_au_pairs() -> None:
    # A perfect stem with a GGGG/CCCC clamp at the base and mostly A-U pairs towards the loop.
    sequence = "GGGGAUAUAUAGCAAAAGCUAUAUAUCCCC"
    structure = _fold(sequence)
    assert structure.startswith("((((") and structure.endswith("))))")
    table_end = len(sequence) - 1
    base, loop_side = end_stabilities(sequence, structure, (0, 9), (17, table_end))
    assert base > loop_side  # four G-C pairs at the base cost more than the mixed loop-side end
    assert duplex_asymmetry(sequence, structure, (0, 9), (17, table_end)) == base - loop_side


def test_a_missing_arm_gives_nan() -> None:
    structure = _fold(LET7)
    five, three = end_stabilities(LET7, structure, (5, 26), None)
    assert five > 0 and math.isnan(three)
    assert math.isnan(duplex_asymmetry(LET7, structure, None, (56, 76)))

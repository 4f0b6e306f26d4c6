"""Tests of premirna.rna.structure: pair tables, hairpin loops, the central loop, hairpin
features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import RNA
from hypothesis import given, settings
from hypothesis import strategies as st

from premirna.rna.structure import (
    FEATURE_COLUMNS,
    base_pair_distance,
    central_hairpin_loop,
    features,
    hairpin_loops,
    pair_table,
    stem_path,
)


def dot_bracket(table: np.ndarray) -> str:
    return "".join("." if j < 0 else "(" if j > i else ")" for i, j in enumerate(table.tolist()))


@st.composite
def balanced_structures(draw: st.DrawFn, max_steps: int = 60) -> str:
    """Any balanced dot-bracket string (multiloops, empty hairpins and all)."""
    moves = draw(st.lists(st.sampled_from(".()"), max_size=max_steps))
    out, depth = [], 0
    for move in moves:
        if move == ")" and depth == 0:
            move = "."
        depth += {"(": 1, ")": -1, ".": 0}[move]
        out.append(move)
    return "".join(out) + ")" * depth


@st.composite
def stem_loops(draw: st.DrawFn) -> tuple[str, str, dict[str, int]]:
    """A single stem-loop with known features: helices, bulges, internal loops, tails."""
    loop = draw(st.integers(3, 25))
    helices = draw(st.lists(st.integers(1, 12), min_size=1, max_size=6))
    # Interior loops between consecutive helices (inner to outer): (5' side, 3' side) unpaired nt.
    gaps = [draw(st.tuples(st.integers(0, 6), st.integers(0, 6))) for _ in range(len(helices) - 1)]
    tail5, tail3 = draw(st.integers(0, 10)), draw(st.integers(0, 10))
    left, right = "." * loop, ""  # built from the loop outwards
    left = "(" * helices[0] + left
    right = ")" * helices[0]
    for (gap5, gap3), helix in zip(gaps, helices[1:], strict=True):
        left = "(" * helix + "." * gap5 + left
        right = right + "." * gap3 + ")" * helix
    structure = "." * tail5 + left + right + "." * tail3
    sequence = draw(st.text(alphabet="ACGU", min_size=len(structure), max_size=len(structure)))
    known = {
        "loop_size": loop,
        "stem_length": sum(helices),
        "bulges": sum((a > 0) != (b > 0) for a, b in gaps),
        "internal_loops": sum(a > 0 and b > 0 for a, b in gaps),
    }
    return sequence, structure, known


@settings(max_examples=200, deadline=None)
@given(balanced_structures())
def test_pair_table_is_an_involution_and_round_trips(structure: str) -> None:
    table = pair_table(structure)
    assert dot_bracket(table) == structure
    paired = np.flatnonzero(table >= 0)
    assert np.array_equal(table[table[paired]], paired)
    assert np.all(table[paired] != paired)


@settings(max_examples=200, deadline=None)
@given(balanced_structures().filter(bool))
def test_pair_table_matches_viennarna(structure: str) -> None:
    expected = np.array(list(RNA.ptable(structure))[1:]) - 1  # length first, 1-based, 0 = unpaired
    assert np.array_equal(pair_table(structure), expected)


@pytest.mark.parametrize(
    ("structure", "position", "bracket"),
    [("(()", 0, "("), ("((.))..)", 7, ")"), (")(", 0, ")"), ("..(((...))..", 2, "(")],
)
def test_unbalanced_brackets_name_the_position(structure: str, position: int, bracket: str) -> None:
    with pytest.raises(ValueError, match=rf"'\{bracket}' at position {position}\b"):
        pair_table(structure)


def test_unexpected_character_is_named() -> None:
    with pytest.raises(ValueError, match=r"'\[' at position 3"):
        pair_table("((.[.))")


@settings(max_examples=200, deadline=None)
@given(stem_loops())
def test_features_of_generated_stem_loops(case: tuple[str, str, dict[str, int]]) -> None:
    sequence, structure, known = case
    result = features(sequence, structure, mfe=-12.5)
    assert list(result) == list(FEATURE_COLUMNS)
    assert result["length"] == len(sequence)
    assert result["hairpin_loops"] == 1
    for name, value in known.items():
        assert result[name] == value, name
    assert result["gc"] == pytest.approx(
        (sequence.count("G") + sequence.count("C")) / len(sequence)
    )
    assert result["mfe_per_nt"] == pytest.approx(-12.5 / len(sequence))
    (i, j) = central_hairpin_loop(structure)
    assert structure[i] == "(" and structure[j] == ")" and set(structure[i + 1 : j]) == {"."}
    assert len(stem_path(structure)) == known["stem_length"]


@settings(max_examples=200, deadline=None)
@given(balanced_structures(), balanced_structures())
def test_base_pair_distance_matches_viennarna(a: str, b: str) -> None:
    n = max(len(a), len(b))
    a, b = a.ljust(n, "."), b.ljust(n, ".")
    assert base_pair_distance(a, b) == RNA.bp_distance(a, b)
    assert base_pair_distance(a, b) == base_pair_distance(b, a)
    assert base_pair_distance(a, a) == 0


def test_base_pair_distance_by_hand() -> None:
    assert base_pair_distance("((..))", "(....)") == 1
    assert base_pair_distance("((..))", "......") == 2
    assert base_pair_distance("(....)", ".(..).") == 2
    with pytest.raises(ValueError, match="length"):
        base_pair_distance("..", "...")


def test_hairpin_loops_by_hand() -> None:
    assert hairpin_loops("......") == []
    assert hairpin_loops("((...))") == [(1, 5)]
    assert hairpin_loops("((...))..((....))") == [(1, 5), (10, 15)]
    # A multiloop: the outer pair closes no hairpin; only the two inner ones do.
    assert hairpin_loops("(((...))((...)))") == [(2, 6), (9, 13)]


def test_no_hairpin_loop() -> None:
    assert central_hairpin_loop("........") is None
    assert central_hairpin_loop("") is None
    result = features("AAAAAAAA", "........")
    assert result["hairpin_loops"] == 0
    assert (result["loop_size"], result["stem_length"], result["bulges"]) == (0, 0, 0)
    assert "mfe_per_nt" not in result


def test_central_loop_in_the_authors_examples() -> None:
    # Oracle rows of the Cordero JAR (shared/data/cordero_encoding_oracle): the loop it drew.
    two_hairpins = "((((((((((((....)))))))))))).....((((((((((....))))))))))"
    assert central_hairpin_loop(two_hairpins) == (11, 16)
    tie = "((((((((((....))))))))))((((((((((....))))))))))"
    assert central_hairpin_loop(tie) == (9, 14)  # equal distance: the 5'-most loop wins
    mir_7_2 = (
        "(((....))).((((...(((((((.((((..((.(((((.(.(((((.(((((((............)))))))))))))."
        "))))).))..)))).))))))).))))."
    )
    assert central_hairpin_loop(mir_7_2) == (55, 68)


def test_central_loop_distance_uses_the_loop_ends() -> None:
    # n = 30, middle 15: loop A (0, 4) ends at 5 (distance 10); loop B (20, 26) starts at 20
    # (distance 5), although B's centre is further from the middle than A's end-to-middle gap.
    structure = "(...)" + "." * 15 + "(.....)" + "..."
    assert len(structure) == 30
    assert central_hairpin_loop(structure) == (20, 26)


def test_features_along_a_branched_fold() -> None:
    # The path from the central loop crosses a multiloop, which is neither bulge nor internal loop.
    structure = "((..((((...))))..((....))..))"
    sequence = "G" * len(structure)
    result = features(sequence, structure)
    assert result["hairpin_loops"] == 2
    assert central_hairpin_loop(structure) == (7, 11)
    assert result["loop_size"] == 3
    assert result["stem_length"] == 4 + 2
    assert (result["bulges"], result["internal_loops"]) == (0, 0)


def test_features_of_a_real_hairpin() -> None:
    # hsa-let-7a-1 (miRBase 22) and its ViennaRNA 2.8 MFE fold, checked by eye.
    sequence = "UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCCUA"
    structure = "(((((.(((((((((((((((((((((.....(((...((((....)))).)))))))))))))))))))))))))))))"
    result = features(sequence, structure, mfe=-34.2)
    assert result["loop_size"] == 4
    assert result["stem_length"] == 33
    assert result["bulges"] == 2  # 5 nt and 1 nt, both on the 5' arm
    assert result["internal_loops"] == 1  # 3 x 1
    assert result["gc"] == pytest.approx(34 / 80)


def test_gc_ignores_iupac_and_reads_t_as_u() -> None:
    assert features("GCNNAT", "......")["gc"] == pytest.approx(0.5)
    assert math.isnan(features("NNN", "...")["gc"])
    with pytest.raises(ValueError, match="differ in length"):
        features("ACGU", "...")

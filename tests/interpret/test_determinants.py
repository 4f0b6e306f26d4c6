"""The determinant mutations and their random controls, on hairpins built so that the answer is
known (where the motif is, which positions pair), and on real miRBase hairpins (the controls'
invariants)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA

from premirna.interpret.determinants import (
    DETERMINANTS,
    LOOP_CHANGE,
    LOOP_INSERT,
    PAIRS,
    Hairpin,
    Mutation,
    apical_ugu,
    basal_segment,
    basal_ug,
    end_asymmetry,
    fold_check,
    loop_enlarge,
    loop_shrink,
    mismatched_ghg,
    random_control,
)
from premirna.interpret.regions import infer_other_arm
from premirna.rna.duplex import duplex_asymmetry
from premirna.rna.structure import pair_table

COMPLEMENT = {"A": "U", "U": "A", "G": "C", "C": "G"}


def build(elements: list[str], loop: str) -> tuple[str, str]:
    """Sequence and structure of a hairpin from its 5' arm, base by base: "GC" is a pair (5'
    letter, 3' letter), "A." an unpaired 5' nucleotide facing an unpaired 3' one ("AC" with a
    dot: "A.C"), "A-" a 5' bulge; the loop closes it."""
    five, three, s5, s3 = [], [], [], []
    for e in elements:
        if len(e) == 2 and e[1] not in ".-":
            five.append(e[0]), three.append(e[1]), s5.append("("), s3.append(")")
        elif e[1] == ".":
            five.append(e[0]), three.append(e[2]), s5.append("."), s3.append(".")
        else:
            five.append(e[0]), s5.append(".")
    sequence = "".join(five) + loop + "".join(reversed(three))
    structure = "".join(s5) + "." * len(loop) + "".join(reversed(s3))
    return sequence, structure


def stem(letters: str) -> list[str]:
    """Perfect Watson-Crick pairs with the given 5' letters."""
    return [b + COMPLEMENT[b] for b in letters]


def changed_letters(before: str, after: str) -> list[int]:
    return [k for k, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]


def canonical(sequence: str, structure: str) -> bool:
    table = pair_table(structure)
    return all(sequence[i] + sequence[j] in PAIRS for i, j in enumerate(table) if j > i)


def test_apical_ugu_in_the_loop_is_found_and_destroyed_and_nothing_else_changes():
    sequence, structure = build(stem("GGCAGCAGCC"), "UGUAAACA")
    hairpin = Hairpin(sequence, structure)
    mutation = apical_ugu(hairpin)
    assert mutation is not None and mutation.kind == "substitution"
    mutant = mutation.apply(sequence)
    assert changed_letters(sequence, mutant) == [10, 11, 12]
    assert mutant[10:13] == "CAC"
    assert mutation.recipe == (("unpaired", 3),)
    check = fold_check(hairpin, mutation, structure)
    assert check.kept and check.bp_distance == 0 and check.pairs_kept == 1.0


def test_apical_ugu_deep_in_the_loop_or_absent_is_not_a_carrier():
    for loop in ("AAAAAAAUGU", "AACAAACAAA"):
        sequence, structure = build(stem("GGCAGCAGCC"), loop)
        assert apical_ugu(Hairpin(sequence, structure)) is None


def test_apical_gug_reaching_into_the_stem_keeps_the_pairs():
    """GUG over the last stem pairs (G-C, U-A) and the loop's first G: the paired letters turn
    their pairs around, the loop's G becomes A, and every pair stays a pair."""
    sequence, structure = build(stem("GGCAGCAGGU"), "GAAACAAC")
    hairpin = Hairpin(sequence, structure)
    mutation = apical_ugu(hairpin)
    assert mutation is not None
    mutant = mutation.apply(sequence)
    assert mutant[8:11] == "CAA"
    assert canonical(mutant, structure)
    assert "UGU" not in mutant[8:16] and "GUG" not in mutant[8:16]
    assert dict(mutation.recipe) == {"unpaired": 1, "pair_2": 2}
    assert mutation.n_changed() == 5


def test_basal_ug_at_minus_14_is_destroyed():
    letters = "CACUGCACCAGCACCAGCACCAGCACCAGC"
    sequence, structure = build(stem(letters), "AAAACAAAAC")
    hairpin = Hairpin(sequence, structure, five_p=(17, 38))
    assert sequence[17 - 14 : 17 - 12] == "UG"
    mutation = basal_ug(hairpin)
    assert mutation is not None
    mutant = mutation.apply(sequence)
    assert "UG" not in mutant[2:6]
    assert canonical(mutant, structure)
    changed = changed_letters(sequence, mutant)
    assert set(changed) == {3, 4, len(sequence) - 4, len(sequence) - 5}
    # the same hairpin without the UG does not carry it
    plain = "CACAGCACCAGCACCAGCACCAGCACCAGC"
    sequence, structure = build(stem(plain), "AAAACAAAAC")
    assert basal_ug(Hairpin(sequence, structure, five_p=(17, 38))) is None


def mghg_hairpin(middle: str = "A.A") -> tuple[Hairpin, int]:
    """A 30-bp stem whose 3p strand carries G, an unpaired H facing an unpaired C, G at +5..+7
    after the 3p Drosha cut; returns the hairpin and the H's position."""
    arm = [*stem("CACC"), "CG", middle, "CG", *stem("ACAGCACCAGCACCAGCACCAGCAC")]
    sequence, structure = build(arm, "AAAACAAAAC")
    n = len(sequence)
    h = n - 1 - 5  # 3p strand, mirror of the 6th 5' element
    hairpin = Hairpin(sequence, structure, five_p=(9, 30), three_p=(n - 1 - 30 + 2, h - 6))
    return hairpin, h


def test_mismatched_ghg_is_destroyed_keeping_stem_and_mismatch():
    hairpin, h = mghg_hairpin()
    seq = hairpin.sequence
    assert seq[h - 1 : h + 2] == "GAG" and hairpin.table[h] < 0
    assert h - hairpin.three_p[1] == 6
    mutation = mismatched_ghg(hairpin)
    assert mutation is not None
    mutant = mutation.apply(seq)
    assert mutant[h - 1 : h + 2] == "CAC"
    assert canonical(mutant, hairpin.structure)
    assert mutation.recipe == (("pair_2", 2),)
    # a bulge (nothing opposite the H) is not a mismatch
    bulged, h = mghg_hairpin("A-")
    assert mismatched_ghg(bulged) is None


def test_basal_segment_pairing_is_broken_on_the_5p_arm():
    letters = "GACUGCACCAGCACCAGCACCAGCACCAGC"
    sequence, structure = build(stem(letters), "AAAACAAAAC")
    hairpin = Hairpin(sequence, structure, five_p=(14, 35))
    mutation = basal_segment(hairpin)
    assert mutation is not None and mutation.recipe == (("break", 11),)
    mutant = mutation.apply(sequence)
    assert changed_letters(sequence, mutant) == list(range(3, 14))
    table = hairpin.table
    assert all(mutant[p] + mutant[table[p]] not in PAIRS for p in range(3, 14))
    assert all(i >= 14 for i, _ in mutation.keep)


def test_loop_shrink_deletes_the_middle_of_a_large_loop_and_controls_delete_pairs():
    sequence, structure = build(stem("GGCAGCAGCAGCAGC"), "AAACAAACAAAC")
    hairpin = Hairpin(sequence, structure)
    mutation = loop_shrink(hairpin)
    assert mutation is not None and mutation.kind == "deletion"
    assert sorted(mutation.deletions) == list(range(18, 18 + LOOP_CHANGE))
    assert len(mutation.apply(sequence)) == len(sequence) - LOOP_CHANGE
    control = random_control(hairpin, mutation, np.random.default_rng(3))
    assert control is not None and control.kind == "deletion"
    assert len(control.deletions) == LOOP_CHANGE
    assert not control.deletions & mutation.region
    assert all(hairpin.table[p] in control.deletions for p in control.deletions)
    assert loop_enlarge(hairpin) is None


def test_loop_enlarge_inserts_into_a_small_loop_and_controls_insert_stacked_pairs():
    sequence, structure = build(stem("GGCAGCAGCAGCAGC"), "AAAC")
    hairpin = Hairpin(sequence, structure)
    mutation = loop_enlarge(hairpin)
    assert mutation is not None and mutation.insertions == {17: LOOP_INSERT}
    assert mutation.apply(sequence) == sequence[:17] + LOOP_INSERT + sequence[17:]
    control = random_control(hairpin, mutation, np.random.default_rng(5))
    assert control is not None and control.n_changed() == len(LOOP_INSERT)
    assert not set(control.insertions) & mutation.region
    # every inserted pair is canonical and goes in between two stacked pairs
    mutant = control.apply(sequence)
    assert len(mutant) == len(sequence) + len(LOOP_INSERT)
    inserted = control.insertions
    pairs = [(k, int(hairpin.table[k - 1])) for k in inserted if hairpin.table[k - 1] > k - 1]
    assert len(pairs) == len(LOOP_INSERT) // 2
    assert all(j in inserted and inserted[k] + inserted[j] in PAIRS for k, j in pairs)
    assert loop_shrink(hairpin) is None


def asymmetric_hairpin() -> Hairpin:
    """A 30-bp stem whose 5p strand starts with G-C pairs and whose 3p strand starts with A-U."""
    letters = list("ACAGCACCAGCACCAGCACCAGCACCAGCA")
    letters[2:6] = "GCGC"
    sequence, structure = build(stem("".join(letters)), "AAAACAAAAC")
    table = pair_table(structure)
    three_p = infer_other_arm(table, 2, 23)
    seq = list(sequence)
    for k in range(4):  # the 3p strand's 5' end pairs A-U / U-A
        b = three_p[0] + k
        seq[b], seq[table[b]] = ("A", "U") if k % 2 else ("U", "A")
    return Hairpin("".join(seq), structure, five_p=(2, 23), three_p=three_p)


def test_end_asymmetry_mutation_reverses_the_sign_of_duplex_asymmetry():
    """The stronger (G-C) end is made A-U and the weaker (A-U) end G-C: on a duplex whose two
    ends sit in the same context, the asymmetry changes sign and keeps its size."""
    hairpin = asymmetric_hairpin()
    before = duplex_asymmetry(hairpin.sequence, hairpin.structure, hairpin.five_p,
                              hairpin.three_p)
    assert before > 1
    mutation = end_asymmetry(hairpin)
    assert mutation is not None
    mutant = mutation.apply(hairpin.sequence)
    assert canonical(mutant, hairpin.structure)
    after = duplex_asymmetry(mutant, hairpin.structure, hairpin.five_p, hairpin.three_p)
    assert after < -1
    assert after == pytest.approx(-before, abs=1.0)
    assert sum(count for _, count in mutation.recipe) == 8  # all 4 + 4 pairs changed


@pytest.fixture(scope="module")
def real_hairpins() -> list[Hairpin]:
    """120 human miRBase hairpins of the oracle with a perfect duplex span guessed from their
    length (the controls' invariants do not depend on the annotation)."""
    with np.load(DATA / "cordero_encoding_oracle" / "oracle.npz") as data:
        keep = (data["kinds"] == "mirbase_hsa") & (data["status_vienna_2_7"] == "ok")
        sequences = data["sequences"][keep][:120]
        structures = data["structures_vienna_2_7"][keep][:120]
    hairpins = []
    for sequence, structure in zip(sequences, structures, strict=True):
        table = pair_table(str(structure))
        five_p = (len(sequence) // 8, len(sequence) // 8 + 21)
        three_p = infer_other_arm(table, *five_p)
        hairpins.append(Hairpin(str(sequence), str(structure), five_p, three_p))
    return hairpins


def test_controls_match_size_and_kind_outside_the_region(real_hairpins):
    seen = set()
    for k, hairpin in enumerate(real_hairpins):
        for d, determinant in enumerate(DETERMINANTS):
            mutation = determinant.mutate(hairpin)
            if mutation is None:
                continue
            seen.add(determinant.name)
            assert mutation.n_changed() == sum(
                count * (1 if kind in ("unpaired", "pair_1", "break") else 2)
                for kind, count in mutation.recipe), determinant.name
            rng = np.random.default_rng([k, d])
            for _ in range(3):
                control = random_control(hairpin, mutation, rng)
                if control is None:
                    continue
                assert control.kind == mutation.kind, determinant.name
                assert control.n_changed() == mutation.n_changed(), determinant.name
                assert not set(control.changed()) & mutation.region, determinant.name
                mutant = control.apply(hairpin.sequence)
                if control.kind == "substitution" and not any(
                        kind == "break" for kind, _ in mutation.recipe):
                    assert canonical(mutant, hairpin.structure), determinant.name
    assert {"apical_ugu", "basal_segment", "loop_enlarge", "end_asymmetry"} <= seen


def test_controls_repeat_with_the_seed_and_differ_between_seeds(real_hairpins):
    hairpin = next(h for h in real_hairpins if end_asymmetry(h) is not None)
    mutation = end_asymmetry(hairpin)
    first = random_control(hairpin, mutation, np.random.default_rng(1))
    again = random_control(hairpin, mutation, np.random.default_rng(1))
    other = random_control(hairpin, mutation, np.random.default_rng(2))
    assert first == again
    assert first != other


def test_fold_check_maps_pairs_through_deletions():
    sequence, structure = build(stem("GGCAGCAGCAGCAGC"), "AAACAAACAAAC")
    hairpin = Hairpin(sequence, structure)
    mutation = Mutation(deletions=frozenset({0, len(sequence) - 1}))  # the outermost pair
    shorter = structure[1:-1]
    check = fold_check(hairpin, mutation, shorter)
    assert check.kept and check.bp_distance == 0 and check.pairs_kept == 1.0
    opened = "." + shorter[1:-1] + "."
    check = fold_check(hairpin, mutation, opened)
    assert check.bp_distance == 1 and check.pairs_kept == pytest.approx(13 / 14)
    assert fold_check(hairpin, mutation, "." * len(shorter)).kept is False


def test_fold_check_refuses_a_new_helix_in_the_loop():
    """Every original pair kept, but three new pairs close a smaller loop inside the old one:
    the image's terminal loop is another one, so the fold is not kept."""
    sequence, structure = build(stem("GGCAGCAGCAGCAGC"), "AAACAAACAAAC")
    hairpin = Hairpin(sequence, structure)
    inner = structure[:15] + "(((......)))" + structure[27:]
    check = fold_check(hairpin, Mutation(), inner)
    assert check.pairs_kept == 1.0 and check.hairpin_loops == 1
    assert check.bp_distance == 3 and check.loop_size == 6
    assert not check.kept
    assert fold_check(hairpin, Mutation(), structure).kept

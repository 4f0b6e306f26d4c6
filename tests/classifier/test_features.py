"""premirna.classifier.features: thermodynamic, homology, coding and splice-site numbers of a
hairpin."""

from __future__ import annotations

import numpy as np
import pytest
import RNA

from premirna.classifier.features import (
    SEQUENCE,
    SPLICE,
    THERMODYNAMIC,
    codon_skew,
    homology,
    open_frame,
    reference_kmers,
    sequence_features,
    splice_signals,
    thermodynamic,
    triplet_shares,
)
from premirna.rna.folding import FoldSettings

# hsa-let-7a-1 (miRBase MI0000060)
LET7 = "UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCCUA"


def test_open_frame_counts_the_longest_stop_free_run() -> None:
    assert open_frame("AAA" * 30) == 1.0
    # frame 0 is all stops; frames 1 and 2 (AAU..., AUA...) have 9 stop-free codons each
    assert open_frame("UAA" * 10) == pytest.approx(27 / 30)
    # frame 0 meets a stop after 2 codons, frame 1 has none of its 3 codons a stop
    assert open_frame("GCUUAAGC") == pytest.approx(3 * 2 / 8)
    assert open_frame("gcttaagc") == open_frame("GCUUAAGC")  # DNA letters and case
    assert open_frame("") == 0.0


def test_codon_skew_sees_three_periodic_sequence() -> None:
    periodic = codon_skew("ACG" * 10)  # A only at position 0, C at 1, G at 2
    assert periodic[:3] == [10.0, 10.0, 10.0]
    assert periodic[3] == 0.0  # no U at all
    even = codon_skew("ACGUACGUACGU")  # every base once at each codon position
    assert even == [0.5, 0.5, 0.5, 0.5]


def test_triplet_shares_sum_to_one_and_skip_other_letters() -> None:
    shares = triplet_shares("AAAAN")
    assert shares.sum() == pytest.approx(1.0)
    assert shares[0] == 1.0  # AAA is the first triplet
    assert triplet_shares("NN").sum() == 0.0


def test_homology_is_the_share_of_kmers_in_the_reference() -> None:
    reference = reference_kmers([LET7.replace("U", "T").lower()], 20)
    assert homology(LET7, reference, 20) == 1.0
    assert homology("A" * 40, reference, 20) == 0.0
    half = LET7[:40] + "C" * 40
    value = homology(half, reference, 20)
    # of its 39 distinct 20-mers, the 22 within LET7's first 41 nt (the 41st is a C) are LET7's
    assert value == pytest.approx(22 / 39)
    assert homology(LET7[:10], reference, 20) == 0.0  # shorter than k: no k-mers
    with pytest.raises(ValueError, match="k must be positive"):
        reference_kmers([LET7], 0)


def test_reference_kmers_are_packed_acgu_words() -> None:
    reference = ["ACGUACGUAGGCUAGCUAGCUAGCAUCG", "UUUUAGCAGCGGCAUCGAUCGAUUAGC"]
    packed = reference_kmers(reference, 8)
    words = {s[i : i + 8] for s in reference for i in range(len(s) - 7)}
    assert len(packed) == len(words)
    assert np.all(np.diff(packed.astype(np.int64)) > 0)  # sorted, distinct
    for query in ("ACGUACGUAGGCUAGC", "GGGGGGGGGGGG", "uuuuagcagcggc", "ACGTACGTAGG"):
        rna = query.upper().replace("T", "U")
        mine = {rna[i : i + 8] for i in range(len(rna) - 7)}
        assert homology(query, packed, 8) == pytest.approx(len(mine & words) / len(mine))
    # k-mers with a letter other than ACGU are neither in the reference nor counted in the query
    assert len(reference_kmers(["ACGUNCCGG"], 4)) == 2  # ACGU and CCGG only
    assert homology("ACGUN", reference_kmers(["ACGU"], 4), 4) == 1.0
    assert homology("ACG", packed, 8) == 0.0
    with pytest.raises(ValueError, match="k must be 1-32"):
        reference_kmers(reference, 33)


def test_sequence_features_columns() -> None:
    reference = reference_kmers([LET7], 20)
    table = sequence_features([LET7, "GCAUCG" * 12], reference, 20)
    assert table.shape == (2, len(SEQUENCE)) == (2, 84)
    assert table[0, SEQUENCE.index("homology")] == 1.0
    assert table[1, SEQUENCE.index("homology")] == 0.0
    shares = slice(SEQUENCE.index("share_AAA"), SEQUENCE.index("share_UUU") + 1)
    assert table[:, shares].sum(axis=1) == pytest.approx([1, 1])
    assert table[0, -len(SPLICE) :].tolist() == splice_signals(LET7)
    assert sequence_features([], reference, 20).shape == (0, 84)


# hsa-mir-877 (miRBase MI0005561), a mirtron: a whole intron, GU at its 5' end, AG at its 3' end
MIR877 = "GUAGAGGAGAUGGCGCAGGGGACACGGGCAAAGACUUGGGGGUUCCUGGGACCCUCAGACGUGUGUCCUCUUCUCCCUCCUCCCAG"


def test_splice_signals_see_a_mirtrons_ends() -> None:
    mirtron = dict(zip(SPLICE, splice_signals(MIR877), strict=True))
    assert mirtron["starts_gu"] == mirtron["ends_ag"] == mirtron["ends_yag"] == 1.0
    assert mirtron["starts_gurr"] == 1.0  # GUAG
    # the 20 nt before the final AG, GUCCUCUUCUCCCUCCUCCC, are a polypyrimidine tract bar one G
    assert mirtron["pyrimidine_3p"] == pytest.approx(19 / 20)
    assert mirtron["first_G"] == mirtron["last_G"] == 1.0
    assert mirtron["first_A"] == mirtron["last_U"] == 0.0
    let7 = dict(zip(SPLICE, splice_signals(LET7), strict=True))  # a canonical Drosha product
    assert let7["starts_gu"] == let7["ends_ag"] == let7["ends_yag"] == 0.0
    assert let7["first_U"] == let7["last_A"] == 1.0
    assert splice_signals("guaagcuuag") == splice_signals("GUAAGCUUAG")  # DNA letters and case
    assert splice_signals("GUAAGCUUAG")[SPLICE.index("pyrimidine_3p")] == 0.5  # GUAAGCUU
    assert splice_signals("GUCA")[SPLICE.index("starts_gurr")] == 0.0  # C is no purine
    empty = splice_signals("")
    assert len(empty) == len(SPLICE) and not any(empty)


def test_thermodynamic_agrees_with_viennarna() -> None:
    md = FoldSettings(37.0, 2).model_details()
    structure, mfe = RNA.fold_compound(LET7, md).mfe()
    row = dict(
        zip(
            THERMODYNAMIC,
            thermodynamic(LET7, structure, md, 10, np.random.default_rng(1)),
            strict=True,
        )
    )
    assert row["length"] == len(LET7)
    assert row["mfe"] == pytest.approx(mfe)
    assert row["drawn_energy_per_nt"] == pytest.approx(mfe / len(LET7), abs=1e-6)
    assert row["drawn_distance_per_nt"] == 0.0
    assert 0 < row["mfe_frequency"] <= 1
    assert row["efe_per_nt"] <= row["mfe_per_nt"]  # the ensemble is at most as high as its MFE
    assert row["mfe_z"] < -2  # a real pre-miRNA is far more stable than its shuffles
    assert row["mfe_p"] == pytest.approx(1 / 11)  # no shuffle folds as well
    again = thermodynamic(LET7, structure, md, 10, np.random.default_rng(1))
    assert again == list(row.values())


def test_thermodynamic_rejects_bad_input_naming_the_record() -> None:
    md = FoldSettings(37.0, 2).model_details()
    with pytest.raises(ValueError, match="record hsa-x: structure has 3 characters"):
        thermodynamic(LET7, "...", md, 10, np.random.default_rng(1), record="hsa-x")
    with pytest.raises(ValueError, match="record 7: empty sequence"):
        thermodynamic("", "", md, 10, np.random.default_rng(1), record=7)
    with pytest.raises(ValueError, match="shuffles must be at least 2"):
        thermodynamic(LET7, "." * len(LET7), md, 1, np.random.default_rng(1))

"""premirna.data.negatives: the dinucleotide shuffle, CODING sampling and shuffled negatives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premirna.core.tables import MOLECULE_COLUMNS
from premirna.data import negatives
from premirna.data.negatives import (
    build_negatives,
    read_coding,
    sample_rows,
    shuffle_negatives,
)
from premirna.rna.folding import fold_sequences
from premirna.rna.seqio import read_records
from premirna.rna.sequence import dinucleotide_counts, dinucleotide_shuffle
from premirna.rna.structure import hairpin_loops


@pytest.fixture(scope="module")
def coding_path(data_dir):
    return data_dir / "mirbase" / "coding_head30.txt.gz"


@pytest.fixture(scope="module")
def positives(data_dir):
    records = read_records(data_dir / "seqio" / "mirdnn_test.fold").records
    return pd.DataFrame(
        {
            "id": [r.id for r in records],
            "sequence": [r.sequence for r in records],
            "label": 1,
            "species": "hsa",
            "source": "mirbase_v22",
        }
    )


@settings(max_examples=300, deadline=None)
@given(sequence=st.text(alphabet="ACGUN", max_size=150), seed=st.integers(0, 2**32 - 1))
def test_shuffle_preserves_dinucleotide_counts_exactly(sequence, seed):
    shuffled = dinucleotide_shuffle(sequence, np.random.default_rng(seed))
    assert dinucleotide_counts(shuffled) == dinucleotide_counts(sequence)
    assert sorted(shuffled) == sorted(sequence)
    if sequence:
        assert shuffled[0] == sequence[0] and shuffled[-1] == sequence[-1]


def test_shuffle_is_seeded_and_actually_shuffles(positives):
    sequence = positives["sequence"].iloc[0]
    first = dinucleotide_shuffle(sequence, np.random.default_rng(5))
    assert first == dinucleotide_shuffle(sequence, np.random.default_rng(5))
    draws = {dinucleotide_shuffle(sequence, np.random.default_rng(k)) for k in range(20)}
    assert len(draws) == 20 and sequence not in draws


def test_shuffle_reaches_every_eulerian_walk():
    # AACAGA is the walk A->A, A->C->A, A->G->A from A back to A: the three loops out of A can go
    # in any of 3! orders, so exactly six sequences share its dinucleotides, ends included.
    seen = {dinucleotide_shuffle("AACAGA", np.random.default_rng(k)) for k in range(200)}
    assert seen == {"AACAGA", "AAGACA", "ACAAGA", "ACAGAA", "AGAACA", "AGACAA"}


def test_read_coding(coding_path):
    coding = read_coding(coding_path)
    assert tuple(coding.columns) == MOLECULE_COLUMNS
    assert len(coding) == 30
    assert coding["id"].iloc[0] == "random_seq_from_cds__NO_6"
    assert set(coding["label"]) == {0} and set(coding["species"]) == {"hsa"}
    assert set(coding["source"]) == {"coding_xue2005"}


def test_sample_rows_keeps_order_and_is_seeded(coding_path):
    coding = read_coding(coding_path)
    one = sample_rows(coding, 10, np.random.default_rng(1))
    assert list(one.index) == sorted(one.index) and len(one) == 10
    assert one.equals(sample_rows(coding, 10, np.random.default_rng(1)))
    assert len(sample_rows(coding, 100, np.random.default_rng(1))) == 30


def test_shuffled_negatives_fold_into_one_hairpin(positives):
    table, counts = shuffle_negatives(positives, 12, seed=3)
    assert len(table) == counts["kept"] == 12
    assert counts["attempts"] == 12 + counts["rejected_structure"] + counts["rejected_duplicate"]
    assert table["id"].is_unique and table["sequence"].is_unique
    assert not set(table["sequence"]) & set(positives["sequence"])
    assert set(table["source"]) == {"shuffle"} and set(table["label"]) == {0}
    structures = fold_sequences(list(table["sequence"]))
    assert all(len(hairpin_loops(structure)) == 1 for structure, _ in structures)
    parent_of = dict(zip(positives["id"], positives["sequence"], strict=True))
    for shuffle_id, sequence in zip(table["id"], table["sequence"], strict=True):
        parent, _, k = shuffle_id.removeprefix("shuf_").rpartition("_")
        assert int(k) >= 1
        assert dinucleotide_counts(sequence) == dinucleotide_counts(parent_of[parent])
    again, _ = shuffle_negatives(positives, 12, seed=3)
    assert again.equals(table)


def test_fold_batch_size_changes_nothing_but_the_progress_lines(positives, monkeypatch):
    whole, counts = shuffle_negatives(positives, 12, seed=3)
    monkeypatch.setattr(negatives, "BATCH", 5)  # many small batches instead of one
    batched, batched_counts = shuffle_negatives(positives, 12, seed=3)
    assert batched.equals(whole) and batched_counts == counts


def test_shuffles_of_unshufflable_sequences_are_rejected():
    # A homopolymer has one arrangement only: every shuffle equals its positive.
    positives = pd.DataFrame(
        {"id": ["p"], "sequence": ["A" * 30], "label": 1, "species": "hsa", "source": "x"}
    )
    table, counts = shuffle_negatives(positives, 2, seed=0, max_attempts=3)
    assert table.empty
    assert counts["rejected_duplicate"] == counts["attempts"] == 6


def test_build_negatives_ratios_dedup_and_cap(positives, coding_path):
    coding = read_coding(coding_path)
    # One positive equal to a CODING sequence: that CODING record must not become a negative.
    clash = coding["sequence"].iloc[4]
    with_clash = pd.concat(
        [positives, positives.iloc[:1].assign(id="clash", sequence=clash)], ignore_index=True
    )
    negatives, counts = build_negatives(
        with_clash, coding_path, coding_ratio=1.0, shuffle_ratio=0.25, seed=9
    )
    assert counts["coding_equal_to_positive"] == 1
    assert counts["coding_kept"] == 17 and counts["shuffle_kept"] == 4
    assert clash not in set(negatives["sequence"])
    assert negatives["sequence"].is_unique and negatives["id"].is_unique
    assert list(negatives["source"]) == ["coding_xue2005"] * 17 + ["shuffle"] * 4

    capped, capped_counts = build_negatives(
        with_clash, coding_path, coding_ratio=1.0, shuffle_ratio=1.0, seed=9, max_per_class=10
    )
    assert len(capped) == 10 and capped_counts["coding_kept"] == 5

    same, _ = build_negatives(with_clash, coding_path, coding_ratio=1.0, seed=9)
    other_seed, _ = build_negatives(with_clash, coding_path, coding_ratio=1.0, seed=10)
    # Switching shuffles on does not change which CODING records are drawn.
    assert list(same["id"]) == list(negatives["id"][:17])
    assert list(same["id"]) != list(other_seed["id"])


def test_more_coding_than_available(positives, coding_path):
    negatives, counts = build_negatives(positives, coding_path, coding_ratio=3.0, seed=1)
    assert counts["coding_kept"] == 30 == len(negatives)
    with pytest.raises(ValueError):
        build_negatives(positives, coding_path, coding_ratio=-1.0)

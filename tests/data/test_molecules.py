"""premirna.data.molecules: the seeded, stratified, duplicate-safe split and the stage function."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premirna.core.errors import InputError
from premirna.core.tables import MATURE_COLUMNS
from premirna.data.molecules import (
    MOLECULES_COLUMNS,
    assign_splits,
    build_molecules,
)

rows = st.lists(
    st.tuples(
        st.sampled_from(["ACGU", "GGCC", "AAUU", "CCGG", "UUAA", "ACGA", "GCGC", "AUAU"]),
        st.integers(0, 1),
        st.sampled_from(["hsa", "mmu"]),
    ),
    min_size=1,
    max_size=60,
)
fractions = st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0)).filter(
    lambda t: sum(t) > 0.01
)


def frame_of(data):
    return pd.DataFrame(
        {
            "id": [f"m{i}" for i in range(len(data))],
            "sequence": [d[0] for d in data],
            "label": [d[1] for d in data],
            "species": [d[2] for d in data],
        }
    )


def normalised(raw):
    total = sum(raw)
    return {"train": raw[0] / total, "val": raw[1] / total, "test": 1 - (raw[0] + raw[1]) / total}


@settings(max_examples=150, deadline=None)
@given(data=rows, raw=fractions, seed=st.integers(0, 2**31), order=st.randoms())
def test_identical_sequences_never_in_two_splits(data, raw, seed, order):
    frame = frame_of(data)
    split = assign_splits(frame, normalised(raw), seed)
    assert set(split) <= {"train", "val", "test"} and split.notna().all()
    assert (frame.assign(split=split).groupby("sequence")["split"].nunique() == 1).all()
    # Same seed, same assignment, whatever the row order.
    assert split.equals(assign_splits(frame, normalised(raw), seed))
    shuffled = frame.sample(frac=1.0, random_state=order.randint(0, 2**31))
    again = assign_splits(shuffled, normalised(raw), seed)
    assert again.loc[frame.index].equals(split)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), raw=fractions, seed=st.integers(0, 2**31))
def test_unique_sequences_follow_the_fractions_per_stratum(n, raw, seed):
    frame = pd.DataFrame(
        {
            "sequence": [f"S{i}" for i in range(2 * n)],
            "label": [i % 2 for i in range(2 * n)],
            "species": "hsa",
        }
    )
    wanted = normalised(raw)
    split = assign_splits(frame, wanted, seed)
    for label in (0, 1):
        part = split[frame["label"] == label]
        for name, share in wanted.items():
            assert abs((part == name).sum() - share * n) <= 1


def test_seed_changes_the_split():
    frame = frame_of([(f"{'ACGU'[i % 4]}{i}", i % 2, "hsa") for i in range(200)])
    assert not assign_splits(frame, None, 1).equals(assign_splits(frame, None, 2))


# --- the stage function on the real miRBase slice ---------------------------------------------


@pytest.fixture(scope="module")
def inputs(data_dir):
    folder = data_dir / "mirbase"
    return folder / "hairpin.fa.gz", folder / "miRNA.dat.gz", folder / "coding_head30.txt.gz"


def run(inputs, out, **settings):
    counts = build_molecules(*inputs, out / "molecules.tsv", out / "mature.tsv", **settings)
    molecules = pd.read_csv(out / "molecules.tsv", sep="\t", keep_default_na=False)
    mature = pd.read_csv(out / "mature.tsv", sep="\t", keep_default_na=False)
    return counts, molecules, mature


def test_build_molecules_default_human(inputs, tmp_path):
    counts, molecules, mature = run(inputs, tmp_path, seed=7)
    assert tuple(molecules.columns) == MOLECULES_COLUMNS
    assert tuple(mature.columns) == MATURE_COLUMNS
    assert counts["positives"] == 48 and counts["iupac_dropped"] == 0
    # 30 CODING records for 48 positives at 1.0 per positive: all 30, with a warning.
    assert counts["coding_kept"] == 30 and counts["negatives"] == 30
    positives = molecules[molecules["label"] == 1]
    assert set(positives["species"]) == {"hsa"} and set(positives["source"]) == {"mirbase_v22"}
    assert molecules["id"].is_unique
    assert (molecules.groupby("sequence")["split"].nunique() == 1).all()
    # hsa-mir-941-2..5 share one sequence: one split for all four.
    assert molecules[molecules["id"].str.startswith("hsa-mir-941-")]["split"].nunique() == 1
    assert (
        sum(counts[f"{s}_{k}"] for s in ("train", "val", "test") for k in ("positive", "negative"))
        == 78
    )
    assert set(mature["hairpin_id"]) <= set(positives["id"])
    assert set(mature["arm"]) == {"5p", "3p"}
    assert (mature["start"] <= mature["end"]).all() and (mature["start"] >= 1).all()
    assert len(mature) == counts["mature"] == 91  # FT miRNA lines of the hsa entries


def test_same_seed_same_table(inputs, tmp_path):
    _, first, _ = run(inputs, tmp_path / "a", seed=11, shuffle_ratio=0.1)
    _, second, _ = run(inputs, tmp_path / "b", seed=11, shuffle_ratio=0.1)
    _, other, _ = run(inputs, tmp_path / "c", seed=12, shuffle_ratio=0.1)
    assert (tmp_path / "a" / "molecules.tsv").read_bytes() == (
        tmp_path / "b" / "molecules.tsv"
    ).read_bytes()
    assert not first.equals(other)
    assert (first["source"] == "shuffle").sum() == 5


def test_species_iupac_and_cap(inputs, tmp_path):
    counts, molecules, mature = run(inputs, tmp_path / "all", species="all", seed=1)
    assert counts["hairpins_read"] == 59 and counts["iupac_dropped"] == 2
    assert set(molecules.loc[molecules["label"] == 1, "species"]) == {"hsa", "mmu", "cel"}
    _, kept, _ = run(inputs, tmp_path / "keep", species="all", iupac="keep", seed=1)
    assert "zma-MIR160a" in set(kept["id"])
    with pytest.raises(InputError, match="zma-MIR160a"):
        run(inputs, tmp_path / "error", species="all", iupac="error", seed=1)

    counts, molecules, mature = run(inputs, tmp_path / "cap", max_per_class=10, seed=1)
    assert counts["positives"] == 10 and counts["negatives"] == 10
    assert set(mature["hairpin_id"]) <= set(molecules["id"])


def test_unknown_species_and_bad_settings(inputs, tmp_path):
    with pytest.raises(InputError, match="no hairpins"):
        run(inputs, tmp_path, species=["xyz"])
    with pytest.raises(ValueError):
        run(inputs, tmp_path, split={"train": 1.0, "val": 0.5, "test": 0.0})
    with pytest.raises(ValueError):
        run(inputs, tmp_path, max_per_class=0)
    assert not (tmp_path / "molecules.tsv").exists()


def test_hairpins_from_another_release_are_refused(inputs, tmp_path):
    hairpin, mirna_dat, coding = inputs
    text = gzip.decompress(hairpin.read_bytes()).decode()
    changed = tmp_path / "hairpin.fa.gz"
    # hsa-let-7a-1 starts with UGGGAUGAGG; change its first base as a different release might.
    changed.write_bytes(gzip.compress(text.replace("\nUGGGAUGAGG", "\nAGGGAUGAGG", 1).encode()))
    with pytest.raises(InputError, match="hsa-let-7a-1.*differs from hairpin.fa"):
        build_molecules(changed, mirna_dat, coding, tmp_path / "m.tsv", tmp_path / "t.tsv")
    assert not (tmp_path / "m.tsv").exists() and not (tmp_path / "t.tsv").exists()


# --- the user's own sequence sets and species by name ------------------------------------------


@pytest.fixture
def user_files(inputs, tmp_path, data_dir):
    """Real sequences as a user would bring them: the 8 mouse hairpins of the slice as the user's
    own FASTA (new ids), microPred's first 4 human pre-miRNAs (already in miRBase), and microPred's
    other ncRNAs as negatives (their published headers repeat a first word, so renamed)."""
    from premirna.rna.seqio import read_records

    hairpin, _, _ = inputs
    mouse = [r for r in read_records(hairpin).records if r.id.startswith("mmu-")]
    mouse_fa = tmp_path / "my_mouse.fa"
    mouse_fa.write_text("".join(f">candidate_{k}\n{r.sequence}\n" for k, r in enumerate(mouse)))
    other = read_records(data_dir / "seqio" / "micropred_other_head4.fasta", id_from="header")
    negatives_fa = tmp_path / "ncrna.fa"
    negatives_fa.write_text(
        "".join(f">ncrna_{k}\n{r.sequence}\n" for k, r in enumerate(other.records)))
    return {
        "mouse": {"name": "my_mouse", "path": str(mouse_fa), "label": "pre-miRNA",
                  "species": "mmu"},
        "micropred": {"name": "micropred", "label": "pre-miRNA",
                      "path": str(data_dir / "seqio" / "micropred_head4.fasta")},
        "ncrna": {"name": "other_ncrna", "path": str(negatives_fa), "label": "not"},
    }


def test_user_sets_join_the_table_under_their_own_source(inputs, user_files, tmp_path):
    sets = [user_files["mouse"], user_files["micropred"], user_files["ncrna"]]
    counts, molecules, mature = run(inputs, tmp_path, seed=7, user_sets=sets)
    by_source = molecules.groupby("source")["label"].agg(["count", "min", "max"])
    assert by_source.loc["my_mouse"].tolist() == [8, 1, 1]
    assert by_source.loc["other_ncrna"].tolist() == [4, 0, 0]
    # microPred's 4 are miRBase's let-7s: kept once, under miRBase, and counted as duplicates.
    assert "micropred" not in by_source.index
    assert counts["user_duplicates"] == 4 and counts["user_molecules"] == 12
    assert set(molecules.loc[molecules["source"] == "my_mouse", "species"]) == {"mmu"}
    assert set(molecules.loc[molecules["source"] == "other_ncrna", "species"]) == {"user"}
    mouse = molecules[molecules["source"] == "my_mouse"]
    assert set(mouse["split"]) <= {"train", "val", "test"}
    # CODING is drawn per positive: the user's 8 positives count (56 positives, 30 CODING held).
    assert counts["coding_kept"] == 30 and (molecules["label"] == 1).sum() == 56
    mirbase = molecules[molecules["source"] == "mirbase_v22"]
    assert set(mature["hairpin_id"]) <= set(mirbase["id"])


def test_a_sequence_with_both_labels_or_a_taken_id_is_refused(inputs, user_files, tmp_path):
    both = dict(user_files["micropred"], name="wrong", label="not")
    with pytest.raises(InputError, match="micropred_head4.fasta, record hsa-let-7a-1.*other label"):
        run(inputs, tmp_path, user_sets=[both])
    assert not (tmp_path / "molecules.tsv").exists()
    taken = tmp_path / "taken.fa"
    taken.write_text(">hsa-let-7a-1\nGGGAAACCCUUUGGGAAACCCUUUGGGAAACCCUUUGGGAAACCC\n")
    with pytest.raises(InputError, match="taken.fa, record hsa-let-7a-1: this id is already"):
        run(inputs, tmp_path, user_sets=[{"name": "t", "path": str(taken), "label": "not"}])
    twice = tmp_path / "twice.fa"
    twice.write_text(">a\nGGGAAACCCUUUGGG\n>a\nCCCAAAGGGUUUCCC\n")
    with pytest.raises(InputError, match="twice.fa"):
        run(inputs, tmp_path, user_sets=[{"name": "t", "path": str(twice), "label": "not"}])
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    with pytest.raises(InputError, match="empty.fa"):
        run(inputs, tmp_path, user_sets=[{"name": "t", "path": str(empty), "label": "not"}])


def test_a_species_given_by_its_name_is_its_prefix(inputs, tmp_path):
    _, by_prefix, mature_prefix = run(inputs, tmp_path / "a", species=["mmu"], seed=3)
    _, by_name, mature_name = run(inputs, tmp_path / "b", species=["mus_Musculus"], seed=3)
    assert by_prefix.equals(by_name) and mature_prefix.equals(mature_name)
    assert set(by_name.loc[by_name["label"] == 1, "species"]) == {"mmu"}
    with pytest.raises(InputError, match="no hairpins of species Mus muscle"):
        run(inputs, tmp_path / "c", species=["Mus muscle"])


def test_the_sources_a_user_set_may_not_take_are_the_workflows_own():
    from premirna.data.config_checks import RESERVED_SOURCES
    from premirna.data.negatives import CODING_SOURCE, SHUFFLE_SOURCE

    assert set(RESERVED_SOURCES) == {CODING_SOURCE, SHUFFLE_SOURCE}

"""Tests for premirna.validate: metrics against hand-computed examples, baselines, scoring."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premirna.generator.conditions import assign_bins
from premirna.rna.distance import (
    edit_distance,
    edit_distance_matrix,
    mean_pairwise_distance,
    nearest_distances,
    normalised_distance_matrix,
)
from premirna.rna.sequence import random_matched
from premirna.rna.structure import features
from premirna.validate.baselines import make_baselines
from premirna.validate.gaps import COLUMNS as GAP_COLUMNS
from premirna.validate.gaps import MIN_MOLECULES, TRAINING_COLUMNS
from premirna.validate.metrics import (
    BASELINES,
    NOVELTY_THRESHOLD,
    TARGETS,
    ks_statistic,
    real_in_condition,
    score_molecules,
    structure_distance_per_nt,
    summarise,
    targets_table,
    uniqueness,
)
from premirna.validate.stage import (
    judge_accuracy,
    judges_families,
    new_family_reference,
    validate,
)

RNA = st.text(alphabet="ACGU", max_size=150)


@pytest.fixture(scope="module")
def real_hairpins(repo) -> pd.DataFrame:
    """The first 100 human miRBase 22 hairpins (bundled), folded with ViennaRNA."""
    import gzip

    import RNA as vienna

    records: list[list[str]] = []
    with gzip.open(repo / "resources" / "mirbase_v22" / "hairpin.fa.gz", "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                records.append([line[1:].split()[0], ""])
            else:
                records[-1][1] += line.strip()
    rows = []
    for name, seq in [r for r in records if r[0].startswith("hsa-")][:100]:
        seq = seq.upper().replace("T", "U")
        structure, mfe = vienna.fold(seq)
        rows.append(
            {"id": name, "sequence": seq, "structure": structure, **features(seq, structure, mfe)}
        )
    return pd.DataFrame(rows)


def reference_edit_distance(a: str, b: str) -> int:
    """Textbook Wagner-Fischer dynamic programme."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
        previous = current
    return previous[-1]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("", "ACGU", 4),
        ("ACGU", "", 4),
        ("ACGU", "ACGU", 0),
        ("ACGU", "AGGU", 1),  # one substitution
        ("ACGU", "ACU", 1),  # one deletion
        ("KITTEN", "SITTING", 3),
        ("GGGAAACCC", "CCCAAAGGG", 6),
        ("A" * 70, "A" * 69 + "C", 1),  # crosses a 64-bit word boundary
        ("ACGU" * 40, "ACGU" * 39 + "ACG", 1),  # three words
    ],
)
def test_edit_distance_hand_computed(a: str, b: str, expected: int) -> None:
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(RNA, min_size=1, max_size=6), st.lists(RNA, min_size=1, max_size=6))
def test_edit_distance_matrix_matches_dynamic_programme(queries: list, targets: list) -> None:
    got = edit_distance_matrix(queries, targets)
    want = np.array([[reference_edit_distance(q, t) for t in targets] for q in queries])
    np.testing.assert_array_equal(got, want)


def test_edit_distance_handles_other_letters_and_mixed_lengths() -> None:
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGUN"), size=n)) for n in (0, 5, 63, 64, 65, 128, 129, 190)]
    got = edit_distance_matrix(seqs, seqs[::-1])
    want = np.array([[reference_edit_distance(a, b) for b in seqs[::-1]] for a in seqs])
    np.testing.assert_array_equal(got, want)


def test_normalised_and_nearest_distances() -> None:
    # "ACGUACGUAC" vs "ACGUACGUAA": 1 edit / 10 nt; vs "GGGG": 8 edits / 10 nt (hand count:
    # keep two G, substitute/delete the rest: 10 - 2 = 8).
    train = ["ACGUACGUAA", "GGGG"]
    assert reference_edit_distance("ACGUACGUAC", "GGGG") == 8
    dist = normalised_distance_matrix(["ACGUACGUAC"], train)
    np.testing.assert_allclose(dist, [[0.1, 0.8]])
    # UUUUUUUUUU keeps the two U of ACGUACGUAA: 8 / 10; against GGGG all 10 positions change.
    nearest = nearest_distances(["ACGUACGUAC", "GGGG", "UUUUUUUUUU"], train)
    np.testing.assert_allclose(nearest, [0.1, 0.0, 0.8])


def test_novelty_threshold_is_inclusive() -> None:
    nearest = nearest_distances(["ACGUACGUAC"], ["ACGUACGUAA"])
    assert nearest[0] >= NOVELTY_THRESHOLD  # exactly 0.1 counts as novel


def test_mean_pairwise_distance() -> None:
    # Pairs: AAAA-AAAU 0.25, AAAA-UUUU 1.0, AAAU-UUUU 0.75 -> mean 2/3.
    assert mean_pairwise_distance(["AAAA", "AAAU", "UUUU"]) == pytest.approx(2 / 3)
    assert np.isnan(mean_pairwise_distance(["AAAA"]))
    seqs = ["".join(p) for p in itertools.product("ACGU", repeat=4)]
    sampled = mean_pairwise_distance(seqs, max_sequences=50, seed=3)
    assert sampled == mean_pairwise_distance(seqs, max_sequences=50, seed=3)
    assert 0.0 < sampled <= 1.0


def test_uniqueness() -> None:
    assert uniqueness(["AC", "AC", "GU", "UU"]) == 0.75
    assert uniqueness(["A"]) == 1.0
    assert np.isnan(uniqueness([]))


def test_ks_statistic_hand_computed() -> None:
    # ECDFs of {1,2,3} and {2,3,4}: after 1 they differ by 1/3, which is the largest gap.
    assert ks_statistic([1, 2, 3], [2, 3, 4]) == pytest.approx(1 / 3)
    assert ks_statistic([1, 2], [3, 4]) == 1.0
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert ks_statistic([1, np.nan, 2], [1, 2]) == 0.0
    assert np.isnan(ks_statistic([], [1.0]))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(0.3, size=150)
    from scipy.stats import ks_2samp

    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic)


def test_structure_agreement_hand_computed() -> None:
    intended = "((((....))))"
    assert structure_distance_per_nt(intended, intended) == 0.0
    # One pair lost: distance 1 over 12 nt = 0.083 -> agrees; two pairs shifted: 4/12 -> not.
    assert structure_distance_per_nt(intended, ".(((....)))."[:12]) == pytest.approx(1 / 12)
    assert structure_distance_per_nt(intended, "..((....))..") == pytest.approx(2 / 12)
    assert structure_distance_per_nt(intended, "(((......)))") == pytest.approx(1 / 12)


def test_random_matched_keeps_length_and_gc() -> None:
    rng = np.random.default_rng(5)
    for seq in ["GGGGCCCCAAAAUUUU", "ACGUUGCA" * 10, "AAAAAAA", "GCGCGC"]:
        out = random_matched(seq, rng)
        assert len(out) == len(seq)
        assert set(out) <= set("ACGU")
        assert sum(out.count(b) for b in "GC") == sum(seq.count(b) for b in "GC")


def _dinucleotides(seq: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(len(seq) - 1):
        counts[seq[i : i + 2]] = counts.get(seq[i : i + 2], 0) + 1
    return counts


def test_baselines_keep_length_gc_and_dinucleotides(real_hairpins: pd.DataFrame) -> None:
    frame = make_baselines(real_hairpins.head(12), seed=7)
    assert list(pd.unique(frame["set"])) == list(BASELINES)
    source = real_hairpins.set_index("id")
    for _, row in frame.iterrows():
        original = source.at[row["source_id"], "sequence"]
        assert len(row["sequence"]) == len(original) == len(row["intended"])
        assert sum(row["sequence"].count(b) for b in "GC") == sum(original.count(b) for b in "GC")
        if row["set"] == "shuffled":
            assert _dinucleotides(row["sequence"]) == _dinucleotides(original)
            assert row["sequence"][0] == original[0] and row["sequence"][-1] == original[-1]
        if row["set"] == "real":
            assert row["sequence"] == original
    again = make_baselines(real_hairpins.head(12), seed=7)
    pd.testing.assert_frame_equal(frame, again)


def test_assign_bins() -> None:
    np.testing.assert_array_equal(assign_bins([0.1, 0.5, 0.9, np.nan], [0.3, 0.6]),
                                  [0, 1, 2, -1])
    # A value on an edge goes to the upper bin (edges are lower-inclusive).
    np.testing.assert_array_equal(assign_bins([0.3], [0.3, 0.6]), [1])


def test_score_and_summarise_real_hairpins(real_hairpins: pd.DataFrame) -> None:
    real = real_hairpins.head(10)
    molecules = make_baselines(real, seed=1)
    molecules["want_gc"] = -1
    molecules.loc[molecules["set"] == "real", "want_gc"] = 1
    train = real_hairpins["sequence"].iloc[20:60].tolist()
    scored = score_molecules(molecules, train, judge=None, bins={"gc": [0.4, 0.5]})
    real_rows = scored[scored["set"] == "real"]
    # A real hairpin re-folds to its own MFE structure: distance 0, agreement for all.
    assert (real_rows["bp_distance_per_nt"] == 0).all()
    assert real_rows["agrees"].all()
    assert (scored["valid"] == (scored["hairpin_loops"] == 1)).all()
    summary = summarise(scored, real_hairpins.iloc[60:90], scored["set"])
    assert list(summary["group"]) == list(BASELINES)
    row = summary.set_index("group").loc["real"]
    assert row["structure_agreement"] == 1.0
    assert row["uniqueness"] == 1.0
    expected_control = (assign_bins(real_rows["gc"], [0.4, 0.5]) == 1).mean()
    assert row["conditional_control"] == pytest.approx(expected_control)
    assert np.isnan(summary.set_index("group").at["random", "conditional_control"])
    targets = targets_table(summary.assign(group=summary["group"].replace({"real": "generated"})))
    # Without the independent judge and generated draws, their targets are left out.
    assert set(targets["metric"]) == set(TARGETS) - {
        "independent_judge", "independent_judge_raw", "independent_judge_worst_condition",
        "trees_judge", "trees_judge_raw", "trees_judge_worst_condition",
        "first_draw_control"}
    assert targets.set_index("metric").at["two_sample_auc", "generated"] < 0.9


def test_real_in_condition_counts_real_molecules_in_the_named_bins() -> None:
    scored = pd.DataFrame({
        "set": ["real"] * 5 + ["generated"],
        "want_gc": [0, 2, 2, 2, np.nan, 2],
        "want_loop_size": [2, 2, 0, 2, 2, 2],
        "judge_probability": [0.9, 0.8, 0.1, 0.2, 0.9, 0.99],
    })
    summary = pd.DataFrame({
        "group": ["pre-miRNA", "pre-miRNA, gc=high", "pre-miRNA, gc=high, loop_size=high",
                  "not pre-miRNA, gc=high", "pre-miRNA, bulges=low", "generated"],
        "kind": ["condition"] * 5 + ["overall"],
        "independent_judge": [0.7, 0.2, 0.3, 0.9, 0.4, 0.6],
    })
    out = real_in_condition(summary, scored, ["low", "mid", "high"]).set_index("group")
    assert out["real_in_bin_n"].tolist() == [5, 3, 2, 0, 0, 0]
    assert out.at["pre-miRNA", "judge_real_in_bin"] == pytest.approx(3 / 5)
    assert out.at["pre-miRNA, gc=high", "judge_real_in_bin"] == pytest.approx(1 / 3)
    assert out.at["pre-miRNA, gc=high, loop_size=high", "judge_real_in_bin"] == 0.5
    # a class the real baseline lacks, an attribute it lacks and the overall row: no reference
    assert out.loc[["not pre-miRNA, gc=high", "pre-miRNA, bulges=low", "generated"],
                   "judge_real_in_bin"].isna().all()
    targets = targets_table(pd.concat([out.reset_index(), pd.DataFrame(
        {"group": ["real"], "kind": ["baseline"], "independent_judge": [0.6]})]))
    worst = targets.set_index("metric").loc["independent_judge_worst_condition"]
    assert worst["generated"] == 0.2
    assert worst["real"] == pytest.approx(1 / 3)  # the lowest reference of any condition

    # the same among the real molecules of families the judges never learnt: mir-21 is known
    scored["id"] = ["hsa-mir-21", "hsa-mir-4500", "hsa-mir-21-2", "hsa-mir-4501", "hsa-mir-9",
                    "gen_1"]
    scored["label"] = 1
    new = real_in_condition(summary, scored, ["low", "mid", "high"], {"mir-21"})
    new = new.set_index("group")
    assert new["real_new_in_bin_n"].tolist() == [3, 2, 2, 0, 0, 0]
    assert new.at["pre-miRNA, gc=high", "judge_real_new_in_bin"] == 0.5  # 4500 yes, 4501 no
    assert new["judge_real_in_bin"].equals(out["judge_real_in_bin"])  # unchanged beside
    fair = new_family_reference(targets_table(new.reset_index()), scored, {"mir-21"},
                                new.reset_index()).set_index("metric")
    assert fair.at["independent_judge_worst_condition", "real_new_families"] == 0.5


def test_validate_stage_with_baselines(tmp_path, tiny_judge) -> None:
    """Train a tiny CVAE, generate, and validate with a (random-weight) CNN checkpoint and the
    tiny independent judge."""
    import torch
    from cvae_data import folded_molecules, tiny_settings, write_stage_inputs

    from premirna.classifier.network import CNNConfig, build_model
    from premirna.generator.generate import generate
    from premirna.generator.train import train_cvae

    paths = write_stage_inputs(tmp_path / "inputs", folded_molecules())
    model = tmp_path / "cvae.pt"
    train_cvae(paths["train"], paths["val"], paths["folded"], model, tmp_path / "history.tsv",
               tmp_path / "reconstructions.png", None, tiny_settings(epochs=1))
    names = ("table", "fasta", "npz", "traversals", "traversal_figure")
    generated = {name: tmp_path / f"generated_{name}" for name in names}
    generate(model, paths["folded"], [paths[s] for s in ("train", "val", "test")], generated,
             {"n_per_condition": 2, "traversal_steps": 2, "traversal_samples": 1,
              "detector_gate": 0, "attribute_matching": 0, "dinucleotide_matching": 0,
              "stem_pair_matching": 0})
    torch.manual_seed(0)
    cnn_config = CNNConfig(channels=[4, 4], dense_units=8, pooled_columns=2)
    cnn = tmp_path / "cnn.pt"
    torch.save({"model": build_model(cnn_config).state_dict(),
                "model_args": cnn_config.to_dict()}, cnn)
    outputs = {key: tmp_path / f"validate_{key}" for key in
               ("molecules", "summary", "targets", "realism", "metrics", "examples", "judge",
                "gaps", "against_real")}
    targets = validate(generated["table"], generated["npz"], paths["folded"], cnn, model,
                         outputs, seed=2, judge_model=tiny_judge["folder"] / "model.pt",
                         judge_set=tiny_judge["judge_set"])
    assert set(targets["metric"]) == set(TARGETS)
    accuracies = pd.read_csv(outputs["judge"], sep="\t")
    assert len(accuracies) == 2 and accuracies["judge"].str.contains("trees").iloc[1]
    accuracy = accuracies.iloc[0]
    assert accuracy["pre_mirnas"] + accuracy["negatives"] > 0
    assert 0 <= accuracy["called_premirna_of_premirnas"] <= 1
    # the recall split by whether the judges learnt the pre-miRNA's family from another species
    assert (accuracy["premirnas_family_known"] + accuracy["premirnas_family_new"]
            == accuracy["pre_mirnas"])
    fair = targets.set_index("metric").loc["independent_judge", "real_new_families"]
    assert np.isnan(fair) or 0 <= fair <= 1
    summary = pd.read_csv(outputs["summary"], sep="\t")
    groups = summary.set_index("group")
    assert {"generated", *BASELINES} <= set(groups.index)
    assert (summary["kind"] == "condition").sum() == 13
    assert groups.at["generated", "n"] == 26
    assert groups.at["real", "structure_agreement"] == 1.0  # real hairpins intend their own MFE
    assert groups.at["generated", "validity"] <= 1.0
    molecules = pd.read_csv(outputs["molecules"], sep="\t")
    assert molecules["decodable"].all()
    # the repair is reported: how many molecules and nucleotides it changed, and the agreement
    # of the decoder's own sequences
    generated_rows = molecules[molecules["set"] == "generated"]
    assert groups.at["generated", "refined_nt_per_molecule"] == pytest.approx(
        generated_rows["refined_nt"].mean()
    )
    unchanged = generated_rows[generated_rows["refined_nt"] == 0]
    assert (unchanged["raw_agrees"] == unchanged["agrees"]).all()
    assert groups.at["generated", "raw_structure_agreement"] <= groups.at[
        "generated", "structure_agreement"
    ] + 1e-9
    assert pd.isna(groups.at["real", "raw_structure_agreement"])
    # the decoder's own control (first draws) and the redraws it took, per condition
    conditioned = groups[(groups["kind"] == "condition") & (groups.index != "pre-miRNA")]
    assert conditioned["first_draw_control"].between(0, 1).all()
    assert (conditioned["draws_per_molecule"] >= 1).all()
    assert pd.isna(groups.at["pre-miRNA", "first_draw_control"])
    assert pd.isna(groups.at["real", "first_draw_control"])
    assert molecules["cnn_probability"].between(0, 1).all()
    assert molecules["judge_probability"].between(0, 1).all()
    assert molecules["trees_probability"].between(0, 1).all()
    assert groups.at["generated", "trees_judge"] == pytest.approx(
        (generated_rows["trees_probability"] >= 0.5).mean())
    judged = generated_rows["judge_probability"] >= 0.5
    assert groups.at["generated", "independent_judge"] == pytest.approx(judged.mean())
    # the unconditioned pre-miRNA row's real reference is the whole real baseline
    assert groups.at["pre-miRNA", "real_in_bin_n"] == groups.at["real", "n"]
    assert groups.at["pre-miRNA", "judge_real_in_bin"] == pytest.approx(
        groups.at["real", "independent_judge"])
    worst = targets.set_index("metric").loc["independent_judge_worst_condition"]
    assert worst["real"] == pytest.approx(groups.loc[conditioned.index, "judge_real_in_bin"].min())
    changed = generated_rows["refined_nt"] > 0
    same = generated_rows.loc[~changed]
    assert (same["raw_judge_probability"] == same["judge_probability"]).all()
    assert (same["raw_trees_probability"] == same["trees_probability"]).all()
    # a handful of test pre-miRNAs here: too few to cross-validate, so no AUC rather than noise
    assert "two_sample_auc" in groups and np.isnan(groups.at["generated", "two_sample_auc"])
    assert outputs["realism"].stat().st_size > 0 and outputs["metrics"].stat().st_size > 0
    assert outputs["examples"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # eight real validation molecules: too few to name a feature (tests/validate/test_gaps.py),
    # so the table is written with its columns and no rows
    gaps = pd.read_csv(outputs["gaps"], sep="\t")
    # with the training pre-miRNAs' columns: validate compares with the training split too
    assert set(gaps.columns) == {*GAP_COLUMNS, *TRAINING_COLUMNS}
    assert groups.at["real", "n"] < MIN_MOLECULES and gaps.empty
    # each judge against the real molecules: the same shares as the summary, with intervals
    against = pd.read_csv(outputs["against_real"], sep="\t").set_index(["judge", "set"])
    for judge, column in (("network judge", "independent_judge"), ("trees judge", "trees_judge")):
        row = against.loc[(judge, "generated")]
        assert row["share"] == pytest.approx(groups.at["generated", column])
        assert row["real_share"] == pytest.approx(groups.at["real", column])
        assert row["share_low"] <= row["share"] <= row["share_high"]
        assert row["difference_low"] <= row["difference"] <= row["difference_high"]
        high = against.loc[(judge, "pre-miRNA, gc=high")]
        assert high["real_n"] == groups.at["pre-miRNA, gc=high", "real_in_bin_n"]


def test_judge_recall_is_split_by_the_families_the_judges_learnt(tmp_path) -> None:
    """A judge that recognises the families it learnt (here: calls exactly those) has recall 1 on
    them and 0 on new ones; the split counts pre-miRNAs only."""
    judge_set = tmp_path / "judge_set.tsv"
    pd.DataFrame({"id": ["mmu-mir-21a", "dre-let-7b", "cod_1", "shuf_2", "gga-mir-99"],
                  "sequence": ["A"] * 5, "structure": ["."] * 5,
                  "label": [1, 1, 0, 0, 1],
                  "source": ["mirbase", "mirbase", "coding", "shuffle", "shuffle"]}).to_csv(
        judge_set, sep="\t", index=False)
    families = judges_families(judge_set)
    assert families == {"mir-21", "let-7"}  # shuffled positives name no family
    test = pd.DataFrame({"id": ["hsa-mir-21", "hsa-let-7a-1", "hsa-mir-4500", "hsa-mir-99a",
                                "neg_1"],
                         "sequence": ["GGGAAACCC", "GGGAAACCU", "GGAAAUCC", "GGAAACC", "AAAA"],
                         "structure": ["(((...)))", "(((...)))", "((....))", "((...))", "...."],
                         "label": [1, 1, 1, 1, 0]})
    known = {"GGGAAACCC", "GGGAAACCU"}

    def judge(sequences, structures):
        return np.array([0.9 if s in known else 0.1 for s in sequences])

    row = judge_accuracy({"j": judge}, test, families).iloc[0]
    assert (row["premirnas_family_known"], row["premirnas_family_new"]) == (2, 2)
    assert row["called_premirna_family_known"] == 1.0
    assert row["called_premirna_family_new"] == 0.0
    assert row["called_premirna_of_premirnas"] == 0.5
    assert "premirnas_family_known" not in judge_accuracy({"j": judge}, test)  # no families
    # the targets' yardstick for generated molecules: real pre-miRNAs of new families only
    scored = test.assign(set=["real"] * 4 + ["shuffled"],
                         judge_probability=judge(test["sequence"], test["structure"]),
                         trees_probability=[0.9, 0.9, 0.9, 0.2, 0.9])
    targets = pd.DataFrame({"metric": ["independent_judge", "trees_judge", "ks_gc"],
                            "generated": [0.5, 0.5, 0.1], "real": [0.5, 0.75, 0.0],
                            "shuffled": [0.0, 1.0, 0.0]})
    fair = new_family_reference(targets, scored, families).set_index("metric")
    assert list(fair.columns[:4]) == ["generated", "real", "real_new_families", "shuffled"]
    assert fair.loc["independent_judge", "real_new_families"] == 0.0
    assert fair.loc["trees_judge", "real_new_families"] == 0.5  # mir-4500 yes, mir-99 no
    assert np.isnan(fair.loc["ks_gc", "real_new_families"])

"""The interpret_determinants stage: its statistics on planted and null effects, the trees' scores
with shared random draws, and the stage end to end on real human hairpins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, REPO
from scipy.special import expit

from premirna.classifier.feature_model import (
    FeatureSettings,
    fit_feature_model,
    load_feature_model,
    save_feature_model,
    score_features,
)
from premirna.interpret.determinants import DETERMINANTS
from premirna.interpret.mutagenesis import (
    OUTPUT_KEYS,
    DeterminantsConfig,
    determinant_table,
    interpret_determinants,
    load_hairpins,
    make_variants,
    tree_scores,
)
from premirna.rna.folding import FoldSettings

ORACLE = DATA / "cordero_encoding_oracle" / "oracle.npz"
FAST = {"controls_per_molecule": 2, "min_molecules": 3, "n_bootstrap": 200,
        "n_permutations": 200, "max_per_determinant": 0, "threads": 1, "seed": 5}


@pytest.fixture(scope="module")
def oracle() -> dict[str, np.ndarray]:
    with np.load(ORACLE) as data:
        keep = data["status_vienna_2_7"] == "ok"
        kinds = data["kinds"][keep]
        rows = np.concatenate([np.flatnonzero(kinds == "mirbase_hsa")[:60],
                               np.flatnonzero(kinds == "coding_negative")[:30]])
        return {
            "ids": data["ids"][keep][rows],
            "sequences": data["sequences"][keep][rows].astype(str),
            "structures": data["structures_vienna_2_7"][keep][rows].astype(str),
            "images": data["images_vienna_2_7"][keep][rows],
            "labels": (kinds[rows] == "mirbase_hsa").astype(np.int8),
        }


@pytest.fixture(scope="module")
def trees_path(oracle, tmp_path_factory) -> str:
    """Feature trees fitted in a second on 30 + 30 of the molecules (2 shuffles, 10 rounds);
    homology against 30 other pre-miRNAs."""
    settings = FeatureSettings(shuffles=2, max_iter=10, homology_k=12)
    train = np.r_[30:90]
    model = fit_feature_model(oracle["sequences"][train], oracle["structures"][train],
                              oracle["labels"][train], oracle["sequences"][:30], settings, 7)
    path = tmp_path_factory.mktemp("trees") / "features_model.npz"
    save_feature_model(model, path)
    return str(path)


def write_inputs(oracle, folder, n_positive: int = 14) -> tuple[str, str]:
    """A test npz of `n_positive` pre-miRNAs and 4 negatives and their fold table with the
    miRBase mature positions."""
    from premirna.data.mirbase import read_mirna_dat

    rows = np.r_[0:n_positive, 60:64]
    images = folder / "test.npz"
    np.savez_compressed(images, ids=oracle["ids"][rows], images=oracle["images"][rows],
                        labels=oracle["labels"][rows], encodable=np.ones(len(rows), bool))
    _, matures = read_mirna_dat(REPO / "resources" / "mirbase_v22" / "miRNA.dat.gz", ["hsa"])
    arms = {(m.hairpin_id, m.arm): (m.start, m.end) for m in matures}
    table = pd.DataFrame({
        "id": oracle["ids"][rows], "sequence": oracle["sequences"][rows],
        "structure": oracle["structures"][rows], "label": oracle["labels"][rows],
        **{f"mature_{arm}_{end}": [arms.get((i, arm), (None, None))[k] for i in oracle["ids"][rows]]
           for arm in ("5p", "3p") for k, end in enumerate(("start", "end"))},
    })
    folded = folder / "folded.tsv"
    table.to_csv(folded, sep="\t", index=False)
    return str(images), str(folded)


def planted(effects: dict[str, tuple[float, int]], controls: int = 4, seed: int = 0
            ) -> pd.DataFrame:
    """A mutants table: per determinant, (shift of the determinant's change, molecules); every
    change has noise of s.d. 0.05."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, (shift, n) in effects.items():
        for m in range(n):
            for replicate in range(controls + 1):
                delta = rng.normal(0, 0.05) + (shift if replicate == 0 else 0.0)
                rows.append({"id": f"m{m}", "determinant": name,
                             "kind": "determinant" if replicate == 0 else "control",
                             "cnn_delta": delta, "fold_kept": True,
                             "asymmetry_before": 1.0, "asymmetry_after": -1.0})
    return pd.DataFrame(rows)


def test_statistics_call_a_planted_effect_and_not_a_null_one():
    config = DeterminantsConfig.from_dict({**FAST, "min_molecules": 10, "n_permutations": 2000})
    mutants = planted({"apical_ugu": (-0.1, 30), "basal_ug": (0.0, 30),
                       "loop_enlarge": (0.1, 30), "mismatched_ghg": (-0.5, 4)})
    table = determinant_table(mutants, config, {"apical_ugu": 33}, {})
    rows = table.set_index("determinant")
    assert len(table) == len(DETERMINANTS)
    assert rows.loc["apical_ugu", "verdict"] == "relies on it"
    assert rows.loc["apical_ugu", "ci_low"] < -0.1 < rows.loc["apical_ugu", "ci_high"]
    assert rows.loc["apical_ugu", "n_carrying"] == 33
    assert rows.loc["basal_ug", "verdict"] == "ignores it / not supported"
    assert rows.loc["basal_ug", "p"] > 0.05
    assert rows.loc["loop_enlarge", "verdict"] == "opposite"
    assert rows.loc["mismatched_ghg", "verdict"].startswith("not testable")
    # biology expects lower for the UGU and higher for a larger loop: both planted effects agree
    assert rows.loc["apical_ugu", "matches_biology"] == "yes"
    assert rows.loc["loop_enlarge", "matches_biology"] == "yes"
    assert pd.isna(rows.loc["basal_ug", "matches_biology"]) or not rows.loc["basal_ug",
                                                                            "matches_biology"]
    assert rows.loc["end_asymmetry", "n_molecules"] == 0
    assert (table["q"].dropna() >= table["p"].dropna()).all()
    assert table["citation"].str.len().gt(10).all()
    # the same table from the same seed
    again = determinant_table(mutants, config, {"apical_ugu": 33}, {})
    pd.testing.assert_frame_equal(table, again)


def test_settings_refuse_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown"):
        DeterminantsConfig.from_dict({"controls": 4})
    with pytest.raises(ValueError, match="controls_per_molecule"):
        DeterminantsConfig.from_dict({"controls_per_molecule": 0})
    with pytest.raises(ValueError, match="q_threshold"):
        DeterminantsConfig.from_dict({"q_threshold": 1.5})


def test_tree_scores_are_the_feature_models_and_share_draws_by_molecule(oracle, trees_path):
    model = load_feature_model(trees_path)
    sequences, structures = oracle["sequences"][:6], oracle["structures"][:6]
    _, probability = score_features(model, sequences, structures)
    ours = tree_scores(model, sequences, structures, list(range(6)))
    np.testing.assert_allclose(expit(ours), probability, rtol=1e-12)
    # a molecule keeps its draws wherever it sits in the batch
    moved = tree_scores(model, sequences[::-1], structures[::-1], list(range(6))[::-1], 2)
    np.testing.assert_array_equal(moved[::-1], ours)


def test_variants_repeat_with_the_seed(oracle, tmp_path):
    images, folded = write_inputs(oracle, tmp_path)
    config = DeterminantsConfig.from_dict(FAST)
    _, hairpins, _ = load_hairpins(images, folded, config, FoldSettings())
    first, carriers = make_variants(hairpins, config)
    again, _ = make_variants(hairpins, config)
    assert first == again
    per = pd.Series([v.determinant for v in first]).value_counts()
    for name, count in per.items():
        assert count % (config.controls_per_molecule + 1) == 0
        assert count // (config.controls_per_molecule + 1) <= carriers[name]


def test_stage_writes_every_output(oracle, tmp_path, tiny_cnn, trees_path):
    images, folded = write_inputs(oracle, tmp_path)
    outputs = {key: tmp_path / "out" / f"{key}{'.png' if key == 'figure' else '.tsv'}"
               for key in OUTPUT_KEYS}
    summary = interpret_determinants(tiny_cnn, trees_path, images, folded, outputs, FAST)
    for path in outputs.values():
        assert path.stat().st_size > 0, path
    assert summary["n_molecules"] == 14
    mutants = pd.read_csv(outputs["mutants"], sep="\t")
    assert summary["n_mutants"] == len(mutants)
    assert set(mutants["kind"]) == {"determinant", "control"}
    counts = mutants.groupby(["determinant", "id", "kind"]).size().unstack()
    assert (counts["determinant"] == 1).all() and (counts["control"] == 2).all()
    scored = mutants["image_status"] != "no_hairpin"
    assert mutants.loc[scored, ["cnn_after", "trees_after"]].notna().all().all()
    assert mutants.loc[scored, "cnn_after"].between(0, 1).all()
    assert mutants["fold_kept"].isin([True, False]).all()
    # same number of changed nucleotides in a determinant's mutant and its controls
    sizes = mutants.groupby(["determinant", "id", "kind"])["n_changed"].max().unstack()
    assert (sizes["determinant"] == sizes["control"]).all()
    asym = mutants[mutants["determinant"] == "end_asymmetry"]
    assert asym["asymmetry_before"].notna().all()
    table = pd.read_csv(outputs["determinants"], sep="\t")
    assert len(table) == 2 * len(DETERMINANTS)
    assert set(table["scorer"]) == {"cnn", "trees"}
    assert table["verdict"].str.match(
        "relies on it|opposite|ignores it / not supported|not testable").all()
    assert table["citation"].notna().all()
    trees_rows = table[table["scorer"] == "trees"]
    assert trees_rows["trees_importance"].str.contains("splits|no feature").all()

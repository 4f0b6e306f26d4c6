"""Latent factors against hairpin attributes: planted links are found, and said in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from premirna.core.errors import InputError
from premirna.interpret.cvae import OUTPUT_KEYS, interpret_cvae, read_traversals
from premirna.interpret.latent import (
    ATTRIBUTES,
    LatentConfig,
    analyse,
    benjamini_hochberg,
    hairpin_attributes,
    latent_links,
    linear_probe,
    strength,
    strongest_links,
)


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, pd.DataFrame]:
    """400 molecules, 6 latent dimensions: GC content is a noisy monotone function of z2, stem
    length falls with z4, loop size depends on z1 through its square (no rank correlation, but
    mutual information), z5 is collapsed and the other attributes are noise."""
    rng = np.random.default_rng(11)
    z = rng.normal(size=(400, 6))
    z[:, 5] *= 0.01
    attributes = pd.DataFrame(
        {
            "gc": 0.5 + 0.1 * np.tanh(z[:, 2]) + rng.normal(0, 0.01, 400),
            "stem_length": np.round(25 - 4 * z[:, 4] + rng.normal(0, 1, 400)),
            "loop_size": np.round(4 + 3 * z[:, 1] ** 2),
            "length": rng.integers(60, 110, 400).astype(float),
            "bulges": rng.integers(0, 4, 400).astype(float),
        }
    )
    attributes.loc[::7, "length"] = np.nan  # missing values are left out, not counted as zero
    return z, attributes


def test_planted_correlations_are_found_and_nothing_else(planted):
    z, attributes = planted
    links = latent_links(z, attributes, seed=0)
    assert len(links) == 6 * attributes.shape[1]
    rho = links.pivot(index="dimension", columns="attribute", values="spearman")
    assert rho.loc[2, "gc"] > 0.9
    assert rho.loc[4, "stem_length"] < -0.9
    assert rho["gc"].abs().idxmax() == 2 and rho["stem_length"].abs().idxmax() == 4
    # the noise attributes have no link that survives the BH correction
    noise = links[links["attribute"].isin(["length", "bulges"])]
    assert (noise["q_value"] > 0.05).all()
    assert (noise["spearman"].abs() < 0.2).all()
    assert links.loc[links["attribute"] == "length", "n"].iloc[0] == 400 - len(range(0, 400, 7))


def test_mutual_information_sees_a_link_rank_correlation_misses(planted):
    z, attributes = planted
    links = latent_links(z, attributes, seed=0)
    loop = links[links["attribute"] == "loop_size"].set_index("dimension")
    assert abs(loop.loc[1, "spearman"]) < 0.2  # symmetric in z1: no monotone trend
    assert loop["mutual_information"].idxmax() == 1
    assert loop.loc[1, "mutual_information"] > 0.5
    assert loop.drop(index=1)["mutual_information"].max() < 0.1


def test_linear_probe_recovers_the_linear_attributes(planted):
    z, attributes = planted
    probe = linear_probe(z, attributes, folds=5, seed=0).set_index("attribute")
    assert probe.loc["gc", "r2_mean"] > 0.8
    assert probe.loc["stem_length", "r2_mean"] > 0.8
    assert probe.loc["length", "r2_mean"] < 0.1  # noise: nothing to read
    assert probe.loc["loop_size", "r2_mean"] < 0.2  # quadratic: not linearly readable


def test_the_table_in_words_names_the_planted_links(planted):
    z, attributes = planted
    links, probe, summary, variances = analyse(z, attributes, LatentConfig(
        attributes=["gc", "stem_length", "loop_size", "length", "bulges"]))
    by_subject = summary.set_index("subject")["statement"]
    assert by_subject["z2"].startswith("z2 strongly tracks GC content")
    assert "rises" in by_subject["z2"]
    assert by_subject["z4"].startswith("z4 strongly tracks stem length")
    assert "falls" in by_subject["z4"]
    assert "collapsed" in by_subject["z5"]
    assert "tracks none" in by_subject["z0"]
    assert by_subject["GC content"].startswith("GC content is well readable")
    top = strongest_links(links, 2)
    assert set(zip(top["dimension"], top["attribute"], strict=True)) == {(2, "gc"),
                                                                        (4, "stem_length")}


def test_strength_words_follow_cohen():
    assert strength(0.62) == "strongly" and strength(-0.35) == "moderately"
    assert strength(0.12) == "weakly" and strength(0.05) == "not"
    assert strength(float("nan")) == "not measurably"


def test_benjamini_hochberg_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    q = benjamini_hochberg(p)
    assert np.allclose(q[:4], [0.02, 0.04, 0.04, 0.02])
    assert np.isnan(q[4])


def test_hairpin_attributes_from_a_fold_table():
    # 2-nt tail, 18-bp stem, 6-nt loop (closing pair at 0-based 19 and 26), 5p miRNA at 4..15.
    structure = ".." + "(" * 18 + "." * 6 + ")" * 18 + ".."
    folded = pd.DataFrame(
        {
            "id": ["a", "b"],
            "structure": [structure, structure],
            "length": [46, 46],
            "stem_length": [18, 18],
            "loop_size": [6, 6],
            "gc": [0.5, 0.4],
            "mfe_per_nt": [-0.4, -0.3],
            "bulges": [0, 1],
            "mature_5p_start": [4, None],
            "mature_5p_end": [15, None],
        }
    )
    attributes = hairpin_attributes(folded)
    assert list(attributes.columns) == list(ATTRIBUTES)
    # positions 16..20 (1-based) lie between the miRNA's end (15) and the loop's start (21)
    assert attributes.loc[0, "mature_loop_distance"] == 5
    assert attributes.loc[0, "mature_5p_start"] == 4
    assert np.isnan(attributes.loc[1, "mature_loop_distance"])
    # no sequence and no 3p annotation in this table: those attributes are missing, not zero
    assert attributes[["mature_3p_start", "mature_3p_loop_distance",
                       "duplex_asymmetry"]].isna().all().all()


def test_duplex_asymmetry_and_the_inferred_3p_arm():
    # 20-bp stem of G-C pairs but for an A-U pair at the 5p strand's 5' end (0-based 2 and 43):
    # the 5p end is the less stable one, so the asymmetry (5p end minus 3p end) is negative.
    five = "GCAGCGCGCGCGCGCGCGCG"
    three = "CGCGCGCGCGCGCGCGCUGC"
    sequence = "AA" + five + "GAAAUA" + three + "AA"
    structure = ".." + "(" * 20 + "." * 6 + ")" * 20 + ".."
    folded = pd.DataFrame({"id": ["a", "b"], "sequence": [sequence] * 2,
                           "structure": [structure] * 2, "mature_5p_start": [3, 3],
                           "mature_5p_end": [22, 22], "mature_3p_start": [31, None],
                           "mature_3p_end": [48, None]})
    attributes = hairpin_attributes(folded)
    assert attributes.loc[0, "duplex_asymmetry"] < 0
    assert attributes.loc[0, "mature_3p_start"] == 31
    # the 3p arm inferred from the 5p one (2-nt 3' overhangs) gives an asymmetry as well
    assert np.isfinite(attributes.loc[1, "duplex_asymmetry"])
    assert np.isnan(attributes.loc[1, "mature_3p_start"])


def test_config_rejects_unknown_keys_and_attributes():
    with pytest.raises(ValueError, match="probe_fold"):
        LatentConfig.from_dict({"probe_fold": 3})
    with pytest.raises(ValueError, match="colour"):
        LatentConfig.from_dict({"attributes": ["colour"]})


def test_interpret_cvae_writes_every_output(tmp_path):
    """The stage end to end through the real CVAE code: a (randomly initialised) checkpoint,
    real molecules from the oracle set, a fold table and a traversal table."""
    import torch
    from conftest import DATA

    from premirna.generator.conditions import CONDITION_ATTRIBUTES, condition_sizes, quantile_bins
    from premirna.generator.network import CVAE, CVAEConfig
    from premirna.rna.structure import features
    from premirna.training.checkpoints import save_checkpoint

    with np.load(DATA / "cordero_encoding_oracle" / "oracle.npz") as data:
        ok = data["status_vienna_2_7"] == "ok"
        keep = np.concatenate([np.flatnonzero(ok & (data["kinds"] == kind))[::7][:60]
                               for kind in ("mirbase_hsa", "coding_negative")])
        ids, images = data["ids"][keep], data["images_vienna_2_7"][keep]
        sequences, structures = data["sequences"][keep], data["structures_vienna_2_7"][keep]
        mfe, labels = data["mfe_vienna_2_7"][keep], (data["kinds"][keep] == "mirbase_hsa")
    folded = pd.DataFrame([features(s, t, m) for s, t, m in zip(sequences, structures, mfe,
                                                                 strict=True)])
    folded.insert(0, "id", ids)
    folded["structure"] = structures
    folded["label"] = labels.astype(int)
    flank = 3 + np.arange(len(ids)) % 5
    folded["mature_5p_start"] = np.where(labels, flank, np.nan)
    folded["mature_5p_end"] = np.where(labels, flank + 21, np.nan)
    folded.to_csv(tmp_path / "folded.tsv", sep="\t", index=False)
    np.savez_compressed(tmp_path / "test.npz", ids=ids, images=images,
                        labels=labels.astype(np.int8), encodable=np.ones(len(ids), bool))

    torch.manual_seed(0)
    config = CVAEConfig(condition_sizes=condition_sizes(4, 3),
                        latent_dim=4, channels=[8, 8], hidden=16, token_dim=8, position_dim=4,
                        decoder_hidden=8)
    bins = quantile_bins(folded, labels.astype(np.int64), list(CONDITION_ATTRIBUTES), 3)
    tied = {"gc": 1, "stem_length": 0}
    save_checkpoint({"model": CVAE(config).state_dict(), "model_args": config.to_dict(),
                     "bins": bins, "config": {"attribute_regularisation": tied}},
                    tmp_path / "cvae.pt")
    traversals = pd.DataFrame(
        [{"dimension": d, "value": v, "sample": s, "gc": 0.5 + 0.05 * v * (d == 1),
          "stem_length": 20 + d, "loop_size": 5.0, "sequence": "GGGAAACCC" + "A" * d,
          "refolded": "(((...)))" + "." * d}
         for d in range(4) for v in (-2, -1, 0, 1, 2) for s in range(2)]
    )
    traversals.to_csv(tmp_path / "traversals.tsv", sep="\t", index=False)

    outputs = {key: tmp_path / "out" / (key + (".png" if key.endswith("figure") else
                                              ".npz" if key == "latents" else ".tsv"))
               for key in OUTPUT_KEYS}
    for conditions in ("unspecified", "given"):
        summary = interpret_cvae(tmp_path / "cvae.pt", tmp_path / "test.npz",
                                        tmp_path / "folded.tsv", outputs,
                                        {"conditions": conditions, "probe_folds": 3,
                                         "mig_bootstrap": 20},
                                        traversals=tmp_path / "traversals.tsv",
                                        judge=lambda q, s: np.array([len(x) % 2 for x in q]))
        assert summary["n_molecules"] == 120 and summary["latent_dim"] == 4
        for path in outputs.values():
            assert path.stat().st_size > 0, path
    with np.load(outputs["latents"]) as data:
        assert data["z"].shape == (120, 4) and np.isfinite(data["z"]).all()
    links = pd.read_csv(outputs["links"], sep="\t")
    assert len(links) == 4 * len(ATTRIBUTES)
    mature = links[links["attribute"] == "mature_loop_distance"]
    assert labels.sum() == 60
    assert (mature["n"] == 60).all()  # only the annotated molecules
    probe = pd.read_csv(outputs["probe"], sep="\t").set_index("attribute")
    assert probe.loc["mature_5p_start", "n"] == 60 and probe.loc["gc", "n"] == 120
    words = pd.read_csv(outputs["summary"], sep="\t")
    assert set(words["kind"]) == {"dimension", "attribute"}
    assert summary["tied"] == tied and np.isfinite(summary["mig"])
    scores = pd.read_csv(outputs["disentanglement"], sep="\t", keep_default_na=False,
                         na_values=[""])
    rows = scores[scores["kind"] == "attribute"].set_index("attribute")
    assert set(rows.index) == set(ATTRIBUTES)
    assert rows.loc["gc", "tied_dimension"] == 1 and rows.loc["loop_size", "tied_dimension"] == -1
    assert rows.loc["mature_3p_start", "n"] == 0 and np.isnan(rows.loc["mature_3p_start", "mig"])
    assert [c for c in scores if c.startswith("importance_")] == [f"importance_z{d}"
                                                                  for d in range(4)]
    assert (scores["kind"] == "overall").sum() == 1
    monotone = pd.read_csv(outputs["monotonicity"], sep="\t", keep_default_na=False)
    monotone = monotone.set_index(["dimension", "attribute"])
    assert monotone.loc[(1, "gc"), "monotone"] == "yes"  # the planted traversal of z1
    assert monotone.loc[(0, "stem_length"), "monotone"] == "not measured"  # constant along z0
    assert monotone.loc[(1, "gc"), "judge_share"] == 0.0  # odd lengths pass: z0, z2
    assert monotone.loc[(0, "gc"), "judge_share"] == 1.0


def test_traversal_table_needs_the_generate_stages_columns(tmp_path):
    path = tmp_path / "traversals.tsv"
    pd.DataFrame({"dimension": [0, 0, 1], "value": [-1.0, 1.0, 0.0], "gc": [0.4, 0.6, 0.5]}).to_csv(
        path, sep="\t", index=False)
    table = read_traversals(path)
    assert table["dimension"].tolist() == [0, 0, 1] and table["value"].tolist() == [-1, 1, 0]
    path.write_text("dim\tsd\n1\t2\n")
    with pytest.raises(InputError, match="missing column.*dimension, value"):
        read_traversals(path)


def test_traversal_starts_are_predicted_from_the_refolded_loop():
    """Generated molecules have no annotation: the loop-counting rule, fitted on the training
    split only, predicts their mature starts, and the table says how well it does elsewhere."""
    from premirna.interpret.cvae import predicted_starts

    def hairpin(flank: int, loop_gap: int, split: str) -> dict:
        structure = "." * flank + "(" * 25 + "." * 6 + ")" * 25 + "." * flank
        return {"structure": structure, "split": split, "mature_5p_start": flank + 1,
                "mature_5p_end": flank + 25 - loop_gap, "mature_3p_start": flank + 32 + loop_gap,
                "mature_3p_end": flank + 53}

    fold_table = pd.DataFrame([hairpin(f, 3, "train") for f in range(2, 8)]
                              + [hairpin(f, 5, "test") for f in range(2, 8)])
    test = fold_table[fold_table["split"] == "test"]
    traversals = pd.DataFrame([{"dimension": d, "value": v, "refolded": hairpin(
        4 + int(v) * (d == 1), 0, "")["structure"]} for d in range(2) for v in (-2, -1, 0, 1, 2)])
    table, measured_as = predicted_starts(traversals, fold_table, test)
    # fitted on the training rows: 3 nt from the loop, so 2 nt off on every test molecule
    assert "mean error 2.0 nt, 1.00 within 2 nt" in measured_as["mature_3p_start"]
    assert "fitted on 6 training pre-miRNAs" in measured_as["mature_3p_start"]
    assert table.loc[table["dimension"] == 1, "mature_3p_start"].tolist() == [
        4 + v + 32 + 3 for v in (-2, -1, 0, 1, 2)]  # the loop moves with the flank
    assert table.loc[table["dimension"] == 0, "mature_3p_start"].nunique() == 1
    assert "mature_3p_start" not in traversals  # the caller's table is left alone
    # a traversal table without refolded structures, or no annotation at all: nothing predicted
    assert predicted_starts(traversals.drop(columns="refolded"), fold_table, test)[1] == {}
    bare = fold_table.drop(columns=["mature_3p_start", "mature_3p_end"])
    assert predicted_starts(traversals, bare, test)[1] == {}

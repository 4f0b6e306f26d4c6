"""MIG and DCI on codes whose disentanglement is known by construction, and the monotonicity of
latent traversals: a code that copies each attribute into its own axis scores near 1, a rotation
that mixes them scores low, and a permutation is still a perfect code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mutual_info_score

from premirna.interpret.disentangle import (
    dci,
    discretise,
    disentanglement,
    entropy,
    mig,
    mutual_information,
    traversal_monotonicity,
)

N = 1500


@pytest.fixture(scope="module")
def factors() -> pd.DataFrame:
    """Three independent attributes: continuous, continuous, and integer with 5 values."""
    rng = np.random.default_rng(4)
    return pd.DataFrame({"gc": rng.uniform(0.3, 0.7, N), "mfe_per_nt": rng.normal(-0.4, 0.1, N),
                         "bulges": rng.integers(0, 5, N).astype(float)})


def standardised(frame: pd.DataFrame) -> np.ndarray:
    values = frame.to_numpy(dtype=float)
    return (values - values.mean(0)) / values.std(0)


def test_discretise_keeps_few_values_and_bins_the_rest() -> None:
    codes = discretise(np.array([3.0, 1.0, 3.0, 7.0]), bins=10)
    assert codes.tolist() == [1, 0, 1, 2]
    codes = discretise(np.arange(1000.0), bins=10)
    assert np.bincount(codes).tolist() == [100] * 10


def test_plug_in_information_agrees_with_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 300), rng.integers(0, 6, 300)
    b = np.where(rng.random(300) < 0.5, a, b)
    assert np.isclose(mutual_information(a, b), mutual_info_score(a, b))
    assert np.isclose(mutual_information(a, a), entropy(a))


def test_a_code_with_one_axis_per_attribute_has_a_mig_near_one(factors) -> None:
    rng = np.random.default_rng(1)
    z = np.column_stack([standardised(factors), rng.normal(size=(N, 2))])
    table = mig(z, factors, bootstrap=50, seed=0).set_index("attribute")
    assert (table["mig"] > 0.9).all()
    assert table["top_dimension"].tolist() == [0, 1, 2]
    # resampling repeats molecules, which lifts the plug-in MI of the noise axes a little: the
    # interval is narrow and high, not necessarily around the estimate
    assert (table["mig_low"] > 0.9).all() and (table["mig_high"] - table["mig_low"] < 0.05).all()
    assert table.loc["bulges", "bins"] == 5 and table.loc["gc", "bins"] == 10


def test_a_rotation_that_mixes_two_attributes_has_a_low_mig(factors) -> None:
    pair = standardised(factors[["gc", "mfe_per_nt"]])
    angle = np.pi / 4
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    z = pair @ rotation.T
    table = mig(z, factors[["gc", "mfe_per_nt"]], bootstrap=0).set_index("attribute")
    assert (table["mig"] < 0.15).all()
    assert np.isnan(table["mig_low"]).all()  # no bootstrap asked for


def test_the_bootstrap_is_seeded(factors) -> None:
    z = standardised(factors) + np.random.default_rng(2).normal(0, 0.5, (N, 3))
    first = mig(z, factors, bootstrap=30, seed=5)
    assert first.equals(mig(z, factors, bootstrap=30, seed=5))
    assert not first.equals(mig(z, factors, bootstrap=30, seed=6))


def test_dci_of_a_permuted_identity_is_perfect(factors) -> None:
    z = standardised(factors)[:, [2, 0, 1]]
    importance, per_attribute, per_dimension, overall = dci(z, factors, seed=0)
    assert importance.idxmax().tolist() == [1, 2, 0]  # gc -> z1, mfe -> z2, bulges -> z0
    assert (per_attribute["completeness"] > 0.9).all()
    assert (per_attribute["informativeness_r2"] > 0.95).all()
    assert overall["disentanglement"] > 0.9 and overall["completeness"] > 0.9
    assert np.isclose(per_dimension["weight"].sum(), 1)


def test_dci_sees_the_mixing_of_a_rotation(factors) -> None:
    z = standardised(factors)
    angle = np.pi / 4
    z[:, :2] = z[:, :2] @ np.array([[np.cos(angle), -np.sin(angle)],
                                    [np.sin(angle), np.cos(angle)]]).T
    _, per_attribute, _, overall = dci(z, factors, regressor="lasso", seed=0)
    by_name = per_attribute.set_index("attribute")
    # two of the three dimensions share gc equally: 1 - H(1/2, 1/2, 0) / log 3
    assert np.isclose(by_name.loc["gc", "completeness"], 1 - np.log(2) / np.log(3), atol=0.03)
    assert by_name.loc["bulges", "completeness"] > 0.9  # untouched
    assert (by_name["informativeness_r2"] > 0.95).all()  # a rotation loses nothing
    assert overall["disentanglement"] < 0.75


def test_the_table_leaves_missing_attributes_out_and_names_the_ties(factors) -> None:
    attributes = factors.copy()
    attributes.loc[::3, "bulges"] = np.nan
    attributes["constant"] = 1.0
    z = standardised(factors)
    table, importance = disentanglement(z, attributes, bootstrap=0, seed=0, tied={"gc": 0})
    rows = table[table["kind"] == "attribute"].set_index("attribute")
    assert rows.loc["bulges", "n"] == N - len(range(0, N, 3))
    assert np.isnan(rows.loc["constant", "mig"]) and np.isnan(rows.loc["constant", "completeness"])
    assert rows.loc["gc", "tied_dimension"] == 0 and rows.loc["bulges", "tied_dimension"] == -1
    overall = table[table["kind"] == "overall"].iloc[0]
    assert np.isclose(overall["mig"], rows["mig"].mean())
    assert (table["kind"] == "dimension").sum() == 3
    assert list(importance["dimension"]) == ["z0", "z1", "z2"]


def test_traversal_monotonicity_judges_the_tied_axes() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for dim in range(3):
        for value in np.linspace(-3, 3, 7):
            for sample in range(4):
                rows.append({"dimension": dim, "value": value, "sample": sample,
                             "gc": 0.5 + (0.03 * value if dim == 0 else 0) + rng.normal(0, 0.005),
                             "stem_length": 20 + (value if dim == 1 else 0) + rng.normal(0, 2),
                             "sequence": "A" * (10 + dim), "refolded": "." * (10 + dim)})
    traversals = pd.DataFrame(rows)

    def judge(sequences, structures):
        return np.array([0.9 if len(s) == 10 else 0.2 for s in sequences])

    table = traversal_monotonicity(traversals, ["gc", "stem_length"],
                                   tied={"gc": 0, "stem_length": 2, "mature_5p_start": 1},
                                   judge=judge).set_index(["dimension", "attribute"])
    assert table.loc[(0, "gc"), "spearman"] > 0.9 and table.loc[(0, "gc"), "monotone"] == "yes"
    # z1 moves stem length by 1 per SD under noise of SD 2: the molecules scatter (pooled rho
    # well below 0.9) while the mean at each point rises steadily
    assert table.loc[(1, "stem_length"), "spearman"] < 0.8
    assert table.loc[(1, "stem_length"), "spearman_means"] > 0.9
    assert table.loc[(2, "stem_length"), "monotone"] == "no"  # tied, but z2 does not move it
    assert table.loc[(1, "stem_length"), "monotone"] == ""  # not tied to z1
    assert table.loc[(1, "mature_5p_start"), "monotone"] == "not measured"
    # tied to z1 and noisy: judged by the means, so "yes"
    noisy = traversal_monotonicity(traversals, ["stem_length"], tied={"stem_length": 1})
    assert noisy.set_index(["dimension", "attribute"]).loc[(1, "stem_length"), "monotone"] == "yes"
    assert table.loc[(0, "gc"), "judge_share"] == 1.0
    assert table.loc[(1, "gc"), "judge_share"] == 0.0
    assert set(table["measured_as"]) == {"refolded"}
    told = traversal_monotonicity(traversals, ["gc"], measured_as={"gc": "predicted"})
    assert set(told["measured_as"]) == {"predicted"}
    empty = traversal_monotonicity(pd.DataFrame(columns=["dimension", "value"]), ["gc"])
    assert empty.empty and "monotone" in empty

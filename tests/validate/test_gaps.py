"""Tests for premirna.validate.gaps: which features tell generated molecules from real ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from premirna.validate.gaps import (
    COLUMNS,
    MIN_MOLECULES,
    TRAINING_COLUMNS,
    condition_gaps,
    feature_gaps,
)
from premirna.validate.two_sample import FEATURE_NAMES, molecule_features

STEM = 12


def hairpins(n: int, gc: float, seed: int) -> pd.DataFrame:
    """`n` hairpins of 12 pairs around a 6-nt loop whose letters are G or C with probability `gc`,
    with the attributes `molecule_features` reads (the stem as drawn, loose energies)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        letters = rng.choice(list("GCAU"), 2 * STEM + 6, p=[gc / 2, gc / 2, (1 - gc) / 2,
                                                             (1 - gc) / 2])
        sequence = "".join(letters)
        share = sum(c in "GC" for c in sequence) / len(sequence)
        rows.append({"sequence": sequence, "refolded": "(" * STEM + "." * 6 + ")" * STEM,
                     "length": len(sequence), "gc": share, "mfe_per_nt": -0.2 - 0.5 * share,
                     "stem_length": STEM, "loop_size": 6, "bulges": 0, "internal_loops": 0,
                     "hairpin_loops": 1})
    return pd.DataFrame(rows)


def test_feature_names_name_every_feature() -> None:
    assert len(FEATURE_NAMES) == molecule_features(hairpins(2, 0.5, 0)).shape[1]
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert {"CG", "GGG", "pairing ||.", "G paired", "A unpaired", "gc"} <= set(FEATURE_NAMES)


def test_a_planted_gap_leads_and_agreement_gives_none() -> None:
    rich, poor = hairpins(60, 0.8, 1), hairpins(60, 0.3, 2)
    gaps = feature_gaps(rich, poor, top=5)
    assert list(gaps.columns) == ["feature", "roc_auc", "q_value", "generated", "real"]
    # GC itself, and its energy, separate the sets completely; the generator makes too much GC
    top = gaps.set_index("feature")
    assert top.loc["gc", "roc_auc"] > 0.99 and top.loc["gc", "q_value"] < 1e-6
    assert top.loc["mfe_per_nt", "roc_auc"] < 0.01
    assert top.loc["gc", "generated"] > top.loc["gc", "real"]
    distance = np.abs(gaps["roc_auc"] - 0.5).to_numpy()
    assert (np.diff(distance) <= 1e-12).all()  # furthest from agreement first
    # a feature constant in both sets (the stem) is agreement, not a gap
    every = feature_gaps(rich, poor, top=len(FEATURE_NAMES)).set_index("feature")
    assert every.loc["stem_length", "roc_auc"] == 0.5 and every.loc["stem_length", "q_value"] == 1
    same = feature_gaps(hairpins(60, 0.5, 3), hairpins(60, 0.5, 4), top=3)
    assert (same["q_value"] > 0.05).all()


def test_conditions_are_compared_with_the_real_molecules_in_their_bins() -> None:
    real = pd.concat([hairpins(40, 0.8, 5).assign(want_gc=2),
                      hairpins(40, 0.3, 6).assign(want_gc=0)])
    high = hairpins(40, 0.8, 7).assign(condition="pre-miRNA, gc=high")
    few = hairpins(MIN_MOLECULES - 1, 0.3, 8).assign(condition="pre-miRNA, gc=low")
    shuffled = hairpins(40, 0.5, 9).assign(condition="")
    scored = pd.concat([real.assign(set="real", condition=""), high.assign(set="generated"),
                        few.assign(set="generated"), shuffled.assign(set="shuffled")],
                       ignore_index=True)
    gaps = condition_gaps(scored, ["low", "mid", "high"], top=len(FEATURE_NAMES))
    assert list(gaps.columns) == list(COLUMNS)
    # too few molecules of gc=low to compare; the shuffled baseline is not a condition
    assert list(dict.fromkeys(gaps["group"])) == ["pre-miRNA, gc=high", "generated"]
    within = gaps[gaps["group"] == "pre-miRNA, gc=high"].set_index("feature")
    assert within["n_real"].iloc[0] == 40 and within["n_generated"].iloc[0] == 40
    assert within.loc["gc", "q_value"] > 0.05  # as G+C-rich as the real G+C-rich molecules
    overall = gaps[gaps["group"] == "generated"].set_index("feature")
    assert overall["n_real"].iloc[0] == 80 and overall["n_generated"].iloc[0] == 49
    assert overall.loc["gc", "roc_auc"] > 0.6 and overall.loc["gc", "q_value"] < 0.05
    assert overall["rank"].tolist() == list(range(1, len(FEATURE_NAMES) + 1))


def test_too_few_molecules_anywhere_give_an_empty_table() -> None:
    scored = pd.concat([hairpins(3, 0.5, 1).assign(set="real", condition="", want_gc=2),
                        hairpins(3, 0.5, 2).assign(set="generated", condition="pre-miRNA")])
    gaps = condition_gaps(scored, ["low", "mid", "high"])
    assert gaps.empty and list(gaps.columns) == list(COLUMNS)


def test_a_gap_the_training_split_shares_is_told_apart() -> None:
    """The held-out G+C-rich molecules are poorer in G+C than the training ones (a split that
    fell unevenly); generated molecules like the training ones differ from the held-out ones
    but not from the training ones in the same bins."""
    real = hairpins(40, 0.6, 10).assign(want_gc=2, set="real", condition="")
    training = pd.concat([hairpins(60, 0.85, 11).assign(want_gc=2),
                          hairpins(60, 0.3, 12).assign(want_gc=0)], ignore_index=True)
    generated = hairpins(40, 0.85, 13).assign(set="generated", condition="pre-miRNA, gc=high")
    scored = pd.concat([real, generated], ignore_index=True)
    gaps = condition_gaps(scored, ["low", "mid", "high"], top=len(FEATURE_NAMES),
                          training=training)
    assert list(gaps.columns) == [*COLUMNS[:7], *TRAINING_COLUMNS, *COLUMNS[7:]]
    within = gaps[gaps["group"] == "pre-miRNA, gc=high"].set_index("feature")
    assert within.loc["gc", "roc_auc"] > 0.9 and within.loc["gc", "q_value"] < 1e-6
    assert abs(within.loc["gc", "roc_auc_training"] - 0.5) < 0.15  # the training bin's own GC
    assert within["n_training"].iloc[0] == 60  # the G+C-rich training molecules only
    assert within.loc["gc", "training"] == pytest.approx(
        training.loc[training["want_gc"] == 2, "gc"].mean())
    overall = gaps[gaps["group"] == "generated"]
    assert overall["n_training"].iloc[0] == 120
    # too few training molecules in a condition's bins: no comparison, said so
    few = condition_gaps(scored, ["low", "mid", "high"], training=training.iloc[55:65])
    row = few[few["group"] == "pre-miRNA, gc=high"].iloc[0]
    assert np.isnan(row["roc_auc_training"]) and row["n_training"] == 5
    empty = condition_gaps(scored.iloc[:3], ["low", "mid", "high"], training=training)
    assert empty.empty and list(empty.columns) == list(gaps.columns)

"""Tests for premirna.validate.against_real: the intervals against published values, and the
verdicts on planted differences."""

import math

import numpy as np
import pandas as pd
import pytest

from premirna.validate.against_real import (
    against_real,
    difference_interval,
    wilson_interval,
    with_verdicts,
)


@pytest.mark.parametrize(("called", "n", "low", "high"), [
    # Newcombe 1998 (Stat Med 17:857, Table I): the score interval of 81/263, 15/148, 0/20
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_published_values(called, n, low, high) -> None:
    found = wilson_interval(called, n)
    assert found == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(("a", "m", "b", "n", "low", "high"), [
    # Newcombe 1998 (Stat Med 17:873, Table II), method 10: the hybrid score interval
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
])
def test_difference_interval_matches_published_values(a, m, b, n, low, high) -> None:
    difference, found_low, found_high = difference_interval(a, m, b, n)
    assert difference == pytest.approx(a / m - b / n)
    assert (found_low, found_high) == pytest.approx((low, high), abs=1e-4)


def test_empty_sets_give_no_interval() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    assert all(math.isnan(v) for v in difference_interval(3, 5, 0, 0))


def _scored(generated_high: np.ndarray, generated_low: np.ndarray, real: np.ndarray,
            real_bins: np.ndarray) -> pd.DataFrame:
    """Generated molecules of two conditions and real ones with their gc bins (0 low, 2 high)."""
    parts = [
        pd.DataFrame({"set": "generated", "condition": "pre-miRNA, gc=high",
                      "judge_probability": generated_high}),
        pd.DataFrame({"set": "generated", "condition": "pre-miRNA, gc=low",
                      "judge_probability": generated_low}),
        pd.DataFrame({"set": "real", "condition": "all", "judge_probability": real,
                      "want_gc": real_bins}),
        pd.DataFrame({"set": "shuffled", "condition": "all",
                      "judge_probability": np.zeros(50)}),
    ]
    return pd.concat(parts, ignore_index=True)


def test_each_condition_is_held_to_the_real_molecules_in_its_bins() -> None:
    """Real G+C-rich molecules are called half the time, the others always. Generated gc=high
    molecules called half the time are alike their real ones; gc=low called a fifth of the time
    lie below theirs, and the whole generated set below all real molecules."""
    rng = np.random.default_rng(0)
    real_bins = np.repeat([0, 2], 100)
    real = np.concatenate([np.ones(100), rng.permutation(np.repeat([0.9, 0.1], 50))])
    high = rng.permutation(np.repeat([0.8, 0.2], 50))
    low = rng.permutation(np.repeat([0.8, 0.2], [20, 80]))
    table = against_real(_scored(high, low, real, real_bins), ["low", "mid", "high"])
    rows = table.set_index("set")
    assert set(table["judge"]) == {"network judge"}  # no trees column: no trees rows
    assert rows.at["pre-miRNA, gc=high", "real_n"] == 100
    assert rows.at["pre-miRNA, gc=high", "real_share"] == pytest.approx(0.5)
    assert rows.at["pre-miRNA, gc=high", "difference"] == pytest.approx(0.0)
    assert rows.at["pre-miRNA, gc=high", "verdict"] == "alike"
    assert rows.at["pre-miRNA, gc=low", "real_share"] == pytest.approx(1.0)
    assert rows.at["pre-miRNA, gc=low", "verdict"] == "below real"
    assert rows.at["generated", "n"] == 200 and rows.at["generated", "real_n"] == 200
    assert rows.at["generated", "share"] == pytest.approx(0.35)
    assert rows.at["generated", "verdict"] == "below real"
    assert rows.at["shuffled", "share"] == 0.0 and rows.at["shuffled", "share_low"] == 0.0
    # the same generated shares against real molecules that the judge calls no more often:
    # a share below 0.5 is then no evidence of a gap
    same = against_real(_scored(high, low, np.where(real > 0.5, 0.3, 0.7)[::-1], real_bins),
                        ["low", "mid", "high"]).set_index("set")
    assert same.at["generated", "verdict"] == "above real"


def test_raw_draws_and_sets_generated_around_real_molecules_get_rows() -> None:
    scored = _scored(np.full(40, 0.9), np.full(40, 0.1), np.full(80, 0.9), np.repeat([0, 2], 40))
    scored["raw_judge_probability"] = np.where(scored["set"] == "generated", 0.9, np.nan)
    scored["trees_probability"] = 0.6
    around = pd.DataFrame({"set": "around", "condition": "around hsa-mir-21",
                           "judge_probability": [0.9, 0.1], "trees_probability": [0.9, 0.9]})
    table = against_real(pd.concat([scored, around], ignore_index=True), ["low", "mid", "high"])
    network = table[table["judge"] == "network judge"].set_index("set")
    assert network.at["generated, raw draws", "share"] == 1.0
    assert network.at["around real molecules", "n"] == 2
    assert network.at["around real molecules", "share"] == 0.5
    trees = table[table["judge"] == "trees judge"].set_index("set")
    assert trees.at["generated", "share"] == 1.0  # 0.6 >= 0.5
    assert "generated, raw draws" not in trees.index  # the trees judge scored no raw draws


def test_the_targets_say_how_each_judge_share_compares_with_real_molecules() -> None:
    """Beside each judge's target: the difference and verdict of its row; for a worst condition,
    those of the condition with the lowest share; nothing beside the other targets."""
    rng = np.random.default_rng(1)
    real_bins = np.repeat([0, 2], 100)
    real = np.concatenate([np.ones(100), rng.permutation(np.repeat([0.9, 0.1], 50))])
    scored = _scored(rng.permutation(np.repeat([0.8, 0.2], 45)),
                     rng.permutation(np.repeat([0.8, 0.2], [20, 80])), real, real_bins)
    scored = pd.concat([scored, pd.DataFrame({"set": "generated", "condition": "pre-miRNA",
                                              "judge_probability": np.full(30, 0.9)})],
                       ignore_index=True)
    table = against_real(scored, ["low", "mid", "high"])
    rows = table.set_index("set")
    assert rows.at["pre-miRNA", "real_n"] == 200  # the condition without bins: every real one
    targets = pd.DataFrame({"metric": ["independent_judge", "independent_judge_worst_condition",
                                       "ks_gc", "trees_judge"],
                            "met": [False, False, True, False], "meaning": ""})
    shown = with_verdicts(targets, table).set_index("metric")["against_real"]
    assert list(with_verdicts(targets, table).columns) == ["metric", "met", "against_real",
                                                           "meaning"]
    row = rows.loc["generated"]
    assert shown["independent_judge"] == (
        f"{row['verdict']} ({row['difference']:+.3f}, {row['difference_low']:+.3f} to "
        f"{row['difference_high']:+.3f})")
    assert shown["independent_judge_worst_condition"].startswith("pre-miRNA, gc=low: below real")
    assert shown["ks_gc"] == "" and shown["trees_judge"] == ""  # no trees scores here

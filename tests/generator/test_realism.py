"""Tests for premirna.generator.realism: the classifier gate and attribute matching
(discriminator rejection sampling on hairpin attributes), alone and inside `match_request`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from premirna.generator.conditions import Condition
from premirna.generator.realism import (
    ATTRIBUTES,
    Acceptance,
    acceptances,
    fit_critic,
    real_in_bins,
)
from premirna.generator.request import match_request
from premirna.generator.sample import Decoded


def attribute_frame(rng: np.random.Generator, n: int, mfe_sd: float) -> pd.DataFrame:
    """Hairpin attributes with MFE per nt around -0.45 and the given spread."""
    return pd.DataFrame({
        "length": rng.normal(80, 10, n).round(),
        "gc": rng.uniform(0.35, 0.65, n),
        "mfe_per_nt": rng.normal(-0.45, mfe_sd, n),
        "stem_length": rng.integers(20, 36, n),
        "loop_size": rng.integers(3, 12, n),
        "bulges": rng.integers(0, 4, n),
        "internal_loops": rng.integers(0, 4, n),
    })


def test_matching_pulls_a_wide_distribution_towards_the_real_one() -> None:
    """Drawn free energies spread three times wider than real ones: the molecules the critic
    keeps are far closer to the real distribution (KS), and the draw is seeded."""
    rng = np.random.default_rng(0)
    real = attribute_frame(rng, 1500, 0.05)
    pilot = attribute_frame(rng, 1500, 0.15)
    critic = fit_critic([real], [pilot], quantile=0.9, seed=1)
    drawn = attribute_frame(rng, 3000, 0.15)
    keep = rng.random(len(drawn)) < critic.keep_probability(drawn)
    kept = drawn.loc[keep, "mfe_per_nt"]
    before = ks_2samp(drawn["mfe_per_nt"], real["mfe_per_nt"]).statistic
    after = ks_2samp(kept, real["mfe_per_nt"]).statistic
    assert before > 0.2 and after < before / 2
    assert 0.1 < keep.mean() < 0.9
    # M is the quantile of the pilot's own ratios: a tenth of the pilot is always kept
    always = critic.keep_probability(pilot) == 1.0
    assert always.mean() == pytest.approx(0.1, abs=0.01)
    # the same distributions give a critic that keeps about everything (ratio near 1)
    same = fit_critic([real], [attribute_frame(rng, 1500, 0.05)], quantile=0.5, seed=1)
    assert np.median(same.keep_probability(real)) > 0.8


def test_every_condition_weighs_the_same_on_both_sides() -> None:
    """Two conditions with very different sizes: the ratio is that of the two mixtures with
    equal weights, so a condition with ten times the real molecules does not dominate."""
    rng = np.random.default_rng(1)
    low_real, high_real = attribute_frame(rng, 1000, 0.05), attribute_frame(rng, 100, 0.05)
    low_real["gc"], high_real["gc"] = 0.35, 0.65
    low_drawn, high_drawn = attribute_frame(rng, 200, 0.05), attribute_frame(rng, 200, 0.05)
    low_drawn["gc"], high_drawn["gc"] = 0.35, 0.65
    critic = fit_critic([low_real, high_real], [low_drawn, high_drawn], 0.5, seed=1)
    ratio_low = np.median(critic.ratio(low_drawn))
    ratio_high = np.median(critic.ratio(high_drawn))
    assert ratio_low == pytest.approx(ratio_high, rel=0.25)
    with pytest.raises(ValueError, match="real and drawn"):
        fit_critic([low_real], [], 0.5, seed=1)


def hairpins(sequences: list[str], structure: str) -> Decoded:
    n = len(sequences)
    return Decoded(np.zeros((n, 100), np.int64), np.zeros((n, 25, 100, 3), np.uint8),
                   list(sequences), [structure] * n)


def test_the_gate_redraws_what_the_classifier_rejects() -> None:
    """A gate that rejects A-rich hairpins: the first draws (A-rich) are redrawn until a
    G-rich one comes; the bin control of the first draw is still the decoder's own."""
    weak, strong = "AAAAAAAAAAAAAAAAAAAA", "GGGGGCGCAAAAGCGCCCCC"
    structure = "((((((((....))))))))"

    def gate(images: np.ndarray) -> np.ndarray:
        return np.asarray([0.9 if s == strong else 0.1 for s in current["sequences"]])

    current: dict[str, list[str]] = {}

    def draw(m: int, round_: int):
        current["sequences"] = [weak if round_ < 2 else strong] * m
        return hairpins(current["sequences"], structure), np.zeros((m, 5)), np.zeros((m, 2))

    accept = Acceptance(gate, 0.5, None, np.random.default_rng(0))
    checkpoint = {"bins": {}}
    matched = match_request(draw, Condition("pre-miRNA", 1, {}), 3, 4, checkpoint, accept=accept)
    assert matched.decoded.sequences == [strong] * 3
    assert matched.draws.tolist() == [3, 3, 3] and matched.hit.all() and matched.first_hit.all()
    # without rounds left, a rejected molecule keeps its first draw and counts as a miss
    matched = match_request(draw, Condition("pre-miRNA", 1, {}), 3, 1, checkpoint, accept=accept)
    assert matched.decoded.sequences == [weak] * 3 and not matched.hit.any()
    # no gate, no matching: nothing to add
    conditions = [Condition("pre-miRNA", 1, {})]
    assert acceptances(conditions, [draw], pd.DataFrame(), checkpoint, None, 0.5, 0.0, 3,
                       seed=1) == [None]


def test_acceptances_fit_one_critic_on_a_pilot_of_every_pre_mirna_condition() -> None:
    """Pilot draws (their own round), a critic against the training pre-miRNAs in each
    condition's bins; a condition of the other class gets no test."""
    rng = np.random.default_rng(2)
    table = attribute_frame(rng, 60, 0.05)
    table["split"] = ["train"] * 50 + ["test"] * 10
    table["label"] = [1] * 40 + [0] * 10 + [1] * 10
    checkpoint = {"bins": {"gc": [0.45, 0.55]}}
    high = Condition("pre-miRNA, gc=high", 1, {"gc": 2})
    real = real_in_bins(table, high, checkpoint)
    expected = table[(table["split"] == "train") & (table["label"] == 1) & (table["gc"] >= 0.55)]
    assert len(real) == len(expected) and list(real.columns) == list(ATTRIBUTES)
    rounds = []
    structure = "((((((((((((....))))))))))))"

    def draw(m: int, round_: int):
        rounds.append(round_)
        sequences = ["GGCGCAGCGCAGAAAACUGCGCUGCGCC"] * m
        return hairpins(sequences, structure), np.zeros((m, 2)), np.zeros((m, 2))

    conditions = [Condition("pre-miRNA", 1, {}), high, Condition("not", 0, {})]
    keep = acceptances(conditions, [draw] * 3, table, checkpoint, None, 0.5, 0.8, 5, seed=1)
    assert rounds == [1000, 1000]  # the pilot: pre-miRNA conditions only, round PILOT_ROUND
    assert keep[2] is None and keep[0] is not None and keep[1] is not None
    assert keep[0].critic is keep[1].critic
    first = keep[0](hairpins(["GGCGCAGCGCAGAAAACUGCGCUGCGCC"] * 50, structure))
    again = acceptances(conditions, [draw] * 3, table, checkpoint, None, 0.5, 0.8, 5, seed=1)
    assert (again[0](hairpins(["GGCGCAGCGCAGAAAACUGCGCUGCGCC"] * 50, structure)) == first).all()
    # the critic sees each molecule's condition as the bins it requests
    assert keep[0].critic.columns == (*ATTRIBUTES, "want_gc")
    assert keep[0].request == {"want_gc": -1} and keep[1].request == {"want_gc": 2}


def test_a_molecule_the_gate_never_passes_keeps_a_draw_in_its_length_range() -> None:
    """First draw too short; the redraws have the right length but the gate turns them all
    down: the molecule keeps the first redraw in range (a miss, still counted as one), not the
    too-short first draw."""
    short, fine = "GGGAAACCC", "GGGGGAAAAAAAACCCCC"

    def draw(m: int, round_: int):
        sequence, structure = (short, "(((...)))") if round_ == 0 else (fine, "(((((........)))))")
        decoded = hairpins([sequence] * m, structure)
        return decoded, np.full((m, 2), round_), np.full((m, 3), float(round_))

    never = Acceptance(lambda images: np.zeros(len(images)), 0.5, None, np.random.default_rng(0))
    checkpoint = {"bins": {}, "lengths": {1: [12.0, 30.0]}}
    matched = match_request(draw, Condition("pre-miRNA", 1, {}), 2, 3, checkpoint, accept=never)
    assert matched.decoded.sequences == [fine, fine] and not matched.hit.any()
    assert matched.draws.tolist() == [4, 4] and matched.conditions[:, 0].tolist() == [1, 1]



def test_with_the_request_the_critic_corrects_each_condition_not_only_their_mixture() -> None:
    """Two conditions whose drawn free energies are swapped against the real ones: the two
    mixtures are the same, so a critic of attributes alone keeps about everything; with the
    requested bins as columns it pulls each condition to its own real distribution."""
    rng = np.random.default_rng(3)

    def frames(real_shift: float, drawn_shift: float, bin_: int):
        real, drawn = attribute_frame(rng, 1500, 0.05), attribute_frame(rng, 1500, 0.05)
        real["mfe_per_nt"] += real_shift
        drawn["mfe_per_nt"] += drawn_shift
        return real.assign(want_gc=bin_), drawn.assign(want_gc=bin_)

    (real_low, drawn_low), (real_high, drawn_high) = frames(-0.03, 0.03, 0), frames(0.03, -0.03, 2)
    columns = (*ATTRIBUTES, "want_gc")
    within = fit_critic([real_low, real_high], [drawn_low, drawn_high], 0.9, seed=1,
                        columns=columns)
    mixture = fit_critic([real_low, real_high], [drawn_low, drawn_high], 0.9, seed=1)
    assert within.columns == columns and mixture.columns == ATTRIBUTES
    new = frames(-0.03, 0.03, 0)[1]
    u = rng.random(len(new))
    before = ks_2samp(new["mfe_per_nt"], real_low["mfe_per_nt"]).statistic
    by_condition = new.loc[u < within.keep_probability(new), "mfe_per_nt"]
    by_mixture = new.loc[u < mixture.keep_probability(new), "mfe_per_nt"]
    assert before > 0.4  # 0.48
    assert ks_2samp(by_condition, real_low["mfe_per_nt"]).statistic < 0.7 * before  # 0.31
    assert ks_2samp(by_mixture, real_low["mfe_per_nt"]).statistic > 0.9 * before  # 0.49

"""The region statistics: shifted-region nulls, class contrasts, permutation p-values, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from premirna.interpret.statistics import (
    AREAS,
    Shares,
    bootstrap_interval,
    contrast_interval,
    contrast_p,
    shifted_share,
    sign_flip_p,
    statistics_table,
    used_regions,
)


def _mask(first: int, last: int) -> np.ndarray:
    mask = np.zeros((25, 100), bool)
    mask[:, first : last + 1] = True
    return mask


def test_a_map_on_the_region_beats_its_shifted_copies_and_a_flat_map_does_not() -> None:
    drawn = _mask(0, 79)
    region = _mask(30, 39)
    focused = np.where(region, 1.0, 0.01)
    assert shifted_share(focused, region, drawn) < 0.2 * focused[region].sum() / focused.sum()
    flat = np.where(drawn, 1.0, 0.0)
    # every shifted copy stays on the drawing and holds the same number of pixels
    assert shifted_share(flat, region, drawn) == pytest.approx(flat[region].sum() / flat.sum())


def test_shifted_copies_stay_on_the_drawing_and_off_the_region() -> None:
    from premirna.interpret.statistics import shift_offsets

    assert shift_offsets(10, 60) == [10, 23, 37, 50]  # no copy overlaps columns of the region
    assert shift_offsets(30, 40) == [20]  # too short for that: one half-turn
    drawn = _mask(0, 39)
    region = _mask(0, 9)
    on_region = np.where(region, 1.0, 0.0) + np.where(drawn, 0.001, 0.0)
    assert shifted_share(on_region, region, drawn) < 0.05  # the copies miss the region
    beyond = np.zeros((25, 100))
    beyond[:, 60:] = 1.0  # attribution off the drawing is never in a copy
    assert shifted_share(beyond + on_region, region, drawn) < 0.05


def test_sign_flip_p_finds_a_planted_shift_and_not_a_symmetric_null() -> None:
    rng = np.random.default_rng(1)
    planted = rng.normal(0.5, 1.0, 200)
    assert sign_flip_p(planted, np.random.default_rng(2), 2000) < 0.01
    symmetric = np.concatenate([planted, -planted])
    assert sign_flip_p(symmetric, np.random.default_rng(2), 2000) == 1.0
    assert np.isnan(sign_flip_p(np.array([0.3]), np.random.default_rng(2), 100))


def test_contrast_p_and_interval_separate_shifted_groups_only() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 1.0, 150)
    assert contrast_p(a + 0.6, a[::-1].copy(), np.random.default_rng(4), 2000) < 0.01
    assert contrast_p(a, rng.permutation(a), np.random.default_rng(4), 2000) == 1.0
    low, high = contrast_interval(a + 0.6, a, np.random.default_rng(5), 1000)
    assert low < 0.6 < high and low > 0


def test_bootstrap_interval_brackets_the_mean_and_ignores_nan() -> None:
    values = np.concatenate([np.random.default_rng(6).normal(2.0, 1.0, 300), [np.nan] * 5])
    low, high = bootstrap_interval(values, np.random.default_rng(7), 1000)
    assert low < np.nanmean(values) < high and high - low < 0.5


def _planted(n: int, rng: np.random.Generator) -> tuple[Shares, np.ndarray, np.ndarray]:
    """Half pre-miRNAs, half negatives. Area 0: pre-miRNAs only put attribution there beyond its
    shift; area 1: both classes do, equally; every other area: no signal at all."""
    labels = np.repeat([1, 0], n // 2)
    outcome = np.where(labels == 1, "TP", "TN")
    base = rng.uniform(0.05, 0.15, (n, len(AREAS)))
    observed, shifted = base.copy(), base.copy()
    observed[labels == 1, 0] += 0.1
    observed[:, 1] += 0.1
    return Shares(observed, shifted), labels, outcome


def test_verdicts_tell_class_specific_use_from_looking_everywhere() -> None:
    shares, labels, outcome = _planted(120, np.random.default_rng(8))
    table = statistics_table({"smoothgrad": shares, "broken": shares}, labels, outcome,
                             failing=["broken"], seed=9, n_boot=200, n_perm=500)
    assert len(table) == 2 * len(AREAS)
    good = table[table["method"] == "smoothgrad"].set_index("area")
    assert good.loc[AREAS[0], "verdict"].startswith("used for pre-miRNAs")
    assert good.loc[AREAS[1], "verdict"].startswith("looked at in every hairpin")
    assert all(v.startswith("not above") for v in good.loc[list(AREAS[2:]), "verdict"])
    assert good.loc[AREAS[0], "excess_pre"] == pytest.approx(0.1)
    assert good.loc[AREAS[0], "contrast_class"] == pytest.approx(0.1, abs=0.02)
    assert (table.loc[table["method"] == "broken", "verdict"].str.startswith("not evidence")).all()
    assert used_regions(table) == [("smoothgrad", AREAS[0])]
    assert table[["q_shift_pre", "q_class"]].min().min() < 0.05
    assert ((table["q_class"] >= table["p_class"] - 1e-12) | table["p_class"].isna()).all()


def test_the_table_is_reproducible_from_its_seed() -> None:
    shares, labels, outcome = _planted(60, np.random.default_rng(10))
    first = statistics_table({"m": shares}, labels, outcome, seed=11, n_boot=200, n_perm=300)
    again = statistics_table({"m": shares}, labels, outcome, seed=11, n_boot=200, n_perm=300)
    assert first.equals(again)


def _molecule():
    import RNA

    from premirna.encode.render import encode
    from premirna.encode.walk import central_loop
    from premirna.interpret.regions import column_map, mature_sites
    from premirna.interpret.tables import Molecules

    # hsa-let-7a-1 (miRBase MI0000060): 5p miRNA 6-27, 3p miRNA 57-77 (1-based).
    sequence = "UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCCUA"
    structure = RNA.fold(sequence)[0]
    sites = mature_sites(structure, (6, 27), (57, 77))
    return Molecules(np.array(["let-7a-1"]), encode(sequence, structure)[None], np.array([1]),
                     np.array([0.9]), np.array(["TP"]), [sequence], [structure],
                     [column_map(sequence, structure)], [sites], [central_loop(structure)])


def test_region_shares_of_a_real_hairpin_partition_its_drawn_pixels() -> None:
    from premirna.interpret.regions import REGIONS, pixel_positions
    from premirna.interpret.statistics import area_masks, region_shares

    molecules = _molecule()
    drawn = pixel_positions(molecules.columns[0]) >= 0
    flat = np.ones((1, 25, 100))
    shares = region_shares(flat, molecules, cut_window=3)
    regions = [AREAS.index(r) for r in REGIONS if r in AREAS]
    assert np.nansum(shares.observed[0, regions]) == pytest.approx(drawn.mean())
    masks = area_masks(molecules, 0, cut_window=3)
    on_mature = np.where(masks["mature_5p"], 1.0, 0.0)[None]
    focused = region_shares(on_mature, molecules, cut_window=3)
    five = AREAS.index("mature_5p")
    assert focused.observed[0, five] == pytest.approx(1.0)
    assert focused.shifted[0, five] < 0.5

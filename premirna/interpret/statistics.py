"""Attribution per hairpin region with the controls that decide whether it means anything.

A share of attribution in a region says where a CNN looks, not why. Two position-matched nulls
separate "the CNN uses this region to call a pre-miRNA" from "the CNN looks at whatever sits at
these columns":

- **shifted region**: the same pixel mask rotated along the columns of the drawn hairpin (the
  columns that leave one end come back at the other, so every copy has the region's size and lies
  on the hairpin), by offsets spread between one region width and the drawing's width minus one
  region width (no overlap with the region wherever the hairpin is long enough); a region "beats
  its shift" when its share exceeds the mean share of its shifted copies in the same molecule
  (sign-flip permutation test of the paired differences);
- **class contrast**: the same region in negatives, which carry it at the same image columns (the
  typical columns of annotated hairpins, `premirna.interpret.regions.proxy_sites`); pre-miRNAs
  against negatives and true positives against true negatives (label-permutation tests).

Means come with percentile bootstrap intervals (Efron & Tibshirani 1993); p-values are two-sided
Monte-Carlo permutation p-values with the +1 correction of Phipson & Smyth (2010, Stat Appl Genet
Mol Biol 9:39); q-values are Benjamini-Hochberg across regions and methods, per test. A region is
called "used for pre-miRNAs" only when, in pre-miRNAs, it beats its shift and it holds more
attribution than in negatives, both at q below the threshold, and the method passes the
model-randomisation check.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from premirna.interpret.latent import benjamini_hochberg
from premirna.interpret.regions import (
    CUT_SITES,
    REGIONS,
    cut_windows,
    pixel_positions,
    position_regions,
)
from premirna.interpret.tables import Molecules

#: Every region and cut-site window the statistics cover, in table order.
AREAS: tuple[str, ...] = (*[r for r in REGIONS if r != "beyond_hairpin"], *CUT_SITES)

#: Shifted copies of a region per molecule.
N_SHIFTS = 4


@dataclass(frozen=True)
class Shares:
    """Per molecule (rows) and area (`AREAS`, columns): the share of the molecule's attribution in
    the area and the mean share of its shifted copies (NaN where the molecule lacks the area or no
    shift stays on the hairpin)."""

    observed: np.ndarray
    shifted: np.ndarray


def area_masks(molecules: Molecules, k: int, cut_window: int) -> dict[str, np.ndarray]:
    """Boolean 25 x 100 pixel masks of every area of `AREAS` for molecule `k`."""
    owners = pixel_positions(molecules.columns[k])
    structure = molecules.structures[k]
    loop = molecules.loops[k] if molecules.loops else None
    regions = position_regions(structure, molecules.sites[k], loop)
    windows = cut_windows(molecules.sites[k], len(structure), cut_window)
    owned = owners >= 0
    safe = np.where(owned, owners, 0)
    masks = {}
    for name in AREAS:
        if name in CUT_SITES:
            chosen = windows[name]
        else:
            chosen = regions == REGIONS.index(name)
        masks[name] = owned & chosen[safe]
    return masks


def shift_offsets(width: int, drawn_columns: int, n: int = N_SHIFTS) -> list[int]:
    """`n` rotation offsets (columns) spread from `width` to `drawn_columns - width`, so that no
    copy overlaps the region; a single half-turn when the drawing is shorter than two widths."""
    if drawn_columns < 2:
        return []
    if drawn_columns < 2 * width:
        return [drawn_columns // 2]
    offsets = np.linspace(width, drawn_columns - width, n).round().astype(int)
    return sorted({int(o) for o in offsets if 0 < o < drawn_columns})


def shifted_share(pixel_map: np.ndarray, mask: np.ndarray, drawn: np.ndarray) -> float:
    """Mean share of `pixel_map` in copies of `mask` rotated along the drawn columns (`drawn`,
    the pixel mask of the hairpin) by `shift_offsets`; NaN for an empty mask or map."""
    columns = np.flatnonzero(mask.any(axis=0))
    drawn_columns = int(np.flatnonzero(drawn.any(axis=0)).max() + 1) if drawn.any() else 0
    total = float(pixel_map.sum())
    if not len(columns) or total <= 0 or drawn_columns == 0:
        return math.nan
    width = int(columns.max() - columns.min() + 1)
    shares = []
    for offset in shift_offsets(width, drawn_columns):
        moved = np.zeros_like(mask)
        moved[:, :drawn_columns] = np.roll(mask[:, :drawn_columns], offset, axis=1)
        shares.append(float(pixel_map[moved].sum()) / total)
    return float(np.mean(shares)) if shares else math.nan


def region_shares(maps: np.ndarray, molecules: Molecules, cut_window: int) -> Shares:
    """`Shares` of one method's maps (N x 25 x 100) over `molecules`."""
    n = len(maps)
    observed = np.full((n, len(AREAS)), np.nan)
    shifted = np.full((n, len(AREAS)), np.nan)
    for k in range(n):
        drawn = pixel_positions(molecules.columns[k]) >= 0
        total = float(maps[k].sum())
        if total <= 0:
            continue
        for a, mask in enumerate(area_masks(molecules, k, cut_window).values()):
            if not mask.any():
                continue
            observed[k, a] = float(maps[k][mask].sum()) / total
            shifted[k, a] = shifted_share(maps[k], mask, drawn)
    return Shares(observed, shifted)


def bootstrap_interval(
    values: np.ndarray, rng: np.random.Generator, n_boot: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaN for fewer than 2)."""
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return math.nan, math.nan
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def sign_flip_p(differences: np.ndarray, rng: np.random.Generator, n_perm: int) -> float:
    """Two-sided permutation p of mean(differences) = 0 by random sign flips."""
    d = differences[~np.isnan(differences)]
    if len(d) < 2 or not np.any(d):
        return math.nan if len(d) < 2 else 1.0
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_perm, len(d)))
    null = np.abs((signs * d).mean(axis=1))
    return float((1 + np.sum(null >= abs(d.mean()) - 1e-15)) / (n_perm + 1))


def contrast_p(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_perm: int) -> float:
    """Two-sided permutation p of mean(a) = mean(b) by shuffling the group labels."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    shuffled = rng.permuted(np.broadcast_to(pooled, (n_perm, len(pooled))), axis=1)
    null = np.abs(shuffled[:, : len(a)].mean(axis=1) - shuffled[:, len(a) :].mean(axis=1))
    return float((1 + np.sum(null >= observed - 1e-15)) / (n_perm + 1))


def contrast_interval(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) - mean(b), each group resampled on its own."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    diff = (a[rng.integers(0, len(a), (n_boot, len(a)))].mean(axis=1)
            - b[rng.integers(0, len(b), (n_boot, len(b)))].mean(axis=1))
    return float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))


def _mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


def _area_rows(
    shares: Shares, groups: Mapping[str, np.ndarray], a: int, rng: np.random.Generator,
    n_boot: int, n_perm: int,
) -> dict[str, float]:
    """The numbers of one (method, area): shares and shift tests per class, and the contrasts."""
    row: dict[str, float] = {}
    for tag, mask in (("pre", groups["pre-miRNA"]), ("neg", groups["not pre-miRNA"])):
        share, shifted = shares.observed[mask, a], shares.shifted[mask, a]
        excess = share - shifted
        row[f"n_{tag}"] = int((~np.isnan(share)).sum())
        row[f"share_{tag}"] = _mean(share)
        row[f"share_{tag}_low"], row[f"share_{tag}_high"] = bootstrap_interval(share, rng, n_boot)
        row[f"shifted_{tag}"] = _mean(shifted)
        row[f"excess_{tag}"] = _mean(excess)
        row[f"excess_{tag}_low"], row[f"excess_{tag}_high"] = bootstrap_interval(excess, rng,
                                                                                 n_boot)
        row[f"p_shift_{tag}"] = sign_flip_p(excess, rng, n_perm)
    for tag, first, second in (("class", "pre-miRNA", "not pre-miRNA"), ("tp_tn", "TP", "TN")):
        x, y = shares.observed[groups[first], a], shares.observed[groups[second], a]
        row[f"contrast_{tag}"] = _mean(x) - _mean(y)
        row[f"contrast_{tag}_low"], row[f"contrast_{tag}_high"] = contrast_interval(x, y, rng,
                                                                                    n_boot)
        row[f"p_{tag}"] = contrast_p(x, y, rng, n_perm)
    return row


#: The p-value columns and the q-value column each one gets (BH across methods and areas).
TESTS: dict[str, str] = {"p_shift_pre": "q_shift_pre", "p_shift_neg": "q_shift_neg",
                         "p_class": "q_class", "p_tp_tn": "q_tp_tn"}


def verdict(row: Mapping[str, float], q_threshold: float, failing: bool) -> str:
    """What the evidence supports for one (method, area), in words."""
    if failing:
        return "not evidence (method fails the model-randomisation check)"
    beats_pre = row["q_shift_pre"] < q_threshold and row["excess_pre"] > 0
    beats_neg = row["q_shift_neg"] < q_threshold and row["excess_neg"] > 0
    more = row["q_class"] < q_threshold and row["contrast_class"] > 0
    less = row["q_class"] < q_threshold and row["contrast_class"] < 0
    if beats_pre and more:
        return "used for pre-miRNAs (beats its shift and the negatives)"
    if less:
        return "looked at more in negatives"
    if beats_pre and beats_neg:
        return "looked at in every hairpin (beats its shift in both classes, no class contrast)"
    if beats_pre:
        return "above its shift in pre-miRNAs, but not above the negatives"
    return "not above its position-matched null"


def statistics_table(
    method_shares: Mapping[str, Shares],
    labels: np.ndarray,
    outcome: np.ndarray,
    failing: Collection[str] = (),
    seed: int = 0,
    n_boot: int = 1000,
    n_perm: int = 2000,
    q_threshold: float = 0.05,
) -> pd.DataFrame:
    """One row per method and area (`AREAS`) with the shares, intervals, p- and q-values of the
    shift and class tests, and the verdict (`verdict`)."""
    from premirna.interpret.tables import group_masks

    groups = group_masks(labels, outcome)
    rows = []
    for m, (method, shares) in enumerate(method_shares.items()):
        for a, name in enumerate(AREAS):
            rng = np.random.default_rng([seed, m, a])
            row = {"method": method, "area": name,
                   "kind": "cut_site" if name in CUT_SITES else "region"}
            row.update(_area_rows(shares, groups, a, rng, n_boot, n_perm))
            rows.append(row)
    table = pd.DataFrame(rows)
    for p_column, q_column in TESTS.items():
        table[q_column] = benjamini_hochberg(table[p_column].to_numpy(dtype=float))
    table["verdict"] = [verdict(row, q_threshold, row["method"] in failing)
                        for _, row in table.iterrows()]
    return table


def used_regions(table: pd.DataFrame) -> Sequence[tuple[str, str]]:
    """(method, area) pairs called "used for pre-miRNAs"."""
    chosen = table[table["verdict"].str.startswith("used for pre-miRNAs")]
    return list(zip(chosen["method"], chosen["area"], strict=True))

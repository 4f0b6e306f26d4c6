"""The interpret_cnn tables: molecules by outcome, attribution per region and along the hairpin."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.errors import InputError
from premirna.encode.image import COLUMNS, ROWS, TOP_ROWS
from premirna.interpret.regions import (
    CUT_SITES,
    REGIONS,
    ColumnMap,
    MatureSites,
    cut_windows,
    pixel_positions,
    position_attribution,
    position_regions,
    region_sums,
)

OUTCOMES: tuple[str, ...] = ("TP", "TN", "FP", "FN")

#: Groups of molecules summarised in every table: the true class, then the outcomes.
GROUPS: tuple[str, ...] = ("pre-miRNA", "not pre-miRNA", *OUTCOMES)


def reference_comparison(
    ours: Mapping[str, np.ndarray], reference: np.ndarray, label: str
) -> pd.DataFrame:
    """Our class-average maps against the authors' (Pearson and Spearman over the 2,500 pixels),
    and the share of mass in columns 10-39 (the stem where the duplex sits) and on the pairing
    rows 11-14, for each map and for the reference itself."""
    from scipy.stats import pearsonr, spearmanr

    def shares(m: np.ndarray) -> tuple[float, float]:
        total = float(m.sum())
        if total <= 0:
            return math.nan, math.nan
        return float(m[:, 10:40].sum() / total), float(m[11:15].sum() / total)

    cols, rows_ = shares(reference)
    out = [{"map": f"Cordero et al. 2019 ({label})", "pearson": 1.0, "spearman": 1.0,
            "share_columns_10_39": cols, "share_rows_11_14": rows_}]
    for method, m in ours.items():
        cols, rows_ = shares(m)
        flat, ref = m.ravel(), reference.ravel()
        constant = np.ptp(flat) == 0
        out.append(
            {
                "map": method,
                "pearson": math.nan if constant else float(pearsonr(flat, ref)[0]),
                "spearman": math.nan if constant else float(spearmanr(flat, ref)[0]),
                "share_columns_10_39": cols,
                "share_rows_11_14": rows_,
            }
        )
    return pd.DataFrame(out)


def load_reference_map(path: str | Path) -> np.ndarray:
    """The authors' 25 x 100 average saliency map (`arr_0` of their npz)."""
    with np.load(path) as data:
        array = data[data.files[0]] if "arr_0" not in data.files else data["arr_0"]
    if array.shape != (ROWS, COLUMNS):
        raise InputError(path, f"expected a 25 x 100 map, got shape {array.shape}")
    return np.asarray(array, dtype=np.float64)


def outcomes(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """"TP", "TN", "FP" or "FN" per molecule (1 = pre-miRNA)."""
    labels = np.asarray(labels).astype(int)
    predicted = np.asarray(predicted).astype(int)
    names = np.array(["TN", "FP", "FN", "TP"])
    return names[labels * 2 + predicted]


def select_molecules(outcome: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of `n` molecules, as even across TP, TN, FP and FN as they allow (errors are
    rare, so the rest is filled from the other outcomes in turn), seeded, sorted."""
    rng = np.random.default_rng(seed)
    pools = {o: list(rng.permutation(np.flatnonzero(outcome == o))) for o in OUTCOMES}
    chosen: list[int] = []
    n = min(n, len(outcome))
    while len(chosen) < n:
        progressed = False
        for o in OUTCOMES:
            if pools[o] and len(chosen) < n:
                chosen.append(int(pools[o].pop(0)))
                progressed = True
        if not progressed:
            break
    return np.array(sorted(chosen), dtype=np.int64)


def normalised(maps: np.ndarray) -> np.ndarray:
    """Each map divided by its total (a share of the molecule's attribution); zero maps stay 0."""
    totals = maps.reshape(len(maps), -1).sum(axis=1)
    safe = np.where(totals > 0, totals, 1.0)
    return maps / safe[:, None, None]


def group_masks(labels: np.ndarray, outcome: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of the molecules in each of `GROUPS`."""
    masks = {"pre-miRNA": labels == 1, "not pre-miRNA": labels == 0}
    masks.update({o: outcome == o for o in OUTCOMES})
    return masks


@dataclass
class Molecules:
    """The explained molecules: images, labels, predictions and their hairpin layout."""

    ids: np.ndarray
    images: np.ndarray  # uint8 N x 25 x 100 x 3
    labels: np.ndarray
    probability: np.ndarray  # of pre-miRNA
    outcome: np.ndarray
    sequences: list[str]
    structures: list[str]
    columns: list[ColumnMap]
    sites: list[MatureSites | None]
    loops: list[tuple[int, int] | None] | None = None  # the loop drawn at column 0, per molecule


def region_table(
    maps: Mapping[str, np.ndarray], molecules: Molecules, cut_window: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per molecule and method, the share of attribution in each region and cut-site window, and
    the share of the molecule's pixels that region holds (what a map spread evenly would give);
    then the long summary table: method x group x region with the mean share, its standard
    error and the enrichment (mean share / mean pixel share)."""
    records = []
    owners = [pixel_positions(c) for c in molecules.columns]
    loops = molecules.loops or [None] * len(molecules.structures)
    regions = [
        position_regions(s, site, loop)
        for s, site, loop in zip(molecules.structures, molecules.sites, loops, strict=True)
    ]
    windows = [cut_windows(site, len(s), cut_window) for s, site in zip(molecules.structures,
                                                                        molecules.sites,
                                                                        strict=True)]
    ones = np.ones((ROWS, COLUMNS))
    for method, method_maps in maps.items():
        for k in range(len(method_maps)):
            total = float(method_maps[k].sum())
            sums = region_sums(method_maps[k], owners[k], regions[k])
            area = region_sums(ones, owners[k], regions[k])
            per_position = position_attribution(method_maps[k], owners[k], len(regions[k]))
            area_position = position_attribution(ones, owners[k], len(regions[k]))
            row = {"id": molecules.ids[k], "method": method, "total": total}
            for name in REGIONS:
                row[f"share_{name}"] = sums[name] / total if total > 0 else math.nan
                row[f"area_{name}"] = area[name] / (ROWS * COLUMNS)
            for name in CUT_SITES:
                mask = windows[k][name]
                usable = total > 0 and mask.any()
                row[f"share_{name}"] = (
                    float(per_position[mask].sum()) / total if usable else math.nan
                )
                row[f"area_{name}"] = (
                    float(area_position[mask].sum()) / (ROWS * COLUMNS) if mask.any() else math.nan
                )
            records.append(row)
    per_molecule = pd.DataFrame(records)
    summary = []
    index = pd.Series(range(len(molecules.ids)), index=molecules.ids)
    masks = group_masks(molecules.labels, molecules.outcome)
    for method in maps:
        part = per_molecule[per_molecule["method"] == method]
        rows_of = index[part["id"].to_numpy()].to_numpy()
        for group, mask in masks.items():
            chosen = part[mask[rows_of]]
            sources = [molecules.sites[i].source if molecules.sites[i] else "none"
                       for i in rows_of[mask[rows_of]]]
            for name in (*REGIONS, *CUT_SITES):
                share = chosen[f"share_{name}"].dropna()
                area = chosen[f"area_{name}"].dropna()
                n = len(share)
                mean = float(share.mean()) if n else math.nan
                summary.append(
                    {
                        "method": method,
                        "group": group,
                        "kind": "region" if name in REGIONS else "cut_site",
                        "region": name,
                        "n_molecules": n,
                        "share_mean": mean,
                        "share_sem": float(share.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
                        "area_mean": float(area.mean()) if len(area) else math.nan,
                        "enrichment": mean / float(area.mean())
                        if len(area) and area.mean() > 0
                        else math.nan,
                        "annotation": ",".join(
                            f"{s}:{sources.count(s)}" for s in sorted(set(sources))
                        ),
                    }
                )
    return per_molecule, pd.DataFrame(summary)


def profile_table(maps: Mapping[str, np.ndarray], molecules: Molecules) -> pd.DataFrame:
    """Position-resolved importance along the hairpin: for every method, group, half (5' arm,
    3' arm) and column (= aligned distance from the terminal loop), the mean share of the
    molecule's attribution in that half-column."""
    masks = group_masks(molecules.labels, molecules.outcome)
    out = []
    for method, method_maps in maps.items():
        shares = normalised(method_maps)
        halves = {"5p": shares[:, :TOP_ROWS].sum(axis=1), "3p": shares[:, TOP_ROWS:].sum(axis=1)}
        for group, mask in masks.items():
            if not mask.any():
                continue
            for half, values in halves.items():
                mean = values[mask].mean(axis=0)
                out.extend(
                    {"method": method, "group": group, "half": half, "column": c,
                     "share_mean": float(mean[c]), "n_molecules": int(mask.sum())}
                    for c in range(COLUMNS)
                )
    return pd.DataFrame(out)

"""From pixels to nucleotides and to the biological regions of a hairpin."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from premirna.encode.image import COLUMNS, ROWS, TOP_ROWS
from premirna.encode.walk import columns as encoder_columns
from premirna.rna.attributes import partner_strand
from premirna.rna.structure import central_hairpin_loop, pair_table, stem_path

#: Exclusive regions: every pixel of the image belongs to exactly one.
REGIONS: tuple[str, ...] = (
    "terminal_loop",
    "mature_5p",
    "mature_3p",
    "upper_stem",
    "basal_stem",
    "tails",
    "beyond_hairpin",
)

REGION_LABELS: dict[str, str] = {
    "terminal_loop": "terminal loop",
    "mature_5p": "mature 5p",
    "mature_3p": "mature 3p",
    "upper_stem": "stem between duplex and loop",
    "basal_stem": "basal stem (below Drosha)",
    "tails": "unpaired tails",
    "beyond_hairpin": "empty columns (no nucleotide)",
}

#: Overlapping windows around the four cut sites (reported beside the partition, not in it).
CUT_SITES: tuple[str, ...] = ("drosha_5p", "dicer_5p", "dicer_3p", "drosha_3p")


@dataclass(frozen=True)
class ColumnMap:
    """Which sequence position (0-based) each image column draws in the 5' half (`top`) and the
    3' half (`bottom`); -1 where the half has no nucleotide (a gap opposite a bulge, or past the
    end of the drawing). Arrays have one entry per drawn column (at most 100)."""

    top: np.ndarray
    bottom: np.ndarray


def column_map(sequence: str, structure: str) -> ColumnMap:
    """The positions the encoder draws in each column (`premirna.encode.walk.columns`)."""
    factors = encoder_columns(sequence, structure)
    return ColumnMap(factors.top_pos.astype(np.int64), factors.bottom_pos.astype(np.int64))


def pixel_positions(columns: ColumnMap) -> np.ndarray:
    """25 x 100 array: the sequence position each pixel belongs to, -1 for none.

    Every pixel of a column's 5' half (rows 0-12: the bar, the white above it, the axis pixel)
    belongs to the column's 5'-arm nucleotide, and every pixel of the 3' half to its 3'-arm
    nucleotide. Where one half holds a gap (a bulge on the other arm), the gap stub belongs to the
    bulged nucleotide opposite: it is drawn because of it. Columns past the drawing give -1."""
    top = np.full(COLUMNS, -1, dtype=np.int64)
    bottom = np.full(COLUMNS, -1, dtype=np.int64)
    n = min(len(columns.top), COLUMNS)
    top[:n] = columns.top[:n]
    bottom[:n] = columns.bottom[: min(len(columns.bottom), COLUMNS)][:n]
    top_owner = np.where(top >= 0, top, bottom)
    bottom_owner = np.where(bottom >= 0, bottom, top)
    grid = np.empty((ROWS, COLUMNS), dtype=np.int64)
    grid[:TOP_ROWS] = top_owner
    grid[TOP_ROWS:] = bottom_owner
    return grid


@dataclass(frozen=True)
class MatureSites:
    """Mature miRNA positions on the hairpin, 0-based inclusive (start, end) per arm, and where
    they come from: "mirbase" (annotated), "inferred" (the other arm, by the 2-nt 3' overhang of
    Dicer and Drosha products) or "proxy" (no annotation: the typical columns of annotated
    hairpins)."""

    five_p: tuple[int, int] | None
    three_p: tuple[int, int] | None
    source_5p: str = "mirbase"
    source_3p: str = "mirbase"

    @property
    def source(self) -> str:
        return "+".join(sorted({self.source_5p, self.source_3p}))


def infer_other_arm(table: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """The opposite strand of a miRNA duplex with 2-nt 3' overhangs at both ends (the products of
    Drosha and Dicer, RNase III enzymes; Lee et al. 2003, Nature 425:415; Bernstein et al. 2001,
    Nature 409:363), as `premirna.rna.attributes.partner_strand` finds it. 0-based inclusive;
    None when the region is unpaired."""
    return partner_strand(table, start, end)


def mature_sites(
    structure: str,
    five_p: tuple[float, float] | None,
    three_p: tuple[float, float] | None,
) -> MatureSites | None:
    """Mature sites from 1-based miRBase coordinates (None or NaN where missing); the missing arm
    is inferred from the annotated one. None when neither arm is annotated."""

    def clean(pair: tuple[float, float] | None) -> tuple[int, int] | None:
        if pair is None or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in pair):
            return None
        return int(pair[0]) - 1, int(pair[1]) - 1

    p5, p3 = clean(five_p), clean(three_p)
    if p5 is None and p3 is None:
        return None
    table = pair_table(structure)
    if p5 is None:
        return MatureSites(infer_other_arm(table, *p3), p3, "inferred", "mirbase")
    if p3 is None:
        return MatureSites(p5, infer_other_arm(table, *p5), "mirbase", "inferred")
    return MatureSites(p5, p3)


def proxy_sites(columns: ColumnMap, spans: Mapping[str, tuple[int, int]]) -> MatureSites:
    """Mature sites of a molecule without annotation: the nucleotides drawn in the columns where
    annotated hairpins typically carry their 5p and 3p miRNAs (`spans`: arm -> column range)."""

    def arm(positions: np.ndarray, span: tuple[int, int]) -> tuple[int, int] | None:
        chosen = positions[span[0] : span[1] + 1]
        chosen = chosen[chosen >= 0]
        return (int(chosen.min()), int(chosen.max())) if len(chosen) else None

    return MatureSites(arm(columns.top, spans["5p"]), arm(columns.bottom, spans["3p"]),
                       "proxy", "proxy")


def typical_columns(
    column_maps: Sequence[ColumnMap], sites: Sequence[MatureSites | None]
) -> dict[str, tuple[int, int]] | None:
    """Median first and last column of the mature 5p (5' half) and 3p (3' half) miRNAs over the
    molecules with miRBase annotations on that arm; None if there are none."""
    spans: dict[str, list[tuple[int, int]]] = {"5p": [], "3p": []}
    for columns, site in zip(column_maps, sites, strict=True):
        if site is None:
            continue
        for arm, positions, region, source in (
            ("5p", columns.top, site.five_p, site.source_5p),
            ("3p", columns.bottom, site.three_p, site.source_3p),
        ):
            if region is None or source != "mirbase":
                continue
            hit = np.flatnonzero((positions >= region[0]) & (positions <= region[1]))
            if len(hit):
                spans[arm].append((int(hit.min()), int(hit.max())))
    if not spans["5p"] or not spans["3p"]:
        return None
    return {
        arm: (int(np.median([s[0] for s in values])), int(np.median([s[1] for s in values])))
        for arm, values in spans.items()
    }


def position_regions(
    structure: str, sites: MatureSites | None, loop: tuple[int, int] | None = None
) -> np.ndarray:
    """Region index (into `REGIONS`) of every sequence position.

    Structure first: the unpaired nucleotides of the terminal loop the image draws at column 0
    (`loop`, its closing pair; by default `central_hairpin_loop`; pass the encoder's
    `premirna.encode.walk.central_loop` to follow the image exactly), the tails outside the
    outermost pair of the stem (`stem_path`), the rest is stem. The mature miRNAs (miRBase,
    inferred or proxy) then take precedence over the structural labels, because miRBase
    annotations sometimes reach into the loop or the tails. Stem nucleotides between the duplex
    and the loop are `upper_stem`, those outside the duplex towards the base `basal_stem`.
    Without any mature sites the whole stem is `upper_stem`.
    """
    n = len(structure)
    index = {name: k for k, name in enumerate(REGIONS)}
    regions = np.full(n, index["upper_stem"], dtype=np.int64)
    loop = loop if loop is not None else central_hairpin_loop(structure)
    if loop is None:  # no hairpin: nothing is drawn (an all-black image)
        regions[:] = index["tails"]
        return regions
    i, j = loop
    outer_i, outer_j = stem_path(structure)[-1]
    positions = np.arange(n)
    regions[(positions > i) & (positions < j)] = index["terminal_loop"]
    regions[(positions < outer_i) | (positions > outer_j)] = index["tails"]
    if sites is None:
        return regions
    stem = ((positions >= outer_i) & (positions <= i)) | ((positions >= j) & (positions <= outer_j))
    if sites.five_p is not None:
        s5, e5 = sites.five_p
        five_arm = stem & (positions <= i)
        regions[five_arm & (positions < s5)] = index["basal_stem"]
        regions[five_arm & (positions > e5)] = index["upper_stem"]
    if sites.three_p is not None:
        s3, e3 = sites.three_p
        three_arm = stem & (positions >= j)
        regions[three_arm & (positions > e3)] = index["basal_stem"]
        regions[three_arm & (positions < s3)] = index["upper_stem"]
    for region, name in ((sites.five_p, "mature_5p"), (sites.three_p, "mature_3p")):
        if region is not None:
            regions[max(region[0], 0) : min(region[1], n - 1) + 1] = index[name]
    return regions


def cut_windows(sites: MatureSites | None, length: int, window: int) -> dict[str, np.ndarray]:
    """Boolean masks over sequence positions: `window` nt either side of each cut site.

    Drosha cuts 5' of the mature 5p and 3' of the mature 3p; Dicer cuts 3' of the 5p and 5' of
    the 3p (Lee et al. 2003; Bernstein et al. 2001). A cut "before position k" has the window
    k - window .. k + window - 1."""
    masks = {name: np.zeros(length, dtype=bool) for name in CUT_SITES}
    if sites is None:
        return masks
    cuts = {}
    if sites.five_p is not None:
        cuts["drosha_5p"], cuts["dicer_5p"] = sites.five_p[0], sites.five_p[1] + 1
    if sites.three_p is not None:
        cuts["dicer_3p"], cuts["drosha_3p"] = sites.three_p[0], sites.three_p[1] + 1
    for name, k in cuts.items():
        masks[name][max(k - window, 0) : max(min(k + window, length), 0)] = True
    return masks


def region_sums(
    pixel_map: np.ndarray, owners: np.ndarray, regions: np.ndarray
) -> dict[str, float]:
    """Attribution mass per region (`REGIONS`): pixels go to their nucleotide's region, pixels of
    no nucleotide to `beyond_hairpin`. The values add up to `pixel_map.sum()`."""
    sums = dict.fromkeys(REGIONS, 0.0)
    owned = owners >= 0
    if owned.any():
        per_region = np.bincount(
            regions[owners[owned]], weights=pixel_map[owned], minlength=len(REGIONS)
        )
        for k, name in enumerate(REGIONS):
            sums[name] += float(per_region[k])
    sums["beyond_hairpin"] += float(pixel_map[~owned].sum())
    return sums


def position_attribution(pixel_map: np.ndarray, owners: np.ndarray, length: int) -> np.ndarray:
    """Attribution mass per sequence position (pixels of no nucleotide are left out)."""
    owned = owners >= 0
    return np.bincount(owners[owned], weights=pixel_map[owned], minlength=length)[:length]

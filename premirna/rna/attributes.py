"""Named hairpin attributes per molecule, from the fold table: what both the training of an
attribute-regularised CVAE (`premirna.generator`) and the reading of its latent space
(`premirna.interpret`) compare latent axes with.

The fold stage's columns are used as they are (length, stem length, terminal-loop size, GC, MFE
per nt, bulges). From miRBase's 1-based mature positions come the start of the 5p miRNA (Drosha's
cut: the 5' flank) and the start of the 3p miRNA (Dicer's cut on the 3' arm), and from the
0-based spans of both strands the duplex-end asymmetry of `premirna.rna.duplex` (Khvorova,
Reynolds & Jayasena 2003). The loop distances count the nucleotides between a miRNA and the
terminal loop the encoder draws (`central_hairpin_loop`): from the 5p miRNA's last nucleotide to
the loop (`mature_loop_distance`), and from the loop to the 3p miRNA's first nucleotide
(`mature_3p_loop_distance`, the loop side of Dicer's cut: Dicer measures from the loop as well as
from the 5' end, Gu et al. 2012, Cell 151:900). Unlike the mature starts, they do not grow with
the hairpin's length or flanks. Where miRBase names only one arm, the other is inferred from the
2-nt 3' overhangs that Drosha and Dicer leave at both ends of the duplex (Lee et al. 2003,
Nature 425:415; Bernstein et al. 2001, Nature 409:363). Missing values are NaN (negatives have
no mature positions).

Generated molecules have no annotation, so `LoopCounting` predicts their mature starts from the
terminal loop alone: the 3p miRNA begins the training pre-miRNAs' median number of nucleotides
after the loop (Dicer's loop-counting rule, Gu et al. 2012), the 5p miRNA ends the median number
before it and has the median length. `loop_counting_accuracy` says how well that does on
annotated molecules the rule was not fitted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from premirna.rna.duplex import duplex_asymmetry
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.structure import central_hairpin_loop, pair_table

#: Columns of the fold table taken as they are.
FOLD_COLUMNS: tuple[str, ...] = ("length", "stem_length", "loop_size", "gc", "mfe_per_nt",
                                 "bulges")
#: Distances in nucleotides between a mature miRNA and the terminal loop, per arm.
LOOP_DISTANCES: tuple[str, ...] = ("mature_loop_distance", "mature_3p_loop_distance")
#: Every attribute `hairpin_attribute_frame` returns.
NAMED_ATTRIBUTES: tuple[str, ...] = (*FOLD_COLUMNS, "mature_5p_start", "mature_3p_start",
                                     *LOOP_DISTANCES, "duplex_asymmetry")
#: The attributes `LoopCounting` predicts for molecules without an annotation.
PREDICTED_STARTS: tuple[str, ...] = ("mature_5p_start", "mature_3p_start")

Span = tuple[int, int]


def _partner_near(table: np.ndarray, position: int) -> int | None:
    """The partner of `position`, or of its nearest paired neighbour shifted by the distance
    (the strands run antiparallel); None when nothing within 7 nt is paired."""
    for distance in range(8):
        for q in (position - distance, position + distance):
            if 0 <= q < len(table) and table[q] >= 0:
                return int(table[q]) - (position - q)
    return None


def partner_strand(table: np.ndarray, start: int, end: int) -> Span | None:
    """The opposite strand of a duplex with 2-nt 3' overhangs at both ends: it starts 2 nt past
    the partner of `end` and ends 2 nt past the partner of `start` (0-based, inclusive)."""
    first, last = _partner_near(table, end), _partner_near(table, start)
    if first is None or last is None:
        return None
    first, last = max(first + 2, 0), min(last + 2, len(table) - 1)
    return (first, last) if first <= last else None


def _span(start: float, end: float) -> Span | None:
    if start is None or end is None or math.isnan(start) or math.isnan(end):
        return None
    return int(start) - 1, int(end) - 1


def mirbase_spans(
    structure: str, five_p: tuple[float, float], three_p: tuple[float, float]
) -> tuple[Span | None, Span | None]:
    """0-based inclusive spans of both mature strands from 1-based miRBase (start, end) pairs
    (NaN where missing); a missing arm is inferred from the annotated one."""
    p5, p3 = _span(*five_p), _span(*three_p)
    if (p5 is None) == (p3 is None):
        return p5, p3
    table = pair_table(structure)
    if p5 is None:
        return partner_strand(table, *p3), p3
    return p5, partner_strand(table, *p5)


def _column(folded: pd.DataFrame, name: str) -> pd.Series:
    if name not in folded:
        return pd.Series(np.nan, index=folded.index, dtype=float)
    return pd.to_numeric(folded[name], errors="coerce").astype(float)


def duplex_asymmetries(folded: pd.DataFrame, fold: FoldSettings = DEFAULT_FOLD) -> np.ndarray:
    """`premirna.rna.duplex.duplex_asymmetry` of every row (kcal/mol; NaN without a miRBase
    annotation, a sequence or a structure)."""
    columns = [_column(folded, f"mature_{arm}_{end}").to_numpy()
               for arm in ("5p", "3p") for end in ("start", "end")]
    if "sequence" not in folded or "structure" not in folded:
        return np.full(len(folded), np.nan)
    out = np.full(len(folded), np.nan)
    for k, (sequence, structure) in enumerate(zip(folded["sequence"], folded["structure"],
                                                  strict=True)):
        if not isinstance(sequence, str) or not isinstance(structure, str):
            continue
        if np.isnan([c[k] for c in columns]).all() or len(sequence) != len(structure):
            continue
        five, three = mirbase_spans(structure, (columns[0][k], columns[1][k]),
                                    (columns[2][k], columns[3][k]))
        if five is not None and three is not None:
            out[k] = duplex_asymmetry(sequence, structure, five, three, fold=fold)
    return out


def loop_distances(folded: pd.DataFrame) -> pd.DataFrame:
    """`LOOP_DISTANCES` of every row (NaN without a terminal loop or the miRNA's annotation).

    With the loop closed by the 0-based pair (i, j), the loop's first nucleotide is i + 2 and its
    last j (1-based), so i + 1 - end nucleotides lie between a 5p miRNA ending at 1-based `end`
    and the loop, and start - j - 1 between the loop and a 3p miRNA starting at 1-based `start`;
    negative where the miRNA reaches into the loop the fold draws.
    """
    end5, start3 = _column(folded, "mature_5p_end"), _column(folded, "mature_3p_start")
    structures = folded.get("structure", pd.Series(None, index=folded.index))
    out = pd.DataFrame(np.nan, index=folded.index, columns=list(LOOP_DISTANCES))
    for k, structure in enumerate(structures):
        loop = central_hairpin_loop(structure) if isinstance(structure, str) else None
        if loop is None:
            continue
        out.iloc[k] = [loop[0] + 1 - end5.iloc[k], start3.iloc[k] - loop[1] - 1]
    return out


def hairpin_attribute_frame(
    folded: pd.DataFrame, names: tuple[str, ...] | list[str] = NAMED_ATTRIBUTES,
    fold: FoldSettings = DEFAULT_FOLD,
) -> pd.DataFrame:
    """The attributes `names` (of `NAMED_ATTRIBUTES`) of every row of a fold table, float, NaN
    where missing, in the rows' order and index."""
    unknown = sorted(set(names) - set(NAMED_ATTRIBUTES))
    if unknown:
        raise ValueError(f"unknown hairpin attributes {unknown}; choose from "
                         f"{list(NAMED_ATTRIBUTES)}")
    out = pd.DataFrame(index=folded.index)
    distances = loop_distances(folded) if set(names) & set(LOOP_DISTANCES) else None
    for name in names:
        if name == "duplex_asymmetry":
            out[name] = duplex_asymmetries(folded, fold)
        elif name in LOOP_DISTANCES:
            out[name] = distances[name]
        else:
            out[name] = _column(folded, name)
    return out


@dataclass(frozen=True)
class LoopCounting:
    """Mature starts predicted from the terminal loop the fold draws: the 5p miRNA ends
    `five_p_distance` nucleotides before the loop and is `five_p_length` long, the 3p miRNA starts
    `three_p_distance` nucleotides after it (medians of the annotated molecules it was fitted on,
    `n` of them with either arm annotated)."""

    five_p_distance: float
    five_p_length: float
    three_p_distance: float
    n: int

    @classmethod
    def fit(cls, folded: pd.DataFrame) -> LoopCounting | None:
        """The medians of a fold table's rows, each over the rows that have it (a loop and that
        arm's annotation); None when some median has no row."""
        distances = loop_distances(folded)
        length = _column(folded, "mature_5p_end") - _column(folded, "mature_5p_start") + 1
        values = [distances["mature_loop_distance"], length, distances["mature_3p_loop_distance"]]
        if any(v.isna().all() for v in values):
            return None
        return cls(*(float(v.median()) for v in values),
                   n=int(distances.notna().any(axis=1).sum()))

    def predict(self, structures: pd.Series | list[str]) -> pd.DataFrame:
        """`PREDICTED_STARTS` (1-based, as miRBase counts) of each structure; NaN without a
        terminal loop. The inverse of `loop_distances` with the medians put in."""
        structures = pd.Series(structures)
        out = pd.DataFrame(np.nan, index=structures.index, columns=list(PREDICTED_STARTS))
        for k, structure in enumerate(structures):
            loop = central_hairpin_loop(structure) if isinstance(structure, str) else None
            if loop is None:
                continue
            end5 = loop[0] + 1 - self.five_p_distance
            out.iloc[k] = [end5 - self.five_p_length + 1, loop[1] + 1 + self.three_p_distance]
        return out


def loop_counting_accuracy(folded: pd.DataFrame, rule: LoopCounting) -> pd.DataFrame:
    """One row per `PREDICTED_STARTS` attribute: on the annotated rows of `folded`, n, the mean
    absolute error of the prediction in nucleotides, the share within 2 nt and Spearman's rho of
    prediction and annotation."""
    from scipy.stats import spearmanr

    predicted = rule.predict(folded["structure"].reset_index(drop=True))
    rows = []
    for name in PREDICTED_STARTS:
        truth = _column(folded, name).to_numpy()
        guess = predicted[name].to_numpy()
        ok = np.isfinite(truth) & np.isfinite(guess)
        error = np.abs(guess[ok] - truth[ok])
        rho = (float(spearmanr(guess[ok], truth[ok])[0])
               if ok.sum() >= 3 and np.ptp(guess[ok]) > 0 and np.ptp(truth[ok]) > 0 else math.nan)
        rows.append({"attribute": name, "n": int(ok.sum()),
                     "mae_nt": float(error.mean()) if ok.any() else math.nan,
                     "within_2nt": float((error <= 2).mean()) if ok.any() else math.nan,
                     "spearman": rho})
    return pd.DataFrame(rows)

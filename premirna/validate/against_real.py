"""Generated against real, per judge, with 95 % intervals.

A share of molecules called pre-miRNA, taken from a hundred molecules, is uncertain by about
+-0.1, and the judges are stricter with some kinds of real pre-miRNA than with others
(benchmarks/README.md, "A second independent judge"). So each share here stands beside the share
the same judge grants real held-out pre-miRNAs of the same kind (all of them for the whole
generated set, those whose own attributes lie in a condition's bins for that condition), with:

- the Wilson score interval of each share (Wilson 1927, J Am Stat Assoc 22:209), which stays
  inside [0, 1] and keeps its coverage at small n and shares near 0 or 1;
- Newcombe's hybrid score interval of the difference of two independent shares (Newcombe 1998,
  Stat Med 17:873, method 10), built from the two Wilson intervals;
- a verdict: `below real` or `above real` where the difference's interval excludes 0, else
  `alike`. Each row is a 95 % statement on its own; over the twelve conditions of the default
  run about one row in twenty says `below` or `above` by chance alone.

`with_verdicts` puts the difference and the verdict beside each judge's target in the targets
table (`against_real`): a share under the issue's bound that is alike the real molecules' says
the bound lies beyond what the judge grants real pre-miRNAs, one below them says the generator
falls short. The table reads `validate`'s per-molecule scores (`molecules.tsv`): the judges'
probabilities, the decoder's raw sequences' (`raw_<judge column>`) and the bins of each real
molecule's own attributes (`want_<attribute>`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from premirna.validate.metrics import JUDGE_THRESHOLD, JUDGES, in_named_bins

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
#: Names of the judges in the table (summary column -> words).
JUDGE_WORDS: dict[str, str] = {"independent_judge": "network judge",
                               "trees_judge": "trees judge"}
COLUMNS: tuple[str, ...] = (
    "judge", "set", "n", "called", "share", "share_low", "share_high", "compared_with",
    "real_n", "real_share", "difference", "difference_low", "difference_high", "verdict",
)


def wilson_interval(called: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of the share `called` / `n` (NaN, NaN for n = 0)."""
    if n <= 0:
        return math.nan, math.nan
    share = called / n
    scale = 1.0 + z * z / n
    centre = (share + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(share * (1.0 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(
    called: int, n: int, real_called: int, real_n: int, z: float = Z95
) -> tuple[float, float, float]:
    """The difference of the shares called / n - real_called / real_n and Newcombe's hybrid
    score interval of it (NaN where either n is 0)."""
    if n <= 0 or real_n <= 0:
        return math.nan, math.nan, math.nan
    first, second = called / n, real_called / real_n
    low1, high1 = wilson_interval(called, n, z)
    low2, high2 = wilson_interval(real_called, real_n, z)
    difference = first - second
    return (difference,
            difference - math.sqrt((first - low1) ** 2 + (high2 - second) ** 2),
            difference + math.sqrt((high1 - first) ** 2 + (second - low2) ** 2))


def _row(judge: str, name: str, scores: pd.Series, compared_with: str,
         real: pd.Series) -> dict[str, object]:
    values = scores.dropna().to_numpy(dtype=np.float64)
    reference = real.dropna().to_numpy(dtype=np.float64)
    n, called = len(values), int((values >= JUDGE_THRESHOLD).sum())
    real_n, real_called = len(reference), int((reference >= JUDGE_THRESHOLD).sum())
    low, high = wilson_interval(called, n)
    difference, difference_low, difference_high = difference_interval(
        called, n, real_called, real_n)
    verdict = ("below real" if difference_high < 0 else "above real" if difference_low > 0
               else "alike" if not math.isnan(difference) else "")
    return {"judge": JUDGE_WORDS.get(judge, judge), "set": name, "n": n, "called": called,
            "share": called / n if n else math.nan, "share_low": low, "share_high": high,
            "compared_with": compared_with, "real_n": real_n,
            "real_share": real_called / real_n if real_n else math.nan,
            "difference": difference, "difference_low": difference_low,
            "difference_high": difference_high, "verdict": verdict}


def against_real(scored: pd.DataFrame, bin_names: Sequence[str]) -> pd.DataFrame:
    """Per judge: the generated molecules, their raw draws, those generated around real ones,
    each pre-miRNA condition (the one that names no bin too) and the shuffled and random
    baselines, each against the real held-out pre-miRNAs (a condition: those in its bins), as
    the module docstring says.
    `scored` is `validate`'s per-molecule table (`set`, `condition`, the judges' columns)."""
    rows: list[dict[str, object]] = []
    real = scored[scored["set"] == "real"]
    generated = scored[scored["set"] == "generated"]
    conditions = [c for c in pd.unique(generated["condition"])
                  if str(c) == "pre-miRNA" or str(c).startswith("pre-miRNA, ")]
    everything = "real held-out pre-miRNAs"
    for column, judge in JUDGES.items():
        if column not in scored or real.empty:
            continue
        sets = [("generated", generated[column], everything, real[column])]
        if f"raw_{column}" in generated and generated[f"raw_{column}"].notna().any():
            sets.append(("generated, raw draws", generated[f"raw_{column}"], everything,
                         real[column]))
        around = scored.loc[scored["set"] == "around", column]
        if len(around):
            sets.append(("around real molecules", around, everything, real[column]))
        for condition in conditions:
            keep = in_named_bins(real, condition, bin_names)
            sets.append((str(condition), generated.loc[generated["condition"] == condition,
                                                       column],
                         f"{everything} in its bins", real.loc[keep, column]))
        for baseline in ("shuffled", "random"):
            chosen = scored.loc[scored["set"] == baseline, column]
            if len(chosen):
                sets.append((baseline, chosen, everything, real[column]))
        rows.extend(_row(judge, *entry) for entry in sets)
    return pd.DataFrame(rows, columns=list(COLUMNS))


#: The targets whose generated value is a judge's share, and the row of `against_real` that
#: holds it (judge, set; None: the condition with the lowest share).
TARGET_ROWS: dict[str, tuple[str, str | None]] = {
    "independent_judge": ("network judge", "generated"),
    "independent_judge_raw": ("network judge", "generated, raw draws"),
    "independent_judge_worst_condition": ("network judge", None),
    "trees_judge": ("trees judge", "generated"),
    "trees_judge_raw": ("trees judge", "generated, raw draws"),
    "trees_judge_worst_condition": ("trees judge", None),
}


def with_verdicts(targets: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """`targets` (`premirna.validate.metrics.targets_table`) with `against_real` beside `met`:
    for each judge's share, the difference from the real molecules it is held to, its 95 %
    interval and the verdict (for a worst condition, those of the condition with the lowest
    share); empty for the other targets."""
    out = targets.copy()
    text = []
    for metric in out["metric"]:
        judge, name = TARGET_ROWS.get(metric, ("", ""))
        rows = table[table["judge"] == judge]
        if name is None:
            rows = rows[rows["set"].str.startswith("pre-miRNA")]
            rows = rows.loc[[rows["share"].idxmin()]] if len(rows) else rows
        else:
            rows = rows[rows["set"] == name]
        if not len(rows):
            text.append("")
            continue
        row = rows.iloc[0]
        where = f"{row['set']}: " if name is None else ""
        text.append(f"{where}{row['verdict']} ({row['difference']:+.3f}, "
                    f"{row['difference_low']:+.3f} to {row['difference_high']:+.3f})")
    out.insert(out.columns.get_loc("met") + 1, "against_real", text)
    return out

"""Score generated pre-miRNAs, beside baselines, with judges that never saw the generator.

Realism rests on judges that never saw the generator: the **independent judge**
(`premirna.validate.judge`, its share of scores >= 0.5), the **two-sample AUC**
(`premirna.validate.two_sample`) and **outside length range** (share beyond the real test
pre-miRNAs' 1st-99th length percentiles). Every generated sequence is re-folded with ViennaRNA and
scored: **validity** (its image decodes to
a sequence and an intended structure, and the MFE structure has exactly one hairpin loop),
**structure agreement** (base-pair distance between MFE and intended structure / length <= 0.1),
**judged pre-miRNA** (the pipeline's own CNN, on the image of the re-folded molecule,
probability >= 0.5: not independent, it reads the generator's image and learnt from its data),
**novelty** (normalised edit distance to the nearest training sequence >= 0.1), **uniqueness**
(distinct / generated), **diversity** (mean pairwise normalised edit distance, on a sample when
large), **realism** (Kolmogorov-Smirnov statistic of length, MFE per nt, GC, stem length and
terminal-loop size against real held-out hairpins) and **conditional control** (share whose
re-folded attribute falls in the requested bin; beside it **first-draw control**, the share of the
decoder's first draws whose drawn hairpin fell in the bin, before `generate` redrew the misses,
and the draws per molecule that took). The normalised edit distance is the Levenshtein
distance over the length of the longer sequence. Each table carries three baselines scored the same
way: real held-out hairpins, the same hairpins dinucleotide-shuffled, and random sequences of
matched length and GC. The edit distance is Myers' bit-vector algorithm (Myers 1999, J ACM 46:395,
with its block extension to patterns longer than 64), vectorised with NumPy over many pairs at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from premirna.data.mirbase import family_of
from premirna.encode.render import encode_many
from premirna.generator.conditions import assign_bins
from premirna.rna.distance import mean_pairwise_distance, nearest_distances
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings, fold_sequences
from premirna.rna.structure import base_pair_distance, features
from premirna.validate.two_sample import length_outside, two_sample_auc

#: Attributes whose distributions are compared with real hairpins (realism).
REALISM_ATTRIBUTES: tuple[str, ...] = ("length", "mfe_per_nt", "gc", "stem_length", "loop_size")
AGREEMENT_THRESHOLD = 0.1  # base-pair distance / length at or below which structures agree
NOVELTY_THRESHOLD = 0.1  # normalised edit distance to the nearest training sequence
JUDGE_THRESHOLD = 0.5  # CNN probability at or above which a molecule is judged a pre-miRNA
BASELINES: tuple[str, ...] = ("real", "shuffled", "random")
#: Independent judges: per-molecule probability column -> summary column (its share >= 0.5).
JUDGES: dict[str, str] = {"judge_probability": "independent_judge",
                          "trees_probability": "trees_judge"}
#: Targets on the default configuration: metric -> (lowest or highest allowed, value). The
#: realism targets rest on judges that never saw the generator: the independent judge
#: (`premirna.validate.judge`), the two-sample test (`premirna.validate.two_sample`) and the
#: distributions of real held-out pre-miRNAs. `judged_premirna` is the pipeline's own CNN, which
#: reads the generator's image and learnt from its data: shown, but not evidence of realism.
TARGETS: dict[str, tuple[str, float]] = {
    "independent_judge": (">=", 0.80),
    "independent_judge_raw": (">=", 0.70),
    "independent_judge_worst_condition": (">=", 0.65),
    "trees_judge": (">=", 0.80),
    "trees_judge_raw": (">=", 0.70),
    "trees_judge_worst_condition": (">=", 0.65),
    "two_sample_auc": ("<=", 0.70),
    "outside_length_range": ("<=", 0.0),
    "ks_length": ("<=", 0.10),
    "ks_mfe_per_nt": ("<=", 0.10),
    "ks_gc": ("<=", 0.10),
    "novelty": (">=", 0.95),
    "uniqueness": (">=", 0.99),
    "first_draw_control": (">=", 0.80),
    "conditional_control": (">=", 0.80),
    "validity": (">=", 0.95),
    "structure_agreement": (">=", 0.80),
    "judged_premirna": (">=", 0.90),
}
#: What each target's metric is, for the targets table.
TARGET_NOTES: dict[str, str] = {
    "independent_judge": "share the independent judge calls pre-miRNA (score >= 0.5)",
    "independent_judge_raw": "the same for the decoder's raw sequences, before the repair walk",
    "independent_judge_worst_condition": "the lowest independent-judge share of any condition",
    "trees_judge": "share the second independent judge (boosted trees on sequence and structure "
                   "features) calls pre-miRNA",
    "trees_judge_raw": "the same for the decoder's raw sequences",
    "trees_judge_worst_condition": "the lowest trees-judge share of any condition",
    "two_sample_auc": "classifier two-sample test against real test pre-miRNAs (0.5: alike)",
    "outside_length_range": "share outside the real test pre-miRNAs' 1st-99th length percentiles",
    "judged_premirna": "the pipeline's own CNN: same image and data as the generator, and the "
                       "gate of generate.detector_gate: not independent",
}


def uniqueness(sequences: Sequence[str]) -> float:
    """Distinct sequences / sequences (NaN for none)."""
    return len(set(sequences)) / len(sequences) if len(sequences) else float("nan")


def ks_statistic(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs.

    NaN values are dropped; NaN when either sample is empty.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    x, y = np.sort(x[~np.isnan(x)]), np.sort(y[~np.isnan(y)])
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    points = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, points, side="right") / len(x)
    cdf_y = np.searchsorted(y, points, side="right") / len(y)
    return float(np.max(np.abs(cdf_x - cdf_y)))


def structure_distance_per_nt(intended: str, refolded: str) -> float:
    """Base-pair distance between two equally long structures, divided by their length."""
    if not intended:
        return float("nan")
    return base_pair_distance(intended, refolded) / len(intended)


def refold(
    sequences: Sequence[str],
    intended: Sequence[str],
    processes: int = 1,
    fold: FoldSettings = DEFAULT_FOLD,
) -> pd.DataFrame:
    """Fold each sequence (ViennaRNA MFE) and compare with its intended structure.

    Columns: `refolded`, `mfe`, the hairpin features of the re-folded molecule
    (`premirna.rna.structure.features`), `valid` (exactly one hairpin loop), `bp_distance_per_nt`
    and `agrees` (bp distance / length <= 0.1).
    """
    foldable = [i for i, seq in enumerate(sequences) if seq]
    folded: list[tuple[str, float]] = [("", math.nan)] * len(sequences)
    results = fold_sequences([sequences[i] for i in foldable], processes=processes, fold=fold)
    for i, result in zip(foldable, results, strict=True):
        folded[i] = result
    rows = []
    for seq, want, (structure, mfe) in zip(sequences, intended, folded, strict=True):
        feats = features(seq, structure, mfe if seq else None)
        distance = (
            structure_distance_per_nt(want, structure) if len(want) == len(seq) else math.nan
        )
        rows.append(
            {
                "refolded": structure,
                "mfe": mfe,
                **feats,
                "valid": feats["hairpin_loops"] == 1,
                "bp_distance_per_nt": distance,
                "agrees": bool(distance <= AGREEMENT_THRESHOLD),
            }
        )
    return pd.DataFrame(rows)


#: images -> P(pre-miRNA): the pipeline's CNN (`premirna.classifier.predict.load_scorer`).
Judge = Callable[[np.ndarray], np.ndarray]


def judge_sequences(
    sequences: Sequence[str], structures: Sequence[str], judge: Judge
) -> np.ndarray:
    """P(pre-miRNA) of each molecule's image drawn from its re-folded structure (0 if no loop)."""
    images, encodable = encode_many(list(sequences), list(structures))
    proba = np.zeros(len(sequences))
    if encodable.any():
        proba[encodable] = judge(images[encodable])
    return proba


def score_molecules(
    molecules: pd.DataFrame,
    train_sequences: Sequence[str],
    judge: Judge | None,
    bins: dict[str, list[float]],
    fold: FoldSettings = DEFAULT_FOLD,
    processes: int = 1,
) -> pd.DataFrame:
    """Per-molecule scores: re-fold, agreement, CNN probability, novelty, bins reached.

    `molecules` holds `set`, `id`, `condition`, `sequence`, `intended` (and `decodable`; missing
    means True) plus, for each conditioned attribute, a column `want_<attribute>` with the requested
    bin (-1 or missing = not requested).
    """
    out = molecules.reset_index(drop=True).copy()
    if "decodable" not in out:
        out["decodable"] = True
    folded = refold(out["sequence"].tolist(), out["intended"].tolist(), processes, fold)
    out = pd.concat([out, folded], axis=1)
    out["valid"] = out["valid"] & out["decodable"].astype(bool)
    if judge is not None:
        out["cnn_probability"] = judge_sequences(
            out["sequence"].tolist(), out["refolded"].tolist(), judge
        )
        out["judged_premirna"] = out["cnn_probability"] >= JUDGE_THRESHOLD
    out["nearest_train_distance"] = nearest_distances(
        out["sequence"].tolist(), list(train_sequences)
    )
    out["novel"] = out["nearest_train_distance"] >= NOVELTY_THRESHOLD
    for attribute, edges in bins.items():
        reached = assign_bins(out[attribute].to_numpy(dtype=np.float64), edges)
        out[f"bin_{attribute}"] = reached
        want = out.get(f"want_{attribute}")
        if want is not None:
            want = want.fillna(-1).astype(int)
            out[f"in_bin_{attribute}"] = np.where(want >= 0, reached == want, np.nan)
    return out


def score_raw_agreement(
    scored: pd.DataFrame, fold: FoldSettings = DEFAULT_FOLD, processes: int = 1,
    judges: Mapping[str, Callable[[Sequence[str], Sequence[str]], np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Add `raw_agrees`: whether the decoder's own sequence (`raw_sequence`, before the repair
    walk of `premirna.generator.refine` changed `refined_nt` unpaired nucleotides) folds as
    drawn; with independent `judges` (probability column -> judge), also each one's score of the
    raw sequence (`raw_<column>`)."""
    out = scored.copy()
    judges = judges or {}
    generated = out["refined_nt"].notna()
    out["raw_agrees"] = out["agrees"].where(generated)
    for column in judges:
        out[f"raw_{column}"] = out[column].where(generated)
    changed = generated & (out["refined_nt"].fillna(0) > 0)
    if changed.any():
        raw_sequences = out.loc[changed, "raw_sequence"].tolist()
        raw = refold(raw_sequences, out.loc[changed, "intended"].tolist(), processes, fold)
        out.loc[changed, "raw_agrees"] = raw["agrees"].to_numpy()
        for column, judge in judges.items():
            out.loc[changed, f"raw_{column}"] = judge(raw_sequences, raw["refolded"].tolist())
    return out


def _judge_columns(part: pd.DataFrame) -> dict[str, float]:
    """Each independent judge's share and median score, and its share on the raw sequences."""
    row: dict[str, float] = {}
    for column, name in JUDGES.items():
        if column in part:
            row[name] = float((part[column] >= JUDGE_THRESHOLD).mean())
            row[f"{name.removeprefix('independent_')}_median"] = float(part[column].median())
        if f"raw_{column}" in part and part[f"raw_{column}"].notna().any():
            raw = part[f"raw_{column}"].dropna()
            row[f"{name}_raw"] = float((raw >= JUDGE_THRESHOLD).mean())
    return row


def summarise(
    scored: pd.DataFrame,
    reference: pd.DataFrame,
    group: pd.Series,
    seed: int = 0,
    diversity_sample: int = 400,
) -> pd.DataFrame:
    """One row per group value: every metric of the module docstring (NaN where undefined).

    `reference` holds the real held-out pre-miRNAs: their realism attributes and MFE structure
    (`structure`), for the KS statistics and the two-sample test.
    """
    compared = reference.rename(columns={"structure": "refolded"})
    rows = []
    for name, part in scored.groupby(group, sort=False):
        seqs = part["sequence"].tolist()
        row: dict[str, Any] = {"group": name, "n": len(part)}
        row["validity"] = float(part["valid"].mean())
        row["structure_agreement"] = float(part["agrees"].mean())
        row["judged_premirna"] = (
            float(part["judged_premirna"].mean()) if "judged_premirna" in part else math.nan
        )
        row.update(_judge_columns(part))
        row["two_sample_auc"] = two_sample_auc(part[part["sequence"] != ""], compared, seed)
        row["outside_length_range"] = length_outside(part["length"], reference["length"])
        row["novelty"] = float(part["novel"].mean())
        row["uniqueness"] = uniqueness(seqs)
        row["diversity"] = mean_pairwise_distance(seqs, diversity_sample, seed)
        for attribute in REALISM_ATTRIBUTES:
            row[f"ks_{attribute}"] = ks_statistic(part[attribute], reference[attribute])
        hits = [part[c].dropna() for c in part.columns if c.startswith("in_bin_")]
        hits = [h for h in hits if len(h)]
        row["conditional_control"] = (
            float(pd.concat(hits).astype(bool).mean()) if hits else math.nan
        )
        for hit_col in [c for c in part.columns if c.startswith("in_bin_")]:
            values = part[hit_col].dropna()
            row[f"control_{hit_col[7:]}"] = (
                float(values.astype(bool).mean()) if len(values) else math.nan
            )
        row["median_nearest_train_distance"] = float(part["nearest_train_distance"].median())
        if "first_draw_in_bin" in part and part["first_draw_in_bin"].notna().any():
            first = part["first_draw_in_bin"].dropna()
            row["first_draw_control"] = float(first.astype(bool).mean())
            row["draws_per_molecule"] = float(part.loc[first.index, "draws"].mean())
        if "raw_agrees" in part and part["raw_agrees"].notna().any():
            refined = part["refined_nt"].astype(float)
            row["refined_share"] = float((refined > 0).mean())
            row["refined_nt_per_molecule"] = float(refined.mean())
            row["raw_structure_agreement"] = float(part["raw_agrees"].astype(bool).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def real_in_condition(
    summary: pd.DataFrame, scored: pd.DataFrame, bin_names: Sequence[str],
    families: set[str] | None = None,
) -> pd.DataFrame:
    """Beside each pre-miRNA condition row, each independent judge's share on the real
    baseline's molecules (held-out pre-miRNAs) whose own attributes lie in the bins the condition
    names (`<judge>_real_in_bin`, of `real_in_bin_n` molecules): what the judge grants real
    molecules of that kind, the reference for the condition's share. With `families` (the
    miRBase families the judges learnt), the same for the real molecules of other families only
    (`<judge>_real_new_in_bin`, of `real_new_in_bin_n`). Condition names are those of
    `premirna.generator.conditions.parse_conditions` ("pre-miRNA, gc=high")."""
    out = summary.copy()
    columns = {c: name for c, name in JUDGES.items() if c in scored}
    if not columns:
        return out
    real = scored[scored["set"] == "real"]
    out = _in_bins(out, real, columns, bin_names, prefix="real")
    if families is not None:
        new = np.array([family_of(str(i)) not in families for i in real["id"]], dtype=bool)
        out = _in_bins(out, real[new], columns, bin_names, prefix="real_new")
    return out


def in_named_bins(molecules: pd.DataFrame, condition: str, bin_names: Sequence[str]) -> np.ndarray:
    """Per molecule: do its own attributes (`want_<attribute>`, the bin index) lie in every bin
    the condition name requests ("pre-miRNA, gc=high"; all True for "pre-miRNA")?"""
    keep = np.ones(len(molecules), dtype=bool)
    for word in str(condition).split(", ")[1:]:
        attribute, _, bin_name = word.partition("=")
        wanted = list(bin_names).index(bin_name) if bin_name in bin_names else -2
        if f"want_{attribute}" not in molecules:
            return np.zeros(len(molecules), dtype=bool)
        keep &= molecules[f"want_{attribute}"].fillna(-1).to_numpy() == wanted
    return keep


def _in_bins(
    out: pd.DataFrame, real: pd.DataFrame, columns: Mapping[str, str], bin_names: Sequence[str],
    prefix: str,
) -> pd.DataFrame:
    """`out` with `<judge>_<prefix>_in_bin` and `<prefix>_in_bin_n` of the molecules `real`."""
    shares: dict[str, list[float]] = {c: [] for c in columns}
    counts = []
    for name, kind in zip(out["group"], out["kind"], strict=True):
        words = str(name).split(", ")
        if kind != "condition" or words[0] != "pre-miRNA":
            for column in columns:
                shares[column].append(math.nan)
            counts.append(0)
            continue
        keep = in_named_bins(real, name, bin_names)
        for column in columns:
            part = real.loc[keep, column]
            shares[column].append(float((part >= JUDGE_THRESHOLD).mean()) if keep.any()
                                  else math.nan)
        counts.append(int(keep.sum()))
    for column, name in columns.items():
        out[f"{name.removeprefix('independent_')}_{prefix}_in_bin"] = shares[column]
    out[f"{prefix}_in_bin_n"] = counts
    return out


def targets_table(summary: pd.DataFrame, generated_group: str = "generated") -> pd.DataFrame:
    """Each generation target: required value, generated value, the baselines' values, met?
    For a judge's worst condition, `real` is the lowest `<judge>_real_in_bin` of any condition."""
    by_group = summary.set_index("group")
    for name in JUDGES.values():
        if "kind" not in summary or name not in summary:
            continue
        is_condition = summary["kind"] == "condition"
        conditions = summary.loc[is_condition, name]
        worst = float(conditions.min()) if len(conditions) else math.nan
        by_group[f"{name}_worst_condition"] = math.nan
        if generated_group in by_group.index:
            by_group.loc[generated_group, f"{name}_worst_condition"] = worst
        reference = f"{name.removeprefix('independent_')}_real_in_bin"
        if reference in summary and "real" in by_group.index:
            by_group.loc["real", f"{name}_worst_condition"] = float(
                summary.loc[is_condition, reference].min())
    rows = []
    for metric, (op, bound) in TARGETS.items():
        if metric not in by_group:
            continue
        value = (
            by_group.at[generated_group, metric] if generated_group in by_group.index
            else math.nan
        )
        met = (value >= bound) if op == ">=" else (value <= bound)
        row = {"metric": metric, "target": f"{op} {bound:g}", "generated": value}
        for baseline in BASELINES:
            row[baseline] = (
                by_group.at[baseline, metric] if baseline in by_group.index else math.nan
            )
        row["met"] = bool(met) if not math.isnan(value) else False
        row["meaning"] = TARGET_NOTES.get(metric, "")
        rows.append(row)
    return pd.DataFrame(rows)

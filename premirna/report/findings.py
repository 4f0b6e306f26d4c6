"""The findings table: each biological claim of the run in one sentence, with its evidence, its
strength and its citation. Claims that the data do not support stay in the table, as such.

Three stages answer the project's question (what do the CNN and the latent factors know of
pre-miRNA biology?): the region statistics of `interpret_cnn` (attribution against
position-matched nulls), the in-silico mutagenesis of `interpret_determinants` (known determinants
of processing, against size-matched random mutations) and the disentanglement measures of
`interpret_cvae` (one latent factor per named attribute). Each reader turns one stage's table into
rows of `COLUMNS`; a stage whose table is absent contributes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from premirna.core.tables import read_table

COLUMNS: tuple[str, ...] = ("subject", "claim", "supported", "strength", "evidence", "citation")

#: Region names in words (as `premirna.interpret.regions.REGION_LABELS`, plus the cut sites).
AREA_WORDS: dict[str, str] = {
    "terminal_loop": "the terminal loop",
    "mature_5p": "the mature 5p miRNA",
    "mature_3p": "the mature 3p miRNA",
    "upper_stem": "the stem between the duplex and the loop",
    "basal_stem": "the basal stem below the Drosha cut",
    "tails": "the unpaired tails",
    "drosha_5p": "the 5p Drosha cut site",
    "dicer_5p": "the 5p Dicer cut site",
    "dicer_3p": "the 3p Dicer cut site",
    "drosha_3p": "the 3p Drosha cut site",
}

ATTRIBUTION_CITATION = ("Adebayo et al. 2018 (sanity checks); Phipson & Smyth 2010 "
                        "(permutation p-values); Benjamini & Hochberg 1995")


def _interval(row: Mapping, column: str) -> str:
    low, high = row.get(f"{column}_low", math.nan), row.get(f"{column}_high", math.nan)
    return f"{row[column]:+.3f} [{low:+.3f}, {high:+.3f}]"


def region_findings(statistics_tsv: str | Path) -> pd.DataFrame:
    """One claim per region: "the CNN uses <region> to call a pre-miRNA", supported when most
    methods that pass the randomisation check call it used (`premirna.interpret.statistics`)."""
    table = read_table(statistics_tsv, ("method", "area", "verdict"),
                       text=("method", "area", "kind", "verdict"))
    trusted = table[~table["verdict"].str.startswith("not evidence")]
    rows = []
    for area, part in trusted.groupby("area", sort=False):
        used = part["verdict"].str.startswith("used for pre-miRNAs")
        everywhere = part["verdict"].str.startswith("looked at in every hairpin")
        best = part.loc[part["contrast_class"].idxmax()] if part["contrast_class"].notna().any() \
            else part.iloc[0]
        supported = bool(used.sum() * 2 > len(part))
        words = AREA_WORDS.get(area, area)
        strength = (f"{int(used.sum())} of {len(part)} trusted methods call it used; "
                    f"{int(everywhere.sum())} see it in every hairpin alike")
        evidence = (f"statistics.png/tsv, {best['method']}: excess over rotated copies "
                    f"{_interval(best, 'excess_pre')} (q {best['q_shift_pre']:.2g}); pre-miRNAs "
                    f"minus negatives {_interval(best, 'contrast_class')} "
                    f"(q {best['q_class']:.2g}); n = {int(best['n_pre'])} + {int(best['n_neg'])}")
        rows.append({"subject": "CNN attribution",
                     "claim": f"The CNN uses {words} to call a pre-miRNA.",
                     "supported": "yes" if supported else "not supported",
                     "strength": strength, "evidence": evidence,
                     "citation": ATTRIBUTION_CITATION})
    return pd.DataFrame(rows, columns=COLUMNS)


#: Determinants of `premirna.interpret.determinants` in words.
DETERMINANT_WORDS: dict[str, str] = {
    "apical_ugu": "the apical UGU/GUG motif",
    "basal_ug": "the basal UG motif",
    "mismatched_ghg": "the mismatched GHG motif",
    "basal_segment": "the ~11-bp basal segment below the Drosha cut",
    "loop_shrink": "the apical loop's size (a large loop shrunk)",
    "loop_enlarge": "the apical loop's size (a small loop enlarged)",
    "end_asymmetry": "the thermodynamic asymmetry of the duplex ends",
}
SCORER_WORDS = {"cnn": "The CNN relies", "trees": "The feature trees rely"}


def _support(verdict: str) -> str:
    if verdict.startswith("relies on it"):
        return "yes"
    if verdict.startswith("opposite"):
        return "no: the opposite"
    if verdict.startswith("not testable"):
        return "not testable"
    return "not supported"


def determinant_findings(determinants_tsv: str | Path) -> pd.DataFrame:
    """One claim per determinant and scorer: "<scorer> relies on <determinant>", supported when
    destroying it lowers the score more than size-matched random mutations
    (`premirna.interpret.mutagenesis`)."""
    table = read_table(determinants_tsv, ("determinant", "scorer", "effect", "verdict"),
                       text=("determinant", "scorer", "score", "verdict", "citation"))
    rows = []
    for _, row in table.iterrows():
        subject = f"{row['scorer'].upper() if row['scorer'] == 'cnn' else 'feature trees'}: " \
                  "known determinants"
        words = DETERMINANT_WORDS.get(row["determinant"], row["determinant"])
        support = _support(str(row["verdict"]))
        if support == "not testable" or pd.isna(row["effect"]):
            strength = f"only {int(row['n_molecules'])} test pre-miRNAs carry it"
        else:
            strength = (f"effect {row['effect']:+.3f} [{row['ci_low']:+.3f}, "
                        f"{row['ci_high']:+.3f}] ({row['score']}), p {row['p']:.2g}, "
                        f"q {row['q']:.2g}, n = {int(row['n_molecules'])}; as the literature "
                        f"expects: {row.get('matches_biology', '') or 'no'}")
        evidence = (f"determinants.png/tsv: mutated {row['mean_delta_determinant']:+.3f} vs "
                    f"random mutations {row['mean_delta_control']:+.3f}; fold kept "
                    f"{row['fold_kept_determinant']:.2f} / {row['fold_kept_control']:.2f}")
        rows.append({"subject": subject,
                     "claim": f"{SCORER_WORDS.get(row['scorer'], row['scorer'])} on {words}: "
                              "mutating it lowers the score more than random mutations of the "
                              "same size.",
                     "supported": support, "strength": strength,
                     "evidence": evidence, "citation": row.get("citation", "")})
    return pd.DataFrame(rows, columns=COLUMNS)


#: MIG at or above which one latent factor is taken to carry an attribute (issue 17's goal).
MIG_SUPPORTED = 0.3


def latent_findings(disentanglement_tsv: str | Path) -> pd.DataFrame:
    """One claim per attribute: "one latent factor carries <attribute>", supported when its MIG
    reaches `MIG_SUPPORTED` (`premirna.interpret.disentangle`)."""
    table = read_table(disentanglement_tsv, ("kind", "attribute", "mig"),
                       text=("kind", "subject", "attribute"))
    rows = []
    for _, row in table[table["kind"] == "attribute"].iterrows():
        tied = row.get("tied_dimension", math.nan)
        tied_text = "" if pd.isna(tied) or tied < 0 else f" (tied to z{int(tied)} in training)"
        rows.append({
            "subject": "CVAE latent factors",
            "claim": f"One latent factor carries {row['attribute'].replace('_', ' ')}"
                     f"{tied_text}.",
            "supported": "yes" if row["mig"] >= MIG_SUPPORTED else "not supported",
            "strength": f"MIG {row['mig']:.3f} [{row.get('mig_low', math.nan):.3f}, "
                        f"{row.get('mig_high', math.nan):.3f}] (goal >= {MIG_SUPPORTED}); DCI "
                        f"completeness {row.get('completeness', math.nan):.2f}",
            "evidence": f"disentanglement.png/tsv: top z{int(row['top_dimension'])}, second "
                        f"z{int(row['second_dimension'])}; held-out R² "
                        f"{row.get('informativeness_r2', math.nan):.2f}, n = {int(row['n'])}",
            "citation": "Chen et al. 2018 (MIG); Eastwood & Williams 2018 (DCI)"})
    return pd.DataFrame(rows, columns=COLUMNS)


def traversal_findings(monotonicity_tsv: str | Path) -> pd.DataFrame:
    """One claim per latent dimension tied to an attribute in training: "moving z_d changes the
    attribute monotonically", read from the refolded traversal molecules
    (`premirna.interpret.disentangle.traversal_monotonicity`); attributes that generated molecules
    do not have (miRBase positions) and no prediction stands in for are "not testable"; a
    predicted one (the mature starts, from the loop) says how well the prediction does on real
    molecules. A model without ties adds nothing."""
    table = read_table(monotonicity_tsv, ("dimension", "attribute", "tied", "monotone"),
                       text=("attribute", "monotone"))
    tied = table[table["tied"].astype(str).str.lower() == "true"]
    rows = []
    for _, row in tied.iterrows():
        verdict = str(row["monotone"])
        judge = row.get("judge_share", math.nan)
        judge_text = "" if pd.isna(judge) else f"; the independent judge calls {judge:.2f} of " \
                                               "the axis's molecules pre-miRNAs"
        measured = str(row.get("measured_as", "") or "refolded")
        if measured != "refolded":
            judge_text += f"; {str(row['attribute']).replace('_', ' ')} {measured}"
        rows.append({
            "subject": "CVAE latent factors",
            "claim": f"Moving z{int(row['dimension'])} changes "
                     f"{str(row['attribute']).replace('_', ' ')} monotonically (traversal, "
                     f"{'refolded' if measured == 'refolded' else 'refolded, predicted'}).",
            "supported": {"yes": "yes", "no": "not supported"}.get(verdict, "not testable"),
            "strength": "not measured on generated molecules" if verdict not in ("yes", "no")
            else f"Spearman of the step means {row.get('spearman_means', math.nan):.2f}, of "
                 f"every molecule {row.get('spearman', math.nan):.2f} (goal >= 0.9 for the "
                 f"means){judge_text}",
            "evidence": f"traversal_monotonicity.tsv: n = {int(row['n'])} molecules",
            "citation": "Pati & Lerch 2021 (AR-VAE)"})
    return pd.DataFrame(rows, columns=COLUMNS)


READERS = {"statistics": region_findings, "determinants": determinant_findings,
           "disentanglement": latent_findings, "monotonicity": traversal_findings}


def findings_table(inputs: Mapping[str, str | Path | None]) -> pd.DataFrame:
    """The rows of every reader whose input is given, supported claims first within a subject."""
    parts = [reader(inputs[key]) for key, reader in READERS.items() if inputs.get(key)]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    order = table["supported"].ne("yes")
    return table.assign(_o=order).sort_values(["subject", "_o"], kind="stable").drop(
        columns="_o").reset_index(drop=True)

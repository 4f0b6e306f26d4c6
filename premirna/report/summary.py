"""The report's first page: the key results of a run, as tables and one figure.

Read from the stages' own tables (nothing is recomputed): the classifier's test metrics for the
CNN, the feature trees and the fused model (`evaluate_cnn/metrics.tsv`); the generation targets and
which are met, the features that still give generated molecules away and the independent judge's
accuracy on real molecules, and each judge's shares against the real molecules' with 95 %
intervals (`validate/targets.tsv`, `validate/gaps.tsv`, `validate/judge/accuracy.tsv`,
`validate/against_real.tsv`); the attribution methods' sanity-check verdicts
(`interpret_cnn/sanity.tsv`); and the strongest links between latent factors and biology
(`interpret_cvae/summary.tsv`). Written as a TSV (one row per figure quoted), a figure and a
self-contained HTML page whose tables render in the report (Snakemake's report shows an HTML
result inside the page; a TSV it only offers for download).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.atomic import atomic_open, write_tsv
from premirna.core.figures import pyplot, save_figure
from premirna.core.tables import read_table
from premirna.report.findings import findings_table
from premirna.report.pages import html_table, page

#: The classifier's metrics shown, in this order, and the models (metric prefix) they come from.
CLASSIFIER_METRICS = ("accuracy", "sensitivity", "specificity", "mcc", "roc_auc", "pr_auc")
MODELS = {"CNN (image)": "", "feature trees": "features_", "fused": "fused_"}
#: Generation metrics whose generated value the figure sets beside the real molecules' value.
REALISM_SHOWN = ("independent_judge", "trees_judge", "two_sample_auc", "ks_length",
                 "ks_mfe_per_nt", "ks_gc", "novelty", "uniqueness", "conditional_control")
TOP_LINKS = 6  # latent-factor statements shown
GAP_Q = 0.05  # a feature gap the summary names: its Benjamini-Hochberg q-value is below this
OWN_JUDGE = "judged_premirna"  # the pipeline's own CNN on generated molecules: not independent
DECIMALS = 3


def classifier_table(metrics_tsv: str | Path) -> pd.DataFrame:
    """One row per model (CNN, trees, fused; those the run has), one column per metric."""
    metrics = read_table(metrics_tsv, ("metric", "value")).set_index("metric")["value"]
    rows = []
    for model, prefix in MODELS.items():
        if f"{prefix}accuracy" not in metrics:
            continue
        row = {"model": model}
        row.update({m: float(metrics[f"{prefix}{m}"]) for m in CLASSIFIER_METRICS
                    if f"{prefix}{m}" in metrics})
        rows.append(row)
    table = pd.DataFrame(rows)
    table.insert(1, "test molecules", int(metrics.get("n", 0)))
    return table


def generation_table(targets_tsv: str | Path) -> pd.DataFrame:
    """The validate targets: metric, target, generated, real, met (the own-CNN row last)."""
    targets = read_table(targets_tsv, ("metric", "target", "generated", "met"),
                         text=("metric", "target", "against_real", "meaning"))
    shown = [c for c in ("metric", "target", "generated", "real", "real_new_families",
                         "shuffled", "random", "met", "against_real", "meaning")
             if c in targets]
    return targets[shown].copy()


def judge_table(accuracy_tsv: str | Path) -> pd.DataFrame:
    """The independent judge on the real test split."""
    return read_table(accuracy_tsv)


def gaps_table(gaps_tsv: str | Path) -> pd.DataFrame:
    """Of validate's feature gaps, each group's leading feature where its q-value is below
    `GAP_Q`: what tells that condition's generated molecules from real ones in its bins, and
    whether generated molecules have it higher or lower than real ones (and, where validate
    compared them, the same feature against the training pre-miRNAs in the bins: a gap the
    training split does not show is the held-out split's, not the generator's)."""
    gaps = read_table(gaps_tsv, ("group", "rank", "feature", "roc_auc", "q_value"),
                      text=("group", "feature"))
    lead = gaps[(gaps["rank"] == 1) & (gaps["q_value"] < GAP_Q)].reset_index(drop=True)
    shown = lead[[c for c in ("group", "feature", "roc_auc", "q_value", "generated", "real",
                              "roc_auc_training", "training") if c in lead]].copy()
    shown.insert(2, "generated values", np.where(lead["roc_auc"] > 0.5, "higher", "lower"))
    shown.attrs["compared"] = len(gaps)  # feature comparisons made (none: too few molecules)
    return shown


def against_real_table(against_tsv: str | Path) -> pd.DataFrame:
    """Of validate's judges-against-real table, each judge's rows for all generated molecules
    and their raw draws, and the conditions whose 95 % interval of the difference excludes 0:
    the share, its interval, the real molecules' share and the difference with its interval."""
    table = read_table(against_tsv, ("judge", "set", "share", "real_share", "difference",
                                     "verdict"), text=("judge", "set", "verdict"))
    overall = table["set"].isin(["generated", "generated, raw draws"])
    differs = table["set"].str.startswith("pre-miRNA") & (table["verdict"] != "alike")
    shown = table[overall | differs].reset_index(drop=True)

    def interval(low: str, high: str) -> list[str]:
        return [f"{a:.3f} to {b:.3f}" for a, b in zip(shown[low], shown[high], strict=True)]

    return pd.DataFrame({
        "judge": shown["judge"], "set": shown["set"].str.removeprefix("pre-miRNA, "),
        "n": shown["n"], "share": shown["share"],
        "95 % interval": interval("share_low", "share_high"),
        "real n": shown["real_n"], "real share": shown["real_share"],
        "difference": shown["difference"],
        "its 95 % interval": interval("difference_low", "difference_high"),
        "verdict": shown["verdict"]})


def sanity_table(sanity_tsv: str | Path) -> pd.DataFrame:
    """Each attribution method and whether its maps pass the model-randomisation check."""
    sanity = read_table(sanity_tsv, ("method", "verdict"), text=("method", "verdict"))
    if "is_control" in sanity:
        sanity = sanity[~sanity["is_control"].astype(str).str.lower().eq("true")]
    shown = [c for c in ("method", "spearman_median", "verdict") if c in sanity]
    return sanity[shown].reset_index(drop=True)


def latent_table(summary_tsv: str | Path, top: int = TOP_LINKS) -> pd.DataFrame:
    """The latent dimensions most strongly tied to a biological attribute, strongest first."""
    links = read_table(summary_tsv, ("subject", "attribute", "spearman", "statement"),
                       text=("subject", "kind", "attribute", "statement"))
    if "kind" in links:
        links = links[links["kind"] == "dimension"]
    order = links["spearman"].abs().sort_values(ascending=False).index
    return links.loc[order[:top], ["subject", "attribute", "spearman", "statement"]].reset_index(
        drop=True)


def headline(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """A few sentences that say what the run found, from the tables."""
    lines = []
    classifier = tables.get("classifier")
    if classifier is not None and len(classifier):
        best = classifier.loc[classifier["accuracy"].idxmax()]
        cnn = classifier.iloc[0]
        lines.append(f"Classifier: test accuracy {cnn['accuracy']:.3f} for the CNN on the image "
                     f"(ROC AUC {cnn.get('roc_auc', math.nan):.3f}); best {best['model']} "
                     f"{best['accuracy']:.3f} on {int(cnn['test molecules'])} test molecules.")
    generation = tables.get("generation")
    if generation is not None and len(generation):
        # The own CNN's verdict is shown but not counted: it shares the generator's image and data.
        counted = generation[generation["metric"] != OWN_JUDGE]
        met = counted["met"].astype(str).str.lower().eq("true")
        missed = ", ".join(counted.loc[~met, "metric"]) or "none"
        lines.append(f"Generation: {int(met.sum())} of {len(counted)} targets met; not met: "
                     f"{missed}.")
    gaps = tables.get("gaps")
    if gaps is not None:
        groups = gaps["group"].str.removeprefix("pre-miRNA, ").replace("generated", "all")
        named = [f"{group}: {feature} {verdict}" for group, feature, verdict in
                 zip(groups, gaps["feature"], gaps["generated values"], strict=True)]
        if named:
            lines.append(f"Features that still tell generated molecules from real ones in their "
                         f"bins (q < {GAP_Q:g}): {'; '.join(named)}.")
        elif gaps.attrs.get("compared", 1):
            lines.append(f"No single feature tells generated molecules from real ones in their "
                         f"bins (q < {GAP_Q:g}).")
    lines += _against_real_lines(tables.get("against_real"))
    judge = tables.get("judge")
    if judge is not None and len(judge):
        row = judge.iloc[0]
        lines.append("The independent judge (never saw the generator) calls "
                     f"{row['called_premirna_of_premirnas']:.3f} of real test pre-miRNAs and "
                     f"{row['called_premirna_of_negatives']:.3f} of real negatives pre-miRNA.")
        if pd.notna(row.get("called_premirna_family_new", math.nan)):
            lines.append(f"Of real test pre-miRNAs whose family it learnt from other species it "
                         f"calls {row['called_premirna_family_known']:.3f}, of families new to "
                         f"it {row['called_premirna_family_new']:.3f}: generated molecules are "
                         "new, so the second is their yardstick.")
    sanity = tables.get("sanity")
    if sanity is not None and len(sanity):
        fails = sanity.loc[~sanity["verdict"].str.startswith("pass"), "method"].tolist()
        lines.append(f"Attribution: {len(sanity) - len(fails)} of {len(sanity)} methods pass the "
                     f"randomisation check; failing: {', '.join(fails) or 'none'}.")
    latent = tables.get("latent")
    if latent is not None and len(latent):
        lines.append(f"Latent factors: {latent.iloc[0]['statement']}")
    findings = tables.get("findings")
    if findings is not None and len(findings):
        for subject, part in findings.groupby("subject", sort=False):
            held = part.loc[part["supported"] == "yes", "claim"].tolist()
            lines.append(f"{subject}: {len(held)} of {len(part)} claims supported"
                         + (f" ({' '.join(held)})" if held else "") + ".")
    return lines


def _against_real_lines(table: pd.DataFrame | None) -> list[str]:
    """One sentence per judge: the generated share against the real one, and the conditions
    that differ from their real molecules at 95 %."""
    if table is None or not len(table):
        return []
    lines = []
    for judge, part in table.groupby("judge", sort=False):
        rows = part.set_index("set")
        if "generated" not in rows.index:
            continue
        row = rows.loc["generated"]
        conditions = part[~part["set"].isin(["generated", "generated, raw draws"])]
        named = "; ".join(f"{s} {v}" for s, v in zip(conditions["set"], conditions["verdict"],
                                                      strict=True)) or "none"
        lines.append(f"Against real held-out pre-miRNAs, the {judge} calls {row['share']:.3f} of "
                     f"generated molecules pre-miRNA ({row['95 % interval']}) and "
                     f"{row['real share']:.3f} of real ones: difference {row['difference']:+.3f} "
                     f"({row['its 95 % interval']}, {row['verdict']}); conditions that differ "
                     f"from the real molecules in their bins: {named}.")
    return lines


def plot_summary(tables: Mapping[str, pd.DataFrame], path: str | Path) -> None:
    """Two panels: the classifiers' test metrics, and generated vs real molecules."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 5.0))
    classifier = tables.get("classifier", pd.DataFrame())
    shown = [m for m in ("accuracy", "sensitivity", "specificity", "roc_auc") if m in classifier]
    width = 0.8 / max(1, len(classifier))
    for k, row in enumerate(classifier.itertuples(index=False)):
        values = [getattr(row, m) for m in shown]
        left.bar(np.arange(len(shown)) + k * width, values, width, label=row.model)
    left.set_xticks(np.arange(len(shown)) + width * (len(classifier) - 1) / 2,
                    [m.replace("_", " ") for m in shown], rotation=25, ha="right")
    left.set_ylim(0.5, 1.0)
    left.set_title("pre-miRNA classifier, test split", fontsize=12)
    left.legend(fontsize=10, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    generation = tables.get("generation", pd.DataFrame())
    rows = generation[generation["metric"].isin(REALISM_SHOWN)] if len(generation) else generation
    y = np.arange(len(rows))
    right.barh(y - 0.2, rows.get("generated", []), 0.4, label="generated")
    if "real" in rows:
        right.barh(y + 0.2, rows["real"], 0.4, label="real held-out pre-miRNAs")
    if "target" in rows:
        goals = rows["target"].str.extract(r"([<>]=?)\s*([0-9.]+)")
        right.scatter(goals[1].astype(float), y, marker="|", s=400, color="black", zorder=3,
                      label="target (<= or >=)")
    right.set_yticks(y, rows.get("metric", []))
    right.invert_yaxis()
    right.set_xlim(0, 1.05)
    right.set_title("generated molecules vs real ones", fontsize=12)
    right.legend(fontsize=10, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    for axis in (left, right):
        axis.tick_params(labelsize=10)
    fig.tight_layout()
    save_figure(fig, path)


SECTIONS = {
    "classifier": "Classifier: test-split metrics (evaluate_cnn)",
    "generation": "Generation: targets, and whether the generated molecules meet them (validate)",
    "gaps": "What still tells generated molecules from real ones in their bins (validate)",
    "against_real": "Generated against real held-out pre-miRNAs, per judge, with 95 % intervals "
                    "(validate)",
    "judge": "The independent judge on real test molecules (validate_judge)",
    "sanity": "Attribution methods: model-randomisation check (interpret_cnn)",
    "latent": "Latent factors most tied to biology (interpret_cvae)",
    "findings": "Findings: each claim, its evidence and strength (negative results included)",
}


def write_summary(
    inputs: Mapping[str, str | Path], out_html: str | Path, out_tsv: str | Path,
    out_png: str | Path,
    out_findings: str | Path | None = None,
) -> dict[str, pd.DataFrame]:
    """Read the stages' tables named in `inputs` (keys `metrics`, `targets`, `against_real`,
    `gaps`, `judge`, `sanity`, `latent`, and the findings' inputs of
    `premirna.report.findings.READERS`; absent ones are left out), write the summary page, its
    TSV and its figure, and the findings table to `out_findings` when given."""
    readers = {"classifier": ("metrics", classifier_table),
               "generation": ("targets", generation_table),
               "against_real": ("against_real", against_real_table), "gaps": ("gaps", gaps_table),
               "judge": ("judge", judge_table), "sanity": ("sanity", sanity_table),
               "latent": ("latent", latent_table)}
    tables = {name: reader(inputs[key]) for name, (key, reader) in readers.items()
              if inputs.get(key)}
    findings = findings_table(inputs)
    if len(findings):
        tables["findings"] = findings
    if out_findings is not None:
        write_tsv(findings, out_findings)
    plot_summary(tables, out_png)
    long = pd.concat([frame.astype(str).assign(section=name) for name, frame in tables.items()],
                     ignore_index=True)
    write_tsv(long[["section", *[c for c in long.columns if c != "section"]]], out_tsv)
    figure = base64.b64encode(Path(out_png).read_bytes()).decode("ascii")
    parts = ["<h1>Key results</h1><ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in headline(tables)]
    parts.append(f"</ul><img alt='key results' src='data:image/png;base64,{figure}'>")
    for name, frame in tables.items():
        parts.append(f"<h2>{html.escape(SECTIONS[name])}</h2>{html_table(frame, DECIMALS)}")
    with atomic_open(out_html, "w") as handle:
        handle.write(page("premirna: key results", "\n".join(parts)))
    return tables

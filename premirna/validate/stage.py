"""The validate stage: score generated molecules beside the baselines."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.classifier.predict import load_scorer
from premirna.core.atomic import write_tsv
from premirna.core.errors import InputError
from premirna.core.tables import read_table
from premirna.data.mirbase import family_of
from premirna.encode.decode import decode_many
from premirna.encode.images import read_images
from premirna.generator.conditions import assign_bins
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.training.checkpoints import read_checkpoint
from premirna.training.device import use_threads
from premirna.validate.against_real import against_real, with_verdicts
from premirna.validate.baselines import make_baselines
from premirna.validate.figures import plot_examples, plot_metrics, plot_realism
from premirna.validate.gaps import condition_gaps
from premirna.validate.judge import load_judge
from premirna.validate.metrics import (
    BASELINES,
    JUDGE_THRESHOLD,
    real_in_condition,
    score_molecules,
    score_raw_agreement,
    summarise,
    targets_table,
)
from premirna.validate.trees_judge import fit_trees_judge

log = logging.getLogger(__name__)

#: The judges' names in the accuracy table, by probability column.
JUDGE_NAMES = {"judge_probability":
               "1-D networks, averaged (sequence + structure in molecule order)",
               "trees_probability": "boosted trees (sequence and structure features)"}


def _independent_judges(
    judge_model: str | Path | None, judge_set: str | Path | None, seed: int, fold: FoldSettings
) -> dict[str, Any]:
    """Probability column -> judge: the network of `judge_model` and, with `judge_set`, the
    trees fitted on its molecules."""
    if not judge_model:
        return {}
    judges = {"judge_probability": load_judge(judge_model)}
    if judge_set:
        molecules = read_table(judge_set, ("sequence", "structure", "label"))
        max_length = int(read_checkpoint(judge_model)["max_length"])
        judges["trees_probability"] = fit_trees_judge(molecules, seed, fold, max_length)
    return judges


def _generated_molecules(generated_tsv: str | Path, generated_npz: str | Path) -> pd.DataFrame:
    """Generated molecules with the hairpin their image decodes to (`intended`, `decodable`)."""
    table = read_table(generated_tsv, ("id", "set", "condition", "sequence"))
    images = read_images(generated_npz, encodable_only=False)
    if list(images.ids) != table["id"].tolist():
        raise InputError(generated_npz, "ids differ from the generated table's")
    sequences, structures = decode_many(images.images, source=str(generated_npz))
    table["decodable"] = [
        bool(s) and s == t for s, t in zip(sequences, table["sequence"], strict=True)
    ]
    table["sequence"] = sequences
    table["intended"] = structures
    return table


def judge_accuracy(
    judges: Mapping[str, Any], test: pd.DataFrame, known_families: set[str] | None = None
) -> pd.DataFrame:
    """Each independent judge (name -> judge) on the real test split (fold-stage structures):
    its share called pre-miRNA among pre-miRNAs (recall) and among negatives, accuracy and ROC
    AUC; one row per judge. With `known_families` (the miRBase families of the judges' own
    pre-miRNAs, `premirna.data.mirbase.family_of`), the recall is also split between test
    pre-miRNAs of a family the judges learnt from another species and those of a family new to
    them: generated molecules, new by construction, compare with the second."""
    return pd.DataFrame([_accuracy_row(name, judge, test, known_families)
                         for name, judge in judges.items()])


def judges_families(judge_set: str | Path) -> set[str]:
    """The miRBase families of the pre-miRNAs the judges learnt from (their molecule table)."""
    molecules = read_table(judge_set, ("id", "label"), text=("id", "source"))
    positives = molecules[molecules["label"].astype(int) == 1]
    if "source" in positives:
        positives = positives[positives["source"].isin(["mirbase", ""])]
    return {family_of(name) for name in positives["id"]}


def new_family_reference(
    targets: pd.DataFrame, scored: pd.DataFrame, families: set[str] | None,
    summary: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`targets` with `real_new_families` beside `real`: for each independent judge, its share of
    the real (validation) pre-miRNAs whose miRBase family it never learnt from another species,
    and for its worst condition the lowest such share in the bins of any condition (from
    `summary`'s `<judge>_real_new_in_bin`). Generated molecules are new by construction
    (novelty), so this, not `real`, is what they can be held to: a judge recognises families it
    has seen. Unchanged without `families`."""
    if families is None:
        return targets
    real = scored[scored["set"] == "real"]
    new = real[[family_of(str(i)) not in families for i in real["id"]]]
    targets = targets.copy()
    targets.insert(targets.columns.get_loc("real") + 1, "real_new_families", np.nan)
    for metric, column in (("independent_judge", "judge_probability"),
                           ("trees_judge", "trees_probability")):
        if column in new and len(new):
            share = float((new[column].to_numpy(dtype=float) >= JUDGE_THRESHOLD).mean())
            targets.loc[targets["metric"] == metric, "real_new_families"] = share
        in_bin = f"{metric.removeprefix('independent_')}_real_new_in_bin"
        if summary is not None and in_bin in summary:
            worst = summary.loc[summary["kind"] == "condition", in_bin].min()
            targets.loc[targets["metric"] == f"{metric}_worst_condition",
                        "real_new_families"] = float(worst)
    return targets


def _write_judge_accuracy(
    judges: Mapping[str, Any], families: set[str] | None, test: pd.DataFrame,
    path: str | Path | None,
) -> None:
    """The judges' accuracy on the real `test` split to `path` (nothing without judges or path);
    with `families`, split by family as `judge_accuracy` does."""
    if not judges or not path:
        return
    named = {JUDGE_NAMES[column]: judge for column, judge in judges.items()}
    accuracy = judge_accuracy(named, test, families)
    write_tsv(accuracy, path)
    for row in accuracy.itertuples(index=False):
        if families is not None:
            log.info("%s: calls %.3f of the real test pre-miRNAs of families it learnt from "
                     "(%d), %.3f of those of families new to it (%d)", row.judge,
                     row.called_premirna_family_known, row.premirnas_family_known,
                     row.called_premirna_family_new, row.premirnas_family_new)


def _accuracy_row(
    name: str, judge: Any, test: pd.DataFrame, known_families: set[str] | None = None
) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    labels = test["label"].astype(int).to_numpy()
    score = judge(test["sequence"].tolist(), test["structure"].tolist())
    called = score >= JUDGE_THRESHOLD
    both = len(set(labels)) == 2
    split = {}
    if known_families is not None:
        known = np.array([family_of(str(i)) in known_families for i in test["id"]], dtype=bool)
        for word, mask in (("known", known), ("new", ~known)):
            chosen = (labels == 1) & mask
            split[f"premirnas_family_{word}"] = int(chosen.sum())
            split[f"called_premirna_family_{word}"] = (float(called[chosen].mean())
                                                       if chosen.any() else float("nan"))
    return {
        "judge": name,
        "pre_mirnas": int((labels == 1).sum()),
        "negatives": int((labels == 0).sum()),
        "called_premirna_of_premirnas": float(called[labels == 1].mean()),
        "called_premirna_of_negatives": float(called[labels == 0].mean()),
        "accuracy": float((called == (labels == 1)).mean()),
        "roc_auc": float(roc_auc_score(labels, score)) if both else float("nan"),
        "median_score_premirnas": float(np.median(score[labels == 1])),
        **split,
    }


def _summary(
    scored: pd.DataFrame, reference: pd.DataFrame, seed: int, diversity_sample: int,
    bin_names: list[str], families: set[str] | None = None,
) -> pd.DataFrame:
    """One row per condition, then overall (generated, around), then per baseline; `kind`
    says which."""
    prior = scored[scored["set"] == "generated"]
    parts = [
        summarise(prior, reference, prior["condition"], seed, diversity_sample),
        summarise(prior, reference, prior["set"], seed, diversity_sample),
    ]
    around = scored[scored["set"] == "around"]
    if len(around):
        parts.append(summarise(around, reference, around["set"], seed, diversity_sample))
    rest = scored[scored["set"].isin(BASELINES)]
    parts.append(summarise(rest, reference, rest["set"], seed, diversity_sample))
    summary = pd.concat(parts, ignore_index=True)
    kinds = {"generated": "overall", "around": "overall", **{b: "baseline" for b in BASELINES}}
    summary.insert(1, "kind", summary["group"].map(kinds).fillna("condition"))
    return real_in_condition(summary, scored, bin_names, families)


def validate(
    generated_tsv: str | Path,
    generated_npz: str | Path,
    folded_tsv: str | Path,
    cnn_model: str | Path | None,
    cvae_model: str | Path,
    outputs: dict[str, str | Path],
    seed: int = 0,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
    diversity_sample: int = 400,
    threads: int = 1,
    judge_model: str | Path | None = None,
    judge_set: str | Path | None = None,
) -> pd.DataFrame:
    """The `validate` stage: score generated molecules and the three baselines.

    Real baseline: validation-split pre-miRNAs (never trained on), their shuffles and matched random
    sequences; realism reference: test-split pre-miRNAs; novelty against every training-split
    sequence. `outputs` names `molecules` (per-molecule TSV), `summary` (per condition, overall and
    per baseline), `targets` (the generation targets) and the figures `realism` and `metrics`
    (and, if named, `examples`: generated images titled with their scores, and `gaps`: per
    condition, the features that differ most from real pre-miRNAs in its bins,
    `premirna.validate.gaps`; and `against_real`: each judge's shares against the real
    molecules', with 95 % intervals, `premirna.validate.against_real`). `fold` is the energy
    model of the re-folds; `threads` are torch's threads and the folding processes.
    `judge_model` is the independent judge (`premirna.validate.judge`); with it every molecule
    gets `judge_probability`, and `outputs["judge"]` (if named) its accuracy on the real test
    split; with `judge_set` too (its molecules, `build_judge`'s `out_table`) the second judge,
    boosted trees fitted on them (`premirna.validate.trees_judge`), adds `trees_probability`.
    Returns the targets table.
    """
    fold = FoldSettings.of(fold)
    use_threads(threads)
    checkpoint = read_checkpoint(cvae_model)
    bins, names = {a: list(e) for a, e in checkpoint["bins"].items()}, checkpoint["bin_names"]
    table = read_table(folded_tsv, ("id", "sequence", "structure", "label", "split"))
    positives = table[table["label"].astype(int) == 1]
    real = positives[positives["split"] == "val"].reset_index(drop=True)
    reference = positives[positives["split"] == "test"].reset_index(drop=True)
    train_sequences = table.loc[table["split"] == "train", "sequence"].tolist()

    molecules = _molecules(_generated_molecules(generated_tsv, generated_npz), real, bins, seed)
    judge = load_scorer(cnn_model) if cnn_model else None
    scored = score_molecules(molecules, train_sequences, judge, bins, fold, threads)
    judges = _independent_judges(judge_model, judge_set, seed, fold)
    for column, independent in judges.items():
        scored[column] = independent(scored["sequence"].tolist(), scored["refolded"].tolist())
    if {"raw_sequence", "refined_nt"} <= set(scored.columns):
        scored = score_raw_agreement(scored, fold, threads, judges)

    families = judges_families(judge_set) if judges and judge_set else None
    summary = _summary(scored, reference, seed, diversity_sample, list(names), families)
    against = against_real(scored, list(names))
    targets = with_verdicts(new_family_reference(targets_table(summary), scored, families,
                                                 summary), against)

    _write_judge_accuracy(judges, families, table[table["split"] == "test"], outputs.get("judge"))
    for key, frame in (("molecules", scored), ("summary", summary), ("targets", targets),
                       ("against_real", against)):
        if outputs.get(key):
            write_tsv(frame, outputs[key])
    if outputs.get("gaps"):
        write_tsv(condition_gaps(scored, list(names), training=_binned(positives, bins)),
                  outputs["gaps"])
    plot_realism(scored, reference, outputs["realism"], summary)
    plot_metrics(summary, outputs["metrics"])
    if outputs.get("examples"):
        plot_examples(scored, generated_npz, outputs["examples"])
    _log_targets(targets)
    return targets


def _molecules(
    generated: pd.DataFrame, real: pd.DataFrame, bins: dict[str, list[float]], seed: int
) -> pd.DataFrame:
    """The molecules to score: the generated ones (`set` generated or around) and the three
    baselines made from the `real` held-out pre-miRNAs, each with the bins of its own or its
    source's attributes (`want_<attribute>`)."""
    generated["set"] = np.where(generated["set"] == "around", "around", "generated")
    baselines = make_baselines(real, seed)
    source = real.set_index("id")
    for attribute, edges in bins.items():
        values = source.loc[baselines["source_id"], attribute].to_numpy(dtype=np.float64)
        baselines[f"want_{attribute}"] = assign_bins(values, edges)
    columns = ["set", "id", "condition", "sequence", "intended", "decodable",
               *[f"want_{a}" for a in bins]]
    extra = [c for c in ("raw_sequence", "refined_nt", "draws", "first_draw_in_bin")
             if c in generated]
    log.info("validate: scoring %d generated and %d baseline molecules", len(generated),
             len(baselines))
    return pd.concat([generated[columns + extra], baselines.assign(decodable=True)[columns]],
                     ignore_index=True)


def _binned(positives: pd.DataFrame, bins: dict[str, list[float]]) -> pd.DataFrame:
    """The training-split pre-miRNAs of the fold table, with their MFE structure as `refolded`
    and the bin of each conditioned attribute as `want_<attribute>` (as the baselines have)."""
    training = positives[positives["split"] == "train"].reset_index(drop=True)
    training["refolded"] = training["structure"]
    for attribute, edges in bins.items():
        training[f"want_{attribute}"] = assign_bins(
            training[attribute].to_numpy(dtype=np.float64), edges)
    return training


def _log_targets(targets: pd.DataFrame) -> None:
    for row in targets.itertuples(index=False):
        log.info("%s %s: generated %.3f | real %.3f shuffled %.3f random %.3f | %s%s", row.metric,
                 row.target, row.generated, row.real, row.shuffled, row.random,
                 "met" if row.met else "NOT met",
                 f" | against real: {row.against_real}" if getattr(row, "against_real", "")
                 else "")

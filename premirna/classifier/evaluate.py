"""Judge a trained classifier on the held-out test split: metrics table, curves and figures.

`evaluate_cnn` is what the `evaluate_cnn` rule calls: it scores `results/encode/test.npz` with a
checkpoint from `premirna.classifier.train` and writes the threshold metrics (accuracy, sensitivity,
specificity, precision, F1, Matthews correlation) and the threshold-free ones (ROC AUC, PR AUC as
average precision, Brier score), one row per image (`predictions.tsv`), ROC and precision-recall
curves, the confusion matrix, a calibration (reliability) plot, and recall per species when the
molecule table names several. Images that could not be encoded (no hairpin loop) have no score;
they are counted in the metrics table and left out of every metric.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from premirna.classifier.evaluate_figures import (
    plot_calibration,
    plot_confusion,
    plot_roc_pr,
    plot_species,
)
from premirna.classifier.feature_model import feature_columns
from premirna.classifier.predict import load_checkpoint, predict_proba
from premirna.core.atomic import write_tsv
from premirna.core.errors import InputError
from premirna.core.tables import read_folded, read_table
from premirna.data.mirbase import species_of as mirbase_species
from premirna.encode.images import read_images
from premirna.training.device import choose_device, use_threads

log = logging.getLogger(__name__)

METRIC_DESCRIPTIONS = {
    "n": "images scored (encodable test images)",
    "n_positive": "pre-miRNAs among them",
    "n_negative": "negatives among them",
    "n_unencodable": "test molecules without a hairpin image (not scored)",
    "threshold": "probability at or above which an image is called pre-miRNA",
    "accuracy": "(TP + TN) / n",
    "sensitivity": "recall of pre-miRNAs, TP / (TP + FN)",
    "specificity": "recall of negatives, TN / (TN + FP)",
    "precision": "TP / (TP + FP)",
    "f1": "harmonic mean of precision and sensitivity",
    "mcc": "Matthews correlation coefficient",
    "roc_auc": "area under the ROC curve",
    "pr_auc": "area under the precision-recall curve (average precision)",
    "brier": "mean squared error of the probability (lower is better)",
    "tp": "true positives",
    "fp": "false positives",
    "tn": "true negatives",
    "fn": "false negatives",
}


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def binary_metrics(
    labels: np.ndarray, probability: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Threshold and ranking metrics of pre-miRNA probabilities against 0/1 labels.

    Threshold-free metrics are NaN when only one class is present; ratios are NaN when their
    denominator is zero.
    """
    labels = np.asarray(labels).astype(int).reshape(-1)
    probability = np.asarray(probability, dtype=float).reshape(-1)
    if labels.shape != probability.shape:
        raise ValueError(f"{labels.shape[0]} labels but {probability.shape[0]} probabilities")
    called = (probability >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(labels, called, labels=[0, 1]).ravel())
    both = len(np.unique(labels)) == 2
    precision = _ratio(tp, tp + fp)
    sensitivity = _ratio(tp, tp + fn)
    return {
        "n": float(len(labels)),
        "n_positive": float(tp + fn),
        "n_negative": float(tn + fp),
        "threshold": float(threshold),
        "accuracy": _ratio(tp + tn, len(labels)),
        "sensitivity": sensitivity,
        "specificity": _ratio(tn, tn + fp),
        "precision": precision,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "mcc": float(skm.matthews_corrcoef(labels, called)) if len(labels) else float("nan"),
        "roc_auc": float(skm.roc_auc_score(labels, probability)) if both else float("nan"),
        "pr_auc": float(skm.average_precision_score(labels, probability)) if both else float("nan"),
        "brier": float(np.mean((probability - labels) ** 2)) if len(labels) else float("nan"),
        "tp": float(tp),
        "fp": float(fp),
        "tn": float(tn),
        "fn": float(fn),
    }


OTHER_MODELS = {
    "features": "the boosted trees on thermodynamic, homology, coding and splice-site numbers",
    "fused": "the mean of the CNN's and the trees' probabilities",
}

OTHER_METRICS = ("accuracy", "sensitivity", "specificity", "mcc", "roc_auc", "pr_auc", "brier")


def describe(metric: str) -> str:
    """The description of a metric; `features_*` and `fused_*` name the other two models."""
    model, _, base = metric.partition("_")
    if model in OTHER_MODELS and base in METRIC_DESCRIPTIONS:
        return f"{METRIC_DESCRIPTIONS[base]}; {OTHER_MODELS[model]}"
    return METRIC_DESCRIPTIONS.get(metric, "")


def metrics_table(values: dict[str, float]) -> pd.DataFrame:
    """Long table `metric, value, description` (the `metrics.tsv` layout)."""
    return pd.DataFrame(
        {
            "metric": list(values),
            "value": list(values.values()),
            "description": [describe(k) for k in values],
        }
    )


def species_of(ids: np.ndarray, table: str | os.PathLike[str] | None) -> np.ndarray:
    """Species per id from a table with `id` and `species` columns (folded.tsv or molecules.tsv);
    without one, the miRBase-style prefix of the id (`hsa-mir-21` -> `hsa`) or `unknown`."""
    ids = np.asarray(ids).astype(str)
    if table is not None and Path(table).exists():
        frame = read_table(table, ("id", "species"))
        mapping = dict(zip(frame["id"], frame["species"], strict=True))
        return np.array([mapping.get(i, "unknown") for i in ids], dtype=object)
    return np.array([mirbase_species(i) if "-" in i else "unknown" for i in ids], dtype=object)


def per_species(
    labels: np.ndarray, probability: np.ndarray, species: np.ndarray, threshold: float = 0.5
) -> pd.DataFrame:
    """Recall of pre-miRNAs (and of negatives, as specificity) per species."""
    rows = []
    called = probability >= threshold
    for name in sorted(set(species.tolist())):
        mask = species == name
        positive, negative = mask & (labels == 1), mask & (labels == 0)
        rows.append(
            {
                "species": name,
                "n_positive": int(positive.sum()),
                "n_negative": int(negative.sum()),
                "recall": _ratio(called[positive].sum(), positive.sum()),
                "specificity": _ratio((~called[negative]).sum(), negative.sum()),
                "mean_probability_positive": (
                    float(probability[positive].mean()) if positive.any() else float("nan")
                ),
            }
        )
    return pd.DataFrame(rows)


def _other_models(
    labels: np.ndarray, extra: dict[str, np.ndarray], scored: np.ndarray, threshold: float
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics (`features_*`, `fused_*`) and curves of the feature trees and the fused model."""
    values, curves = {}, {}
    for model, column, name in (
        ("features", "features_probability", "feature trees"),
        ("fused", "fused_probability", "CNN + trees"),
    ):
        if column in extra:
            curves[name] = extra[column][scored]
            other = binary_metrics(labels[scored], curves[name], threshold)
            values.update({f"{model}_{m}": other[m] for m in OTHER_METRICS})
    return values, curves


def _log_metrics(values: dict[str, float], checkpoint: dict[str, Any]) -> None:
    log.info(
        "test: %d images (%s network, best epoch %s): accuracy %.4f, ROC AUC %.4f, PR AUC %.4f",
        int(values["n"]),
        checkpoint.get("architecture"),
        checkpoint.get("best_epoch"),
        values["accuracy"],
        values["roc_auc"],
        values["pr_auc"],
    )
    if "fused_accuracy" in values:
        log.info(
            "feature trees: accuracy %.4f, ROC AUC %.4f; fused with the CNN: accuracy %.4f, "
            "ROC AUC %.4f",
            values["features_accuracy"],
            values["features_roc_auc"],
            values["fused_accuracy"],
            values["fused_roc_auc"],
        )


def evaluate_cnn(
    test_npz: str | Path,
    model_path: str | Path,
    metrics_tsv: str | Path,
    predictions_tsv: str | Path,
    roc_png: str | Path,
    pr_png: str | Path,
    confusion_png: str | Path,
    calibration_png: str | Path,
    species_tsv: str | Path,
    species_png: str | Path,
    molecules: str | Path | None = None,
    threshold: float = 0.5,
    batch_size: int = 256,
    threads: int = 1,
    features_model: str | Path | None = None,
) -> dict[str, float]:
    """Score the test split with a checkpoint and write every table and figure; returns metrics.

    With `features_model` (`premirna.classifier.feature_model`; needs `molecules`, the fold
    stage's table, for the sequences and structures), the predictions gain `homology`,
    `features_probability` and `fused_probability`, the metrics `features_*` and `fused_*` rows,
    the curves two lines.
    """
    use_threads(threads)
    device = choose_device("auto")
    model, checkpoint = load_checkpoint(model_path, device)
    test = read_images(test_npz, encodable_only=False)
    ids, labels, scored = test.ids, test.labels, test.encodable
    probability = np.full(len(ids), np.nan)
    probability[scored] = predict_proba(model, test.images[scored], batch_size, device)
    species = species_of(ids, molecules)

    values = binary_metrics(labels[scored], probability[scored], threshold)
    values = {**values, "n_unencodable": float((~scored).sum())}
    extra = _feature_columns(features_model, molecules, ids, scored, probability, threads)
    other, curves = _other_models(labels, extra, scored, threshold)
    values.update(other)
    write_tsv(metrics_table(values), metrics_tsv)
    predictions = pd.DataFrame(
        {
            "id": ids,
            "species": species,
            "label": labels,
            "encodable": scored,
            "probability": probability,
            "predicted": np.where(scored, (probability >= threshold).astype(int), -1),
            **extra,
        }
    )
    write_tsv(predictions, predictions_tsv)
    species_table = per_species(labels[scored], probability[scored], species[scored], threshold)
    write_tsv(species_table, species_tsv)

    plot_roc_pr(labels[scored], probability[scored], roc_png, pr_png, curves)
    plot_confusion(labels[scored], probability[scored], confusion_png, threshold)
    plot_calibration(labels[scored], probability[scored], calibration_png)
    plot_species(species_table, species_png)
    _log_metrics(values, checkpoint)
    return values


def _feature_columns(
    features_model: str | Path | None,
    molecules: str | Path | None,
    ids: np.ndarray,
    scored: np.ndarray,
    probability: np.ndarray,
    threads: int,
) -> dict[str, np.ndarray]:
    """`homology`, `features_probability`, `fused_probability` of the scored test images (NaN
    elsewhere); empty without a feature model."""
    if features_model is None:
        return {}
    if molecules is None:
        raise ValueError("evaluate_cnn: the feature trees need the molecule table (folded.tsv)")
    table = read_folded(molecules)
    missing = [i for i in ids[scored] if i not in table.index]
    if missing:
        raise InputError(molecules, f"{len(missing)} scored test ids missing", missing[0])
    rows = table[["sequence", "structure"]].reindex(ids).fillna("")  # unscored: not looked at
    return feature_columns(
        features_model,
        rows["sequence"].tolist(),
        rows["structure"].tolist(),
        probability,
        scored,
        threads,
        list(ids),
    )

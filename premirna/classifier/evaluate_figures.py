"""Figures of the evaluate_cnn stage: ROC and precision-recall curves, the confusion matrix,
calibration and recall per species."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from premirna.core.figures import pyplot, save_figure


def plot_roc_pr(
    labels: np.ndarray,
    probability: np.ndarray,
    roc_path: str | Path,
    pr_path: str | Path,
    others: dict[str, np.ndarray] | None = None,
) -> None:
    """ROC curve and precision-recall curve, each with its area in the legend; `others` adds a
    curve per named probability (the feature trees, the fused model)."""
    plt = pyplot()
    curves = {"CNN": probability, **(others or {})}
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if len(np.unique(labels)) == 2:
        for name, values in curves.items():
            fpr, tpr, _ = skm.roc_curve(labels, values)
            ax.plot(fpr, tpr, label=f"{name} (AUC {skm.auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", label="chance")
    ax.set(
        xlabel="false positive rate (1 - specificity)",
        ylabel="true positive rate (sensitivity)",
        title="ROC, test split",
    )
    ax.legend(loc="lower right")
    save_figure(fig, roc_path)

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if len(np.unique(labels)) == 2:
        for name, values in curves.items():
            precision, recall, _ = skm.precision_recall_curve(labels, values)
            ap = skm.average_precision_score(labels, values)
            ax.step(recall, precision, where="post", label=f"{name} (AP {ap:.3f})")
        ax.axhline(labels.mean(), color="grey", ls=":", label="chance (prevalence)")
    ax.set(
        xlabel="recall (sensitivity)",
        ylabel="precision",
        ylim=(0, 1.02),
        title="Precision-recall, test split",
    )
    ax.legend(loc="lower left")
    save_figure(fig, pr_path)


def plot_confusion(
    labels: np.ndarray, probability: np.ndarray, path: str | Path, threshold: float = 0.5
) -> None:
    """Confusion matrix at `threshold`, counts and row-normalised shares."""
    plt = pyplot()
    matrix = skm.confusion_matrix(labels, probability >= threshold, labels=[0, 1])
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    names = ["not", "pre-miRNA"]
    for i in range(2):
        for j in range(2):
            ax.text(
                j,
                i,
                f"{matrix[i, j]}\n{shares[i, j]:.1%}",
                ha="center",
                va="center",
                color="white" if shares[i, j] > 0.5 else "black",
            )
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=names,
        yticklabels=names,
        xlabel="predicted",
        ylabel="true",
        title=f"Confusion matrix (threshold {threshold:g})",
    )
    fig.tight_layout()
    save_figure(fig, path)


def plot_calibration(
    labels: np.ndarray, probability: np.ndarray, path: str | Path, bins: int = 10
) -> None:
    """Reliability diagram (observed share of pre-miRNAs per probability bin) and histogram."""
    from sklearn.calibration import calibration_curve

    plt = pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(4.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    if len(np.unique(labels)) == 2:
        observed, predicted = calibration_curve(labels, probability, n_bins=bins)
        top.plot(predicted, observed, marker="o", label="CNN")
    top.plot([0, 1], [0, 1], color="grey", ls=":", label="perfectly calibrated")
    top.set(ylabel="share of pre-miRNAs", title="Calibration, test split")
    top.legend(loc="upper left")
    bottom.hist(
        [probability[labels == 0], probability[labels == 1]],
        bins=bins,
        range=(0, 1),
        label=["not", "pre-miRNA"],
        stacked=True,
    )
    bottom.set(xlabel="predicted probability of pre-miRNA", ylabel="images")
    bottom.legend(fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_species(table: pd.DataFrame, path: str | Path) -> None:
    """Recall of pre-miRNAs per species (bars), with the number of positives on each bar."""
    plt = pyplot()
    part = table[table["n_positive"] > 0]
    fig, ax = plt.subplots(figsize=(min(9.0, max(4.0, 0.35 * len(part) + 2)), 3.5))
    ax.bar(part["species"], part["recall"])
    for x, (recall, n) in enumerate(zip(part["recall"], part["n_positive"], strict=True)):
        ax.text(x, recall, str(n), ha="center", va="bottom", fontsize=9)
    ax.set(ylim=(0, 1.08), ylabel="recall of pre-miRNAs", title="Recall per species (n positives)")
    ax.tick_params(axis="x", rotation=90)
    fig.tight_layout()
    save_figure(fig, path)

"""Figures of the validate stage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.figures import pyplot, save_figure
from premirna.encode.images import read_images
from premirna.encode.stage import plot_examples as draw
from premirna.validate.metrics import BASELINES, REALISM_ATTRIBUTES, TARGETS


def plot_realism(
    scored: pd.DataFrame, reference: pd.DataFrame, path: str | Path, summary: pd.DataFrame
) -> None:
    """Empirical CDFs of the realism attributes: generated and baselines against real held-out."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(REALISM_ATTRIBUTES), figsize=(4 * len(REALISM_ATTRIBUTES), 3.4))
    colours = {"generated": "C3", "real": "C0", "shuffled": "C1", "random": "C7"}
    ks = summary.set_index("group")
    for ax, attribute in zip(axes, REALISM_ATTRIBUTES, strict=True):
        ref = np.sort(reference[attribute].dropna().to_numpy(dtype=float))
        ax.step(ref, np.arange(1, len(ref) + 1) / len(ref), where="post", color="k", lw=2,
                label="test split (reference)")
        for name, colour in colours.items():
            values = np.sort(
                scored.loc[scored["set"] == name, attribute].dropna().to_numpy(dtype=float)
            )
            if not len(values):
                continue
            stat = ks.at[name, f"ks_{attribute}"] if name in ks.index else math.nan
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post",
                    color=colour, label=f"{name} (KS {stat:.2f})")
        ax.set_xlabel(attribute.replace("_", " "))
        ax.set_ylabel("cumulative share")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def plot_examples(
    scored: pd.DataFrame, generated_npz: str | Path, path: str | Path, n: int = 6
) -> None:
    """Images of `n` generated molecules (the first of each of the first `n` conditions), each
    titled with what validation found: does it fold as drawn, the CNN's probability, the
    distance to the nearest training sequence."""
    generated = scored[scored["set"] == "generated"]
    chosen = generated.groupby("condition", sort=False).head(1).head(n)
    found = read_images(generated_npz, encodable_only=False)
    where = {name: i for i, name in enumerate(found.ids.tolist())}
    images = found.images[[where[name] for name in chosen["id"]]]
    titles = []
    for row in chosen.itertuples(index=False):
        folds = "folds as drawn" if row.agrees else "re-folds differently"
        judged = (f", CNN p = {row.cnn_probability:.2f}"
                  if "cnn_probability" in chosen and not pd.isna(row.cnn_probability) else "")
        titles.append(f"{row.id} ({row.condition}): {len(row.sequence)} nt, {folds}{judged}, "
                      f"nearest training sequence {row.nearest_train_distance:.2f} away")
    draw(images, titles, path)


def plot_metrics(summary: pd.DataFrame, path: str | Path) -> None:
    """Bar chart of the rate metrics for generated molecules and the three baselines."""
    plt = pyplot()
    metrics = ["validity", "structure_agreement", "judged_premirna", "novelty", "uniqueness",
               "conditional_control"]
    groups = [g for g in ("generated", *BASELINES) if g in set(summary["group"])]
    table = summary.set_index("group").loc[groups, metrics]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / max(len(groups), 1)
    x = np.arange(len(metrics))
    for k, name in enumerate(groups):
        ax.bar(x + k * width, table.loc[name].to_numpy(dtype=float), width, label=name)
    for m, metric in enumerate(metrics):
        op, bound = TARGETS[metric]
        ax.hlines(bound, m - 0.1, m + 0.9, colors="k", linestyles="dashed", lw=1)
    ax.set_xticks(x + 0.4 - width / 2, [m.replace("_", "\n") for m in metrics], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.legend(fontsize=8, ncol=4, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path)

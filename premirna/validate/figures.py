"""Figures of the validate stage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.figures import panel_grid, pyplot, save_figure
from premirna.encode.image import image_key
from premirna.encode.images import read_images
from premirna.rna.drawing import draw_structure
from premirna.validate.metrics import BASELINES, REALISM_ATTRIBUTES, TARGETS


def plot_realism(
    scored: pd.DataFrame, reference: pd.DataFrame, path: str | Path, summary: pd.DataFrame
) -> None:
    """Empirical CDFs of the realism attributes: generated and baselines against real held-out."""
    fig, axes = panel_grid(len(REALISM_ATTRIBUTES), 3.0, 3.1)
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
        ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def _wrapped(text: str, width: int = 64) -> str:
    return "\n".join(text[i : i + width] for i in range(0, len(text), width)) or "-"


def plot_examples(
    scored: pd.DataFrame, generated_npz: str | Path, path: str | Path, n: int = 6
) -> None:
    """`n` generated molecules (the first of each of the first `n` conditions), one row each: the
    hairpin image as generated (with the colour key), its sequence and re-folded dot-bracket, and
    ViennaRNA's 2-D drawing of the re-folded structure; titled with what validation found (does
    it fold as drawn, the CNN's probability, the distance to the nearest training sequence)."""
    plt = pyplot()
    generated = scored[scored["set"] == "generated"]
    chosen = generated.groupby("condition", sort=False).head(1).head(n)
    found = read_images(generated_npz, encodable_only=False)
    where = {name: i for i, name in enumerate(found.ids.tolist())}
    rows = max(len(chosen), 1)
    fig, axes = plt.subplots(rows, 2, squeeze=False, figsize=(7.6, 3.1 * rows),
                             gridspec_kw={"width_ratios": [2.3, 1]})
    for (image_axis, drawing_axis), row in zip(axes, chosen.itertuples(index=False),
                                               strict=False):
        image_axis.imshow(found.images[where[row.id]], interpolation="nearest", aspect="auto")
        folds = "folds as drawn" if row.agrees else "re-folds differently"
        judged = (f", CNN p = {row.cnn_probability:.2f}"
                  if "cnn_probability" in chosen and not pd.isna(row.cnn_probability) else "")
        image_axis.set_title(f"{row.id} ({row.condition})\n{len(row.sequence)} nt, {folds}"
                             f"{judged}, nearest training sequence "
                             f"{row.nearest_train_distance:.2f} away", fontsize=9, loc="left")
        image_axis.set_xticks([0, 25, 50, 75, 99])
        image_axis.set_yticks([0, 12, 24])
        image_axis.tick_params(labelsize=9)
        image_axis.set_xlabel(f"{_wrapped(row.sequence)}\n{_wrapped(row.refolded)}",
                              fontsize=9, family="monospace", loc="left")
        if row.sequence and len(row.refolded) == len(row.sequence):
            draw_structure(drawing_axis, row.sequence, row.refolded, dot_size=10)
            drawing_axis.set_title(f"re-folded (MFE {row.mfe:.1f} kcal/mol)", fontsize=9)
        else:
            drawing_axis.axis("off")
    image_key(fig, (1.0, 0.98))
    fig.tight_layout()
    save_figure(fig, path)


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
    ax.set_xticks(x + 0.4 - width / 2, [m.replace("_", "\n") for m in metrics], fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.legend(fontsize=9, ncol=4, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path)

"""Figures of the interpret_cnn stage."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.figures import pyplot, save_figure
from premirna.interpret.attribution import METHOD_LABELS, method_label
from premirna.interpret.regions import CUT_SITES, REGION_LABELS, REGIONS
from premirna.interpret.tables import OUTCOMES, Molecules, normalised


def plot_examples(
    maps: Mapping[str, np.ndarray],
    molecules: Molecules,
    chosen: Sequence[int],
    path: str | Path,
    failing: Collection[str] = (),
) -> None:
    """One row per example molecule: the hairpin image, then each method's map over it."""
    plt = pyplot()
    methods = list(maps)
    n_rows = max(len(chosen), 1)
    fig, axes = plt.subplots(n_rows, len(methods) + 1, figsize=(2.6 * (len(methods) + 1),
                                                                 1.15 * n_rows + 0.6),
                             squeeze=False)
    for r, k in enumerate(chosen):
        image = molecules.images[k]
        axes[r, 0].imshow(image, aspect="auto", interpolation="nearest")
        axes[r, 0].set_ylabel(f"{molecules.outcome[k]}\np={molecules.probability[k]:.2f}",
                              fontsize=7)
        axes[r, 0].set_title(str(molecules.ids[k])[:28], fontsize=7)
        # The drawing in light grey, the map in red on top with opacity rising with the value:
        # unimportant pixels stay see-through, so the map reads against the hairpin's shape.
        grey = 0.6 + 0.4 * image.mean(axis=2) / 255.0
        for c, method in enumerate(methods, start=1):
            axes[r, c].imshow(grey, cmap="gray", aspect="auto", interpolation="nearest",
                              vmin=0, vmax=1)
            m = maps[method][k]
            top = float(np.quantile(m, 0.995)) or 1.0
            level = np.clip(m / top, 0, 1)
            overlay = plt.get_cmap("Reds")(0.35 + 0.65 * level)
            overlay[..., 3] = level**0.8
            axes[r, c].imshow(overlay, aspect="auto", interpolation="nearest")
            if r == 0:
                axes[r, c].set_title(method_label(method, failing), fontsize=8)
    for axis in axes.ravel():
        axis.set_xticks([0, 25, 50, 75, 99])
        axis.set_yticks([])
        axis.tick_params(labelsize=6)
    fig.suptitle("Attributions of example molecules (column 0 = terminal loop)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_class_averages(
    maps: Mapping[str, np.ndarray],
    molecules: Molecules,
    references: Mapping[str, np.ndarray],
    path: str | Path,
    failing: Collection[str] = (),
) -> dict[str, dict[str, np.ndarray]]:
    """Rows: methods; columns: TP, TN, FP, FN average maps (each molecule normalised to sum 1);
    a last row with the authors' maps. Returns the averages: method -> outcome -> 25 x 100."""
    plt = pyplot()
    averages: dict[str, dict[str, np.ndarray]] = {}
    present = [o for o in OUTCOMES if (molecules.outcome == o).any()]
    n_rows = len(maps) + (1 if references else 0)
    fig, axes = plt.subplots(n_rows, max(len(present), len(references), 1),
                             figsize=(3.2 * max(len(present), 1), 1.0 * n_rows + 0.8),
                             squeeze=False)
    for r, (method, method_maps) in enumerate(maps.items()):
        shares = normalised(method_maps)
        averages[method] = {}
        for c, o in enumerate(present):
            mask = molecules.outcome == o
            avg = shares[mask].mean(axis=0)
            averages[method][o] = avg
            axes[r, c].imshow(avg, cmap="inferno", aspect="auto", interpolation="nearest")
            axes[r, c].set_title(f"{method_label(method, failing)}: {o} (n={mask.sum()})",
                                 fontsize=7)
    if references:
        for c, (name, ref) in enumerate(references.items()):
            axes[-1, c].imshow(ref, cmap="inferno", aspect="auto", interpolation="nearest")
            axes[-1, c].set_title(f"Cordero et al. 2019: {name}", fontsize=7)
    for axis in axes.ravel():
        axis.set_xticks([0, 10, 40, 99])
        axis.set_yticks([0, 12, 24])
        axis.tick_params(labelsize=6)
        if not axis.images:
            axis.axis("off")
    fig.suptitle("Class-average attribution maps (share of each molecule's total)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    return averages


def plot_regions(summary: pd.DataFrame, path: str | Path, failing: Collection[str] = ()) -> None:
    """Enrichment (attribution share / pixel share) per region and cut-site window, per class,
    one panel per method."""
    plt = pyplot()
    methods = list(dict.fromkeys(summary["method"]))
    names = [*REGIONS, *CUT_SITES]
    fig, axes = plt.subplots(1, len(methods), figsize=(3.0 * len(methods), 4.2), squeeze=False,
                             sharey=True)
    for axis, method in zip(axes[0], methods, strict=True):
        part = summary[summary["method"] == method]
        for offset, (group, colour) in enumerate(
            (("pre-miRNA", "tab:red"), ("not pre-miRNA", "tab:blue"))
        ):
            values = (
                part[part["group"] == group].set_index("region")["enrichment"].reindex(names)
            )
            axis.barh(np.arange(len(names)) + 0.2 * (1 - 2 * offset), values.to_numpy(),
                      height=0.4, color=colour, label=group)
        axis.axvline(1.0, color="grey", ls=":")
        axis.set_yticks(np.arange(len(names)))
        axis.set_yticklabels([REGION_LABELS.get(n, n.replace("_", " ") + " cut ±w")
                              for n in names], fontsize=7)
        axis.invert_yaxis()
        axis.set_title(method_label(method, failing), fontsize=8)
        axis.set_xlabel("enrichment (1 = as many\nattributions as pixels)", fontsize=7)
        axis.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def plot_profile(profile: pd.DataFrame, spans: Mapping[str, tuple[int, int]] | None,
                 path: str | Path, failing: Collection[str] = ()) -> None:
    """Mean attribution share per column (distance from the loop), 5' and 3' halves, per class."""
    plt = pyplot()
    methods = list(dict.fromkeys(profile["method"]))
    fig, axes = plt.subplots(len(methods), 1, figsize=(8, 1.6 * len(methods) + 0.6),
                             squeeze=False, sharex=True)
    for axis, method in zip(axes[:, 0], methods, strict=True):
        part = profile[profile["method"] == method]
        for group, colour in (("pre-miRNA", "tab:red"), ("not pre-miRNA", "tab:blue")):
            for half, style in (("5p", "-"), ("3p", "--")):
                line = part[(part["group"] == group) & (part["half"] == half)]
                if len(line):
                    axis.plot(line["column"], line["share_mean"], style, color=colour, lw=1,
                              label=f"{group}, {half} arm")
        if spans:
            axis.axvspan(spans["5p"][0], spans["5p"][1], color="orange", alpha=0.15,
                         label="typical mature 5p")
        axis.set_ylabel(method_label(method, failing).replace(" (", "\n("), fontsize=7)
        axis.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, ncol=3)
    axes[-1, 0].set_xlabel("image column = aligned distance from the terminal loop", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_sanity(sanity: pd.DataFrame, per_molecule: pd.DataFrame, path: str | Path) -> None:
    """Spearman of trained vs randomised maps per method, whole image and drawn pixels only
    (lower is better), with the flagging threshold."""
    plt = pyplot()
    names = list(dict.fromkeys(per_molecule["method"]))
    fig, axis = plt.subplots(figsize=(7.5, 0.55 * len(names) + 1.4))
    positions = np.arange(len(names))
    for offset, column, colour, label in (
        (-0.18, "spearman", "tab:blue", "whole image (verdict)"),
        (0.18, "spearman_drawn", "tab:orange", "drawn pixels only"),
    ):
        data = [per_molecule.loc[per_molecule["method"] == n, column].to_numpy() for n in names]
        parts = axis.boxplot(data, positions=positions + offset, widths=0.3,
                             orientation="horizontal", patch_artist=True, manage_ticks=False)
        for box in parts["boxes"]:
            box.set_facecolor(colour)
            box.set_alpha(0.6)
        axis.plot([], [], color=colour, lw=6, alpha=0.6, label=label)
    verdicts = sanity.set_index("method")["verdict"]
    axis.set_yticks(positions)
    axis.set_yticklabels([f"{METHOD_LABELS.get(n, n)}\n{verdicts[n].split(' (')[0]}"
                          for n in names], fontsize=7)
    axis.invert_yaxis()
    threshold = float(sanity["threshold"].iloc[0]) if len(sanity) else 0.5
    axis.axvline(threshold, color="red", ls="--", label=f"flagged at median ≥ {threshold}")
    axis.set_xlabel("Spearman rank correlation, trained vs randomised model (per molecule)",
                    fontsize=8)
    axis.set_xlim(-0.5, 1.02)
    axis.legend(fontsize=7, loc="lower left")
    axis.set_title("Model-randomisation sanity check (Adebayo et al. 2018)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_agreement(agreement: pd.DataFrame, path: str | Path,
                   failing: Collection[str] = ()) -> None:
    """Heatmap of the median per-molecule Spearman correlation between methods."""
    plt = pyplot()
    labels = [method_label(m, failing) for m in agreement.index]
    fig, axis = plt.subplots(figsize=(5.2, 4.4))
    image = axis.imshow(agreement.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(len(labels)):
        for j in range(len(labels)):
            axis.text(j, i, f"{agreement.iat[i, j]:.2f}", ha="center", va="center", fontsize=7)
    axis.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=7)
    axis.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(image, ax=axis, shrink=0.8, label="median Spearman")
    axis.set_title("Rank agreement between methods", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_statistics(table: pd.DataFrame, path: str | Path, failing: Collection[str] = ()) -> None:
    """Forest plot of the region statistics (`premirna.interpret.statistics`): per area, each
    method's excess over its shifted copies in pre-miRNAs and in negatives, and the class contrast
    (pre-miRNAs minus negatives at the same columns), with 95% bootstrap intervals. Filled markers:
    q < 0.05."""
    plt = pyplot()
    areas = list(dict.fromkeys(table["area"]))
    methods = list(dict.fromkeys(table["method"]))
    panels = (("excess_pre", "q_shift_pre", "pre-miRNAs: share minus shifted share"),
              ("excess_neg", "q_shift_neg", "negatives: share minus shifted share"),
              ("contrast_class", "q_class", "pre-miRNAs minus negatives (same columns)"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.42 * len(areas) + 2.2), sharey=True)
    colours = plt.get_cmap("tab10")
    spread = np.linspace(-0.3, 0.3, max(len(methods), 1))
    for axis, (column, q_column, title) in zip(axes, panels, strict=True):
        for m, method in enumerate(methods):
            part = table[table["method"] == method].set_index("area").reindex(areas)
            y = np.arange(len(areas)) + spread[m]
            low, high = part[f"{column}_low"].to_numpy(), part[f"{column}_high"].to_numpy()
            mean = part[column].to_numpy()
            axis.errorbar(mean, y, xerr=[mean - low, high - mean], fmt="none",
                          ecolor=colours(m), elinewidth=1, alpha=0.8)
            significant = part[q_column].to_numpy() < 0.05
            for mask, face in ((significant, colours(m)), (~significant, "white")):
                axis.scatter(mean[mask], y[mask], s=22, color=face, edgecolors=colours(m),
                             zorder=3, label=method_label(method, failing) if face != "white"
                             and axis is axes[0] else None)
        axis.axvline(0, color="black", lw=0.8)
        axis.set_title(title, fontsize=10)
        axis.tick_params(labelsize=9)
        axis.set_xlabel("share of the molecule's attribution", fontsize=9)
    axes[0].set_yticks(range(len(areas)),
                       [REGION_LABELS.get(a, a.replace("_", " ")) for a in areas], fontsize=9)
    axes[0].invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=min(len(methods), 4),
               fontsize=9, frameon=False)
    fig.suptitle("Where the CNN's evidence for pre-miRNA sits, against position-matched nulls "
                 "(filled: q < 0.05)", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_figure(fig, path)

"""Figures of the interpret_cnn stage."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.figures import panel_grid, pyplot, save_figure
from premirna.encode.image import image_key
from premirna.interpret.attribution import METHOD_LABELS, method_label
from premirna.interpret.regions import (
    CUT_SITES,
    REGION_LABELS,
    REGIONS,
    ColumnMap,
    MatureSites,
)
from premirna.interpret.tables import OUTCOMES, Molecules, normalised

SITE_COLOURS = {"5p": "tab:purple", "3p": "tab:green"}


def mark_sites(axis, columns: ColumnMap, sites: MatureSites | None) -> None:
    """Draw a molecule's mature arms and cut sites on a 25 x 100 map: each arm as a bar along
    the edge of its half (5p on top, 3p below), the Drosha cuts (outer ends of the duplex) as
    solid and the Dicer cuts (loop-side ends) as dashed lines through that half."""
    if sites is None:
        return
    for arm, span, positions, edge, rows in (
        ("5p", sites.five_p, columns.top, 0.0, (-0.5, 12.5)),
        ("3p", sites.three_p, columns.bottom, 24.0, (12.5, 24.5)),
    ):
        if span is None:
            continue
        drawn = np.flatnonzero((positions >= span[0]) & (positions <= span[1]))
        if not len(drawn):
            continue
        axis.plot([drawn.min() - 0.5, drawn.max() + 0.5], [edge, edge], color=SITE_COLOURS[arm],
                  lw=3, solid_capstyle="butt")
        # Columns run from the loop (0) outwards: the arm's outer end is its Drosha cut.
        axis.vlines(drawn.max() + 0.5, *rows, colors="black", lw=1.2)
        axis.vlines(drawn.min() - 0.5, *rows, colors="black", lw=1.2, linestyles="dashed")


def _site_legend(fig) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=SITE_COLOURS["5p"], lw=3, label="mature 5p"),
               Line2D([], [], color=SITE_COLOURS["3p"], lw=3, label="mature 3p"),
               Line2D([], [], color="black", lw=1.2, label="Drosha cut"),
               Line2D([], [], color="black", lw=1.2, ls="dashed", label="Dicer cut")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9, frameon=False)


def plot_examples(
    maps: Mapping[str, np.ndarray],
    molecules: Molecules,
    chosen: Sequence[int],
    path: str | Path,
    failing: Collection[str] = (),
) -> None:
    """One column per example molecule: its hairpin image (with the colour key), then each
    method's map over it, mature arms and cut sites marked, one colour bar for all maps."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    plt = pyplot()
    methods = list(maps)
    n_cols = max(len(chosen), 1)
    height = 0.95 * (len(methods) + 1) + 1.6
    fig, axes = plt.subplots(len(methods) + 1, n_cols, squeeze=False,
                             figsize=(min(8.0, 2.1 * n_cols + 1.2), height))
    reds = plt.get_cmap("Reds")
    for c, k in enumerate(chosen):
        image = molecules.images[k]
        axes[0, c].imshow(image, aspect="auto", interpolation="nearest")
        name = str(molecules.ids[k])
        name = name if len(name) <= 14 else "…" + name[-12:]  # CODING ids differ at the end
        axes[0, c].set_title(f"{name}\n{molecules.outcome[k]}, "
                             f"p = {molecules.probability[k]:.2f}", fontsize=9)
        # The drawing in light grey, the map in red on top with opacity rising with the value:
        # unimportant pixels stay see-through, so the map reads against the hairpin's shape.
        grey = 0.6 + 0.4 * image.mean(axis=2) / 255.0
        for r, method in enumerate(methods, start=1):
            axes[r, c].imshow(grey, cmap="gray", aspect="auto", interpolation="nearest",
                              vmin=0, vmax=1)
            m = maps[method][k]
            top = float(np.quantile(m, 0.995)) or 1.0
            level = np.clip(m / top, 0, 1)
            overlay = reds(0.35 + 0.65 * level)
            overlay[..., 3] = level**0.8
            axes[r, c].imshow(overlay, aspect="auto", interpolation="nearest")
            mark_sites(axes[r, c], molecules.columns[k], molecules.sites[k])
            if c == 0:
                axes[r, c].set_ylabel(method_label(method, failing).replace(" (", "\n("),
                                      fontsize=9, rotation=0, ha="right", va="center")
    for axis in axes.ravel():
        axis.set_xticks([0, 50, 99])
        axis.set_yticks([])
        axis.tick_params(labelsize=9)
    axes[0, 0].set_ylabel("hairpin\nimage", fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle("Attributions of example molecules (column 0 = terminal loop)", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 0.88, 1))
    shown = LinearSegmentedColormap.from_list("shown", reds(np.linspace(0.35, 1.0, 64)))
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), shown), ax=list(axes[1:, -1]),
                       fraction=0.04, pad=0.02)
    bar.set_label("attribution / its 99.5th percentile", fontsize=9)
    bar.ax.tick_params(labelsize=9)
    image_key(fig, (0.89, 0.80))
    _site_legend(fig)
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
    n_cols = max(len(present), len(references), 1)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(min(9.0, 2.2 * n_cols + 2.0),
                                                      1.1 * n_rows + 0.8), squeeze=False,
                             layout="constrained")
    for r, (method, method_maps) in enumerate(maps.items()):
        shares = normalised(method_maps)
        averages[method] = {}
        for o in present:
            averages[method][o] = shares[molecules.outcome == o].mean(axis=0)
        top = max((float(np.nanmax(a)) for a in averages[method].values()), default=1.0) or 1.0
        for c, o in enumerate(present):
            shown = axes[r, c].imshow(averages[method][o], cmap="inferno", vmin=0, vmax=top,
                                      aspect="auto", interpolation="nearest")
            if r == 0:
                axes[r, c].set_title(f"{o} (n={(molecules.outcome == o).sum()})", fontsize=9)
        axes[r, 0].set_ylabel(method_label(method, failing).replace(" (", "\n("), fontsize=9,
                              rotation=0, ha="right", va="center")
        bar = fig.colorbar(shown, ax=list(axes[r, :]), fraction=0.03, pad=0.01)
        bar.ax.tick_params(labelsize=9)
    if references:
        for c, (name, ref) in enumerate(references.items()):
            shown = axes[-1, c].imshow(ref, cmap="inferno", aspect="auto",
                                       interpolation="nearest")
            axes[-1, c].set_title(f"Cordero et al. 2019: {name}", fontsize=9)
        fig.colorbar(shown, ax=list(axes[-1, :]), fraction=0.03, pad=0.01).ax.tick_params(
            labelsize=9)
    for axis in axes.ravel():
        axis.set_xticks([0, 10, 40, 99])
        axis.set_yticks([0, 12, 24])
        axis.tick_params(labelsize=9)
        if not axis.images:
            axis.axis("off")
    fig.suptitle("Class-average attribution maps (share of each molecule's total; one scale per "
                 "row)", fontsize=9)
    save_figure(fig, path)
    return averages


def plot_regions(summary: pd.DataFrame, path: str | Path, failing: Collection[str] = ()) -> None:
    """Enrichment (attribution share / pixel share) per region and cut-site window, per class,
    one panel per method."""
    methods = list(dict.fromkeys(summary["method"]))
    names = [*REGIONS, *CUT_SITES]
    fig, axes = panel_grid(len(methods), 3.0, 4.4, sharey=True)
    for axis, method in zip(axes, methods, strict=True):
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
                              for n in names], fontsize=9)
        axis.invert_yaxis()
        axis.set_title(method_label(method, failing), fontsize=9)
        axis.set_xlabel("enrichment (1 = as many\nattributions as pixels)", fontsize=9)
        axis.tick_params(labelsize=9)
    axes[0].legend(fontsize=9)
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
        axis.set_ylabel(method_label(method, failing).replace(" (", "\n("), fontsize=9)
        axis.tick_params(labelsize=9)
    axes[0, 0].legend(fontsize=9, ncol=3)
    axes[-1, 0].set_xlabel("image column = aligned distance from the terminal loop", fontsize=9)
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
                          for n in names], fontsize=9)
    axis.invert_yaxis()
    threshold = float(sanity["threshold"].iloc[0]) if len(sanity) else 0.5
    axis.axvline(threshold, color="red", ls="--", label=f"flagged at median ≥ {threshold}")
    axis.set_xlabel("Spearman rank correlation, trained vs randomised model (per molecule)",
                    fontsize=9)
    axis.set_xlim(-0.5, 1.02)
    axis.legend(fontsize=9, loc="lower left")
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
            axis.text(j, i, f"{agreement.iat[i, j]:.2f}", ha="center", va="center", fontsize=9)
    axis.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=9)
    axis.set_yticks(range(len(labels)), labels, fontsize=9)
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
    panels = (("excess_pre", "q_shift_pre", "pre-miRNAs:\nshare minus shifted share"),
              ("excess_neg", "q_shift_neg", "negatives:\nshare minus shifted share"),
              ("contrast_class", "q_class", "pre-miRNAs minus negatives\n(same columns)"))
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 0.42 * len(areas) + 2.6), sharey=True)
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
        axis.set_xlabel("share of the\nmolecule's attribution", fontsize=9)
    axes[0].set_yticks(range(len(areas)),
                       [REGION_LABELS.get(a, a.replace("_", " ")) for a in areas], fontsize=9)
    axes[0].invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=min(len(methods), 4),
               fontsize=9, frameon=False)
    fig.suptitle("Where the CNN's evidence for pre-miRNA sits, against position-matched nulls "
                 "(filled: q < 0.05)", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_figure(fig, path)

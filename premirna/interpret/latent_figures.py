"""Figures of the interpret_cvae stage."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.figures import pyplot, save_figure
from premirna.interpret.latent import ACTIVE_VARIANCE, ATTRIBUTES


def plot_links(links: pd.DataFrame, variances: np.ndarray, path: str | Path) -> None:
    """Heatmaps: Spearman's rho (left) and mutual information (right), dimensions x attributes."""
    plt = pyplot()
    rho = links.pivot(index="dimension", columns="attribute", values="spearman")
    mi = links.pivot(index="dimension", columns="attribute", values="mutual_information")
    order = [a for a in ATTRIBUTES if a in rho.columns]
    rho, mi = rho[order], mi[order]
    labels = [ATTRIBUTES[a] for a in order]
    fig, axes = plt.subplots(2, 1, figsize=(9.0, 2 * (0.33 * len(rho) + 2.4)))
    for axis, table, title, cmap, limits in (
        (axes[0], rho, "Spearman ρ", "RdBu_r", (-1, 1)),
        (axes[1], mi, "mutual information (nats)", "viridis", (0, None)),
    ):
        image = axis.imshow(table.to_numpy(dtype=float), cmap=cmap, vmin=limits[0],
                            vmax=limits[1], aspect="auto")
        axis.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=9)
        axis.set_yticks(range(len(table)), [
            f"z{d}" + (" (collapsed)" if variances[d] < ACTIVE_VARIANCE else "")
            for d in table.index], fontsize=9)
        for i in range(table.shape[0]):
            for j in range(table.shape[1]):
                value = table.iat[i, j]
                if not pd.isna(value):
                    axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9)
        axis.set_title(title, fontsize=9)
        fig.colorbar(image, ax=axis, shrink=0.8)
    fig.suptitle("Latent dimensions of the CVAE against hairpin attributes", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_probe(probe: pd.DataFrame, path: str | Path) -> None:
    """Cross-validated R² of the linear probe per attribute."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(6, 0.4 * len(probe) + 1.2))
    labels = [ATTRIBUTES[a] for a in probe["attribute"]]
    axis.barh(range(len(probe)), probe["r2_mean"], xerr=probe["r2_sd"], color="tab:green")
    axis.set_yticks(range(len(probe)), labels, fontsize=9)
    axis.invert_yaxis()
    axis.axvline(0, color="grey", lw=0.8)
    axis.set_xlabel("cross-validated R² (ridge regression from the whole latent vector)",
                    fontsize=9)
    axis.set_xlim(min(-0.1, float(np.nanmin(probe["r2_mean"])) - 0.05)
                  if probe["r2_mean"].notna().any() else -0.1, 1)
    fig.tight_layout()
    save_figure(fig, path)


def plot_traversals(
    traversals: pd.DataFrame | None, attributes: Sequence[str], path: str | Path,
    predicted: Sequence[str] = (),
) -> None:
    """Refolded attributes of molecules decoded along each latent dimension: one panel per
    attribute, one line per dimension (mean over the molecules at each step); the panels of
    `predicted` attributes (the mature starts, from the loop) say so."""
    plt = pyplot()
    if traversals is None or traversals.empty:
        fig, axis = plt.subplots(figsize=(6, 1.5))
        axis.text(0.5, 0.5, "no latent traversals were written by the generate stage",
                  ha="center", va="center")
        axis.axis("off")
        save_figure(fig, path)
        return
    step = "value"
    shown = [a for a in attributes if a in traversals.columns]
    n_cols = min(3, max(len(shown), 1))
    n_rows = max(1, math.ceil(len(shown) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.0 * n_cols, 3.0 * n_rows),
                             squeeze=False)
    dims = sorted(traversals["dimension"].unique())
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(dims), 2)))
    for axis, name in zip(axes.ravel(), shown, strict=False):
        for colour, dim in zip(colours, dims, strict=False):
            part = traversals[traversals["dimension"] == dim]
            mean = part.groupby(step)[name].mean()
            axis.plot(mean.index, mean.to_numpy(), color=colour, lw=1, label=f"z{dim}")
        title = ATTRIBUTES.get(name, name)
        axis.set_title(title + (",\npredicted from the loop" if name in predicted else ""),
                       fontsize=9)
        axis.set_xlabel("position along the dimension (z)", fontsize=9)
        axis.tick_params(labelsize=9)
    for axis in axes.ravel()[len(shown):]:
        axis.axis("off")
    axes[0, 0].legend(fontsize=9, ncol=2)
    fig.suptitle("Latent traversals: attributes of the decoded and refolded molecules",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_disentanglement(scores: pd.DataFrame, path: str | Path) -> None:
    """Left: per attribute MIG (with its bootstrap interval), DCI completeness and held-out R²;
    right: the DCI importance of every latent dimension for every attribute. Overall scores in
    the title."""
    plt = pyplot()
    rows = scores[scores["kind"] == "attribute"].reset_index(drop=True)
    overall = scores[scores["kind"] == "overall"].iloc[0]
    columns = [c for c in scores.columns if c.startswith("importance_")]
    labels = [ATTRIBUTES.get(a, a) + (f" [z{int(t)}]" if t >= 0 else "")
              for a, t in zip(rows["attribute"], rows["tied_dimension"], strict=True)]
    fig, axes = plt.subplots(2, 1, figsize=(9.0, 2 * (0.5 * len(rows) + 2.0)))
    y = np.arange(len(rows))
    axis = axes[0]
    mig = rows["mig"].to_numpy(dtype=float)
    error = np.abs(np.vstack([mig - rows["mig_low"].to_numpy(dtype=float),
                              rows["mig_high"].to_numpy(dtype=float) - mig]))
    for offset, values, name, colour, err in (
        (-0.27, mig, "MIG", "tab:blue", np.nan_to_num(error)),
        (0.0, rows["completeness"], "DCI completeness", "tab:orange", None),
        (0.27, rows["informativeness_r2"], "held-out R² (informativeness)", "tab:green", None),
    ):
        axis.barh(y + offset, values, height=0.26, color=colour, label=name, xerr=err,
                  error_kw={"lw": 0.8})
    axis.set_yticks(y, labels, fontsize=9)
    axis.invert_yaxis()
    axis.axvline(0, color="grey", lw=0.8)
    axis.set_xlim(min(-0.05, float(np.nanmin(rows["informativeness_r2"])) - 0.05)
                  if rows["informativeness_r2"].notna().any() else -0.05, 1)
    axis.set_xlabel("score (1 = one dimension carries the attribute completely)", fontsize=9)
    axis.tick_params(labelsize=9)
    axis.legend(fontsize=9, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
                frameon=False)
    axis = axes[1]
    matrix = rows[columns].to_numpy(dtype=float)
    image = axis.imshow(matrix, cmap="viridis", vmin=0, vmax=max(0.01, float(np.nanmax(matrix)))
                        if np.isfinite(matrix).any() else 1, aspect="auto")
    axis.set_yticks(y, labels, fontsize=9)
    axis.set_xticks(range(len(columns)), [c.removeprefix("importance_z") for c in columns],
                    fontsize=9)
    axis.set_xlabel("latent dimension z", fontsize=9)
    axis.set_title("DCI importance (per attribute, sums to 1)", fontsize=10)
    colourbar = fig.colorbar(image, ax=axis, shrink=0.8)
    colourbar.ax.tick_params(labelsize=9)
    fig.suptitle(f"Disentanglement against hairpin attributes ([zN]: tied by training)\n"
                 f"mean MIG {overall['mig']:.2f}, DCI disentanglement "
                 f"{overall['disentanglement']:.2f}, completeness {overall['completeness']:.2f}, "
                 f"informativeness (R²) {overall['informativeness_r2']:.2f}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)

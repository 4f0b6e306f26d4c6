"""Figures of the train_cvae and generate stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.figures import pyplot, save_figure
from premirna.core.seeds import offset
from premirna.generator.conditions import make_conditions
from premirna.generator.data import HairpinSet
from premirna.generator.network import CVAE
from premirna.generator.posterior import encode_posterior
from premirna.generator.sample import Decoded, decode_latents
from premirna.generator.tokens import token_lengths


def plot_history(history: pd.DataFrame, path: str | Path) -> None:
    """Reconstruction, KL and validation loss per epoch, with the KL weight."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.2))
    axes[0].plot(history["epoch"], history["recon"], label="train")
    axes[0].plot(history["epoch"], history["val_recon"], label="validation")
    axes[0].set_title("reconstruction (nats / molecule)", fontsize=9)
    axes[1].plot(history["epoch"], history["kl"], label="train")
    axes[1].plot(history["epoch"], history["val_kl"], label="validation")
    axes[1].set_title("KL (nats / molecule)", fontsize=9)
    axes[2].plot(history["epoch"], history["val"], color="C2")
    axes[2].set_title("validation loss (recon + beta KL)", fontsize=9)
    twin = axes[2].twinx()
    twin.plot(history["epoch"], history["beta"], color="grey", ls="--")
    twin.set_ylabel("beta", color="grey")
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_reconstructions(
    model: CVAE, data: HairpinSet, bins: dict[str, list[float]], path: str | Path,
    n: int = 6, seed: int = 0, samples: int = 2,
) -> None:
    """Input images beside reconstructions: z = the posterior mean under the molecule's own class
    and bins, decoded `samples` times (temperature 1, plain conditional decoder, seeded)."""
    plt = pyplot()
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(data), size=min(n, len(data)), replace=False))
    conditions = make_conditions(data.labels[chosen], data.attributes.iloc[chosen], bins)
    mu, _ = encode_posterior(model, data.images[chosen], conditions)
    decoded = [decode_latents(model, mu, conditions, seed=offset(seed, "reconstruction", k))
               for k in range(samples)]
    fig, axes = plt.subplots(len(chosen), 1 + samples, squeeze=False,
                             figsize=(3.0 * (1 + samples), 1.45 * len(chosen) + 0.4))
    for row, index in enumerate(chosen):
        length = int(data.attributes.at[index, "length"]) if "length" in data.attributes else 0
        panels = [(data.images[index], f"{data.ids[index]}\n(input, {length} nt)")]
        drawn = int(token_lengths(data.tokens[index])[0]) - 1  # the input's drawn columns
        for k, result in enumerate(decoded):
            same = (result.tokens[row, :drawn] == data.tokens[index, :drawn]).mean()
            panels.append((result.images[row],
                           f"sample {k + 1}: {len(result.sequences[row])} nt,\n"
                           f"{same:.0%} of the input's columns equal"))
        for col, (image, title) in enumerate(panels):
            axes[row, col].imshow(image, interpolation="nearest", aspect="auto")
            axes[row, col].set_title(title, fontsize=9)
            axes[row, col].axis("off")
    fig.tight_layout()
    save_figure(fig, path)


def plot_traversals(
    frame: pd.DataFrame, decoded: Decoded, path: str | Path, max_dimensions: int = 16
) -> None:
    """One row per latent dimension: the first sample's image at every step of the grid (its
    value in SD on the first row when every dimension shares the grid, else the step)."""
    plt = pyplot()
    first = frame["sample"].to_numpy() == 0
    dims = sorted(frame["dimension"].unique())[:max_dimensions]
    steps = sorted(frame["step"].unique())
    shared = frame.groupby("step")["value"].nunique().max() == 1
    fig, axes = plt.subplots(len(dims), len(steps), squeeze=False,
                             figsize=(min(9.0, 1.4 * len(steps)), 0.5 * len(dims) + 0.8))
    for r, d in enumerate(dims):
        for c, step in enumerate(steps):
            index = np.flatnonzero(first & (frame["dimension"].to_numpy() == d)
                                   & (frame["step"].to_numpy() == step))[0]
            ax = axes[r, c]
            ax.imshow(decoded.images[index], interpolation="nearest", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"z{d}", rotation=0, ha="right", va="center", fontsize=9)
            if r == 0:
                value = frame["value"].to_numpy()[index]
                ax.set_title(f"{value:+.1f} SD" if shared else f"step {step + 1}", fontsize=9)
    fig.suptitle("Latent traversals (pre-miRNA class; other dimensions 0)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)

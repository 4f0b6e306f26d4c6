"""The CVAE's checkpoint and its encoder: posteriors of real molecules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from premirna.core.errors import InputError
from premirna.encode.images import read_images
from premirna.generator.conditions import make_conditions
from premirna.generator.network import CVAE, CVAEConfig
from premirna.training.checkpoints import load_model
from premirna.training.tensors import batched_inference


def load_cvae(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[CVAE, dict[str, Any]]:
    """Rebuild the network of a checkpoint from its `model_args`; (model in eval mode, dict)."""
    return load_model(
        path, lambda args: CVAE(CVAEConfig.from_saved(args)), device, kind="generator"
    )


def encode_posterior(
    model: CVAE,
    images: np.ndarray,
    conditions: np.ndarray,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances (N x latent) of uint8 images under given conditions.

    Build `conditions` with `make_conditions` from the checkpoint's `bins` (the molecules' own
    class and bins, or None for "not specified").
    """
    out = batched_inference(model, model.encode, images, [conditions], batch_size)
    if out is None:
        dim = model.config.latent_dim
        return np.zeros((0, dim), np.float32), np.zeros((0, dim), np.float32)
    mu, logvar = out
    return mu, logvar


def _find_images(
    wanted: Sequence[str], npz_paths: Sequence[str | Path], table: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Images, labels and fold-table rows of the molecules `wanted`, from any of the npz files."""
    found: dict[str, tuple[np.ndarray, int]] = {}
    for path in npz_paths:
        images = read_images(path, encodable_only=False)
        for row in np.flatnonzero(np.isin(images.ids, list(wanted))):
            found[images.ids[row]] = (images.images[row], int(images.labels[row]))
    missing = [w for w in wanted if w not in found or w not in table.index]
    if missing:
        raise InputError(", ".join(str(p) for p in npz_paths),
                         "generate.around names molecules that are not encoded",
                         record=missing[0])
    images = np.stack([found[w][0] for w in wanted])
    labels = np.array([found[w][1] for w in wanted], dtype=np.int64)
    return images, labels, table.loc[list(wanted)].reset_index(drop=True)


def training_posteriors(
    model: CVAE,
    checkpoint: Mapping[str, Any],
    reference: pd.DataFrame,
    image_npz: Sequence[str | Path],
    table: pd.DataFrame,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Posterior mean and SD of z for every reference (training) molecule, under its own class
    and bins: the aggregate posterior that `latent: posterior` samples from."""
    ids = reference["id"].astype(str).tolist()
    images, labels, rows = _find_images(ids, image_npz, table)
    mu, logvar = encode_posterior(model, images, make_conditions(labels, rows, checkpoint["bins"]))
    sd = np.exp(0.5 * logvar)
    return {name: (mu[i], sd[i]) for i, name in enumerate(ids)}


def posterior_latents(
    posterior: Mapping[str, tuple[np.ndarray, np.ndarray]], sources: Sequence[str],
    noise: np.ndarray,
) -> np.ndarray:
    """z = mu + SD * noise from the posterior of each row's source molecule; rows without a
    source keep `noise` (a prior draw)."""
    z = np.array(noise, dtype=np.float32, copy=True)
    for i, name in enumerate(sources):
        if name:
            mu, sd = posterior[name]
            z[i] = mu + sd * noise[i]
    return z

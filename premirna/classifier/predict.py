"""Scores of a trained classifier: checkpoints in, probabilities out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from premirna.classifier.network import CNNConfig, build_model
from premirna.training.checkpoints import load_model
from premirna.training.tensors import batched_inference


def predict_logits(
    model: nn.Module, images: np.ndarray, batch_size: int = 512, device: torch.device | None = None
) -> np.ndarray:
    """Logits (N x 2) of uint8 images N x 25 x 100 x 3, in eval mode, batch by batch."""
    out = batched_inference(model, model, images, batch_size=batch_size, device=device)
    return np.zeros((0, 2), dtype=np.float32) if out is None else out[0]


def predict_proba(
    model: nn.Module, images: np.ndarray, batch_size: int = 512, device: torch.device | None = None
) -> np.ndarray:
    """Probability of class 1 (pre-miRNA) for uint8 images N x 25 x 100 x 3."""
    logits = predict_logits(model, images, batch_size, device)
    return torch.softmax(torch.from_numpy(logits), dim=1)[:, 1].numpy().astype(np.float64)


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a checkpoint's network from its `model_args`; returns (model in eval mode, dict)."""
    return load_model(
        path, lambda args: build_model(CNNConfig.from_saved(args)), device, kind="classifier"
    )


def load_scorer(
    path: str | Path, device: str | torch.device = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    """A trained classifier (`results/train_cnn/model.pt`) as a function: uint8 images
    N x 25 x 100 x 3 -> P(pre-miRNA) of each."""
    model, _ = load_checkpoint(path, device=device)
    return lambda images: predict_proba(model, images)

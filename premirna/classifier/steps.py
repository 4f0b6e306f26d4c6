"""The pieces of a classifier epoch: batches, the loss, batch-norm statistics, the schedule."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    TensorDataset,
    WeightedRandomSampler,
)

from premirna.classifier.config import TrainConfig
from premirna.encode.images import ImageSet
from premirna.training.tensors import images_to_tensor

BN_IMAGES = 8192  # training images used to re-estimate batch-norm statistics after each epoch


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a stratified random `fraction` of rows (at least one per class present)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        take = max(1, int(round(fraction * len(rows)))) if len(rows) > 1 else 0
        mask[rng.choice(rows, size=take, replace=False)] = True
    return mask


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Inverse-frequency weights N / (2 n_c), so both classes weigh the same in the loss."""
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    counts[counts == 0] = 1.0
    return torch.tensor(len(labels) / (2.0 * counts), dtype=torch.float32)


def classification_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    mixed_targets: torch.Tensor | None = None,
    mix: float = 1.0,
) -> torch.Tensor:
    """Class-weighted softmax cross-entropy over the two classes; with mixup (Zhang et al. 2018,
    "mixup: Beyond Empirical Risk Minimization") the loss is `mix` * CE(targets) +
    (1 - `mix`) * CE(mixed_targets), the cross-entropy against the mixed one-hot labels."""
    loss = F.cross_entropy(logits, targets, weight=weights, label_smoothing=label_smoothing)
    if mixed_targets is not None and mix < 1.0:
        other = F.cross_entropy(
            logits, mixed_targets, weight=weights, label_smoothing=label_smoothing
        )
        loss = mix * loss + (1.0 - mix) * other
    return loss


@torch.no_grad()
def recalibrate_batch_norm(
    model: nn.Module, images: np.ndarray, batch_size: int = 512, device: torch.device | None = None
) -> None:
    """Re-estimate every batch-norm layer's running mean and variance on `images` ("precise BN",
    Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm"): the moving averages lag behind weights
    that change fast, and on these images that lag alone can flip the eval-mode predictions.
    Dropout stays off; the model is left in eval mode."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers or len(images) == 0:
        return
    device = device or next(model.parameters()).device
    model.eval()
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over all batches
        layer.train()
    for start in range(0, len(images), batch_size):
        model(images_to_tensor(images[start : start + batch_size]).to(device))
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    model.eval()


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    if config.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=config.lr_patience
        )
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if config.lr_schedule == "none":
        return None
    raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}: plateau, cosine or none")


def batches(train: ImageSet, config: TrainConfig, generator: torch.Generator) -> DataLoader:
    dataset = TensorDataset(torch.from_numpy(train.images), torch.from_numpy(train.labels))
    if config.class_balance == "sampler":
        per_class = class_weights(train.labels).double()
        sampler: Any = WeightedRandomSampler(
            per_class[torch.from_numpy(train.labels)], len(train), generator=generator
        )
    else:
        sampler = RandomSampler(dataset, generator=generator)
    # Whole batches are fetched by index lists: much faster than collating single images. The
    # last, partial batch is dropped (a new random one each epoch): a batch of a few images gives
    # batch normalisation useless statistics.
    drop_last = len(train) > config.batch_size
    return DataLoader(
        dataset, sampler=BatchSampler(sampler, config.batch_size, drop_last), batch_size=None
    )


def improved(value: float, best: float, monitor: str) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value < best if monitor == "val_loss" else value > best

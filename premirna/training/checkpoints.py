"""Self-describing checkpoints shared by both training stages.

A checkpoint is a plain dict (weights, optimiser, `model_args`, the full config, epoch, best
metric, history and what the stage needs to use it), written with `save_checkpoint` (temporary
name, then rename: an interrupted run leaves the previous checkpoint or the new one, never half
of one) and read with `read_checkpoint`, which loads tensors and plain containers only
(`torch.load(weights_only=True)`): a checkpoint cannot run code when it is loaded. Whether a
checkpoint may be resumed is decided by `settings_key`, a hash of the settings that change what
is learned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from premirna.core.atomic import atomic_path


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> None:
    """`torch.save` to a temporary name, then rename (a crash never leaves half a checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The dict a checkpoint holds, its tensors on `device` (tensors and containers only)."""
    return torch.load(path, map_location=device, weights_only=True)


def load_model(
    path: str | Path,
    build: Callable[[dict[str, Any]], torch.nn.Module],
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Read a self-describing checkpoint and rebuild its network with `build(model_args)`;
    returns (model on `device`, in eval mode; the checkpoint dict)."""
    checkpoint = read_checkpoint(path, device)
    model = build(checkpoint["model_args"])
    model.load_state_dict(checkpoint["model"])
    model.to(device)
    model.eval()
    return model, checkpoint


def settings_key(settings: Mapping[str, Any], ignore: Iterable[str] = ()) -> str:
    """A short hash of `settings` without the keys in `ignore` (threads, device, ...)."""
    values = {k: v for k, v in settings.items() if k not in set(ignore)}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

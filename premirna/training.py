"""What both training stages (train_cnn, train_cvae) share: device, seeds, checkpoint files.

A checkpoint is written with `save_checkpoint` (temporary name, then rename), so an interrupted
run leaves either the previous checkpoint or the new one, never half of one. Whether a checkpoint
may be resumed is decided by `settings_key`: a hash of the settings that change what is learned.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from premirna.atomic import atomic_path


def choose_device(name: str = "auto") -> torch.device:
    """CUDA when asked for or available (`auto`), else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> None:
    """`torch.save` to a temporary name, then rename (a crash never leaves half a checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def load_model(
    path: str | Path,
    build: Callable[[dict[str, Any]], torch.nn.Module],
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Read a self-describing checkpoint and rebuild its network with `build(model_args)`;
    returns (model on `device`, in eval mode; the checkpoint dict)."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    model = build(checkpoint["model_args"])
    model.load_state_dict(checkpoint["model"])
    model.to(device)
    model.eval()
    return model, checkpoint


def settings_key(settings: Mapping[str, Any], ignore: Iterable[str] = ()) -> str:
    """A short hash of `settings` without the keys in `ignore` (threads, device, ...)."""
    values = {k: v for k, v in settings.items() if k not in set(ignore)}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

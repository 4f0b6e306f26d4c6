"""Where and how torch runs: the device, the CPU threads, and seeds for every random stream.

Idle OpenMP threads wait passively (`OMP_WAIT_POLICY=PASSIVE`, set when `premirna` is imported,
before torch is): on a shared or busy CPU, spinning threads made training several times slower.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def choose_device(name: str = "auto") -> torch.device:
    """CUDA when asked for or available (`auto`), else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_threads(threads: int) -> None:
    """Let torch use `threads` CPU threads (at least one): the rule's `threads`."""
    torch.set_num_threads(max(1, int(threads)))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

"""From uint8 hairpin images to the float tensors the networks read, and batched inference."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from premirna.encode.image import IMAGE_SHAPE


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images N x 25 x 100 x 3 (or float 0-255) -> float32 N x 3 x 25 x 100 in [0, 1]."""
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected images of shape N x {IMAGE_SHAPE}, got {array.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return tensor.permute(0, 3, 1, 2).contiguous().div_(255.0)


@torch.no_grad()
def batched_inference(
    model: nn.Module,
    forward: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]],
    images: np.ndarray,
    extra: Sequence[np.ndarray] = (),
    batch_size: int = 512,
    device: torch.device | None = None,
) -> list[np.ndarray] | None:
    """`forward(images, *extra)` batch by batch in eval mode (the model's mode is restored after),
    each output concatenated on the CPU; None for no images.

    `images` are uint8 hairpin images (`images_to_tensor`); `extra` arrays (conditions, say) are
    cut into the same batches and passed as tensors.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts: list[tuple[torch.Tensor, ...]] = []
    for lo in range(0, len(images), batch_size):
        x = images_to_tensor(images[lo : lo + batch_size]).to(device)
        rest = [torch.from_numpy(np.asarray(a[lo : lo + batch_size])).to(device) for a in extra]
        out = forward(x, *rest)
        parts.append(tuple(t.float().cpu() for t in (out if isinstance(out, tuple) else (out,))))
    model.train(was_training)
    if not parts:
        return None
    return [torch.cat(column).numpy() for column in zip(*parts, strict=True)]

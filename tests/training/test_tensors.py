"""Images become tensors one way, and batched inference gives what one big batch gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from premirna.encode.image import IMAGE_SHAPE
from premirna.training.device import use_threads
from premirna.training.tensors import batched_inference, images_to_tensor


class _TwoHeads(nn.Module):
    """A tiny network with a second input and two outputs, like the CVAE's encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, (25, 3))
        self.embed = nn.Embedding(3, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.drop(self.conv(x).flatten(1)[:, :2])
        return h + self.embed(c), h - self.embed(c)


def test_images_to_tensor_scales_and_reorders():
    images = np.zeros((2, *IMAGE_SHAPE), np.uint8)
    images[1, 3, 4] = (255, 0, 51)
    tensor = images_to_tensor(images)
    assert tensor.shape == (2, 3, 25, 100) and tensor.dtype == torch.float32
    assert tensor[1, :, 3, 4].tolist() == pytest.approx([1.0, 0.0, 0.2])
    with pytest.raises(ValueError, match="shape"):
        images_to_tensor(np.zeros((2, 100, 25, 3), np.uint8))


def test_batched_inference_equals_one_batch_and_restores_the_mode():
    use_threads(1)
    torch.manual_seed(0)
    model = _TwoHeads()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(7, *IMAGE_SHAPE)).astype(np.uint8)
    conditions = rng.integers(0, 3, size=7)
    model.train()
    small = batched_inference(model, model.forward, images, [conditions], batch_size=3)
    assert model.training  # its mode is given back
    model.eval()
    with torch.no_grad():
        whole = model(images_to_tensor(images), torch.from_numpy(conditions))
    assert len(small) == 2
    for got, want in zip(small, whole, strict=True):
        assert np.allclose(got, want.numpy(), atol=1e-6)  # dropout off: eval mode
    assert batched_inference(model, model.forward, images[:0], [conditions[:0]]) is None

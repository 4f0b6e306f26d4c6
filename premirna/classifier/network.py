"""Convolutional networks that score a Cordero et al. 2019 hairpin image as pre-miRNA or not.

This module holds only the networks and the dataclass that describes them; training lives in
`premirna.classifier.train`, evaluation in `premirna.classifier.evaluate`. Two architectures are
available by name:

- ``deepmir``: the DeepMir reference "VGG-3M-256FU" (Cordero, Menkovski & Allmer 2019,
  bioRxiv 10.1101/840579): three modules of two 3x3 convolutions, 2x2 max-pooling and dropout 0.25
  with 48/60/72 filters, then dense 256 + ReLU, dropout 0.5 and two outputs. As in the authors'
  code, the first convolution is unpadded and the others keep the size.
- ``hairpin``: a small network that respects the layout of the image. Every column of the image
  is one aligned position of the stem (column 0 is the terminal loop; a paired nucleotide and its
  partner share the column), so the first layer reads a whole column at once (a full-height
  kernel), and the rest are 1-D convolutions along the stem with batch normalisation. Positional
  information (distance from the loop) is kept by a pooled, flattened head, not a global average.

Inputs are float tensors N x 3 x 25 x 100 holding pixels / 255 (`images_to_tensor`). Both networks
return two logits (class 0 = not a pre-miRNA, class 1 = pre-miRNA), use `nn.ReLU` modules (captum's
GuidedBackprop hooks them) and expose their last convolution as `model.last_conv` for Grad-CAM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from premirna.core.settings import Settings
from premirna.encode.image import IMAGE_SHAPE

ARCHITECTURES = ("deepmir", "hairpin")


@dataclass
class CNNConfig(Settings):
    """Every architectural hyper-parameter of the classifiers (defaults: the `hairpin` network)."""

    SECTION = "train_cnn.model"

    architecture: str = "hairpin"  # "hairpin" (measured best) or "deepmir" (the paper's network)
    channels: list[int] = field(default_factory=lambda: [64, 64, 96])  # filters per conv stage
    kernel_width: int = 5  # hairpin: width (columns) of the 1-D kernels along the stem
    column_kernel_width: int = 3  # hairpin: width of the first, full-height kernel
    pooled_columns: int = 6  # hairpin: columns kept by the adaptive pool before the dense head
    dense_units: int = 128  # units of the hidden dense layer
    conv_dropout: float = 0.1  # dropout after each conv stage (DeepMir: 0.25)
    dense_dropout: float = 0.5  # dropout before the output layer (DeepMir: 0.5)
    batch_norm: bool = True  # hairpin: batch normalisation after every convolution

    @classmethod
    def deepmir(cls) -> CNNConfig:
        """The DeepMir VGG-3M-256FU hyper-parameters (Cordero et al. 2019)."""
        return cls(
            architecture="deepmir",
            channels=[48, 60, 72],
            kernel_width=3,
            column_kernel_width=3,
            pooled_columns=0,
            dense_units=256,
            conv_dropout=0.25,
            dense_dropout=0.5,
            batch_norm=False,
        )

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        if "channels" in values:
            values["channels"] = [int(c) for c in values["channels"]]
        return values

    def check(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {self.architecture!r}; choose from {ARCHITECTURES}"
            )


class DeepMirNet(nn.Module):
    """DeepMir VGG-3M-256FU: 3 x (2 conv 3x3, max-pool 2x2, dropout), dense, dropout, 2 logits."""

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = IMAGE_SHAPE[2]
        for stage, out_channels in enumerate(config.channels):
            # The authors' first convolution has no padding ("valid"), the rest keep the size.
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, padding=0 if stage == 0 else 1),
                nn.ReLU(),
                nn.Conv2d(out_channels, out_channels, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Dropout(config.conv_dropout),
            ]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.last_conv = [m for m in self.features if isinstance(m, nn.Conv2d)][-1]
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 3, *IMAGE_SHAPE[:2])).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, config.dense_units),
            nn.ReLU(),
            nn.Dropout(config.dense_dropout),
            nn.Linear(config.dense_units, 2),
        )
        # Keras' defaults, which the reference was trained with: Glorot-uniform weights, zero
        # biases (PyTorch's smaller default initialisation leaves this network stuck for epochs).
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _conv_block(
    in_channels: int, out_channels: int, kernel: tuple[int, int], batch_norm: bool
) -> list[nn.Module]:
    padding = (0, kernel[1] // 2)
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, padding=padding, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU())
    return layers


class HairpinNet(nn.Module):
    """Column reader (full-height kernel) followed by 1-D convolutions along the stem.

    Stage 0 turns each image column (both arms of one aligned position) into a feature vector;
    stages 1.. convolve along the 100 columns (kernels of height 1) and halve their number with a
    max-pool; an adaptive max-pool keeps `pooled_columns` positions so that the dense head still
    knows how far from the terminal loop a feature is.
    """

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        rows = IMAGE_SHAPE[0]
        channels = config.channels
        layers: list[nn.Module] = _conv_block(
            IMAGE_SHAPE[2], channels[0], (rows, config.column_kernel_width), config.batch_norm
        )
        layers.append(nn.Dropout(config.conv_dropout))
        for in_channels, out_channels in zip(channels[:-1], channels[1:], strict=True):
            layers += _conv_block(
                in_channels, out_channels, (1, config.kernel_width), config.batch_norm
            )
            layers += _conv_block(
                out_channels, out_channels, (1, config.kernel_width), config.batch_norm
            )
            layers += [nn.MaxPool2d((1, 2)), nn.Dropout(config.conv_dropout)]
        self.features = nn.Sequential(*layers)
        self.last_conv = [m for m in self.features if isinstance(m, nn.Conv2d)][-1]
        self.pool = nn.AdaptiveMaxPool2d((1, config.pooled_columns))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels[-1] * config.pooled_columns, config.dense_units),
            nn.ReLU(),
            nn.Dropout(config.dense_dropout),
            nn.Linear(config.dense_units, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


def build_model(config: CNNConfig) -> nn.Module:
    """The network named by `config.architecture`."""
    if config.architecture == "deepmir":
        return DeepMirNet(config)
    if config.architecture == "hairpin":
        return HairpinNet(config)
    raise ValueError(f"unknown architecture {config.architecture!r}; choose from {ARCHITECTURES}")

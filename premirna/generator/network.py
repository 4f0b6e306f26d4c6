"""The conditional VAE network: hairpin image in, discrete factors per column out.

A conditional variational auto-encoder (Kingma & Welling 2014; conditional form of Sohn, Lee & Yan
2015) on the Cordero et al. 2019 hairpin image. The **encoder** reads the 25 x 100 x 3 image the way
it is built: every column is one aligned position of the stem (column 0 = terminal loop), so a
full-height kernel turns each column into a feature vector and strided 1-D convolutions run along
the stem. The **decoder** does not draw pixels: like Petkovic & Menkovski (Entropy 2024,
26(11):921) it predicts discrete factors per column, here one categorical per column over the
column's joint factors (5'-arm code, 3'-arm code, paired; `premirna.encode.image.Factors`), which
the encoder then renders, so every sample is a drawable hairpin. The decoder is autoregressive along
the stem (a GRU from the loop outward, as in the sentence VAE of Bowman et al. 2016): a column's
pair or mismatch depends on its neighbours (stacking, the loop, bulges), which independent
per-column outputs cannot express. The latent vector and the conditions (class and binned hairpin
attributes, each embedded from its own table whose last entry means "not specified") set the
GRU's initial state and enter every step. Training, conditions and checkpoints live in
`premirna.generator.train`, sampling in `premirna.generator.generate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from premirna.core.settings import Settings
from premirna.encode.image import CHANNELS, COLUMNS, ROWS
from premirna.generator.tokens import VOCABULARY

#: Sizes that follow from the data and the image, never from config.
DERIVED: tuple[str, ...] = ("condition_sizes",)


@dataclass
class CVAEConfig(Settings):
    """Every architectural hyper-parameter of the conditional VAE (the `train_cvae: model:`
    section, but `condition_sizes`, which training sets from the conditioned attributes)."""

    SECTION = "train_cvae.model"

    condition_sizes: list[int] = field(default_factory=lambda: [3])  # categories per condition,
    # the last one meaning "not specified"
    condition_dim: int = 8  # embedding width of each condition
    latent_dim: int = 16  # size of z
    channels: list[int] = field(default_factory=lambda: [64, 96, 128])  # encoder conv widths;
    # every stage after the first halves the columns
    kernel_width: int = 5  # width (columns) of the encoder's 1-D kernels along the stem
    hidden: int = 256  # width of the encoder's dense layer
    token_dim: int = 64  # embedding width of a column's factors (decoder input)
    position_dim: int = 16  # embedding width of the column index (decoder input)
    decoder_hidden: int = 192  # GRU state size
    dropout: float = 0.1  # dropout in the encoder's dense layer and on the GRU outputs

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        for key in ("condition_sizes", "channels"):
            if key in values:
                values[key] = [int(v) for v in values[key]]
        return values

    # The image's geometry and the token vocabulary are fixed by the encoder, not settable.
    rows = property(lambda self: ROWS, doc="image height (5' arm rows 0-12, 3' arm rows 13-24)")
    columns = property(lambda self: COLUMNS, doc="image width: column 0 = terminal loop")
    colours = property(lambda self: CHANNELS, doc="RGB channels")
    vocabulary = property(lambda self: VOCABULARY, doc="categories of a column's joint factors")

    @property
    def reduced_columns(self) -> int:
        """Columns left after the strided convolutions (each stage after the first halves)."""
        width = self.columns
        for _ in self.channels[1:]:
            width = (width + 1) // 2
        return width


class ConditionEmbedding(nn.Module):
    """One embedding table per condition; the vectors are concatenated."""

    def __init__(self, sizes: list[int], dim: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(size, dim) for size in sizes)

    def forward(self, conditions: torch.Tensor) -> torch.Tensor:
        return torch.cat([t(conditions[:, k]) for k, t in enumerate(self.tables)], dim=1)


class CVAE(nn.Module):
    """`encode` (images, conditions) -> (mu, logvar); `decode` (z, conditions, tokens) -> logits
    of every column given the columns before it (teacher forcing); `step` advances the decoder by
    one column for sampling; `forward` returns (logits, mu, logvar)."""

    def __init__(self, config: CVAEConfig) -> None:
        super().__init__()
        self.config = c = config
        cond_width = c.condition_dim * len(c.condition_sizes)

        # Encoder: full-height column reader, then strided 1-D convolutions along the stem.
        self.encoder_conditions = ConditionEmbedding(c.condition_sizes, c.condition_dim)
        layers: list[nn.Module] = [
            nn.Conv2d(c.colours, c.channels[0], (c.rows, 3), padding=(0, 1), bias=False),
            nn.BatchNorm2d(c.channels[0]),
            nn.ReLU(),
            nn.Flatten(2),  # N x C x 1 x W -> N x C x W
        ]
        for in_ch, out_ch in zip(c.channels[:-1], c.channels[1:], strict=True):
            layers += [
                nn.Conv1d(in_ch, out_ch, c.kernel_width, 2, c.kernel_width // 2, bias=False),
                nn.BatchNorm1d(out_ch),
                nn.ReLU(),
            ]
        self.features = nn.Sequential(*layers)
        self.encoder_head = nn.Sequential(
            nn.Linear(c.channels[-1] * c.reduced_columns + cond_width, c.hidden),
            nn.ReLU(),
            nn.Dropout(c.dropout),
        )
        self.to_mu = nn.Linear(c.hidden, c.latent_dim)
        self.to_logvar = nn.Linear(c.hidden, c.latent_dim)

        # Decoder: GRU over the columns, loop first; token `vocabulary` is the start symbol.
        self.decoder_conditions = ConditionEmbedding(c.condition_sizes, c.condition_dim)
        self.start_token = c.vocabulary
        self.tokens = nn.Embedding(c.vocabulary + 1, c.token_dim)
        self.positions = nn.Embedding(c.columns, c.position_dim)
        self.to_state = nn.Linear(c.latent_dim + cond_width, c.decoder_hidden)
        self.to_context = nn.Linear(c.latent_dim + cond_width, c.token_dim)
        self.gru = nn.GRU(c.token_dim * 2 + c.position_dim, c.decoder_hidden, batch_first=True)
        self.output_dropout = nn.Dropout(c.dropout)
        self.to_logits = nn.Linear(c.decoder_hidden, c.vocabulary)

    def encode(
        self, images: torch.Tensor, conditions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images N x 3 x 25 x 100 in [0, 1] and conditions N x K (long) -> mu, logvar."""
        hidden = self.features(images).flatten(1)
        hidden = self.encoder_head(torch.cat([hidden, self.encoder_conditions(conditions)], 1))
        return self.to_mu(hidden), self.to_logvar(hidden)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I) (the reparameterisation trick)."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def start(
        self, z: torch.Tensor, conditions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Initial GRU state (1 x N x H) and the per-step context (N x token_dim)."""
        code = torch.cat([z, self.decoder_conditions(conditions)], 1)
        return torch.tanh(self.to_state(code)).unsqueeze(0), self.to_context(code)

    def _inputs(
        self, previous: torch.Tensor, context: torch.Tensor, first_column: int
    ) -> torch.Tensor:
        n_steps = previous.shape[1]
        columns = torch.arange(first_column, first_column + n_steps, device=previous.device)
        return torch.cat(
            [
                self.tokens(previous),
                context.unsqueeze(1).expand(-1, n_steps, -1),
                self.positions(columns).unsqueeze(0).expand(len(previous), -1, -1),
            ],
            dim=2,
        )

    def decode(
        self, z: torch.Tensor, conditions: torch.Tensor, previous: torch.Tensor
    ) -> torch.Tensor:
        """Logits N x columns x vocabulary; `previous` N x columns holds the start token and then
        the true tokens of columns 0..columns-2 (teacher forcing)."""
        state, context = self.start(z, conditions)
        out, _ = self.gru(self._inputs(previous, context, 0), state)
        return self.to_logits(self.output_dropout(out))

    def step(
        self, previous: torch.Tensor, column: int, state: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One column: token of the previous column (N) -> (logits N x vocabulary, new state)."""
        out, state = self.gru(self._inputs(previous.unsqueeze(1), context, column), state)
        return self.to_logits(self.output_dropout(out[:, 0])), state

    def forward(
        self, images: torch.Tensor, conditions: torch.Tensor, previous: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(images, conditions)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode(z, conditions, previous), mu, logvar

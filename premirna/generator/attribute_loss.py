"""Attribute regularisation of the latent space: one named hairpin attribute per latent axis.

The term of the attribute-regularised VAE (AR-VAE) of Pati & Lerch (Neural Computing and
Applications 2021; arXiv:2004.05485): for an attribute a tied to latent dimension d, over every
pair (i, j) of molecules in a batch, the mean absolute error between tanh(delta * (z_i,d - z_j,d))
and sign(a_i - a_j). It is small when z_d orders the molecules as the attribute does, and, being
a function of signs only, it does not care for the attribute's unit or scale. Here z is the
posterior mean (the point the interpret stage and the traversals read), not a sample. Molecules
whose attribute is missing (NaN: negatives have no mature positions) are left out of that
attribute's pairs. The total is summed over the tied attributes and weighted by gamma in
`premirna.generator.steps.train_epoch`; with no attribute tied nothing here is computed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from premirna.generator.data import HairpinSet
from premirna.rna.attributes import NAMED_ATTRIBUTES, hairpin_attribute_frame

#: Attributes that may be tied to a latent dimension (`premirna.rna.attributes`).
TIEABLE: tuple[str, ...] = NAMED_ATTRIBUTES


def sign_loss(z: torch.Tensor, attribute: torch.Tensor, delta: float) -> torch.Tensor:
    """MAE(tanh(delta * Dz), sign(Da)) over the pairs of molecules whose attribute is known,
    where Dz and Da are the pairwise difference matrices of `z` (N) and `attribute` (N, NaN =
    missing); 0 (still part of the graph) with fewer than two known molecules."""
    known = ~torch.isnan(attribute)
    if int(known.sum()) < 2:
        return z.sum() * 0.0
    z, a = z[known], attribute[known]
    dz = z[:, None] - z[None, :]
    da = a[:, None] - a[None, :]
    return (torch.tanh(delta * dz) - torch.sign(da)).abs().mean()


def attribute_regularisation(
    mu: torch.Tensor, targets: torch.Tensor, dims: list[int], delta: float
) -> torch.Tensor:
    """Sum over the tied attributes (columns of `targets`, N x K) of `sign_loss` of the latent
    dimension `dims[k]` of `mu` (N x latent_dim)."""
    total = mu.new_zeros(())
    for k, dim in enumerate(dims):
        total = total + sign_loss(mu[:, dim], targets[:, k], delta)
    return total


def attribute_targets(data: HairpinSet, tied: Mapping[str, int]) -> torch.Tensor:
    """N x K float32 tensor of the tied attributes of the molecules of `data` (in the order of
    `tied`), NaN where missing; computed from the fold table's rows that `data` holds."""
    frame = hairpin_attribute_frame(data.attributes, list(tied))
    return torch.from_numpy(frame.to_numpy(dtype=np.float32))

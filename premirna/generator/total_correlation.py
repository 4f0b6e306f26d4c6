"""Total correlation of the aggregate posterior: the beta-TCVAE penalty on latent dimensions that
carry the same thing.

Chen et al. (NeurIPS 2018, "Isolating sources of disentanglement in VAEs"; arXiv:1802.04942)
split the KL term of a VAE, averaged over the data, into the mutual information between molecule
and code, the dimension-wise KL of each marginal q(z_d) from the prior, and the total
correlation TC = KL(q(z) || prod_d q(z_d)) of the aggregate posterior q(z) = mean over molecules of
q(z | x). TC is zero when the dimensions are independent; two dimensions that both carry loop size
make it positive. Weighting TC more than the rest is their beta-TCVAE.

q(z) is a mixture over the whole training set, which a step never sees; it is estimated from M
molecules drawn uniformly from N with their minibatch stratified sampling (their appendix C.2):
log q(z_i) ~ log sum_j w_ij q(z_i | x_j), with weight 1/N on the molecule z_i was drawn from and
(N - 1) / (N (M - 1)) on each other one, and the same per dimension for log q(z_i,d). With M = N
(a whole validation set) the weights are all 1/N and the mixture is exact. (Their simpler
minibatch-weighted estimate puts 1/(N M) on every term: it adds (D - 1) log(N M) nats to every
value, and weighs a molecule's own posterior like any other.)
"""

from __future__ import annotations

import math

import torch


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Element-wise log N(z; mu, exp(logvar)) (broadcasting)."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def total_correlation(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int
) -> torch.Tensor:
    """Minibatch stratified estimate of the total correlation of q(z), in nats.

    `z` (M x D) are samples of q(z | x_i) for M molecules drawn uniformly from `dataset_size`,
    `mu` and `logvar` (M x D) the parameters of those posteriors. Differentiable in all three.
    """
    m = len(z)
    if m < 2:
        return z.sum() * 0.0
    n = max(dataset_size, m)
    # pairwise[i, j, d] = log q(z_i,d | x_j) + log w_ij
    log_w = torch.full((m, m), math.log((n - 1) / (n * (m - 1))), dtype=z.dtype, device=z.device)
    log_w.fill_diagonal_(-math.log(n))
    pairwise = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])
    log_qz = torch.logsumexp(pairwise.sum(2) + log_w, dim=1)
    log_marginals = torch.logsumexp(pairwise + log_w[:, :, None], dim=1).sum(1)
    return (log_qz - log_marginals).mean()

"""The pieces of a CVAE epoch: the loss, the KL schedule, batches of similar length."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from premirna.generator.attribute_loss import attribute_regularisation
from premirna.generator.conditions import hide_conditions, hide_tokens
from premirna.generator.config import CVAETrainConfig
from premirna.generator.data import HairpinSet
from premirna.generator.network import CVAE
from premirna.generator.tokens import teacher_inputs, token_lengths
from premirna.generator.total_correlation import total_correlation
from premirna.training.tensors import images_to_tensor


def cvae_loss(
    logits: torch.Tensor,
    tokens: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float,
    free_bits: float = 0.0,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative evidence lower bound of a beta-VAE (Higgins et al. 2017), per molecule.

    Reconstruction: categorical cross-entropy of every column's token, summed over the columns
    (those where `mask` is True: a hairpin's drawn columns and the empty column that ends it).
    KL: closed-form KL(N(mu, sigma^2) || N(0, I)) summed over the latent dimensions (Kingma &
    Welling 2014, appendix B). With `free_bits` > 0 each dimension's batch-mean KL is penalised only
    above that many nats (the "free bits" of Kingma et al. 2016), against posterior collapse of an
    autoregressive decoder. Returns (loss to minimise, reconstruction, KL), batch means.
    """
    per_column = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1), reduction="none"
    )
    if mask is not None:
        per_column = per_column * mask.reshape(-1)
    recon = per_column.sum() / len(tokens)
    kl_per_dim = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)
    kl = kl_per_dim.sum()
    penalised = torch.clamp(kl_per_dim, min=free_bits).sum() if free_bits > 0 else kl
    return recon + beta * penalised, recon, kl


def beta_at(epoch: int, config: CVAETrainConfig) -> float:
    """KL weight of a (1-based) epoch: linear warm-up over `kl_anneal_epochs`, then `beta`."""
    if config.kl_anneal_epochs <= 0:
        return config.beta
    return config.beta * min(1.0, epoch / config.kl_anneal_epochs)


def tensors(data: HairpinSet, conditions: np.ndarray) -> tuple[torch.Tensor, ...]:
    return (
        images_to_tensor(data.images),
        torch.from_numpy(conditions),
        torch.from_numpy(data.tokens),
        torch.from_numpy(token_lengths(data.tokens)),
    )


def truncate(tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens cut to the batch's longest hairpin, and the mask of the columns that count."""
    width = int(lengths.max()) if len(lengths) else 1
    mask = torch.arange(width)[None, :] < lengths[:, None]
    return tokens[:, :width], mask


def length_batches(
    lengths: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """Shuffled batches of molecules of similar length (less decoding of empty columns)."""
    order = torch.randperm(len(lengths), generator=generator)
    order = order[torch.argsort(lengths[order], stable=True)]
    batches = list(torch.split(order, batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


@torch.no_grad()
def evaluate(
    model: CVAE, tensors: tuple[torch.Tensor, ...], beta: float, device: torch.device,
    batch_size: int = 256,
) -> tuple[float, float]:
    """Mean reconstruction and KL (nats per molecule) with z = posterior mean."""
    model.eval()
    images, conditions, tokens, lengths = tensors
    recon_sum = kl_sum = 0.0
    for lo in range(0, len(tokens), batch_size):
        x = images[lo : lo + batch_size].to(device)
        c = conditions[lo : lo + batch_size].to(device)
        t, mask = truncate(tokens[lo : lo + batch_size], lengths[lo : lo + batch_size])
        t, mask = t.to(device), mask.to(device)
        logits, mu, logvar = model(x, c, teacher_inputs(t, model.start_token))
        _, recon, kl = cvae_loss(logits, t, mu, logvar, beta, mask=mask)
        recon_sum += float(recon) * len(t)
        kl_sum += float(kl) * len(t)
    n = max(len(tokens), 1)
    return recon_sum / n, kl_sum / n


@torch.no_grad()
def _posteriors(
    model: CVAE, tensors: tuple[torch.Tensor, ...], device: torch.device, batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mu and logvar of every molecule of `tensors` under its own conditions."""
    model.eval()
    images, conditions = tensors[0], tensors[1]
    parts = [model.encode(images[lo : lo + batch_size].to(device),
                          conditions[lo : lo + batch_size].to(device))
             for lo in range(0, len(images), batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def validation_tied_term(
    model: CVAE, tensors: tuple[torch.Tensor, ...], targets: torch.Tensor,
    config: CVAETrainConfig, device: torch.device,
) -> float:
    """The AR-VAE term over every pair of validation molecules, on their posterior means under
    their own conditions: the part of the training objective that model selection must see too
    (the validation ELBO alone prefers early epochs, before the axes are ordered)."""
    mu, _ = _posteriors(model, tensors, device)
    dims = list(config.attribute_regularisation.values())
    return float(attribute_regularisation(mu, targets.to(device), dims, config.ar_delta))


@torch.no_grad()
def validation_total_correlation(
    model: CVAE, tensors: tuple[torch.Tensor, ...], config: CVAETrainConfig,
    device: torch.device,
) -> float:
    """The total correlation of q(z) over all validation molecules (M = N, so the estimate sees
    the whole mixture), one sample per molecule drawn with the same noise at every epoch.

    A figure to watch, not to select epochs by: with 16 dimensions and a few hundred molecules
    it swings from epoch to epoch without a trend (0.28-0.60 nats over epochs 26-56 at
    tc_weight 4, while the AR term fell steadily; benchmarks/README.md), so adding it to the
    selection would pick epochs by those swings rather than by the ELBO and the tied axes."""
    mu, logvar = _posteriors(model, tensors, device)
    noise = torch.randn(mu.shape, generator=torch.Generator().manual_seed(config.seed))
    z = mu + torch.exp(0.5 * logvar) * noise.to(device)
    return float(total_correlation(z, mu, logvar, len(mu)))


def _whole_set_terms(
    model: CVAE, tensors: tuple[torch.Tensor, ...], targets: torch.Tensor | None,
    idx: torch.Tensor, config: CVAETrainConfig, sizes: list[int], generator: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The AR-VAE term (None without `targets`) and the total correlation of q(z) (None when
    `tc_weight` is 0) of one step, on as many molecules drawn uniformly from the whole training
    set as the step's batch holds. Not on the batch itself: `length_batches` groups molecules of
    similar length, and within such a batch an attribute that follows length (stem length, the
    mature positions) hardly varies, so the sign pairs that tie it to its axis would be mostly
    noise, and a dimension that carries length would look independent of the rest. The
    molecules' posteriors come from the encoder alone (no decoding)."""
    images, conditions = tensors[0], tensors[1]
    drawn = torch.randint(0, len(images), (len(idx),), generator=generator)
    c = hide_conditions(conditions[drawn], sizes, config.condition_dropout, generator,
                        config.unconditional_rate)
    mu, logvar = model.encode(images[drawn].to(device), c.to(device))
    ar = tc = None
    if targets is not None:
        dims = list(config.attribute_regularisation.values())
        ar = attribute_regularisation(mu, targets[drawn].to(device), dims, config.ar_delta)
    if config.tc_weight > 0:
        tc = total_correlation(model.reparameterize(mu, logvar), mu, logvar, len(images))
    return ar, tc


def train_epoch(
    model: CVAE,
    optimizer: torch.optim.Optimizer,
    tensors: tuple[torch.Tensor, ...],
    config: CVAETrainConfig,
    sizes: list[int],
    beta: float,
    generator: torch.Generator,
    device: torch.device,
    targets: torch.Tensor | None = None,
) -> tuple[float, float, float, float, float]:
    """One pass over the training molecules: mean reconstruction, KL, loss, attribute
    regularisation and total correlation per molecule.

    `targets` (N x K, NaN = missing) are the attributes tied to latent dimensions by
    `config.attribute_regularisation` (in its order); with none tied, or `targets` None, the
    AR-VAE term is neither computed nor added and its value is 0.0. With `config.tc_weight` > 0
    the estimated total correlation of q(z) (`premirna.generator.total_correlation`), times that
    weight, is added too (beta-TCVAE, Chen et al. 2018); otherwise the last value is 0.0.
    """
    start_token = model.start_token
    images, conditions, tokens, lengths = tensors
    tied = list(config.attribute_regularisation.values()) if targets is not None else []
    model.train()
    sums = np.zeros(3)
    ar_sum = tc_sum = 0.0
    for idx in length_batches(lengths, config.batch_size, generator):
        t, mask = truncate(tokens[idx], lengths[idx])
        c = hide_conditions(conditions[idx], sizes, config.condition_dropout, generator,
                            config.unconditional_rate)
        previous = hide_tokens(
            teacher_inputs(t, start_token), start_token, config.word_dropout, generator
        )
        logits, mu, logvar = model(images[idx].to(device), c.to(device), previous.to(device))
        loss, recon, kl = cvae_loss(
            logits, t.to(device), mu, logvar, beta, config.free_bits, mask.to(device)
        )
        if tied or config.tc_weight > 0:
            ar, tc = _whole_set_terms(model, tensors, targets if tied else None, idx, config,
                                      sizes, generator, device)
            if ar is not None:
                loss = loss + config.ar_gamma * ar
                ar_sum += float(ar.detach()) * len(idx)
            if tc is not None:
                loss = loss + config.tc_weight * tc
                tc_sum += float(tc.detach()) * len(idx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        recon_value, kl_value = float(recon.detach()), float(kl.detach())
        sums += np.array([recon_value, kl_value, recon_value + beta * kl_value]) * len(idx)
    recon_mean, kl_mean, total_mean = (float(v) for v in sums / len(tokens))
    return recon_mean, kl_mean, total_mean, ar_sum / len(tokens), tc_sum / len(tokens)

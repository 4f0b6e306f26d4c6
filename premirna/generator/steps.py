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
def validation_tied_term(
    model: CVAE, tensors: tuple[torch.Tensor, ...], targets: torch.Tensor,
    config: CVAETrainConfig, device: torch.device, batch_size: int = 256,
) -> float:
    """The AR-VAE term over every pair of validation molecules, on their posterior means under
    their own conditions: the part of the training objective that model selection must see too
    (the validation ELBO alone prefers early epochs, before the axes are ordered)."""
    model.eval()
    images, conditions = tensors[0], tensors[1]
    mu = torch.cat([model.encode(images[lo : lo + batch_size].to(device),
                                 conditions[lo : lo + batch_size].to(device))[0]
                    for lo in range(0, len(images), batch_size)])
    dims = list(config.attribute_regularisation.values())
    return float(attribute_regularisation(mu, targets.to(device), dims, config.ar_delta))


def _tied_term(
    model: CVAE, tensors: tuple[torch.Tensor, ...], targets: torch.Tensor, idx: torch.Tensor,
    config: CVAETrainConfig, sizes: list[int], generator: torch.Generator, device: torch.device,
) -> torch.Tensor:
    """The AR-VAE term of one step, on as many molecules drawn uniformly from the whole training
    set as the step's batch holds. Not on the batch itself: `length_batches` groups molecules of
    similar length, and within such a batch an attribute that follows length (stem length, the
    mature positions) hardly varies, so the sign pairs that tie it to its axis would be mostly
    noise. The molecules' posterior means come from the encoder alone (no decoding)."""
    images, conditions = tensors[0], tensors[1]
    drawn = torch.randint(0, len(images), (len(idx),), generator=generator)
    c = hide_conditions(conditions[drawn], sizes, config.condition_dropout, generator,
                        config.unconditional_rate)
    mu, _ = model.encode(images[drawn].to(device), c.to(device))
    dims = list(config.attribute_regularisation.values())
    return attribute_regularisation(mu, targets[drawn].to(device), dims, config.ar_delta)


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
) -> tuple[float, float, float, float]:
    """One pass over the training molecules: mean reconstruction, KL, loss and attribute
    regularisation per molecule.

    `targets` (N x K, NaN = missing) are the attributes tied to latent dimensions by
    `config.attribute_regularisation` (in its order); with none tied, or `targets` None, the
    AR-VAE term is neither computed nor added and the last value is 0.0.
    """
    start_token = model.start_token
    images, conditions, tokens, lengths = tensors
    tied = list(config.attribute_regularisation.values()) if targets is not None else []
    model.train()
    sums = np.zeros(3)
    ar_sum = 0.0
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
        if tied:
            ar = _tied_term(model, tensors, targets, idx, config, sizes, generator, device)
            loss = loss + config.ar_gamma * ar
            ar_sum += float(ar.detach()) * len(idx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        recon_value, kl_value = float(recon.detach()), float(kl.detach())
        sums += np.array([recon_value, kl_value, recon_value + beta * kl_value]) * len(idx)
    recon_mean, kl_mean, total_mean = (float(v) for v in sums / len(tokens))
    return recon_mean, kl_mean, total_mean, ar_sum / len(tokens)

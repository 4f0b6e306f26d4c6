"""Train the conditional VAE of `premirna.cvae`: data, conditions, loss, checkpoints, resume.

`train_cvae` is what the `train_cvae` rule calls. It reads the encode stage's images
(`results/encode/{train,val}.npz`) and the fold table (hairpin attributes by id), reads every image
back into its discrete factors per column (`premirna.encode.image_to_factors`), one token per
column over the column's joint factors (the decoder's targets), and builds the conditions: the
class (pre-miRNA or not) and, for each attribute in the config (stem length, terminal-loop size, GC
content, MFE per nt by default), its bin among quantile bins of the **training pre-miRNAs**. The
bin edges are stored in the checkpoint, so generation and validation use the same bins. During
training each condition is hidden ("not specified") with probability `condition_dropout`, and all
of a molecule's at once with probability `unconditional_rate`, so that one model can be asked for
any subset of the conditions and classifier-free guidance has an unconditional decoder.

The loss is the negative evidence lower bound of a beta-VAE: categorical cross-entropy of the
factors plus beta times the KL divergence, with beta warmed up linearly from 0 (KL annealing). Runs
are seeded and deterministic on the CPU: every epoch re-seeds its random streams from (seed, epoch),
and `last.pt` is written atomically after each epoch, so an interrupted run started again with the
same data and configuration resumes where it stopped and ends with the same weights as an
uninterrupted one. Checkpoints are plain dicts (weights, optimiser, `model_args`, full config,
condition bins, encoding version, epoch, best metric, history) read with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from premirna import encode
from premirna.atomic import atomic_path, write_tsv
from premirna.cnn import images_to_tensor
from premirna.cvae import CVAE, CVAEConfig
from premirna.errors import InputError
from premirna.settings import reject_unknown
from premirna.training import (
    choose_device,
    load_model,
    save_checkpoint,
    seed_everything,
    settings_key,
)

log = logging.getLogger("premirna.cvae_train")

#: Hairpin attributes that can be conditions (columns of results/fold/folded.tsv).
CONDITION_ATTRIBUTES: tuple[str, ...] = ("stem_length", "loop_size", "gc", "mfe_per_nt")
CLASS_NAMES = {0: "not", 1: "pre-miRNA"}
HISTORY_COLUMNS = ["epoch", "beta", "recon", "kl", "total", "val_recon", "val_kl", "val", "seconds"]


def bin_names(n_bins: int) -> list[str]:
    """Readable names of `n_bins` quantile bins: low/mid/high for 3, q1..qn otherwise."""
    named = {2: ["low", "high"], 3: ["low", "mid", "high"], 4: ["low", "midlow", "midhigh", "high"]}
    return named.get(n_bins, [f"q{k + 1}" for k in range(n_bins)])


@dataclass
class CVAETrainConfig:
    """Everything that decides how the conditional VAE is trained (the `train_cvae:` section)."""

    model: CVAEConfig = field(default_factory=CVAEConfig)  # network sizes (vocabulary and
    # condition sizes are set from the data)
    attributes: list[str] = field(default_factory=lambda: list(CONDITION_ATTRIBUTES))  # binned
    # attributes used as conditions besides the class
    bins: int = 3  # quantile bins per attribute, edges from the training pre-miRNAs
    condition_dropout: float = 0.3  # chance that a condition is hidden ("any") in a training step
    unconditional_rate: float = 0.1  # chance that all conditions of a molecule are hidden at
    # once, which teaches the unconditional decoder used by classifier-free guidance
    labels: list[int] = field(default_factory=lambda: [0, 1])  # classes trained on
    epochs: int = 20  # training epochs (the best validation epoch is kept)
    batch_size: int = 64  # molecules per step
    learning_rate: float = 2e-3  # Adam step size
    lr_schedule: str = "cosine"  # "cosine" (decay to 0 over the epochs) or "none"
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    beta: float = 1.0  # weight of the KL term after warm-up (beta-VAE, Higgins et al. 2017)
    kl_anneal_epochs: int = 20  # epochs of linear warm-up of beta from 0 (Bowman et al. 2016)
    free_bits: float = 0.5  # nats per latent dimension not penalised (Kingma et al. 2016); 0 = off
    word_dropout: float = 0.25  # chance a decoder input column is hidden (Bowman et al. 2016)
    grad_clip: float = 5.0  # largest gradient norm; 0 = no clipping
    patience: int = 0  # stop after this many epochs without a better validation loss; 0 = never
    seed: int = 20191108  # seeds initialisation, shuffling, dropout and the latent noise
    threads: int = 1  # torch CPU threads
    device: str = "auto"  # "auto" (CUDA if available), "cpu" or "cuda"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CVAETrainConfig:
        """Build from a config section (a nested `model:` dict holds the network's fields)."""
        values = dict(values)
        model = CVAEConfig.from_dict(dict(values.pop("model", None) or {}))
        reject_unknown(values, cls, "train_cvae")
        return cls(model=model, **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Columns as tokens: one categorical per column over its joint factors.
N_CODES = encode.N_CODES
VOCABULARY = N_CODES * N_CODES * 2  # 5'-arm code x 3'-arm code x paired


def factors_to_tokens(factors: encode.Factors, mirror_loop: bool = True) -> np.ndarray:
    """Token of every column, int64 N x 100: (5'-arm code * 7 + 3'-arm code) * 2 + paired.

    With `mirror_loop`, the 3'-arm half of the terminal-loop columns (the unpaired columns before
    the first pair, when both halves hold a nucleotide) is replaced by the 5'-arm half. The image
    draws the loop twice, mirrored, so the 3' half repeats nucleotides that a decoder going
    outward from column 0 has not chosen yet; `premirna.encode.factors_to_hairpins` reads the loop
    from the 5' half, so the hairpin the tokens spell is unchanged.
    """
    normal = encode.normalize_factors(factors)
    top = np.atleast_2d(np.asarray(normal.top_nt, dtype=np.int64))
    bottom = np.atleast_2d(np.asarray(normal.bottom_nt, dtype=np.int64)).copy()
    paired = np.atleast_2d(np.asarray(normal.paired, dtype=np.int64))
    if mirror_loop:
        letter = (top >= encode.NT_A) & (top <= encode.NT_N)
        both = letter & (bottom >= encode.NT_A) & (bottom <= encode.NT_N)
        in_loop = np.cumsum(paired, axis=1) == 0
        drawn = letter | ((bottom >= encode.NT_A) & (bottom <= encode.NT_N))
        twice = (both | ~(in_loop & drawn)).all(axis=1)  # the loop is drawn in both halves
        mirror = in_loop & both & twice[:, None]
        bottom[mirror] = top[mirror]
    return (top * N_CODES + bottom) * 2 + paired


def tokens_to_factors(tokens: np.ndarray) -> encode.Factors:
    """The factors that a batch of tokens (N x 100) stands for (inverse of `factors_to_tokens`)."""
    tokens = np.atleast_2d(np.asarray(tokens, dtype=np.int64))
    paired = (tokens % 2).astype(bool)
    pair = tokens // 2
    return encode.Factors(
        (pair // N_CODES).astype(np.int8), (pair % N_CODES).astype(np.int8), paired
    )


def token_lengths(tokens: np.ndarray) -> np.ndarray:
    """Columns that carry information: the drawn ones plus the empty column ending the hairpin
    (every later column is empty too), at most all columns."""
    tokens = np.atleast_2d(tokens)
    empty = tokens == 0  # token 0: both halves NONE, unpaired
    first_empty = np.where(empty.any(axis=1), np.argmax(empty, axis=1), tokens.shape[1])
    return np.minimum(first_empty + 1, tokens.shape[1])


def teacher_inputs(tokens: torch.Tensor, start_token: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: the start token, then every column but the last."""
    start = torch.full_like(tokens[:, :1], start_token)
    return torch.cat([start, tokens[:, :-1]], dim=1)


# --------------------------------------------------------------------------------------------
# Data and conditions.
@dataclass
class HairpinSet:
    """Encoded molecules with their column tokens and hairpin attributes (encodable rows only)."""

    ids: np.ndarray  # str, N
    images: np.ndarray  # uint8, N x 25 x 100 x 3
    labels: np.ndarray  # int64, N (1 = pre-miRNA)
    tokens: np.ndarray  # int64, N x 100: the image's factors per column (`factors_to_tokens`)
    attributes: pd.DataFrame  # one row per molecule: CONDITION_ATTRIBUTES (and more) by column

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self) -> str:
        """Hash of ids and labels: a checkpoint only resumes on the data it was trained on."""
        digest = hashlib.sha256()
        for name, label in zip(self.ids.tolist(), self.labels.tolist(), strict=True):
            digest.update(f"{name}\t{label}\n".encode())
        return digest.hexdigest()[:16]


def read_fold_table(path: str | Path) -> pd.DataFrame:
    """The fold stage's table indexed by id (first row of a repeated id)."""
    table = pd.read_csv(path, sep="\t", dtype={"id": str}, keep_default_na=False,
                        na_values=[""])
    if "id" not in table:
        raise InputError(path, "no `id` column")
    return table.drop_duplicates("id").set_index("id", drop=False)


def load_hairpins(npz_path: str | Path, fold_table: pd.DataFrame, source: str = "") -> HairpinSet:
    """Read an encode-stage npz, keep its encodable rows and attach tokens and attributes."""
    with np.load(npz_path, allow_pickle=False) as data:
        keep = data["encodable"].astype(bool)
        ids = data["ids"].astype(str)[keep]
        images = data["images"][keep]
        labels = data["labels"].astype(np.int64).reshape(-1)[keep]
    missing = [i for i in ids if i not in fold_table.index]
    if missing:
        raise InputError(source or npz_path, f"{len(missing)} encoded molecules are not in the "
                         "fold table", record=missing[0])
    attributes = fold_table.loc[ids].reset_index(drop=True)
    absent = [a for a in CONDITION_ATTRIBUTES if a not in attributes]
    if absent:
        raise InputError(source or npz_path, f"fold table lacks columns {absent}")
    tokens = factors_to_tokens(encode.image_to_factors(images, source=str(npz_path)))
    return HairpinSet(ids, images, labels, tokens, attributes)


def quantile_bins(
    attributes: pd.DataFrame, labels: np.ndarray, names: list[str], n_bins: int
) -> dict[str, list[float]]:
    """Inner bin edges (n_bins - 1, increasing) of each attribute: quantiles of the pre-miRNAs.

    Edges are lower-inclusive (`assign_bins`); repeated quantiles of a whole-number attribute are
    kept, which leaves that bin empty rather than shifting the others.
    """
    chosen = attributes[labels == 1] if (labels == 1).any() else attributes
    edges = {}
    for name in names:
        values = chosen[name].to_numpy(dtype=np.float64)
        values = values[~np.isnan(values)]
        if not len(values):
            raise ValueError(f"no values of {name} to bin")
        qs = np.quantile(values, np.arange(1, n_bins) / n_bins)
        edges[name] = [float(q) for q in qs]
    return edges


def assign_bins(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin index of each value (lower-inclusive edges); NaN -> -1."""
    values = np.asarray(values, dtype=np.float64)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return np.where(np.isnan(values), -1, index).astype(np.int64)


def condition_sizes(n_attributes: int, n_bins: int) -> list[int]:
    """Categories of each condition: the class (0, 1, any), then each attribute's bins + any."""
    return [3] + [n_bins + 1] * n_attributes


def make_conditions(
    labels: np.ndarray | None,
    attributes: pd.DataFrame | None,
    bins: dict[str, list[float]],
    n_rows: int | None = None,
) -> np.ndarray:
    """Condition matrix N x (1 + attributes): class, then each attribute's bin (the checkpoint's
    `bins` order). `labels=None` or `attributes=None` leave those conditions "not specified"
    (the last category); so does a missing attribute value."""
    n = n_rows if n_rows is not None else (len(labels) if labels is not None else len(attributes))
    names = list(bins)
    out = np.empty((n, 1 + len(names)), dtype=np.int64)
    out[:, 0] = 2 if labels is None else np.asarray(labels, dtype=np.int64)
    for k, name in enumerate(names, start=1):
        n_bins = len(bins[name]) + 1
        if attributes is None:
            out[:, k] = n_bins
        else:
            index = assign_bins(attributes[name].to_numpy(dtype=np.float64), bins[name])
            out[:, k] = np.where(index < 0, n_bins, index)
    return out


def hide_conditions(
    conditions: torch.Tensor,
    sizes: list[int],
    rate: float,
    generator: torch.Generator,
    all_rate: float = 0.0,
) -> torch.Tensor:
    """Replace each condition by "not specified" (its last category) with probability `rate`,
    and all conditions of a row at once with probability `all_rate`."""
    if rate <= 0 and all_rate <= 0:
        return conditions
    hidden = torch.rand(conditions.shape, generator=generator) < rate
    hidden |= torch.rand((len(conditions), 1), generator=generator) < all_rate
    unspecified = torch.tensor(sizes, dtype=conditions.dtype).sub(1).expand_as(conditions)
    return torch.where(hidden, unspecified, conditions)


def hide_tokens(
    previous: torch.Tensor, start_token: int, rate: float, generator: torch.Generator
) -> torch.Tensor:
    """Word dropout (Bowman et al. 2016): replace decoder inputs by the start token with
    probability `rate`, so that the decoder has to lean on z."""
    if rate <= 0:
        return previous
    hidden = torch.rand(previous.shape, generator=generator) < rate
    return torch.where(hidden, torch.full_like(previous, start_token), previous)


# --------------------------------------------------------------------------------------------
# The loss.
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


# --------------------------------------------------------------------------------------------
# Training.
def _epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's random streams: the same whether or not the run was resumed."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def beta_at(epoch: int, config: CVAETrainConfig) -> float:
    """KL weight of a (1-based) epoch: linear warm-up over `kl_anneal_epochs`, then `beta`."""
    if config.kl_anneal_epochs <= 0:
        return config.beta
    return config.beta * min(1.0, epoch / config.kl_anneal_epochs)


def _config_key(config: CVAETrainConfig) -> str:
    """What must match for a checkpoint to be resumed (not threads, device or epochs)."""
    return settings_key(config.to_dict(), ("threads", "device", "epochs"))


def load_cvae(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[CVAE, dict[str, Any]]:
    """Rebuild the network of a checkpoint from its `model_args`; (model in eval mode, dict)."""
    return load_model(path, lambda args: CVAE(CVAEConfig.from_dict(args)), device)


@torch.no_grad()
def encode_posterior(
    model: CVAE,
    images: np.ndarray,
    conditions: np.ndarray,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances (N x latent) of uint8 images under given conditions.

    Build `conditions` with `make_conditions` from the checkpoint's `bins` (the molecules' own
    class and bins, or None for "not specified").
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    mus, logvars = [], []
    for lo in range(0, len(images), batch_size):
        x = images_to_tensor(images[lo : lo + batch_size]).to(device)
        c = torch.from_numpy(np.asarray(conditions[lo : lo + batch_size])).to(device)
        mu, logvar = model.encode(x, c)
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    model.train(was_training)
    if not mus:
        dim = model.config.latent_dim
        return np.zeros((0, dim), np.float32), np.zeros((0, dim), np.float32)
    return torch.cat(mus).numpy(), torch.cat(logvars).numpy()


def _tensors(data: HairpinSet, conditions: np.ndarray) -> tuple[torch.Tensor, ...]:
    return (
        images_to_tensor(data.images),
        torch.from_numpy(conditions),
        torch.from_numpy(data.tokens),
        torch.from_numpy(token_lengths(data.tokens)),
    )


def _truncate(tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens cut to the batch's longest hairpin, and the mask of the columns that count."""
    width = int(lengths.max()) if len(lengths) else 1
    mask = torch.arange(width)[None, :] < lengths[:, None]
    return tokens[:, :width], mask


def _length_batches(
    lengths: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """Shuffled batches of molecules of similar length (less decoding of empty columns)."""
    order = torch.randperm(len(lengths), generator=generator)
    order = order[torch.argsort(lengths[order], stable=True)]
    batches = list(torch.split(order, batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


@torch.no_grad()
def _evaluate(
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
        t, mask = _truncate(tokens[lo : lo + batch_size], lengths[lo : lo + batch_size])
        t, mask = t.to(device), mask.to(device)
        logits, mu, logvar = model(x, c, teacher_inputs(t, model.start_token))
        _, recon, kl = cvae_loss(logits, t, mu, logvar, beta, mask=mask)
        recon_sum += float(recon) * len(t)
        kl_sum += float(kl) * len(t)
    n = max(len(tokens), 1)
    return recon_sum / n, kl_sum / n


def fit(
    train: HairpinSet,
    val: HairpinSet,
    config: CVAETrainConfig,
    model_path: str | Path,
    last_path: str | Path | None = None,
    resume: bool = True,
) -> tuple[CVAE, dict[str, Any]]:
    """Train on `train`, keep the epoch with the best validation loss; return (model, checkpoint).

    Writes the best checkpoint to `model_path` and, after every epoch, the resumable state to
    `last_path` (default: `last.pt` beside `model_path`). With `resume`, a `last_path` written
    for the same data and configuration is continued.
    """
    torch.set_num_threads(max(1, config.threads))
    device = choose_device(config.device)
    last_path = Path(last_path) if last_path else Path(model_path).with_name("last.pt")
    labels_kept = np.isin(train.labels, config.labels)
    if not labels_kept.all():
        train = _subset(train, labels_kept)
    val = _subset(val, np.isin(val.labels, config.labels))
    if len(train) == 0:
        raise ValueError(f"no training molecules with labels {config.labels}")
    bins = quantile_bins(train.attributes, train.labels, list(config.attributes), config.bins)
    sizes = condition_sizes(len(config.attributes), config.bins)
    model_config = CVAEConfig.from_dict(
        {**config.model.to_dict(), "vocabulary": VOCABULARY, "condition_sizes": sizes}
    )
    train_tensors = _tensors(train, make_conditions(train.labels, train.attributes, bins))
    val_tensors = _tensors(val, make_conditions(val.labels, val.attributes, bins))
    fingerprint = train.fingerprint() + val.fingerprint()
    key = _config_key(config)

    seed_everything(config.seed)
    model = CVAE(model_config).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs))
        if config.lr_schedule == "cosine" else None
    )
    if config.lr_schedule not in ("cosine", "none"):
        raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}: cosine or none")
    history: list[dict[str, float]] = []
    best_metric, best_epoch = math.inf, 0
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    start_epoch = 1
    if resume and last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=True)
        if state.get("config_key") == key and state.get("data") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            history = list(state["history"])
            best_metric, best_epoch = float(state["best_metric"]), int(state["best_epoch"])
            best_state = state["best_model"]
            start_epoch = int(state["epoch"]) + 1
            log.info("resuming from %s after epoch %d", last_path, start_epoch - 1)
        else:
            log.info("ignoring %s: other data or configuration", last_path)

    base = {
        "model_args": model_config.to_dict(),
        "config": config.to_dict(),
        "bins": bins,
        "attributes": list(config.attributes),
        "bin_names": bin_names(config.bins),
        "class_names": [CLASS_NAMES[0], CLASS_NAMES[1]],
        "encoding_version": encode.ENCODING_VERSION,
        "vocabulary": VOCABULARY,
        "config_key": key,
        "data": fingerprint,
        "n_train": len(train),
        "n_val": len(val),
    }
    start_token = model.start_token
    images, conditions, tokens, lengths = train_tensors
    for epoch in range(start_epoch, config.epochs + 1):
        started = time.monotonic()
        epoch_seed = _epoch_seed(config.seed, epoch)
        seed_everything(epoch_seed)
        generator = torch.Generator().manual_seed(epoch_seed)
        beta = beta_at(epoch, config)
        model.train()
        sums = np.zeros(3)
        for idx in _length_batches(lengths, config.batch_size, generator):
            t, mask = _truncate(tokens[idx], lengths[idx])
            c = hide_conditions(conditions[idx], sizes, config.condition_dropout, generator,
                                config.unconditional_rate)
            previous = hide_tokens(
                teacher_inputs(t, start_token), start_token, config.word_dropout, generator
            )
            logits, mu, logvar = model(images[idx].to(device), c.to(device), previous.to(device))
            loss, recon, kl = cvae_loss(
                logits, t.to(device), mu, logvar, beta, config.free_bits, mask.to(device)
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            recon_value, kl_value = float(recon.detach()), float(kl.detach())
            sums += np.array([recon_value, kl_value, recon_value + beta * kl_value]) * len(idx)
        recon_mean, kl_mean, total_mean = (float(v) for v in sums / len(tokens))
        if scheduler is not None:
            scheduler.step()
        val_recon, val_kl = _evaluate(model, val_tensors, config.beta, device)
        val_metric = val_recon + config.beta * val_kl
        row = {
            "epoch": epoch, "beta": beta, "recon": recon_mean, "kl": kl_mean,
            "total": total_mean, "val_recon": val_recon, "val_kl": val_kl, "val": val_metric,
            "seconds": round(time.monotonic() - started, 2),
        }
        history.append(row)
        log.info(
            "epoch %d/%d: beta %.3f recon %.2f KL %.2f | val recon %.2f KL %.2f loss %.2f (%.0f s)",
            epoch, config.epochs, beta, recon_mean, kl_mean, val_recon, val_kl, val_metric,
            row["seconds"],
        )
        if val_metric < best_metric:
            best_metric, best_epoch = val_metric, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            save_checkpoint(
                {**base, "model": best_state, "optimizer": optimizer.state_dict(),
                 "epoch": epoch, "best_metric": best_metric, "best_epoch": best_epoch,
                 "history": history}, model_path,
            )
        save_checkpoint(
            {**base, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "best_model": best_state, "epoch": epoch, "best_metric": best_metric,
             "scheduler": scheduler.state_dict() if scheduler is not None else {},
             "best_epoch": best_epoch, "history": history}, last_path,
        )
        if config.patience and epoch - best_epoch >= config.patience:
            log.info("no improvement for %d epochs: stopping", config.patience)
            break
    model.load_state_dict(best_state)
    model.eval()
    checkpoint = {**base, "model": best_state, "optimizer": optimizer.state_dict(),
                  "epoch": best_epoch, "best_metric": best_metric, "best_epoch": best_epoch,
                  "history": history}
    # The best checkpoint is rewritten with the full history (and written at all after a resume
    # that had nothing left to train).
    save_checkpoint(checkpoint, model_path)
    return model, checkpoint


def _subset(data: HairpinSet, mask: np.ndarray) -> HairpinSet:
    return HairpinSet(
        data.ids[mask], data.images[mask], data.labels[mask], data.tokens[mask],
        data.attributes[mask].reset_index(drop=True),
    )


# --------------------------------------------------------------------------------------------
# Figures and the stage.
def plot_history(history: pd.DataFrame, path: str | Path) -> None:
    """Reconstruction, KL and validation loss per epoch, with the KL weight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].plot(history["epoch"], history["recon"], label="train")
    axes[0].plot(history["epoch"], history["val_recon"], label="validation")
    axes[0].set_title("reconstruction (nats / molecule)", fontsize=9)
    axes[1].plot(history["epoch"], history["kl"], label="train")
    axes[1].plot(history["epoch"], history["val_kl"], label="validation")
    axes[1].set_title("KL (nats / molecule)", fontsize=9)
    axes[2].plot(history["epoch"], history["val"], color="C2")
    axes[2].set_title("validation loss (recon + beta KL)", fontsize=9)
    twin = axes[2].twinx()
    twin.plot(history["epoch"], history["beta"], color="grey", ls="--")
    twin.set_ylabel("beta", color="grey")
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_reconstructions(
    model: CVAE, data: HairpinSet, bins: dict[str, list[float]], path: str | Path,
    n: int = 6, seed: int = 0, samples: int = 2,
) -> None:
    """Input images beside reconstructions: z = the posterior mean under the molecule's own class
    and bins, decoded `samples` times (temperature 1, plain conditional decoder, seeded)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from premirna.generate import decode_latents

    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(data), size=min(n, len(data)), replace=False))
    conditions = make_conditions(data.labels[chosen], data.attributes.iloc[chosen], bins)
    mu, _ = encode_posterior(model, data.images[chosen], conditions)
    decoded = [decode_latents(model, mu, conditions, seed=seed + k) for k in range(samples)]
    fig, axes = plt.subplots(len(chosen), 1 + samples, squeeze=False,
                             figsize=(4.2 * (1 + samples), 1.15 * len(chosen) + 0.4))
    for row, index in enumerate(chosen):
        length = int(data.attributes.at[index, "length"]) if "length" in data.attributes else 0
        panels = [(data.images[index], f"{data.ids[index]} (input, {length} nt)")]
        drawn = int(token_lengths(data.tokens[index])[0]) - 1  # the input's drawn columns
        for k, result in enumerate(decoded):
            same = (result.tokens[row, :drawn] == data.tokens[index, :drawn]).mean()
            panels.append((result.images[row],
                           f"sample {k + 1}: {len(result.sequences[row])} nt, "
                           f"{same:.0%} of the input's columns equal"))
        for col, (image, title) in enumerate(panels):
            axes[row, col].imshow(image, interpolation="nearest", aspect="auto")
            axes[row, col].set_title(title, fontsize=7)
            axes[row, col].axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def train_cvae(
    train_npz: str | Path,
    val_npz: str | Path,
    folded_tsv: str | Path,
    model_path: str | Path,
    history_path: str | Path,
    reconstructions_path: str | Path,
    curves_path: str | Path | None = None,
    config: CVAETrainConfig | dict[str, Any] | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """The `train_cvae` stage: train on the encode stage's train split (validation split for model
    selection); write the best checkpoint, the per-epoch history, loss curves and a figure of
    reconstructions. `last.pt` beside `model_path` makes an interrupted run resumable."""
    if not isinstance(config, CVAETrainConfig):
        config = CVAETrainConfig.from_dict(config or {})
    table = read_fold_table(folded_tsv)
    train = load_hairpins(train_npz, table)
    val = load_hairpins(val_npz, table)
    log.info("train_cvae: %d training and %d validation molecules, device %s",
             len(train), len(val), choose_device(config.device))
    started = time.monotonic()
    model, checkpoint = fit(train, val, config, model_path, resume=resume)
    history = pd.DataFrame(checkpoint["history"], columns=HISTORY_COLUMNS)
    write_tsv(history, history_path)
    if curves_path:
        plot_history(history, curves_path)
    val_kept = _subset(val, np.isin(val.labels, config.labels))
    plot_reconstructions(model, val_kept, checkpoint["bins"], reconstructions_path,
                         seed=config.seed)
    log.info("train_cvae: best epoch %d, validation loss %.2f, %.0f s",
             checkpoint["best_epoch"], checkpoint["best_metric"], time.monotonic() - started)
    return {"best_epoch": checkpoint["best_epoch"], "best_metric": checkpoint["best_metric"],
            "seconds": time.monotonic() - started}

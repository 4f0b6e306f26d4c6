"""The train_cvae stage: the conditional VAE of `premirna.generator.network`, seeded, resumable.

`train_cvae` is what the `train_cvae` rule calls. It reads the encode stage's images
(`results/encode/{train,val}.npz`) and the fold table (hairpin attributes by id), reads every image
back into its discrete factors per column (`premirna.encode.decode.image_to_factors`), one
token per column over the column's joint factors (the decoder's targets), and builds the
conditions: the class (pre-miRNA or not) and, for each attribute in the config (stem length,
terminal-loop size, GC content, MFE per nt by default), its bin among quantile bins of the
**training pre-miRNAs**. The bin edges are stored in the checkpoint, so generation and validation
use the same bins. During training each condition is hidden ("not specified") with probability
`condition_dropout`, and all of a molecule's at once with probability `unconditional_rate`, so that
one model can be asked for any subset of the conditions and classifier-free guidance has an
unconditional decoder.

The loss is the negative evidence lower bound of a beta-VAE: categorical cross-entropy of the
factors plus beta times the KL divergence, with beta warmed up linearly from 0 (KL annealing);
with `attribute_regularisation` (attribute -> latent dimension) it adds gamma times the AR-VAE
term of `premirna.generator.attribute_loss` for each tied attribute, which the checkpoint's config
records; the kept epoch is then the one with the lowest validation value of that whole objective
(the validation ELBO alone picks early epochs, before the axes are ordered). Only epochs trained
at the full beta compete for it: an epoch of the warm-up was fitted for a smaller KL weight, and
its validation KL dips at random. On the default data such a dip (4.1 nats against 5.6-6.3 around
it) made epoch 19 of 60 the kept one, whose decoder reconstructs validation molecules 1.5 nats
worse than the later epochs' and, teacher-forced on its own training molecules, predicts 5'G-3'C
pairs as 0.228 of their base pairs where they hold 0.265 (benchmarks/bench_decoder_calibration.py;
benchmarks/README.md, "The kept epoch of train_cvae"). A run that ends inside the warm-up keeps
its last epoch. Runs are seeded and deterministic on the CPU: every epoch re-seeds its random
streams from (seed, epoch), and `last.pt` is written atomically after each epoch, so an
interrupted run started again with the same data and configuration resumes where it stopped
and ends with the same weights as an uninterrupted one. Checkpoints are plain dicts (weights,
optimiser, `model_args`, full config, condition bins, encoding version, epoch, best metric,
history) read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from premirna.core.atomic import write_tsv
from premirna.core.errors import TrainingError, check_finite_loss
from premirna.core.logs import eta
from premirna.core.seeds import cvae_epoch_seed
from premirna.core.tables import LABELS, read_folded
from premirna.encode.image import ENCODING_VERSION
from premirna.generator.attribute_loss import attribute_targets
from premirna.generator.conditions import (
    bin_names,
    condition_sizes,
    make_conditions,
    quantile_bins,
)
from premirna.generator.config import CVAETrainConfig
from premirna.generator.data import HairpinSet, load_hairpins
from premirna.generator.figures import plot_history, plot_reconstructions
from premirna.generator.network import CVAE, CVAEConfig
from premirna.generator.steps import (
    beta_at,
    evaluate,
    tensors,
    train_epoch,
    validation_tied_term,
    validation_total_correlation,
)
from premirna.generator.tokens import VOCABULARY
from premirna.training.checkpoints import read_checkpoint, save_checkpoint, settings_key
from premirna.training.device import choose_device, seed_everything, use_threads

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "beta", "recon", "kl", "total", "val_recon", "val_kl", "val", "seconds"]
#: Settings of the attribute regularisation (left out of the resume key while it is off, so runs
#: without it keep the key they had before the option existed).
AR_KEYS: tuple[str, ...] = ("attribute_regularisation", "ar_gamma", "ar_delta")


def history_columns(config: CVAETrainConfig) -> list[str]:
    """The history's columns: `HISTORY_COLUMNS`, and `ar` and `val_ar` (the AR-VAE term on the
    training and on the validation molecules) when attributes are tied to latent dimensions,
    `tc` and `val_tc` (the total correlation of q(z)) when that is penalised."""
    return (HISTORY_COLUMNS + (["ar", "val_ar"] if config.regularised else [])
            + (["tc", "val_tc"] if config.tc_weight > 0 else []))


def _config_key(config: CVAETrainConfig) -> str:
    """What must match for a checkpoint to be resumed: every setting that shapes the training
    (the epochs too: they set the cosine schedule), not the threads or device."""
    ignore = (("threads", "device") + (() if config.regularised else AR_KEYS)
              + (() if config.tc_weight > 0 else ("tc_weight",)))
    return settings_key(config.to_dict(), ignore)


@dataclass
class _Run:
    """The state of a training run: what the resumable checkpoint `last.pt` holds."""

    model: CVAE
    optimizer: torch.optim.Optimizer
    scheduler: Any
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)
    best_metric: float = math.inf
    best_epoch: int = 0
    next_epoch: int = 1


def _start(config: CVAETrainConfig, model_config: CVAEConfig, device: torch.device) -> _Run:
    seed_everything(config.seed)
    model = CVAE(model_config).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs))
        if config.lr_schedule == "cosine" else None
    )
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return _Run(model, optimizer, scheduler, best_state)


def _resume(run: _Run, last_path: Path, key: str, fingerprint: str, device: Any) -> None:
    """Continue `run` from `last_path` when it was written for the same data and config."""
    state = read_checkpoint(last_path, device)
    if state.get("config_key") != key or state.get("data") != fingerprint:
        log.info("ignoring %s: other data or configuration", last_path)
        return
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None:
        run.scheduler.load_state_dict(state["scheduler"])
    run.history = list(state["history"])
    run.best_metric, run.best_epoch = float(state["best_metric"]), int(state["best_epoch"])
    run.best_state = state["best_model"]
    run.next_epoch = int(state["epoch"]) + 1
    log.info("resuming from %s after epoch %d", last_path, run.next_epoch - 1)


def _end_epoch(
    run: _Run, row: dict[str, float], base: dict[str, Any], last_path: Path, competes: bool
) -> None:
    """Record the epoch: keep the best weights on improvement of an epoch that `competes`,
    write the resumable checkpoint (which holds them; the model file itself is written once,
    when training ends)."""
    epoch = int(row["epoch"])
    run.history.append(row)
    if competes and row["val"] < run.best_metric:
        run.best_metric, run.best_epoch = row["val"], epoch
        run.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    save_checkpoint(
        {**base, "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
         "best_model": run.best_state, "epoch": epoch, "best_metric": run.best_metric,
         "scheduler": run.scheduler.state_dict() if run.scheduler is not None else {},
         "best_epoch": run.best_epoch, "history": run.history}, last_path,
    )


def inner_quantile_bounds(
    values: np.ndarray, low: float = 0.01, high: float = 0.99, z: float = 1.96
) -> list[float]:
    """Order statistics that lie, with about 97.5% confidence each, inside the population's
    `low` and `high` quantiles: the k-th smallest value, k at the normal approximation's
    one-sided bound of the binomial rank (n q +- z sqrt(n q (1 - q)); distribution-free
    confidence limits for quantiles, Conover 1999, section 3.2). The sample percentiles
    themselves fall outside the population's about half the time, so a range taken from them
    lets through molecules that another sample of real ones calls outlying."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = len(ordered)
    spread = [z * math.sqrt(n * q * (1.0 - q)) for q in (low, high)]
    first = min(max(math.ceil(n * low + spread[0]), 1), n)
    last = max(min(math.floor(n * high - spread[1]), n), first)
    return [float(ordered[first - 1]), float(ordered[last - 1])]


def length_ranges(train: HairpinSet) -> dict[int, list[float]]:
    """Per class, lengths that lie inside the 1st-99th percentiles of the class's lengths with
    confidence (`inner_quantile_bounds` of the training molecules): generate redraws a molecule
    drawn outside its class's range (a length model learnt from the data)."""
    lengths = train.attributes["length"].to_numpy(dtype=np.float64)
    return {int(label): inner_quantile_bounds(lengths[train.labels == label])
            for label in np.unique(train.labels)}


def _base(
    config: CVAETrainConfig, model_config: CVAEConfig, bins: dict[str, list[float]], key: str,
    fingerprint: str, train: HairpinSet, val: HairpinSet,
) -> dict[str, Any]:
    """What every checkpoint of the run holds besides the weights: enough to rebuild and use it."""
    return {
        "kind": "generator",
        "lengths": length_ranges(train),
        "model_args": model_config.to_dict(),
        "config": config.to_dict(),
        "bins": bins,
        "attributes": list(config.attributes),
        "bin_names": bin_names(config.bins),
        "class_names": [LABELS[0], LABELS[1]],
        "encoding_version": ENCODING_VERSION,
        "vocabulary": VOCABULARY,
        "config_key": key,
        "data": fingerprint,
        "n_train": len(train),
        "n_val": len(val),
    }


def _time_left(run: _Run, row: dict[str, float], epochs: int) -> str:
    """'ETA ...' after the epoch of `row` (not yet in the history), from the epochs of this
    process and any resumed before it."""
    done = len(run.history) + 1
    return eta(done, epochs - int(row["epoch"]) + done,
               sum(r["seconds"] for r in run.history) + row["seconds"])


def _tied_targets(
    train: HairpinSet, config: CVAETrainConfig, val: HairpinSet | None = None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The attributes tied to latent dimensions, per training and per validation molecule (None,
    None when none is)."""
    if not config.regularised:
        return None, None
    targets = attribute_targets(train, config.attribute_regularisation)
    val_targets = attribute_targets(val, config.attribute_regularisation) if val else None
    known = (~torch.isnan(targets)).sum(0).tolist()
    log.info("train_cvae: attribute regularisation (gamma %g, delta %g): %s", config.ar_gamma,
             config.ar_delta, ", ".join(
                 f"{name} -> z{dim} ({n} molecules)" for (name, dim), n in
                 zip(config.attribute_regularisation.items(), known, strict=True)))
    return targets, val_targets


def _validate(
    model: CVAE, val_tensors: tuple[torch.Tensor, ...], val_targets: torch.Tensor | None,
    config: CVAETrainConfig, device: torch.device,
) -> dict[str, float]:
    """The epoch's validation figures. `val`, the loss that selects the kept epoch, is the
    negative ELBO, plus gamma times the AR-VAE term when attributes are tied (`val_ar`). The
    total correlation of q(z), when it is penalised, is recorded (`val_tc`) but not added."""
    val_recon, val_kl = evaluate(model, val_tensors, config.beta, device)
    row = {"val_recon": val_recon, "val_kl": val_kl, "val": val_recon + config.beta * val_kl}
    if val_targets is not None:
        row["val_ar"] = validation_tied_term(model, val_tensors, val_targets, config, device)
        row["val"] += config.ar_gamma * row["val_ar"]
    if config.tc_weight > 0:  # recorded, not selected on: see validation_total_correlation
        row["val_tc"] = validation_total_correlation(model, val_tensors, config, device)
    return row


def fit(
    train: HairpinSet,
    val: HairpinSet,
    config: CVAETrainConfig,
    model_path: str | Path,
    last_path: str | Path | None = None,
    resume: bool = True,
) -> tuple[CVAE, dict[str, Any]]:
    """Train on `train`, keep the best validation epoch at full beta; return (model, checkpoint).

    Writes, after every epoch, the resumable state to `last_path` (default: `last.pt` beside
    `model_path`), and the best checkpoint to `model_path` when training ends. With `resume`, a
    `last_path` written for the same data and configuration is continued. Raises TrainingError
    when a loss becomes NaN or infinite.
    """
    use_threads(config.threads)
    device = choose_device(config.device)
    last_path = Path(last_path) if last_path else Path(model_path).with_name("last.pt")
    labels_kept = np.isin(train.labels, config.labels)
    if not labels_kept.all():
        train = train.subset(labels_kept)
    val = val.subset(np.isin(val.labels, config.labels))
    if len(train) == 0:
        raise ValueError(f"no training molecules with labels {config.labels}")
    bins = quantile_bins(train.attributes, train.labels, list(config.attributes), config.bins)
    sizes = condition_sizes(len(config.attributes), config.bins)
    model_config = CVAEConfig.from_dict({**config.model.to_dict(), "condition_sizes": sizes})
    train_tensors = tensors(train, make_conditions(train.labels, train.attributes, bins))
    val_tensors = tensors(val, make_conditions(val.labels, val.attributes, bins))
    fingerprint = train.fingerprint() + val.fingerprint()
    key = _config_key(config)
    targets, val_targets = _tied_targets(train, config, val)
    run = _start(config, model_config, device)
    if resume and last_path.exists():
        _resume(run, last_path, key, fingerprint, device)
    base = _base(config, model_config, bins, key, fingerprint, train, val)
    for epoch in range(run.next_epoch, config.epochs + 1):
        started = time.monotonic()
        epoch_seed = cvae_epoch_seed(config.seed, epoch)
        seed_everything(epoch_seed)
        generator = torch.Generator().manual_seed(epoch_seed)
        beta = beta_at(epoch, config)
        recon_mean, kl_mean, total_mean, ar_mean, tc_mean = train_epoch(
            run.model, run.optimizer, train_tensors, config, sizes, beta, generator, device, targets
        )
        if run.scheduler is not None:
            run.scheduler.step()
        validation = _validate(run.model, val_tensors, val_targets, config, device)
        val_recon, val_kl, val_metric = (validation[k] for k in ("val_recon", "val_kl", "val"))
        row = {
            "epoch": epoch, "beta": beta, "recon": recon_mean, "kl": kl_mean,
            "total": total_mean, **validation, "seconds": round(time.monotonic() - started, 2),
            **({"ar": ar_mean} if targets is not None else {}),
            **({"tc": tc_mean} if config.tc_weight > 0 else {}),
        }
        log.info(
            "epoch %d/%d: beta %.3f recon %.2f KL %.2f | val recon %.2f KL %.2f loss %.2f "
            "(%.0f s, %s)", epoch, config.epochs, beta, recon_mean, kl_mean, val_recon, val_kl,
            val_metric, row["seconds"], _time_left(run, row, config.epochs),
        )
        check_finite_loss(
            {"training loss": total_mean, "validation loss": val_metric},
            f"train_cvae epoch {epoch}",
            f"lower train_cvae.learning_rate (now {config.learning_rate:g}) or grad_clip",
        )
        _end_epoch(run, row, base, last_path, beta >= config.beta or epoch == config.epochs)
        if config.patience and run.best_epoch and epoch - run.best_epoch >= config.patience:
            log.info("no improvement for %d epochs: stopping", config.patience)
            break
    if run.best_epoch == 0:
        raise TrainingError(f"train_cvae: no epoch was trained ({last_path} holds a finished "
                            "run without a best epoch); delete it to start over")
    run.model.load_state_dict(run.best_state)
    run.model.eval()
    checkpoint = {**base, "model": run.best_state, "optimizer": run.optimizer.state_dict(),
                  "epoch": run.best_epoch, "best_metric": run.best_metric,
                  "best_epoch": run.best_epoch, "history": run.history}
    # Written only now, so an interrupted run never leaves a best-so-far model at the final name.
    save_checkpoint(checkpoint, model_path)
    return run.model, checkpoint


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
    table = read_folded(folded_tsv)
    train = load_hairpins(train_npz, table)
    val = load_hairpins(val_npz, table)
    log.info("train_cvae: %d training and %d validation molecules, device %s",
             len(train), len(val), choose_device(config.device))
    started = time.monotonic()
    model, checkpoint = fit(train, val, config, model_path, resume=resume)
    history = pd.DataFrame(checkpoint["history"], columns=history_columns(config))
    write_tsv(history, history_path)
    if curves_path:
        plot_history(history, curves_path)
    val_kept = val.subset(np.isin(val.labels, config.labels))
    plot_reconstructions(model, val_kept, checkpoint["bins"], reconstructions_path,
                         seed=config.seed)
    log.info("train_cvae: best epoch %d, validation loss %.2f, %.0f s",
             checkpoint["best_epoch"], checkpoint["best_metric"], time.monotonic() - started)
    return {"best_epoch": checkpoint["best_epoch"], "best_metric": checkpoint["best_metric"],
            "seconds": time.monotonic() - started}

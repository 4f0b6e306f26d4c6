"""The training loop of the classifier: seeded, resumable, one phase at a time.

Every epoch ends with `{phase}_last.pt` written atomically; a run that is interrupted and started
again with the same data and configuration continues from that epoch and ends with the same
weights as an uninterrupted run (the random streams are re-seeded from the config seed at every
epoch, so they do not depend on how many epochs ran in this process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from premirna.classifier.config import TrainConfig
from premirna.classifier.network import build_model
from premirna.classifier.predict import load_checkpoint, predict_logits
from premirna.classifier.steps import (
    BN_IMAGES,
    auroc,
    batches,
    class_weights,
    classification_loss,
    current_lr,
    improved,
    make_scheduler,
    recalibrate_batch_norm,
)
from premirna.core.errors import TrainingError, check_finite_loss
from premirna.core.logs import eta
from premirna.core.seeds import cnn_epoch_seed, offset
from premirna.core.tables import LABELS
from premirna.encode.image import ENCODING_VERSION
from premirna.encode.images import ImageSet
from premirna.training.checkpoints import read_checkpoint, save_checkpoint, settings_key
from premirna.training.device import choose_device, seed_everything, use_threads
from premirna.training.tensors import images_to_tensor

log = logging.getLogger(__name__)


def phase_seed(config: TrainConfig, phase: str) -> int:
    """The seed of a training phase: `seed`, or `pretrain_seed` (if set) for pre-training."""
    if phase == "pretrain":
        own = config.seed if config.pretrain_seed is None else config.pretrain_seed
        return offset(own, "pretrain_phase")
    return config.seed


def _config_key(config: TrainConfig, phase: str) -> str:
    """What must match for a checkpoint to be resumed (not threads or device)."""
    values = config.to_dict()
    ignore = ["threads", "device"]
    if phase == "pretrain":
        # Settings of the fine-tuning phase alone do not change the pre-training.
        ignore += ["epochs", "learning_rate", "finetune_learning_rate", "seed", "pretrain_seed"]
        values["phase_seed"] = phase_seed(config, phase)
    return settings_key(values, ignore)


@dataclass
class _Run:
    """The state of one phase's training: what a resumable checkpoint holds."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float = float("nan")
    best_epoch: int = 0
    epoch: int = 0
    finished: bool = False


def _start(
    config: TrainConfig,
    seed: int,
    learning_rate: float,
    epochs: int,
    init_state: dict[str, torch.Tensor] | None,
    device: torch.device,
) -> _Run:
    """A fresh network (seeded; `init_state` when fine-tuning), its optimiser and schedule."""
    seed_everything(seed)
    model = build_model(config.model).to(device)
    if init_state is not None:
        model.load_state_dict(init_state)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=learning_rate, weight_decay=config.weight_decay
    )
    return _Run(model, optimizer, make_scheduler(optimizer, config, epochs))


def _resume(run: _Run, last_path: Path, key: str, data_key: str, phase: str, device: Any) -> bool:
    """Continue `run` from `last_path` when it was written for the same config and data; whether
    it was."""
    saved = read_checkpoint(last_path, device)
    if saved.get("config_key") != key or saved.get("data_key") != data_key:
        log.warning("%s: %s is from another config or data set; starting over", phase, last_path)
        return False
    run.model.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    if run.scheduler is not None and saved.get("scheduler") is not None:
        run.scheduler.load_state_dict(saved["scheduler"])
    run.history = list(saved["history"])
    run.best_metric, run.best_epoch = float(saved["best_metric"]), int(saved["best_epoch"])
    run.epoch, run.finished = int(saved["epoch"]), bool(saved["finished"])
    log.info("%s: resuming from %s after epoch %d", phase, last_path, run.epoch)
    return True


def _train_epoch(
    run: _Run, train: ImageSet, config: TrainConfig, weights: torch.Tensor | None, seed: int,
    device: torch.device,
) -> float:
    """One pass over the training images (mixup, class weights); the mean training loss."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    run.model.train()
    total, count = 0.0, 0
    for images, labels in batches(train, config, generator):
        x = images_to_tensor(images.numpy()).to(device)
        y = labels.to(device)
        mixed, mix = None, 1.0
        if config.mixup_alpha > 0:
            mix = float(rng.beta(config.mixup_alpha, config.mixup_alpha))
            order = torch.randperm(len(y), generator=generator).to(device)
            x = mix * x + (1.0 - mix) * x[order]
            mixed = y[order]
        loss = classification_loss(
            run.model(x), y, weights, config.label_smoothing, mixed_targets=mixed, mix=mix
        )
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        total += float(loss.detach()) * len(y)
        count += len(y)
    return total / max(count, 1)


def _validate(
    run: _Run, train: ImageSet, val: ImageSet, weights: torch.Tensor | None, device: torch.device
) -> dict[str, float]:
    """Batch-norm statistics re-estimated on training images, then the validation scores."""
    # Every k-th training image, at most about BN_IMAGES: enough for the statistics.
    recalibrate_batch_norm(
        run.model, train.images[:: max(1, len(train) // BN_IMAGES)], device=device
    )
    val_logits = torch.from_numpy(predict_logits(run.model, val.images, device=device))
    val_labels = torch.from_numpy(val.labels)
    val_loss = float(
        classification_loss(val_logits, val_labels, None if weights is None else weights.cpu())
    )
    val_prob = torch.softmax(val_logits, 1)[:, 1].numpy()
    if not np.isfinite(val_prob).all():  # diverged: the caller stops with the epoch
        return {"val_loss": float("nan"), "val_accuracy": float("nan"), "val_auroc": float("nan")}
    return {
        "val_loss": val_loss,
        "val_accuracy": float(np.mean((val_prob >= 0.5) == (val.labels == 1))),
        "val_auroc": auroc(val.labels, val_prob),
    }


def _end_epoch(
    run: _Run, row: dict[str, Any], config: TrainConfig, epochs: int, base: dict[str, Any],
    best_path: Path, last_path: Path,
) -> None:
    """Record the epoch: best checkpoint on improvement, schedule step, resumable checkpoint."""
    epoch = row["epoch"]
    run.history.append(row)
    value = row[config.monitor]
    if improved(value, run.best_metric, config.monitor):
        run.best_metric, run.best_epoch = float(value), epoch
        save_checkpoint(
            {**base, "model": run.model.state_dict(), "epoch": epoch,
             "best_metric": run.best_metric, "best_epoch": run.best_epoch,
             "history": list(run.history)},
            best_path,
        )
    if isinstance(run.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        run.scheduler.step(row["val_loss"])
    elif run.scheduler is not None:
        run.scheduler.step()
    run.epoch = epoch
    run.finished = epoch == epochs or epoch - run.best_epoch >= config.patience
    spent = sum(r["seconds"] for r in run.history if r.get("phase") == row["phase"])
    done = sum(1 for r in run.history if r.get("phase") == row["phase"])
    log.info(
        "%s epoch %d/%d: train loss %.4f, val loss %.4f, val acc %.4f, val AUROC %.4f, %.1f s, %s",
        row["phase"], epoch, epochs, row["train_loss"], row["val_loss"], row["val_accuracy"],
        row["val_auroc"], row["seconds"], eta(done, epochs - epoch + done, spent),
    )
    save_checkpoint(
        {**base, "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
         "scheduler": None if run.scheduler is None else run.scheduler.state_dict(),
         "epoch": epoch, "best_metric": run.best_metric, "best_epoch": run.best_epoch,
         "history": list(run.history), "finished": run.finished},
        last_path,
    )


def _describe(config: TrainConfig, phase: str) -> dict[str, Any]:
    """What a checkpoint says about itself, so that it can be used without its config file."""
    return {
        "kind": "classifier",
        "model_args": config.model.to_dict(),
        "architecture": config.model.architecture,
        "config": config.to_dict(),
        "labels": dict(LABELS),
        "encoding_version": ENCODING_VERSION,
        "phase": phase,
        "torch_version": str(torch.__version__),
    }


def fit(
    train: ImageSet,
    val: ImageSet,
    config: TrainConfig,
    checkpoint_dir: str | Path,
    phase: str = "train",
    learning_rate: float | None = None,
    epochs: int | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    resume: bool = True,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    extra: dict[str, Any] | None = None,
    depends_on: str = "",
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one phase with early stopping on `val`; returns (best model, its checkpoint dict).

    Writes `{phase}_last.pt` (every epoch, for resuming) and `{phase}_best.pt` (on improvement)
    in `checkpoint_dir`. A finished phase found there is returned without training again.
    `init_state` starts from given weights (fine-tuning); `on_epoch_end(epoch, row)` is called after
    each epoch's checkpoint is written (tests use it to simulate an interruption). `depends_on`
    names what the phase starts from (the pre-training run); a checkpoint made from something
    else is not resumed.
    """
    checkpoint_dir = Path(checkpoint_dir)
    last_path = checkpoint_dir / f"{phase}_last.pt"
    best_path = checkpoint_dir / f"{phase}_best.pt"
    learning_rate = config.learning_rate if learning_rate is None else learning_rate
    epochs = config.epochs if epochs is None else epochs
    device = choose_device(config.device)
    use_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    seed = phase_seed(config, phase)
    key = _config_key(config, phase)
    data_key = train.fingerprint() + val.fingerprint() + depends_on

    run = _start(config, seed, learning_rate, epochs, init_state, device)
    resumed = resume and last_path.exists()
    if not (resumed and _resume(run, last_path, key, data_key, phase, device)):
        # A fresh start: the best checkpoint of an earlier run must not pass for this one's.
        best_path.unlink(missing_ok=True)
    weights = class_weights(train.labels).to(device) if config.class_balance == "weights" else None
    base = {
        **_describe(config, phase),
        "config_key": key,
        "data_key": data_key,
        "n_train": len(train),
        "n_val": len(val),
        **(extra or {}),
    }
    for epoch in range(run.epoch + 1, epochs + 1):
        if run.finished:
            break
        started = time.monotonic()
        # Re-seeded every epoch from the config: shuffling, dropout and mixup do not depend on
        # whether earlier epochs ran in this process or before a resume.
        train_loss = _train_epoch(run, train, config, weights, cnn_epoch_seed(seed, epoch), device)
        scores = _validate(run, train, val, weights, device)
        check_finite_loss(
            {"train loss": train_loss, "val loss": scores["val_loss"]},
            f"train_cnn ({phase}) epoch {epoch}",
            f"lower the learning rate (now {learning_rate:g})",
        )
        row = {"phase": phase, "epoch": epoch, "train_loss": train_loss, **scores,
               "lr": current_lr(run.optimizer), "seconds": time.monotonic() - started}
        _end_epoch(run, row, config, epochs, base, best_path, last_path)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)

    if not best_path.exists():
        raise TrainingError(f"train_cnn ({phase}): no epoch improved {config.monitor}; "
                            "nothing to save")
    best_model, best = load_checkpoint(best_path, device)
    best["history"] = run.history  # the full history, also the epochs after the best one
    best["optimizer"] = run.optimizer.state_dict()
    return best_model, best

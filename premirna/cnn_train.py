"""Train the hairpin-image classifiers of `premirna.cnn`: seeded, resumable, self-describing.

`train_cnn` is what the `train_cnn` rule calls: it reads the encode stage's `train`/`val` npz
files (optionally a second npz of pre-training images: the DeepMir protocol pre-trains on non-human
miRBase hairpins plus negatives, then fine-tunes on the configured species; Cordero et al. 2019),
trains with early stopping on the validation split, and writes the best model, a per-epoch history
table and a training-curve figure. `fit` is the loop itself, on arrays, for benchmarks and tests;
`build_pretrain_images` makes the pre-training set.

Every epoch ends with `last.pt` written atomically beside the model; a run that is interrupted and
started again with the same data and configuration continues from that epoch and ends with the same
weights as an uninterrupted run (the random streams are re-seeded from the config seed at every
epoch, so they do not depend on how many epochs ran in this process). Checkpoints are plain
dicts (weights, optimiser, `model_args`, architecture, full config, label mapping, encoding
version, epoch, best metric, history) that `load_checkpoint` reads with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    TensorDataset,
    WeightedRandomSampler,
)

from premirna.atomic import atomic_path, save_npz, write_tsv
from premirna.cnn import ARCHITECTURES, LABELS, CNNConfig, build_model, images_to_tensor
from premirna.settings import reject_unknown
from premirna.training import (
    choose_device,
    load_model,
    save_checkpoint,
    seed_everything,
    settings_key,
)

log = logging.getLogger("premirna.cnn_train")

# Version of the image contract the networks are trained on (Cordero et al. 2019 RGB hairpin image,
# 25 x 100 x 3 uint8, column 0 = terminal loop). premirna.encode may declare its own.
DEFAULT_ENCODING_VERSION = "cordero2019-rgb-25x100x3"
BN_IMAGES = 8192  # training images used to re-estimate batch-norm statistics after each epoch
HISTORY_COLUMNS = [
    "phase",
    "epoch",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "val_auroc",
    "lr",
    "seconds",
]


def encoding_version() -> str:
    """The encoder's declared version if premirna.encode has one, else the image contract's name."""
    try:
        from premirna import encode
    except ImportError:
        return DEFAULT_ENCODING_VERSION
    for name in ("ENCODING_VERSION", "ENCODER_VERSION", "VERSION"):
        value = getattr(encode, name, None)
        if isinstance(value, str):
            return value
    return DEFAULT_ENCODING_VERSION


# `train_cnn: pretrain:` keys -> TrainConfig fields.
PRETRAIN_KEYS = {
    "epochs": "pretrain_epochs",
    "learning_rate": "pretrain_learning_rate",
    "finetune_learning_rate": "finetune_learning_rate",
}


@dataclass
class TrainConfig:
    """Everything that decides how a classifier is trained (the `train_cnn:` config section)."""

    model: CNNConfig = field(default_factory=CNNConfig)  # the network (architecture + sizes)
    epochs: int = 40  # most epochs of (fine-)tuning; early stopping usually ends sooner
    batch_size: int = 128  # images per step (DeepMir: 128)
    learning_rate: float = 1e-3  # Adam step size (Keras' Adam default in DeepMir)
    weight_decay: float = 1e-4  # AdamW decoupled weight decay; 0 = plain Adam as in DeepMir
    lr_schedule: str = "plateau"  # "plateau" (halve on stalled val loss), "cosine" or "none"
    lr_patience: int = 3  # plateau: epochs without val-loss improvement before halving
    patience: int = 8  # early stopping: epochs without improvement of `monitor`
    monitor: str = "val_loss"  # "val_loss" (lower is better) or "val_auroc" (higher is better)
    class_balance: str = "weights"  # "weights" (loss weighted by 1/class size), "sampler" or "none"
    mixup_alpha: float = 0.2  # mixup Beta(alpha, alpha) of image pairs (Zhang et al. 2018); 0 = off
    label_smoothing: float = 0.0  # cross-entropy label smoothing; 0 = off
    val_fraction: float = (
        0.1  # share of train held out (stratified) when no validation set is given
    )
    seed: int = 20191108  # seeds initialisation, shuffling, dropout and mixup
    threads: int = 2  # torch CPU threads
    device: str = "auto"  # "auto" (CUDA if available), "cpu" or "cuda"
    pretrain: bool = False  # DeepMir protocol: pre-train on a second image set, then fine-tune
    pretrain_epochs: int = 6  # most epochs of pre-training (DeepMir: 40)
    pretrain_learning_rate: float = 1e-3  # Adam step size while pre-training
    pretrain_seed: int | None = None  # seed of the pre-training phase (None: `seed`); fine-tunes
    # with different seeds can then share one pre-training
    finetune_learning_rate: float = 3e-4  # step size when fine-tuning a pre-trained network

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a config section (nested `model:` dict, or `architecture: deepmir` alone)."""
        values = dict(values)
        # `features:` configures the boosted trees beside the CNN (premirna.feature_model).
        values.pop("features", None)
        pretrain = values.get("pretrain")
        if isinstance(pretrain, dict):
            # The config section nests the pre-training settings; keys that describe how the
            # pre-training images are built (coding_ratio, ...) belong to build_pretrain_images.
            values["pretrain"] = bool(pretrain.get("enabled", False))
            for key, name in PRETRAIN_KEYS.items():
                if key in pretrain:
                    values[name] = pretrain[key]
        model_values = dict(values.pop("model", None) or {})
        # The section's `architecture` wins over `model: architecture:`; the architecture's own
        # defaults fill every size that `model:` does not give.
        architecture = values.pop("architecture", None) or model_values.get("architecture")
        if architecture not in (None, *ARCHITECTURES):
            raise ValueError(f"unknown architecture {architecture!r}; choose from {ARCHITECTURES}")
        base = CNNConfig.deepmir() if architecture == "deepmir" else CNNConfig()
        model_values["architecture"] = base.architecture
        model = CNNConfig.from_dict({**base.to_dict(), **model_values})
        reject_unknown(values, cls, "train_cnn")
        return cls(model=model, **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImageSet:
    """Encoded images with their ids and labels (only encodable rows)."""

    ids: np.ndarray  # str, N
    images: np.ndarray  # uint8, N x 25 x 100 x 3
    labels: np.ndarray  # int64, N (1 = pre-miRNA)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> ImageSet:
        return ImageSet(self.ids[index], self.images[index], self.labels[index])

    def fingerprint(self) -> str:
        """Hash of ids and labels: a checkpoint only resumes on the data it was trained on."""
        digest = hashlib.sha256()
        for name, label in zip(self.ids.tolist(), self.labels.tolist(), strict=True):
            digest.update(f"{name}\t{label}\n".encode())
        return digest.hexdigest()[:16]


def load_images(path: str | Path) -> ImageSet:
    """Read an encode-stage npz (`ids`, `images`, `labels`, `encodable`); drop unencodable rows."""
    with np.load(path, allow_pickle=False) as data:
        images = data["images"]
        labels = data["labels"].astype(np.int64).reshape(-1)
        ids = data["ids"].astype(str) if "ids" in data else np.arange(len(labels)).astype(str)
        keep = data["encodable"].astype(bool) if "encodable" in data else np.ones(len(labels), bool)
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return ImageSet(ids[keep], images[keep], labels[keep])


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a stratified random `fraction` of rows (at least one per class present)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        take = max(1, int(round(fraction * len(rows)))) if len(rows) > 1 else 0
        mask[rng.choice(rows, size=take, replace=False)] = True
    return mask


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Inverse-frequency weights N / (2 n_c), so both classes weigh the same in the loss."""
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    counts[counts == 0] = 1.0
    return torch.tensor(len(labels) / (2.0 * counts), dtype=torch.float32)


def classification_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    mixed_targets: torch.Tensor | None = None,
    mix: float = 1.0,
) -> torch.Tensor:
    """Class-weighted softmax cross-entropy over the two classes; with mixup (Zhang et al. 2018,
    "mixup: Beyond Empirical Risk Minimization") the loss is `mix` * CE(targets) +
    (1 - `mix`) * CE(mixed_targets), the cross-entropy against the mixed one-hot labels."""
    loss = F.cross_entropy(logits, targets, weight=weights, label_smoothing=label_smoothing)
    if mixed_targets is not None and mix < 1.0:
        other = F.cross_entropy(
            logits, mixed_targets, weight=weights, label_smoothing=label_smoothing
        )
        loss = mix * loss + (1.0 - mix) * other
    return loss


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, batch_size: int = 512, device: torch.device | None = None
) -> np.ndarray:
    """Logits (N x 2) of uint8 images N x 25 x 100 x 3, in eval mode, batch by batch."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = images_to_tensor(images[start : start + batch_size]).to(device)
        out.append(model(batch).float().cpu())
    model.train(was_training)
    if not out:
        return np.zeros((0, 2), dtype=np.float32)
    return torch.cat(out).numpy()


def predict_proba(
    model: nn.Module, images: np.ndarray, batch_size: int = 512, device: torch.device | None = None
) -> np.ndarray:
    """Probability of class 1 (pre-miRNA) for uint8 images N x 25 x 100 x 3."""
    logits = predict_logits(model, images, batch_size, device)
    return torch.softmax(torch.from_numpy(logits), dim=1)[:, 1].numpy().astype(np.float64)


@torch.no_grad()
def recalibrate_batch_norm(
    model: nn.Module, images: np.ndarray, batch_size: int = 512, device: torch.device | None = None
) -> None:
    """Re-estimate every batch-norm layer's running mean and variance on `images` ("precise BN",
    Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm"): the moving averages lag behind weights
    that change fast, and on these images that lag alone can flip the eval-mode predictions.
    Dropout stays off; the model is left in eval mode."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers or len(images) == 0:
        return
    device = device or next(model.parameters()).device
    model.eval()
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over all batches
        layer.train()
    for start in range(0, len(images), batch_size):
        model(images_to_tensor(images[start : start + batch_size]).to(device))
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    model.eval()


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def phase_seed(config: TrainConfig, phase: str) -> int:
    """The seed of a training phase: `seed`, or `pretrain_seed` (if set) for pre-training."""
    if phase == "pretrain":
        return (config.seed if config.pretrain_seed is None else config.pretrain_seed) + 7919
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


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a checkpoint's network from its `model_args`; returns (model in eval mode, dict)."""
    return load_model(path, lambda args: build_model(CNNConfig.from_dict(args)), device)


def _lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def _make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    if config.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=config.lr_patience
        )
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if config.lr_schedule == "none":
        return None
    raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}: plateau, cosine or none")


def _batches(train: ImageSet, config: TrainConfig, generator: torch.Generator) -> DataLoader:
    dataset = TensorDataset(torch.from_numpy(train.images), torch.from_numpy(train.labels))
    if config.class_balance == "sampler":
        per_class = class_weights(train.labels).double()
        sampler: Any = WeightedRandomSampler(
            per_class[torch.from_numpy(train.labels)], len(train), generator=generator
        )
    else:
        sampler = RandomSampler(dataset, generator=generator)
    # Whole batches are fetched by index lists: much faster than collating single images. The
    # last, partial batch is dropped (a new random one each epoch): a batch of a few images gives
    # batch normalisation useless statistics.
    drop_last = len(train) > config.batch_size
    return DataLoader(
        dataset, sampler=BatchSampler(sampler, config.batch_size, drop_last), batch_size=None
    )


def _improved(value: float, best: float, monitor: str) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value < best if monitor == "val_loss" else value > best


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
    torch.set_num_threads(max(1, config.threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    seed = phase_seed(config, phase)
    key = _config_key(config, phase)
    data_key = train.fingerprint() + val.fingerprint() + depends_on

    seed_everything(seed)
    model = build_model(config.model).to(device)
    if init_state is not None:
        model.load_state_dict(init_state)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=learning_rate, weight_decay=config.weight_decay
    )
    scheduler = _make_scheduler(optimizer, config, epochs)
    history: list[dict[str, Any]] = []
    best_metric, best_epoch, start_epoch, finished = float("nan"), 0, 0, False

    if resume and last_path.exists():
        saved = torch.load(last_path, map_location=device, weights_only=True)
        if saved.get("config_key") == key and saved.get("data_key") == data_key:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            if scheduler is not None and saved.get("scheduler") is not None:
                scheduler.load_state_dict(saved["scheduler"])
            history = list(saved["history"])
            best_metric, best_epoch = float(saved["best_metric"]), int(saved["best_epoch"])
            start_epoch, finished = int(saved["epoch"]), bool(saved["finished"])
            log.info("%s: resuming from %s after epoch %d", phase, last_path, start_epoch)
        else:
            log.warning(
                "%s: %s is from another config or data set; starting over", phase, last_path
            )

    weights = class_weights(train.labels).to(device) if config.class_balance == "weights" else None
    base = {
        "model_args": config.model.to_dict(),
        "architecture": config.model.architecture,
        "config": config.to_dict(),
        "labels": dict(LABELS),
        "encoding_version": encoding_version(),
        "phase": phase,
        "config_key": key,
        "data_key": data_key,
        "n_train": len(train),
        "n_val": len(val),
        "torch_version": str(torch.__version__),
        **(extra or {}),
    }

    for epoch in range(start_epoch + 1, epochs + 1):
        if finished:
            break
        started = time.monotonic()
        # Re-seed every epoch from the config: shuffling, dropout and mixup do not depend on
        # whether earlier epochs ran in this process or before a resume.
        epoch_seed = seed * 1000 + epoch
        torch.manual_seed(epoch_seed)
        generator = torch.Generator().manual_seed(epoch_seed)
        rng = np.random.default_rng(epoch_seed)
        model.train()
        total, count = 0.0, 0
        for images, labels in _batches(train, config, generator):
            x = images_to_tensor(images.numpy()).to(device)
            y = labels.to(device)
            mixed, mix = None, 1.0
            if config.mixup_alpha > 0:
                mix = float(rng.beta(config.mixup_alpha, config.mixup_alpha))
                order = torch.randperm(len(y), generator=generator).to(device)
                x = mix * x + (1.0 - mix) * x[order]
                mixed = y[order]
            loss = classification_loss(
                model(x), y, weights, config.label_smoothing, mixed_targets=mixed, mix=mix
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(y)
            count += len(y)
        # Every k-th training image, at most about BN_IMAGES: enough for the statistics.
        recalibrate_batch_norm(
            model, train.images[:: max(1, len(train) // BN_IMAGES)], device=device
        )
        val_logits = torch.from_numpy(predict_logits(model, val.images, device=device))
        val_labels = torch.from_numpy(val.labels)
        val_loss = float(
            classification_loss(val_logits, val_labels, None if weights is None else weights.cpu())
        )
        val_prob = torch.softmax(val_logits, 1)[:, 1].numpy()
        row = {
            "phase": phase,
            "epoch": epoch,
            "train_loss": total / max(count, 1),
            "val_loss": val_loss,
            "val_accuracy": float(np.mean((val_prob >= 0.5) == (val.labels == 1))),
            "val_auroc": _auroc(val.labels, val_prob),
            "lr": _lr(optimizer),
            "seconds": time.monotonic() - started,
        }
        history.append(row)
        value = row[config.monitor]
        if _improved(value, best_metric, config.monitor):
            best_metric, best_epoch = float(value), epoch
            save_checkpoint(
                {
                    **base,
                    "model": model.state_dict(),
                    "epoch": epoch,
                    "best_metric": best_metric,
                    "best_epoch": best_epoch,
                    "history": list(history),
                },
                best_path,
            )
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        finished = epoch == epochs or epoch - best_epoch >= config.patience
        log.info(
            "%s epoch %d: train loss %.4f, val loss %.4f, val acc %.4f, val AUROC %.4f, %.1f s",
            phase,
            epoch,
            row["train_loss"],
            val_loss,
            row["val_accuracy"],
            row["val_auroc"],
            row["seconds"],
        )
        save_checkpoint(
            {
                **base,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "epoch": epoch,
                "best_metric": best_metric,
                "best_epoch": best_epoch,
                "history": list(history),
                "finished": finished,
            },
            last_path,
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)

    if not best_path.exists():
        raise RuntimeError(f"{phase}: no epoch improved {config.monitor}; nothing to save")
    best_model, best = load_checkpoint(best_path, device)
    best["history"] = history  # the full history, also the epochs after the best one
    best["optimizer"] = optimizer.state_dict()
    return best_model, best


def _split_val(
    train: ImageSet, val: ImageSet | None, config: TrainConfig, seed: int
) -> tuple[ImageSet, ImageSet]:
    if val is not None and len(val) > 0 and len(np.unique(val.labels)) == 2:
        return train, val
    mask = stratified_holdout(train.labels, config.val_fraction, seed)
    log.info("holding out %d of %d training images for validation", mask.sum(), len(mask))
    return train.subset(~mask), train.subset(mask)


def train_on_sets(
    train: ImageSet,
    val: ImageSet | None,
    config: TrainConfig,
    checkpoint_dir: str | Path,
    pretrain: ImageSet | None = None,
    resume: bool = True,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    pretrain_dir: str | Path | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Optionally pre-train on `pretrain` (a part held out), then train or fine-tune on `train`.

    Checkpoints go to `checkpoint_dir`; those of the pre-training phase to `pretrain_dir` when
    given (several fine-tunes can then share one pre-training, see `pretrain_seed`).
    """
    train, val = _split_val(train, val, config, config.seed)
    init_state, extra, pre_history = None, {}, []
    if config.pretrain:
        if pretrain is None or len(pretrain) == 0:
            raise ValueError("train_cnn.pretrain is on but no pre-training images were given")
        mask = stratified_holdout(
            pretrain.labels, config.val_fraction, phase_seed(config, "pretrain")
        )
        pre_model, pre_ck = fit(
            pretrain.subset(~mask),
            pretrain.subset(mask),
            config,
            checkpoint_dir if pretrain_dir is None else pretrain_dir,
            phase="pretrain",
            learning_rate=config.pretrain_learning_rate,
            epochs=config.pretrain_epochs,
            resume=resume,
            on_epoch_end=on_epoch_end,
        )
        init_state = pre_model.state_dict()
        pre_history = pre_ck["history"]
        extra = {
            "pretrained": {
                "n_images": len(pretrain),
                "best_epoch": pre_ck["best_epoch"],
                "best_metric": pre_ck["best_metric"],
                "data_key": pre_ck["data_key"],
            }
        }
    model, checkpoint = fit(
        train,
        val,
        config,
        checkpoint_dir,
        phase="train",
        learning_rate=config.finetune_learning_rate if config.pretrain else None,
        init_state=init_state,
        resume=resume,
        on_epoch_end=on_epoch_end,
        extra=extra,
        depends_on=extra["pretrained"]["data_key"] if extra else "",
    )
    checkpoint["history"] = pre_history + checkpoint["history"]
    return model, checkpoint


def plot_history(history: pd.DataFrame, path: str | Path, monitor: str = "val_loss") -> None:
    """Training curves: losses, and validation accuracy / AUROC per epoch, one row per phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = list(dict.fromkeys(history["phase"])) or ["train"]
    fig, axes = plt.subplots(len(phases), 2, figsize=(9, 3.2 * len(phases)), squeeze=False)
    for row, phase in enumerate(phases):
        part = history[history["phase"] == phase]
        left, right = axes[row]
        left.plot(part["epoch"], part["train_loss"], label="train loss")
        left.plot(part["epoch"], part["val_loss"], label="val loss")
        right.plot(part["epoch"], part["val_accuracy"], label="val accuracy")
        right.plot(part["epoch"], part["val_auroc"], label="val AUROC")
        if len(part):
            values = part[monitor].to_numpy(dtype=float)
            best = np.nanargmin(values) if monitor == "val_loss" else np.nanargmax(values)
            for axis in (left, right):
                axis.axvline(part["epoch"].iloc[best], color="grey", ls=":", label="best epoch")
        left.set(xlabel="epoch", ylabel="loss", title=f"{phase}: loss")
        right.set(xlabel="epoch", ylabel="score", title=f"{phase}: validation")
        left.legend(fontsize=8)
        right.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)


def train_cnn(
    train_npz: str | Path,
    val_npz: str | Path | None,
    model_path: str | Path,
    history_path: str | Path,
    curves_path: str | Path,
    config: TrainConfig | dict[str, Any],
    pretrain_npz: str | Path | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Train on encode-stage npz files; write `model_path` (best checkpoint), history and curves.

    Checkpoints for resuming (`train_last.pt`, `train_best.pt`, `pretrain_*.pt`) are written beside
    `model_path`. Returns the final checkpoint dict (without re-reading it).
    """
    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(config)
    device = choose_device(config.device)
    log.info(
        "train_cnn: %s network on %s, config %s",
        config.model.architecture,
        device,
        json.dumps(config.to_dict(), sort_keys=True),
    )
    train = load_images(train_npz)
    val = load_images(val_npz) if val_npz else None
    pretrain = load_images(pretrain_npz) if (config.pretrain and pretrain_npz) else None
    log.info(
        "images: train %d (%d pre-miRNA), val %s, pre-training %s",
        len(train),
        int(train.labels.sum()),
        "-" if val is None else len(val),
        "-" if pretrain is None else len(pretrain),
    )
    _, checkpoint = train_on_sets(
        train, val, config, Path(model_path).parent, pretrain=pretrain, resume=resume
    )
    checkpoint.pop("config_key", None)
    save_checkpoint(checkpoint, model_path)
    history = pd.DataFrame(checkpoint["history"], columns=HISTORY_COLUMNS)
    write_tsv(history, history_path)
    plot_history(history, curves_path, config.monitor)
    log.info(
        "best epoch %d (%s %.4f); model written to %s",
        checkpoint["best_epoch"],
        config.monitor,
        checkpoint["best_metric"],
        model_path,
    )
    return checkpoint


def build_pretrain_images(
    hairpin_fasta: str | Path,
    coding: str | Path | None,
    out_npz: str | Path,
    out_table: str | Path | None = None,
    exclude_species: Sequence[str] = (),
    exclude_molecules: str | Path | None = None,
    exclude_sequences: Iterable[str] = (),
    coding_ratio: float = 0.3,
    shuffle_ratio: float = 0.7,
    max_positives: int | None = None,
    seed: int = 0,
    processes: int = 1,
    temperature: float = 37.0,
    dangles: int = 2,
) -> dict[str, int]:
    """DeepMir's pre-training set: miRBase hairpins of other species plus negatives, encoded.

    Positives are the records of `hairpin_fasta` whose species (the id's prefix, `cel-let-7` ->
    `cel`) is not in `exclude_species`; negatives are CODING pseudo-hairpins (`coding`, Xue et al.
    2005) and dinucleotide shuffles of the positives, `coding_ratio` and `shuffle_ratio` per
    positive (`premirna.negatives.build_negatives`). Every sequence that is in `exclude_molecules`
    (a molecules/folded table: all splits of the configured species) or in `exclude_sequences` is
    left out, so no evaluation molecule leaks into pre-training. Writes `out_npz` in the encode
    stage's layout (`ids`, `images`, `labels`, `encodable`) and, if given, `out_table`
    (id, sequence, label, species, source, structure, mfe). Returns counts for the log.
    """
    from premirna.classify import fold_and_encode
    from premirna.negatives import build_negatives
    from premirna.seqio import read_records

    excluded = set(exclude_sequences)
    if exclude_molecules is not None:
        excluded |= set(pd.read_csv(exclude_molecules, sep="\t", usecols=["sequence"])["sequence"])
    species_out = {s for s in exclude_species if s != "all"}
    if "all" in exclude_species:
        raise ValueError("download.species is [all]: no other species is left to pre-train on")
    records = read_records(hairpin_fasta, iupac="drop").records
    positives = pd.DataFrame(
        {
            "id": [r.id for r in records],
            "sequence": [r.sequence for r in records],
            "label": 1,
            "species": [r.id.split("-", 1)[0] for r in records],
            "source": "mirbase",
        }
    )
    counts = {"hairpins_read": len(positives)}
    positives = positives[~positives["species"].isin(species_out)]
    counts["other_species"] = len(positives)
    leaked = positives["sequence"].isin(excluded)
    counts["excluded_as_evaluation_molecule"] = int(leaked.sum())
    positives = positives[~leaked].drop_duplicates("sequence")
    if max_positives is not None and len(positives) > max_positives:
        rng = np.random.default_rng([seed, 11])
        positives = positives.iloc[np.sort(rng.choice(len(positives), max_positives, False))]
    counts["positives"] = len(positives)
    if len(positives) == 0:
        raise ValueError(f"{hairpin_fasta}: no hairpin of another species to pre-train on")
    negatives, negative_counts = build_negatives(
        positives.reset_index(drop=True),
        coding if coding is not None else "",
        coding_ratio=coding_ratio if coding is not None else 0.0,
        shuffle_ratio=shuffle_ratio,
        seed=seed,
    )
    counts.update(negative_counts)
    leaked = negatives["sequence"].isin(excluded)
    counts["negatives_excluded_as_evaluation_molecule"] = int(leaked.sum())
    negatives = negatives[~leaked]
    counts["negatives"] = len(negatives)
    table = pd.concat([positives, negatives], ignore_index=True)
    log.info("pre-training set: folding and encoding %d molecules", len(table))
    structures, mfes, images, encodable = fold_and_encode(
        table["sequence"].tolist(), processes, temperature, dangles
    )
    table["structure"], table["mfe"] = structures, mfes
    counts["unencodable"] = int((~encodable).sum())
    save_npz(
        out_npz,
        ids=table["id"].to_numpy(dtype=str),
        images=images,
        labels=table["label"].to_numpy(dtype=np.int8),
        encodable=encodable,
    )
    if out_table is not None:
        write_tsv(table, out_table)
    log.info("pre-training set written to %s: %s", out_npz, counts)
    return counts

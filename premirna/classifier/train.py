"""The train_cnn stage: the hairpin-image classifier, seeded, resumable, self-describing.

`train_cnn` is what the `train_cnn` rule calls: it reads the encode stage's `train`/`val` npz
files (optionally a second npz of pre-training images, `premirna.classifier.pretrain`: the DeepMir
protocol pre-trains on non-human miRBase hairpins plus negatives, then fine-tunes on the
configured species; Cordero et al. 2019), trains with early stopping on the validation split
(`premirna.classifier.loop.fit`, one phase at a time), and writes the best model, a per-epoch
history table and a training-curve figure. Checkpoints are plain dicts (weights, optimiser,
`model_args`, architecture, full config, label mapping, encoding version, epoch, best metric,
history) that `premirna.classifier.predict.load_checkpoint` reads with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from premirna.classifier.config import HISTORY_COLUMNS, TrainConfig
from premirna.classifier.loop import fit, phase_seed
from premirna.classifier.steps import stratified_holdout
from premirna.core.atomic import write_tsv
from premirna.core.figures import pyplot, save_figure
from premirna.encode.images import ImageSet, read_images
from premirna.training.checkpoints import save_checkpoint
from premirna.training.device import choose_device

log = logging.getLogger(__name__)

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
    span = train.length_range()
    # The lengths the network has seen: classify gives no call outside them.
    domain = {"domain": {"min_length": span[0], "max_length": span[1]}} if span else {}
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
        extra={**extra, **domain},
        depends_on=extra["pretrained"]["data_key"] if extra else "",
    )
    checkpoint["history"] = pre_history + checkpoint["history"]
    return model, checkpoint


def plot_history(history: pd.DataFrame, path: str | Path, monitor: str = "val_loss") -> None:
    """Training curves: losses, and validation accuracy / AUROC per epoch, one row per phase."""
    plt = pyplot()
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
        left.legend(fontsize=9)
        right.legend(fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


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
    train = read_images(train_npz)
    val = read_images(val_npz) if val_npz else None
    pretrain = read_images(pretrain_npz) if (config.pretrain and pretrain_npz) else None
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

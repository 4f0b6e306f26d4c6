"""The settings of the train_cnn stage (the `train_cnn:` config section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from premirna.classifier.network import ARCHITECTURES, CNNConfig
from premirna.core.settings import Settings, check_bounds

# `train_cnn: pretrain:` keys -> TrainConfig fields.
PRETRAIN_KEYS = {
    "epochs": "pretrain_epochs",
    "learning_rate": "pretrain_learning_rate",
    "finetune_learning_rate": "finetune_learning_rate",
}


@dataclass
class TrainConfig(Settings):
    """Everything that decides how a classifier is trained (the `train_cnn:` config section)."""

    SECTION = "train_cnn"

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
    val_fraction: float = 0.1  # share of train held out (stratified) when no validation set
    seed: int = 20191108  # seeds initialisation, shuffling, dropout and mixup
    threads: int = 2  # torch CPU threads
    device: str = "auto"  # "auto" (CUDA if available), "cpu" or "cuda"
    pretrain: bool = False  # DeepMir protocol: pre-train on a second image set, then fine-tune
    pretrain_epochs: int = 10  # most epochs of pre-training (DeepMir: 40)
    pretrain_learning_rate: float = 1e-3  # Adam step size while pre-training
    pretrain_seed: int | None = None  # seed of the pre-training phase (None: `seed`); fine-tunes
    # with different seeds can then share one pre-training
    finetune_learning_rate: float = 3e-4  # step size when fine-tuning a pre-trained network

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The config section's layout: `architecture` beside `model:` (the sizes), and the
        pre-training settings nested under `pretrain:`."""
        # `features:` configures the boosted trees (premirna.classifier.feature_model).
        values.pop("features", None)
        pretrain = values.get("pretrain")
        if isinstance(pretrain, dict):
            # Keys that describe how the pre-training images are built (coding_ratio, ...) belong
            # to premirna.classifier.pretrain.
            values["pretrain"] = bool(pretrain.get("enabled", False))
            for key, name in PRETRAIN_KEYS.items():
                if key in pretrain:
                    values[name] = pretrain[key]
        architecture = values.pop("architecture", None)
        model = values.get("model")
        if isinstance(model, CNNConfig):
            if architecture not in (None, model.architecture):
                raise ValueError(f"train_cnn.architecture {architecture!r} disagrees with the "
                                 f"given model ({model.architecture!r})")
            return values
        sizes = dict(model or {})
        # The config sets the architecture in one place, `train_cnn.architecture` (the schema has
        # no `model.architecture`); `to_dict` output carries it in `model`, which reads back.
        inner = sizes.pop("architecture", None)
        if None not in (architecture, inner) and architecture != inner:
            raise ValueError(f"train_cnn.architecture {architecture!r} disagrees with "
                             f"train_cnn.model.architecture {inner!r}")
        architecture = architecture or inner
        if architecture not in (None, *ARCHITECTURES):
            raise ValueError(f"unknown architecture {architecture!r}; choose from {ARCHITECTURES}")
        # The architecture's own defaults fill every size that `model:` does not give.
        base = CNNConfig.deepmir() if architecture == "deepmir" else CNNConfig()
        values["model"] = CNNConfig.from_dict({**base.to_dict(), **sizes})
        return values

    def check(self) -> None:
        check_bounds(
            self,
            at_least={"epochs": 1, "batch_size": 1, "lr_patience": 1, "patience": 1,
                      "pretrain_epochs": 1, "threads": 1, "weight_decay": 0, "mixup_alpha": 0,
                      "label_smoothing": 0},
            above={"learning_rate": 0, "pretrain_learning_rate": 0, "finetune_learning_rate": 0,
                   "val_fraction": 0},
            below={"val_fraction": 1},
            at_most={"label_smoothing": 1},
        )
        for name, allowed in (
            ("lr_schedule", ("plateau", "cosine", "none")),
            ("monitor", ("val_loss", "val_auroc")),
            ("class_balance", ("weights", "sampler", "none")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"train_cnn.{name} {getattr(self, name)!r}: choose from {allowed}")


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

"""Tests of the CNN classifiers: networks, seeded and resumable training, checkpoints, metrics.

Real images: 80 of DeepMir's modhsa_train images (tests/fixtures/cnn/PROVENANCE.md); tiny networks
and one to three epochs keep every test within seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm
from torch import nn

from premirna.classifier.config import HISTORY_COLUMNS, TrainConfig
from premirna.classifier.evaluate import binary_metrics, evaluate_cnn, per_species, species_of
from premirna.classifier.network import CNNConfig, build_model
from premirna.classifier.predict import load_checkpoint, predict_proba
from premirna.classifier.train import train_cnn, train_on_sets
from premirna.encode.images import ImageSet, read_images
from premirna.training.tensors import images_to_tensor

TINY = {"channels": [8, 8], "dense_units": 16, "pooled_columns": 4}


@pytest.fixture(scope="module")
def images(data_dir) -> ImageSet:
    return read_images(data_dir / "cnn" / "modhsa_small.npz")


def tiny_config(**changes) -> TrainConfig:
    values = {
        "model": dict(TINY),
        "epochs": 2,
        "batch_size": 16,
        "patience": 5,
        "threads": 1,
        "device": "cpu",
        "seed": 7,
    }
    values.update(changes)
    return TrainConfig.from_dict(values)


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("architecture", ["hairpin", "deepmir"])
def test_networks_give_two_logits_and_expose_last_conv(architecture):
    config = CNNConfig.deepmir() if architecture == "deepmir" else CNNConfig()
    model = build_model(config).eval()
    x = torch.rand(3, 3, 25, 100)
    assert model(x).shape == (3, 2)
    assert isinstance(model.last_conv, nn.Conv2d)
    assert any(isinstance(m, nn.ReLU) for m in model.modules())
    assert [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1] is model.last_conv


def test_deepmir_reference_layers():
    model = build_model(CNNConfig.deepmir())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [48, 48, 60, 60, 72, 72]
    assert all(c.kernel_size == (3, 3) for c in convs)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [lin.out_features for lin in linears] == [256, 2]
    dropouts = sorted({m.p for m in model.modules() if isinstance(m, nn.Dropout)})
    assert dropouts == [0.25, 0.5]


def test_images_to_tensor_scales_and_permutes(images):
    x = images_to_tensor(images.images[:4])
    assert x.shape == (4, 3, 25, 100) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) == 1.0
    assert torch.equal(x[1, 2, 5, 7], torch.tensor(images.images[1, 5, 7, 2] / 255.0))
    with pytest.raises(ValueError):
        images_to_tensor(np.zeros((2, 100, 25, 3), np.uint8))


def test_config_from_dict_by_name_and_unknown_keys():
    config = TrainConfig.from_dict({"architecture": "deepmir", "epochs": 3})
    assert config.model == CNNConfig.deepmir() and config.epochs == 3
    assert TrainConfig.from_dict({}).model == CNNConfig()
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="unknown architecture"):
        TrainConfig.from_dict({"architecture": "resnet"})
    # `model:` only overrides sizes; an architecture given twice must agree.
    with pytest.raises(ValueError, match="disagrees"):
        TrainConfig.from_dict({"architecture": "deepmir", "model": {"architecture": "hairpin"}})
    sized = TrainConfig.from_dict({"architecture": "deepmir", "model": {"dense_units": 32}})
    assert sized.model.architecture == "deepmir" and sized.model.channels == [48, 60, 72]
    # What `to_dict` writes reads back.
    assert TrainConfig.from_dict(sized.to_dict()) == sized


def test_same_seed_gives_identical_weights(images, tmp_path):
    model_a, _ = train_on_sets(images, None, tiny_config(), tmp_path / "a")
    model_b, _ = train_on_sets(images, None, tiny_config(), tmp_path / "b")
    assert state_equal(model_a.state_dict(), model_b.state_dict())
    model_c, _ = train_on_sets(images, None, tiny_config(seed=8), tmp_path / "c")
    assert not state_equal(model_a.state_dict(), model_c.state_dict())


def test_checkpoint_round_trip(images, tmp_path):
    model, checkpoint = train_on_sets(images, None, tiny_config(), tmp_path)
    path = tmp_path / "train_best.pt"
    raw = torch.load(path, weights_only=True)
    for key in (
        "model",
        "model_args",
        "architecture",
        "config",
        "labels",
        "encoding_version",
        "epoch",
        "best_metric",
        "history",
    ):
        assert key in raw
    assert raw["labels"] == {0: "not", 1: "pre-miRNA"}
    assert raw["model_args"] == CNNConfig.from_dict({**CNNConfig().to_dict(), **TINY}).to_dict()
    rebuilt, loaded = load_checkpoint(path)
    assert state_equal(rebuilt.state_dict(), model.state_dict())
    assert np.array_equal(
        predict_proba(rebuilt, images.images), predict_proba(model, images.images)
    )
    assert loaded["epoch"] == checkpoint["best_epoch"]


def test_resume_continues_from_the_saved_epoch(images, tmp_path):
    config = tiny_config(epochs=3, patience=10)
    full, full_ck = train_on_sets(images, None, config, tmp_path / "full")

    class Interrupted(Exception):
        pass

    def stop_after_first(epoch, row):
        if epoch == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_on_sets(images, None, config, tmp_path / "cut", on_epoch_end=stop_after_first)
    last = torch.load(tmp_path / "cut" / "train_last.pt", weights_only=True)
    assert last["epoch"] == 1 and not last["finished"]

    seen = []
    resumed, resumed_ck = train_on_sets(
        images, None, config, tmp_path / "cut", on_epoch_end=lambda e, r: seen.append(e)
    )
    assert seen == [2, 3]
    assert [h["epoch"] for h in resumed_ck["history"]] == [1, 2, 3]
    assert state_equal(resumed.state_dict(), full.state_dict())
    assert resumed_ck["best_epoch"] == full_ck["best_epoch"]

    # A finished run is not trained again; another configuration starts over.
    seen.clear()
    train_on_sets(images, None, config, tmp_path / "cut", on_epoch_end=lambda e, r: seen.append(e))
    assert seen == []
    train_on_sets(
        images,
        None,
        tiny_config(epochs=1, learning_rate=5e-4),
        tmp_path / "cut",
        on_epoch_end=lambda e, r: seen.append(e),
    )
    assert seen == [1]


def test_a_fresh_start_never_hands_back_an_earlier_runs_model(images, tmp_path):
    """An earlier run's best checkpoint in the folder is not this run's result: with another
    configuration the training starts over and the model is the new one."""
    first, _ = train_on_sets(images, None, tiny_config(epochs=2, seed=1), tmp_path)
    second, checkpoint = train_on_sets(images, None, tiny_config(epochs=1, seed=2), tmp_path)
    fresh, _ = train_on_sets(images, None, tiny_config(epochs=1, seed=2), tmp_path / "fresh")
    assert state_equal(second.state_dict(), fresh.state_dict())
    assert not state_equal(second.state_dict(), first.state_dict())
    assert [row["epoch"] for row in checkpoint["history"]] == [1]
    with pytest.raises(ValueError, match="train_cnn.epochs must be at least 1, not 0"):
        tiny_config(epochs=0)


def test_a_diverging_training_stops_with_the_epoch_and_a_hint(images, tmp_path):
    from premirna.core.errors import TrainingError

    config = tiny_config(learning_rate=1e12, mixup_alpha=0.0)
    with pytest.raises(TrainingError, match=r"train_cnn \(train\) epoch 1: the training diverged"
                       r".*lower the learning rate \(now 1e\+12\)"):
        train_on_sets(images, None, config, tmp_path)
    assert not (tmp_path / "train_best.pt").exists()


def test_the_checkpoint_records_the_lengths_trained_on(images, tmp_path):
    lengths = np.arange(len(images)) % 70 + 50  # 50 .. 119 nt
    with_lengths = ImageSet(images.ids, images.images, images.labels, lengths=lengths)
    _, checkpoint = train_on_sets(with_lengths, None, tiny_config(epochs=1), tmp_path)
    assert checkpoint["domain"] == {"min_length": 50, "max_length": 119}
    assert checkpoint["kind"] == "classifier"
    _, unknown = train_on_sets(images, None, tiny_config(epochs=1), tmp_path / "unknown")
    assert "domain" not in unknown


def test_pretrain_then_fine_tune(images, tmp_path):
    config = tiny_config(pretrain=True, pretrain_epochs=1, epochs=1)
    _, checkpoint = train_on_sets(images, None, config, tmp_path, pretrain=images)
    assert [h["phase"] for h in checkpoint["history"]] == ["pretrain", "train"]
    assert checkpoint["pretrained"]["n_images"] == len(images)
    assert (tmp_path / "pretrain_best.pt").exists()
    with pytest.raises(ValueError, match="pre-training"):
        train_on_sets(images, None, config, tmp_path / "none")


def test_fine_tunes_share_one_pretraining(images, tmp_path):
    phases = []
    for seed in (1, 2):
        config = tiny_config(pretrain=True, pretrain_epochs=1, epochs=1, seed=seed, pretrain_seed=5)
        train_on_sets(
            images,
            None,
            config,
            tmp_path / f"seed{seed}",
            pretrain=images,
            pretrain_dir=tmp_path,
            on_epoch_end=lambda e, row: phases.append(row["phase"]),
        )
    assert phases == ["pretrain", "train", "train"]


def test_train_cnn_writes_model_history_and_curves(data_dir, tmp_path):
    npz = data_dir / "cnn" / "modhsa_small.npz"
    config = tiny_config().to_dict()
    checkpoint = train_cnn(
        npz, None, tmp_path / "model.pt", tmp_path / "history.tsv", tmp_path / "curves.png", config
    )
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    assert list(history.columns) == HISTORY_COLUMNS
    assert list(history["epoch"]) == [1, 2]
    assert (tmp_path / "curves.png").stat().st_size > 0
    _, loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded["config"] == config and loaded["best_epoch"] == checkpoint["best_epoch"]


def test_binary_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    probability = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    values = binary_metrics(labels, probability, threshold=0.5)
    called = probability >= 0.5
    assert values["accuracy"] == pytest.approx(skm.accuracy_score(labels, called))
    assert values["sensitivity"] == pytest.approx(skm.recall_score(labels, called))
    assert values["specificity"] == pytest.approx(skm.recall_score(labels, called, pos_label=0))
    assert values["precision"] == pytest.approx(skm.precision_score(labels, called))
    assert values["f1"] == pytest.approx(skm.f1_score(labels, called))
    assert values["mcc"] == pytest.approx(skm.matthews_corrcoef(labels, called))
    assert values["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, probability))
    assert values["pr_auc"] == pytest.approx(skm.average_precision_score(labels, probability))
    assert values["tp"] + values["fn"] == labels.sum()


def test_binary_metrics_known_values_and_one_class():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    probability = np.array([0.9, 0.8, 0.2, 0.7, 0.1, 0.1, 0.3, 0.4])
    values = binary_metrics(labels, probability)
    assert values["tp"] == 2 and values["fn"] == 1 and values["fp"] == 1 and values["tn"] == 4
    assert values["sensitivity"] == pytest.approx(2 / 3)
    assert values["specificity"] == pytest.approx(4 / 5)
    assert values["precision"] == pytest.approx(2 / 3)
    assert values["roc_auc"] == pytest.approx(12 / 15)
    single = binary_metrics(np.ones(3), np.array([0.2, 0.6, 0.9]))
    assert math.isnan(single["roc_auc"]) and math.isnan(single["specificity"])
    assert single["sensitivity"] == pytest.approx(2 / 3)


def test_per_species_recall(tmp_path):
    ids = np.array(["hsa-mir-1", "mmu-mir-1", "mmu-mir-2", "random_seq_1"])
    table = tmp_path / "molecules.tsv"
    pd.DataFrame({"id": ids, "species": ["hsa", "mmu", "mmu", "hsa"]}).to_csv(
        table, sep="\t", index=False
    )
    species = species_of(ids, table)
    assert list(species) == ["hsa", "mmu", "mmu", "hsa"]
    assert list(species_of(ids, None)) == ["hsa", "mmu", "mmu", "unknown"]
    frame = per_species(np.array([1, 1, 1, 0]), np.array([0.9, 0.2, 0.8, 0.1]), species)
    rows = frame.set_index("species")
    assert rows.loc["mmu", "recall"] == pytest.approx(0.5)
    assert rows.loc["hsa", "recall"] == 1.0 and rows.loc["hsa", "specificity"] == 1.0


def test_evaluate_cnn_writes_tables_and_figures(images, data_dir, tmp_path):
    train_cnn(
        data_dir / "cnn" / "modhsa_small.npz",
        None,
        tmp_path / "model.pt",
        tmp_path / "history.tsv",
        tmp_path / "curves.png",
        tiny_config(epochs=1),
    )
    test = tmp_path / "test.npz"
    encodable = np.ones(len(images), bool)
    encodable[0] = False
    np.savez(
        test,
        ids=images.ids,
        images=images.images,
        labels=images.labels.astype(np.int8),
        encodable=encodable,
    )
    names = [
        "metrics.tsv",
        "predictions.tsv",
        "roc.png",
        "pr.png",
        "confusion.png",
        "calibration.png",
        "species.tsv",
        "species.png",
    ]
    values = evaluate_cnn(test, tmp_path / "model.pt", *(tmp_path / n for n in names))
    assert values["n"] == len(images) - 1 and values["n_unencodable"] == 1
    metrics = pd.read_csv(tmp_path / "metrics.tsv", sep="\t").set_index("metric")["value"]
    assert metrics["accuracy"] == pytest.approx(values["accuracy"])
    predictions = pd.read_csv(tmp_path / "predictions.tsv", sep="\t")
    assert list(predictions["id"]) == list(images.ids)
    assert np.isnan(predictions["probability"].iloc[0])
    for name in names:
        assert (tmp_path / name).stat().st_size > 0

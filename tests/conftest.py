"""Shared fixtures: paths to the repository, its test data and the project's own interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The package's own set-up (OpenMP threads wait passively) before any test module imports torch.
import premirna  # noqa: F401

pytest_plugins = ["slurm_cluster"]

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "fixtures"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the whole workflow on the small real configuration (shared, read-only)."""
    from workflow_run import small_config, snakemake, write_config

    workdir = tmp_path_factory.mktemp("small_run")
    write_config(workdir, small_config())
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def tiny_cnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CNN trained for one epoch on the 80 images of tests/fixtures/cnn, for tests of the
    plumbing around a checkpoint (classify, evaluate_cnn), not of the quality of its scores."""
    from premirna.classifier.config import TrainConfig
    from premirna.classifier.train import train_cnn

    folder = tmp_path_factory.mktemp("tiny_cnn")
    config = TrainConfig.from_dict(
        {
            "model": {"channels": [8, 8], "dense_units": 16, "pooled_columns": 4},
            "epochs": 1,
            "batch_size": 16,
            "threads": 1,
            "device": "cpu",
            "seed": 3,
        }
    )
    path = folder / "model.pt"
    train_cnn(
        DATA / "cnn" / "modhsa_small.npz",
        None,
        path,
        folder / "history.tsv",
        folder / "curves.png",
        config,
    )
    return path

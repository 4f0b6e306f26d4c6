"""Shared fixtures: paths to the repository, its test data and the project's own interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest_plugins = ["slurm_cluster"]

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
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

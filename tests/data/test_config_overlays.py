"""The named configurations shipped beside config/config.yaml are overlays that pass the
schema and the checks when given after it, as their headers tell users to run them."""

from __future__ import annotations

import pytest
from conftest import REPO

from premirna.data.config_checks import check_config_files


@pytest.mark.parametrize("overlay", ["allspecies.yaml", "disentangled.yaml"])
def test_the_shipped_config_overlays_pass_check_config(overlay):
    config_dir = REPO / "config"
    merged = check_config_files([config_dir / "config.yaml", config_dir / overlay])
    if overlay == "disentangled.yaml":  # the overlay's keys win, the rest is the default's
        assert merged["train_cvae"]["attributes"] == []
        assert merged["train_cvae"]["epochs"] == 60 and merged["train_cvae"]["tc_weight"] == 4.0
        assert merged["generate"]["traversal_span"] == "data"
        assert merged["generate"]["traversal_samples"] == 32

"""Run the real workflow on a small real configuration, once per test session.

The small configuration is the default `config/config.yaml` with a few overrides (a few hundred
human molecules, a couple of epochs). Tests that need a finished run (the end-to-end checks, the
rerun test, the report test) share one run through the `small_run` fixture in `conftest.py`.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Overrides that make the default configuration small; everything else stays as shipped.
SMALL_OVERRIDES: dict = {
    # A user set (microPred's first pre-miRNAs, RNAfold format) and a candidate file to classify.
    "download": {
        "max_per_class": 150,
        "user_sets": [
            {"name": "micropred", "label": "pre-miRNA", "species": "hsa",
             "path": str(REPO / "tests" / "fixtures" / "seqio" / "micropred_head4.rnafold")},
        ],
    },
    "classify": {"candidates": {"mirdnn": str(REPO / "tests" / "fixtures" / "seqio" /
                                              "mirdnn_test.fold")}},
    "fold": {"chunk_size": 150},
    "train_cnn": {"epochs": 3, "patience": 3},
    "train_cvae": {"epochs": 3},
    "generate": {"n_per_condition": 8, "n_around": 2, "dinucleotide_matching": 16,
                 "stem_pair_matching": 16},
    "validate": {"judge": {"max_positives": 400, "epochs": 2, "channels": 8}},
    "interpret_cnn": {
        "n_molecules": 8,
        "smoothgrad_samples": 4,
        "ig_steps": 8,
        "gradient_shap_samples": 4,
        "occlusion_window": [13, 10],
        "occlusion_stride": [12, 10],
        "sanity_molecules": 8,
        "n_bootstrap": 200,
        "n_permutations": 200,
    },
}


def deep_update(base: dict, extra: dict) -> dict:
    """Return `base` with `extra` merged into it, recursively (neither argument changes)."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def small_config(extra: dict | None = None) -> dict:
    """The shipped default configuration with the small-run overrides (keys that exist only)."""
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    overrides = {
        section: {k: v for k, v in values.items() if k in default.get(section, {})}
        for section, values in SMALL_OVERRIDES.items()
        if section in default
    }
    return deep_update(deep_update(default, overrides), extra or {})


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path, *args: str, timeout: int = 1500, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in `workdir` with the project's own snakemake."""
    # Options and targets first: --configfile takes several values and would swallow a target.
    cmd = [
        str(BIN / "snakemake"),
        *args,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config" / "config.yaml"),
    ]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-6000:]}"
        )
    return proc

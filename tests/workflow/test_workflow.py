"""The workflow itself: lint, format, config validation, an end-to-end run on small real data."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import BIN, REPO
from workflow_run import small_config, snakemake, write_config

pytestmark = pytest.mark.xdist_group("workflow")


def test_snakemake_lint_is_clean():
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--lint", "--cores", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_check_is_clean():
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_small_run_produces_every_stage(small_run):
    molecules = pd.read_csv(small_run / "results/download/molecules.tsv", sep="\t")
    assert set(molecules["split"]) == {"train", "val", "test"}
    assert set(molecules["label"]) == {0, 1}
    # no sequence in two splits
    assert molecules.groupby("sequence")["split"].nunique().max() == 1
    # the user set is in, under its own name where miRBase's sample does not hold it already
    from premirna.rna.seqio import read_records

    user = read_records(REPO / "tests/fixtures/seqio/micropred_head4.rnafold").records
    assert {r.sequence for r in user} <= set(molecules["sequence"])
    mine = molecules[molecules["source"] == "micropred"]
    assert set(mine["sequence"]) <= {r.sequence for r in user} and set(mine["label"]) <= {1}
    assert set(molecules["source"]) <= {"mirbase_v22", "coding_xue2005", "micropred"}

    # every table of the report also as a page that shows it, classify's included
    for tsv in ("download/summary", "validate/targets", "interpret_cnn/statistics",
                "classify/mirdnn"):
        page = (small_run / "results" / f"{tsv}.html").read_text()
        rows = len(pd.read_csv(small_run / "results" / f"{tsv}.tsv", sep="\t"))
        assert page.count("<tr") == min(rows, 2000) + 1 and "Download" in page, tsv

    folded = pd.read_csv(small_run / "results/fold/folded.tsv", sep="\t")
    assert list(folded["id"]) == list(molecules["id"])
    assert (folded["structure"].str.len() == folded["sequence"].str.len()).all()
    for column in ("mfe", "gc", "stem_length", "loop_size", "mfe_per_nt"):
        assert folded[column].notna().all(), column

    total = 0
    for split in ("train", "val", "test"):
        with np.load(small_run / f"results/encode/{split}.npz") as z:
            assert z["images"].dtype == np.uint8 and z["images"].shape[1:] == (25, 100, 3)
            assert len(z["ids"]) == len(z["labels"]) == len(z["images"])
            total += len(z["ids"])
    assert total == len(molecules)

    # the report's data summaries agree with the tables they summarise
    summary = pd.read_csv(small_run / "results/download/summary.tsv", sep="\t")
    assert summary["all"].sum() == len(molecules)
    assert summary[["train", "val", "test"]].sum().to_dict() == (
        molecules["split"].value_counts().to_dict()
    )
    fold_summary = pd.read_csv(small_run / "results/fold/summary.tsv", sep="\t")
    overall = fold_summary[fold_summary["split"] == "all"].set_index("class")
    assert overall.loc["pre-miRNA", "molecules"] == (folded["label"] == 1).sum()
    assert overall.loc["negative", "length_median"] == folded.loc[
        folded["label"] == 0, "length"
    ].median()


@pytest.mark.slow
def test_small_run_scores_the_feature_trees_beside_the_cnn(small_run):
    from premirna.classifier.feature_model import load_feature_model

    model = load_feature_model(small_run / "results/train_cnn/features_model.npz")
    molecules = pd.read_csv(small_run / "results/download/molecules.tsv", sep="\t")
    assert model["n_train"] == (molecules["split"] == "train").sum()
    assert len(model["reference"]) > 1_000_000  # 20-mers of miRBase 22's non-human hairpins
    assert "outside species ['hsa']" in model["reference_note"]
    metrics = pd.read_csv(small_run / "results/evaluate_cnn/metrics.tsv", sep="\t")
    values = metrics.set_index("metric")["value"]
    for name in ("accuracy", "roc_auc"):
        assert 0.5 < values[f"features_{name}"] <= 1 and 0.5 < values[f"fused_{name}"] <= 1
    predictions = pd.read_csv(small_run / "results/evaluate_cnn/predictions.tsv", sep="\t")
    scored = predictions[predictions["encodable"]]
    assert scored[["homology", "features_probability", "fused_probability"]].notna().all().all()
    # negatives (CODING, shuffles) have no relatives among other species' pre-miRNAs
    assert scored.loc[scored["label"] == 0, "homology"].max() < 0.2


@pytest.mark.slow
def test_changing_a_training_parameter_reruns_training_only(small_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(small_run, workdir, symlinks=True)
    config = small_config({"train_cnn": {"learning_rate": 0.0005}})
    write_config(workdir, config)
    folded = workdir / "results/fold/folded.tsv"
    image = workdir / "results/encode/train.npz"
    before = (folded.stat().st_mtime_ns, image.stat().st_mtime_ns)

    dry = snakemake(workdir, "--dry-run", "--cores", "2", "--quiet", "rules")
    assert "train_cnn" in dry.stdout
    for upstream in ("fold_chunk", "encode", "make_molecules"):
        assert f"{upstream} " not in dry.stdout and not dry.stdout.strip().endswith(upstream)

    snakemake(workdir, "--cores", "2")
    assert (folded.stat().st_mtime_ns, image.stat().st_mtime_ns) == before


def test_schema_defaults_are_settings_the_stages_accept():
    """Snakemake fills schema defaults into the config: each must be a setting the library knows."""
    import copy

    import yaml
    from snakemake.utils import validate

    from premirna.classifier.config import TrainConfig
    from premirna.classifier.feature_model import FeatureSettings
    from premirna.generator.config import CVAETrainConfig
    from premirna.generator.generate import GenerateConfig

    config = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    TrainConfig.from_dict({k: v for k, v in config["train_cnn"].items() if k != "seed"})
    FeatureSettings.from_dict(config["train_cnn"]["features"])
    CVAETrainConfig.from_dict(config["train_cvae"])
    GenerateConfig.from_dict(config["generate"])

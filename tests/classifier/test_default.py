"""The classifier shipped in resources/default_classifier/: made from a train_cnn checkpoint,
used by `python -m premirna classify` when no --model is given."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pandas as pd
import pytest
import torch

from premirna.classifier.default import DEFAULT_FOLDER, DEFAULT_MODEL, ship_classifier
from premirna.core.errors import InputError
from premirna.training.checkpoints import save_checkpoint

LET7A1 = "UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCC"


def _metrics(path):
    pd.DataFrame({"metric": ["accuracy", "roc_auc"], "value": [0.91234, 0.95],
                  "description": ["", ""]}).to_csv(path, sep="\t", index=False)


def test_shipping_keeps_the_weights_and_drops_the_training_state(tiny_cnn, tmp_path):
    _metrics(tmp_path / "metrics.tsv")
    model = ship_classifier(tiny_cnn, tmp_path / "metrics.tsv", tmp_path / "out",
                            {"commit": "`abc1234`"})
    shipped = torch.load(model, weights_only=True)
    original = torch.load(tiny_cnn, weights_only=True)
    assert "optimizer" not in shipped and shipped["kind"] == "classifier"
    assert all(torch.equal(shipped["model"][k], v) for k, v in original["model"].items())
    provenance = (tmp_path / "out" / "PROVENANCE.md").read_text()
    assert "`abc1234`" in provenance and "| accuracy | 0.9123 |" in provenance
    for line in (tmp_path / "out" / "MD5SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.md5((tmp_path / "out" / name).read_bytes()).hexdigest() == digest


def test_only_a_classifier_is_shipped(tmp_path):
    save_checkpoint({"kind": "generator", "model": {}, "model_args": {}}, tmp_path / "cvae.pt")
    _metrics(tmp_path / "metrics.tsv")
    with pytest.raises(InputError, match="not a train_cnn classifier"):
        ship_classifier(tmp_path / "cvae.pt", tmp_path / "metrics.tsv", tmp_path / "out", {})


def test_the_shipped_classifier_is_intact_and_described():
    for line in (DEFAULT_FOLDER / "MD5SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.md5((DEFAULT_FOLDER / name).read_bytes()).hexdigest() == digest, name
    checkpoint = torch.load(DEFAULT_MODEL, weights_only=True)
    assert checkpoint["kind"] == "classifier" and "optimizer" not in checkpoint
    provenance = (DEFAULT_FOLDER / "PROVENANCE.md").read_text()
    for needed in ("commit", "miRBase 22.1", "| accuracy |", "| roc_auc |"):
        assert needed in provenance


def test_classify_without_a_model_uses_the_shipped_one(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "premirna", "classify", "-", "-"],
                          input=f">let-7a-1\n{LET7A1}\n>short\nGGGGAAAACCCC\n",
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    header, let7, short = rows
    assert let7[header.index("status")] == "ok"
    assert float(let7[header.index("probability")]) >= 0.5  # a well-known human pre-miRNA
    assert short[header.index("status")] == "too_short" and short[header.index("probability")] == ""

"""Tests of `premirna.classifier.classify`: any sequence file in, one scored row per record out, in
order.

A tiny network trained for one epoch on the 80 test images (tests/fixtures/cnn) does the scoring:
the tests check the plumbing (folding, encoding, flags, order), not the quality of the scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from premirna.classifier.classify import OUTPUT_COLUMNS, image_status, reaches_right_edge

# hsa-mir-21 and hsa-let-7a-1 (miRBase 22 hairpin sequences).
MIR21 = "UGUCGGGUAGCUUAUCAGACUGAUGUUGACUGUUGAAUCUCAUGGCAACACCAGUCGAUGGGCUGUCUGACA"
LET7A1 = "UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCCUA"
# A perfect 120-bp stem: its alignment needs more columns than the image has.
LONG_STEM = "G" * 120 + "UUCG" + "C" * 120


def test_image_status_flags():
    white = np.full((4, 25, 100, 3), 255, np.uint8)
    white[2, 12, 99] = (255, 0, 0)  # something drawn in the last column
    status = image_status(
        ["ACGU", "ACGUN", "ACGU", "AAAA"], white, np.array([True, True, True, False])
    )
    assert list(status) == ["ok", "invalid_letters", "clipped", "no_hairpin"]
    assert list(reaches_right_edge(white)) == [False, False, True, False]


def test_classify_fasta_scores_every_record_in_order(tiny_cnn, tmp_path):
    pytest.importorskip("premirna.encode")
    pytest.importorskip("premirna.fold")
    from premirna.classifier.classify import classify_fasta

    fasta = tmp_path / "candidates.fa"
    records = [
        ("mir21", MIR21),
        ("polyA", "A" * 80),
        ("let7", LET7A1.replace("U", "T").lower()),
        ("with_N", MIR21[:30] + "N" + MIR21[31:]),
        ("long", LONG_STEM),
    ]
    fasta.write_text("".join(f">{name} some description\n{seq}\n" for name, seq in records))
    out = tmp_path / "out.tsv"
    table = classify_fasta(fasta, out, tiny_cnn)
    written = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=[""])
    assert list(written.columns) == OUTPUT_COLUMNS
    assert list(written["id"]) == [name for name, _ in records]
    assert list(written["status"]) == ["ok", "no_hairpin", "ok", "invalid_letters", "clipped"]
    assert written.loc[2, "sequence"] == LET7A1
    assert written.loc[1, "structure"] == "." * 80
    assert np.isnan(written.loc[1, "probability"]) and pd.isna(written.loc[1, "prediction"])
    scored = written.drop(index=1)
    assert scored["probability"].between(0, 1).all()
    assert set(scored["prediction"]) <= {"pre-miRNA", "not"}
    assert len(table) == len(records)


def test_molecules_outside_the_training_domain_get_a_status_and_no_call(tiny_cnn, tmp_path):
    """The checkpoint records the lengths trained on; a 12-nt or a 300-nt molecule, or one
    whose fold has fewer than 18 base pairs, gets no probability (the 300-nt one is not folded)."""
    import torch

    from premirna.classifier.classify import classify_fasta
    from premirna.training.checkpoints import save_checkpoint

    checkpoint = torch.load(tiny_cnn, weights_only=True)
    checkpoint["domain"] = {"min_length": 41, "max_length": 180}
    model = tmp_path / "model.pt"
    save_checkpoint(checkpoint, model)
    weak = "GCAUCGAUGC" + "A" * 40 + "GCAUCGAUGC"  # 10 bp at most, 60 nt
    records = [("mir21", MIR21), ("short", "GGGGAAAACCCC"), ("long", MIR21 * 4 + "ACGUACGUACGU"),
               ("weak", weak)]
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
    table = classify_fasta(fasta, tmp_path / "out.tsv", model)
    assert list(table["status"]) == ["ok", "too_short", "too_long", "no_hairpin"]
    assert table.loc[1:, "probability"].isna().all()
    assert (table.loc[1:, "prediction"] == "").all()
    assert table.loc[2, "structure"] == "" and np.isnan(table.loc[2, "mfe"])  # never folded
    assert table.loc[1, "structure"] and table.loc[3, "structure"]  # folded, shown, not called
    assert 0 <= table.loc[0, "probability"] <= 1

    wider = classify_fasta(fasta, tmp_path / "wide.tsv", model, min_length=10, max_length=400,
                           min_pairs=0)
    assert list(wider["status"]) == ["ok", "ok", "clipped", "ok"]
    assert wider["probability"].notna().all()

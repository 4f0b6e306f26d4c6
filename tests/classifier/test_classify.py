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

"""The command-line face, run as a user would: `python -m premirna ...` in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

LET7A1 = "UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCC"


def premirna(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premirna", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("command", ["fold", "encode", "decode", "classify"])
def test_every_command_has_help(command):
    proc = premirna(command, "--help")
    assert proc.returncode == 0
    assert "IN" in proc.stdout and "OUT" in proc.stdout


def test_fold_writes_structures_and_features(tmp_path):
    fasta = tmp_path / "in.fa"
    text = f">let-7a-1 human\n{LET7A1[:40]}\n{LET7A1[40:].lower()}\n>short\nGGGGAAACCCC\n"
    fasta.write_text(text)
    out = tmp_path / "out.tsv"
    proc = premirna("fold", str(fasta), str(out))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out, sep="\t")
    assert list(table["id"]) == ["let-7a-1", "short"]
    assert table.loc[0, "sequence"] == LET7A1
    assert table.loc[0, "hairpin_loops"] == 1 and table.loc[0, "stem_length"] > 20
    for column in ("structure", "mfe", "length", "gc", "mfe_per_nt", "loop_size"):
        assert column in table.columns


def test_fold_reads_triplet_svm_records(tmp_path):
    source = next((DATA / "seqio").glob("*train*"))
    out = tmp_path / "out.tsv"
    proc = premirna("fold", str(source), str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(out, sep="\t")) > 0


def test_bad_input_names_file_and_record_and_leaves_nothing(tmp_path):
    fasta = tmp_path / "bad.fa"
    fasta.write_text(">ok\nGGGGAAACCCC\n>broken\nGGGGAXACCCC\n")
    out = tmp_path / "out.tsv"
    proc = premirna("fold", str(fasta), str(out))
    assert proc.returncode == 2
    assert "bad.fa" in proc.stderr and "broken" in proc.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.fa"]


def test_missing_input_is_a_clear_error(tmp_path):
    proc = premirna("fold", str(tmp_path / "nope.fa"), str(tmp_path / "out.tsv"))
    assert proc.returncode == 2
    assert "nope.fa" in proc.stderr


def test_encode_then_decode_returns_sequence_and_structure(tmp_path):
    table = tmp_path / "in.tsv"
    table.write_text(f"id\tsequence\nlet-7a-1\t{LET7A1}\nno_loop\tAAAAAAAAAAAA\n")
    npz = tmp_path / "images.npz"
    proc = premirna("encode", str(table), str(npz))
    assert proc.returncode == 0, proc.stderr
    with np.load(npz) as z:
        assert list(z["ids"]) == ["let-7a-1", "no_loop"]
        assert z["images"].shape == (2, 25, 100, 3) and z["images"].dtype == np.uint8
        assert (z["images"][1] == 0).all()  # no hairpin loop: all black, as the authors' program

    out = tmp_path / "decoded.tsv"
    proc = premirna("decode", str(npz), str(out))
    assert proc.returncode == 0, proc.stderr
    decoded = pd.read_csv(out, sep="\t", keep_default_na=False)
    folded = subprocess.run(
        [sys.executable, "-c", f"import RNA; print(RNA.fold('{LET7A1}')[0])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert decoded.loc[0, "sequence"] == LET7A1
    assert decoded.loc[0, "structure"] == folded


def test_dash_reads_standard_input_and_writes_standard_output(tmp_path):
    fasta = f">let-7a-1\n{LET7A1}\n>short\nGGGGAAACCCC\n"
    proc = subprocess.run([sys.executable, "-m", "premirna", "fold", "-", "-"], input=fasta,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["id", "sequence", "structure"]
    assert [line.split("\t")[0] for line in lines[1:]] == ["let-7a-1", "short"]
    assert list(tmp_path.iterdir()) == []  # no file named "-", nothing left behind


def test_dash_input_errors_name_stdin_and_write_nothing_to_stdout(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "premirna", "fold", "-", "-"],
                          input=">ok\nGGGGAAACCCC\n>broken\nGGGGAXACCCC\n", capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "<stdin>" in proc.stderr and "broken" in proc.stderr
    assert "premirna-" not in proc.stderr  # the temporary file is not what the user named


def test_classify_prints_probabilities_to_four_decimals(tiny_cnn, tmp_path):
    arm = "GGCAUCGAUGCAUCGAGCUAGCGAUC"
    partner = arm[::-1].translate(str.maketrans("ACGU", "UGCA"))
    fasta = f">let-7a-1\n{LET7A1}\n>hairpin\n{arm}AAAACG{partner}\n"
    proc = subprocess.run([sys.executable, "-m", "premirna", "classify", "--model", str(tiny_cnn),
                           "--min-length", "20", "-", "-"], input=fasta, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, *rows = [line.split("\t") for line in proc.stdout.splitlines()]
    probabilities = [row[header.index("probability")] for row in rows]
    assert len(probabilities) == 2 and all(probabilities), proc.stdout
    for text in probabilities:
        assert 0.0 <= float(text) <= 1.0
        assert len(text.split(".")[-1]) <= 4, text

"""Atomic writers leave either the finished file or nothing."""

from __future__ import annotations

import gzip
import os
import stat

import numpy as np
import pandas as pd
import pytest

from premirna.core.atomic import atomic_open, save_npz, write_tsv
from premirna.core.errors import InputError


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half a line")
        raise RuntimeError("crash half-way")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_version(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("new")
        raise RuntimeError
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_gzip_by_suffix_and_tables(tmp_path):
    with atomic_open(tmp_path / "a.txt.gz") as handle:
        handle.write("ACGU\n")
    assert gzip.open(tmp_path / "a.txt.gz", "rt").read() == "ACGU\n"
    frame = pd.DataFrame({"id": ["x", "y"], "mfe": [-1.5, -20.25]})
    write_tsv(frame, tmp_path / "sub" / "t.tsv")
    assert pd.read_csv(tmp_path / "sub" / "t.tsv", sep="\t").equals(frame)
    save_npz(tmp_path / "a.npz", images=np.zeros((2, 3), np.uint8), ids=np.array(["a", "b"]))
    with np.load(tmp_path / "a.npz") as z:
        assert z["images"].shape == (2, 3) and list(z["ids"]) == ["a", "b"]


def test_input_error_names_file_record_and_problem():
    err = InputError("data/x.fa", "structure length 10 != sequence length 12", record="hsa-mir-1")
    assert str(err) == "data/x.fa, record hsa-mir-1: structure length 10 != sequence length 12"
    assert str(InputError("x.fa", "empty file")) == "x.fa: empty file"


def test_gzip_output_is_byte_identical_across_runs(tmp_path):
    for name in ("a.txt.gz", "b.txt.gz"):
        with atomic_open(tmp_path / name) as handle:
            handle.write("ACGU\n" * 100)
    assert (tmp_path / "a.txt.gz").read_bytes() == (tmp_path / "b.txt.gz").read_bytes()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    import torch

    from premirna.core.figures import pyplot, save_figure
    from premirna.training.checkpoints import save_checkpoint

    old = os.umask(umask)
    try:
        write_tsv(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv")
        save_npz(tmp_path / "a.npz", x=np.zeros(2))
        with atomic_open(tmp_path / "t.gz") as handle:
            handle.write("x")
        save_checkpoint({"w": torch.zeros(1)}, tmp_path / "m.pt")
        fig = pyplot().figure()
        save_figure(fig, tmp_path / "f.png")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["t.tsv", "a.npz", "t.gz", "m.pt", "f.png"], mode)

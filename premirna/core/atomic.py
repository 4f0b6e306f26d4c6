"""Write outputs atomically: to a temporary name in the same folder, then rename.

A crash or a bad record half-way through never leaves a half-written output behind, so Snakemake
(and users) never mistake a partial file for a finished one.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file 0600; an output is an ordinary file, readable as the umask says
        # (0644 under umask 022), so group members of a shared project folder can read results.
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file for writing (gzip if `path` ends in .gz); rename on success."""
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            # No file name and a zero time stamp in the gzip header: the same content gives the
            # same bytes on every run, so checksums of outputs are comparable.
            raw = open(tmp, "wb")  # noqa: SIM115
            zipped = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
            if "b" in mode:
                handle = zipped
            else:
                handle = io.TextIOWrapper(zipped, encoding=kwargs.get("encoding", "utf-8"))
            try:
                with handle:
                    yield handle
            finally:
                raw.close()
        else:
            with open(tmp, mode, **kwargs) as handle:
                yield handle


def write_tsv(frame: Any, path: str | os.PathLike[str]) -> None:
    """Write a pandas DataFrame as a tab-separated table, atomically."""
    with atomic_open(path, "w", newline="") as handle:
        frame.to_csv(handle, sep="\t", index=False)


def save_npz(path: str | os.PathLike[str], **arrays: Any) -> None:
    """`np.savez_compressed` to a temporary name, then rename (keeps the .npz name exact)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)

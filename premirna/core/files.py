"""Checks of the paths a user names, made before any work: inputs that can be read, outputs that
can be written. Each failure is an InputError naming the path and what is wrong with it."""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path
from typing import IO, Any

from premirna.core.errors import InputError


def open_input(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a file for reading in binary, through gzip when the name ends in ``.gz``.

    A missing file, a folder and a file without read permission raise InputError.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "a folder, not a file")
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rb")
        return open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "cannot be read (permission denied)") from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror or err})") from None


def check_input(path: str | os.PathLike[str]) -> None:
    """InputError unless `path` is a file this process can read."""
    open_input(path).close()


def check_output(path: str | os.PathLike[str]) -> None:
    """InputError unless a file can be written at `path`: not a folder, and the folder it goes in
    (or the nearest one that exists, since writers create the rest) writable."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "a folder; name the output file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(path, f"{folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(path, f"cannot write in {folder} (permission denied)")


def load_npz(path: str | os.PathLike[str], what: str = "a numpy .npz archive") -> Any:
    """`np.load` of an .npz archive without pickles; InputError saying what the file is instead
    (missing, a folder, a pickle, a single .npy array, text ...). `what` names what was expected.
    """
    import numpy as np

    with open_input(path) as handle:
        head = handle.read(6)
    if head[:1] == b"\x80":
        raise InputError(path, f"a Python pickle, not {what}: not read (unpickling can run code)")
    if head.startswith(b"\x93NUMPY"):
        raise InputError(path, f"a single numpy array (.npy), not {what}")
    if not head.startswith(b"PK"):
        raise InputError(path, f"not {what} (an .npz file is a zip archive; this is text, empty "
                               "or another format)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise InputError(path, f"not {what} ({err})") from None

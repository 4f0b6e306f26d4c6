"""Self-describing checkpoints shared by both training stages.

A checkpoint is a plain dict (weights, optimiser, `model_args`, the full config, epoch, best
metric, history and what the stage needs to use it), written with `save_checkpoint` (temporary
name, then rename: an interrupted run leaves the previous checkpoint or the new one, never half
of one) and read with `read_checkpoint`, which loads tensors and plain containers only
(`torch.load(weights_only=True)`): a checkpoint cannot run code when it is loaded. Whether a
checkpoint may be resumed is decided by `settings_key`, a hash of the settings that change what
is learned.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from premirna.core.atomic import atomic_path
from premirna.core.errors import InputError
from premirna.core.files import open_input

#: What each kind of checkpoint is, in the words of an error message.
KINDS = {
    "classifier": "a pre-miRNA classifier checkpoint (train_cnn's model.pt)",
    "generator": "a generator checkpoint (train_cvae's model.pt)",
}


def checkpoint_kind(checkpoint: Mapping[str, Any]) -> str | None:
    """``classifier``, ``generator`` or None: the `kind` a checkpoint records, or for those
    written before kinds were recorded, the one its keys show."""
    if "kind" in checkpoint:
        return str(checkpoint["kind"])
    if "labels" in checkpoint and "architecture" in checkpoint:
        return "classifier"
    if "vocabulary" in checkpoint and "bins" in checkpoint:
        return "generator"
    return None


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> None:
    """`torch.save` to a temporary name, then rename (a crash never leaves half a checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The dict a checkpoint holds, its tensors on `device` (tensors and containers only).

    Raises InputError, saying what the file is, for a missing file, a folder, a file that is not
    a PyTorch checkpoint and one holding other Python objects (not loaded: that could run code).
    """
    with open_input(path) as handle:
        head = handle.read(2)
    # torch.save writes a zip archive; before torch 1.6, a pickle (protocol 2: 0x80 0x02).
    if not (head == b"PK" or head[:1] == b"\x80"):
        raise InputError(path, "not a PyTorch checkpoint (text, empty or another format)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "pickle protocol 4 ..." of foreign files
            checkpoint = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(path, "not loaded: it holds Python objects other than tensors and plain "
                               "containers, and loading them could run code (checkpoints "
                               "written by premirna hold none)") from None
    except Exception as err:  # noqa: BLE001 - any other failure to parse: not a checkpoint
        raise InputError(path, f"not a PyTorch checkpoint, or one cut short "
                               f"({type(err).__name__})") from None
    if not isinstance(checkpoint, dict) or not {"model", "model_args"} <= set(checkpoint):
        raise InputError(path, "a PyTorch file but not a premirna checkpoint (no 'model' and "
                               "'model_args')")
    return checkpoint


def load_model(
    path: str | Path,
    build: Callable[[dict[str, Any]], torch.nn.Module],
    device: str | torch.device = "cpu",
    kind: str | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Read a self-describing checkpoint and rebuild its network with `build(model_args)`;
    returns (model on `device`, in eval mode; the checkpoint dict).

    With `kind` (a key of `KINDS`), a checkpoint of another kind is refused, saying what it is (one
    whose kind is unknown, such as a hand-made one, is tried); model arguments or weights that do
    not fit raise InputError too.
    """
    checkpoint = read_checkpoint(path, device)
    found = checkpoint_kind(checkpoint)
    if kind is not None and found not in (None, kind):
        raise InputError(path, f"{KINDS.get(found, found)}, not {KINDS[kind]}")
    try:
        model = build(checkpoint["model_args"])
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise InputError(path, f"its model_args do not describe a network ({err})") from None
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(path, f"its weights do not fit its model_args ({first})") from None
    model.to(device)
    model.eval()
    return model, checkpoint


def settings_key(settings: Mapping[str, Any], ignore: Iterable[str] = ()) -> str:
    """A short hash of `settings` without the keys in `ignore` (threads, device, ...)."""
    values = {k: v for k, v in settings.items() if k not in set(ignore)}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

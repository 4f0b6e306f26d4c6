"""Sets of encoded images: the one reader of the encode stage's npz files, and new sequences folded
and drawn."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from premirna.core.errors import InputError
from premirna.core.files import load_npz
from premirna.encode.image import IMAGE_SHAPE
from premirna.encode.render import encode_many
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings, fold_sequences
from premirna.rna.sequence import to_rna


def fingerprint(ids: Sequence[str] | np.ndarray, labels: Sequence[int] | np.ndarray) -> str:
    """A short hash of ids and labels: a checkpoint only resumes on the data it was trained on."""
    digest = hashlib.sha256()
    for name, label in zip(np.asarray(ids).tolist(), np.asarray(labels).tolist(), strict=True):
        digest.update(f"{name}\t{label}\n".encode())
    return digest.hexdigest()[:16]


@dataclass
class ImageSet:
    """Encoded images with their ids and labels (-1 where a file has none)."""

    ids: np.ndarray  # str, N
    images: np.ndarray  # uint8, N x 25 x 100 x 3
    labels: np.ndarray  # int64, N (1 = pre-miRNA)
    encodable: np.ndarray = field(default=None)  # type: ignore[assignment]  # bool, N
    lengths: np.ndarray = field(default=None)  # type: ignore[assignment]  # int, N; -1 unknown

    def __post_init__(self) -> None:
        if self.encodable is None:
            self.encodable = np.ones(len(self.labels), dtype=bool)
        if self.lengths is None:
            self.lengths = np.full(len(self.labels), -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> ImageSet:
        return ImageSet(
            self.ids[index], self.images[index], self.labels[index], self.encodable[index],
            self.lengths[index],
        )

    def length_range(self) -> tuple[int, int] | None:
        """(shortest, longest) molecule in nt, or None when the file recorded no lengths."""
        known = self.lengths[self.lengths >= 0]
        return (int(known.min()), int(known.max())) if len(known) else None

    def fingerprint(self) -> str:
        """`fingerprint` of the set's ids and labels."""
        return fingerprint(self.ids, self.labels)


def read_images(
    path: str | os.PathLike[str], *, encodable_only: bool = True, as_uint8: bool = True
) -> ImageSet:
    """Read an npz of images: ``images`` (N x 25 x 100 x 3) and, where present, ``ids``,
    ``labels``, ``encodable`` and ``lengths`` (nt; the encode stage writes all five, the generate
    stage no labels).

    With `encodable_only`, images without a hairpin loop (all black) are left out. With
    `as_uint8`, images stored as floats are rounded back to uint8. Raises InputError when the file
    is not an npz archive (pickled arrays are refused) or its arrays do not fit.
    """
    with load_npz(path, "a numpy .npz archive of images") as data:
        if "images" not in data.files:
            raise InputError(path, f"no 'images' array (arrays: {', '.join(data.files)})")
        try:
            images = data["images"]
            n = len(images)
            labels = data["labels"].astype(np.int64).reshape(-1) if "labels" in data else None
            ids = data["ids"].astype(str) if "ids" in data else np.arange(n).astype(str)
            keep = data["encodable"].astype(bool) if "encodable" in data else np.ones(n, bool)
            lengths = (data["lengths"].astype(np.int64).reshape(-1) if "lengths" in data
                       else np.full(n, -1, np.int64))
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            # object arrays need pickle, which is not allowed
            raise InputError(path, f"cannot read the arrays: {err}") from None
    if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise InputError(path, f"images must be N x {' x '.join(map(str, IMAGE_SHAPE))}; "
                               f"got {images.shape}")
    if labels is None:
        labels = np.full(n, -1, dtype=np.int64)
    if not len(ids) == len(labels) == len(keep) == len(lengths) == n:
        raise InputError(path, f"{n} images but {len(ids)} ids, {len(labels)} labels, "
                               f"{len(keep)} encodable flags and {len(lengths)} lengths")
    if as_uint8 and images.dtype != np.uint8:
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    found = ImageSet(ids, images, labels, keep, lengths)
    return found.subset(keep) if encodable_only else found


def fold_and_encode(
    sequences: Sequence[str], processes: int = 1, fold: FoldSettings = DEFAULT_FOLD
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Fold (ViennaRNA MFE) and draw hairpin images.

    Returns (structures, mfes float N, images uint8 N x 25 x 100 x 3, encodable bool N).
    """
    sequences = [to_rna(s) for s in sequences]
    if not sequences:
        return [], np.zeros(0), np.zeros((0, *IMAGE_SHAPE), np.uint8), np.zeros(0, bool)
    folded = fold_sequences(sequences, processes=processes, fold=fold)
    structures = [structure for structure, _ in folded]
    mfes = np.array([mfe for _, mfe in folded], dtype=float)
    images, encodable = encode_many(sequences, structures)
    return structures, mfes, np.asarray(images, dtype=np.uint8), np.asarray(encodable, bool)

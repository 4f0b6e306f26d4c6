"""Training data of the CVAE: encoded molecules with their column tokens and attributes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.errors import InputError
from premirna.encode.decode import image_to_factors
from premirna.encode.images import fingerprint, read_images
from premirna.generator.conditions import CONDITION_ATTRIBUTES
from premirna.generator.tokens import factors_to_tokens


@dataclass
class HairpinSet:
    """Encoded molecules with their column tokens and hairpin attributes (encodable rows only)."""

    ids: np.ndarray  # str, N
    images: np.ndarray  # uint8, N x 25 x 100 x 3
    labels: np.ndarray  # int64, N (1 = pre-miRNA)
    tokens: np.ndarray  # int64, N x 100: the image's factors per column (`factors_to_tokens`)
    attributes: pd.DataFrame  # one row per molecule: CONDITION_ATTRIBUTES (and more) by column

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self) -> str:
        """`premirna.encode.images.fingerprint` of ids and labels."""
        return fingerprint(self.ids, self.labels)

    def subset(self, mask: np.ndarray) -> HairpinSet:
        return HairpinSet(
            self.ids[mask], self.images[mask], self.labels[mask], self.tokens[mask],
            self.attributes[mask].reset_index(drop=True),
        )


def load_hairpins(npz_path: str | Path, fold_table: pd.DataFrame, source: str = "") -> HairpinSet:
    """Read an encode-stage npz, keep its encodable rows and attach tokens and attributes (rows
    of `fold_table`, the fold stage's table indexed by id: `premirna.core.tables.read_folded`)."""
    found = read_images(npz_path)
    ids, images, labels = found.ids, found.images, found.labels
    missing = [i for i in ids if i not in fold_table.index]
    if missing:
        raise InputError(source or npz_path, f"{len(missing)} encoded molecules are not in the "
                         "fold table", record=missing[0])
    attributes = fold_table.loc[ids].reset_index(drop=True)
    absent = [a for a in CONDITION_ATTRIBUTES if a not in attributes]
    if absent:
        raise InputError(source or npz_path, f"fold table lacks columns {absent}")
    tokens = factors_to_tokens(image_to_factors(images, source=str(npz_path)))
    return HairpinSet(ids, images, labels, tokens, attributes)


"""Score anyone's candidate sequences with a trained classifier: read, fold, encode, score.

`classify_fasta` reads any sequence file that `premirna.rna.seqio` reads (FASTA, RNAfold output,
triplet-SVM records; gzipped or not), folds every sequence with ViennaRNA (`premirna.fold`), draws
the Cordero et al. 2019 hairpin image (`premirna.encode`) and writes one row per input record, in
input order, with the probability that it is a pre-miRNA. Nothing is dropped: a record that cannot
be scored keeps its row with an empty probability and a `status` that says why.

status values (the first that applies):
- ``invalid_letters``: the sequence holds letters other than A, C, G, U (T is read as U). IUPAC
  codes are folded unpaired and drawn black, as the Cordero encoder does, and the image is scored,
  but the networks never saw such images in training: treat the probability with care.
- ``no_hairpin``: the MFE structure has no hairpin loop, so there is no image; no probability.
- ``clipped``: the aligned hairpin needs more than the image's 100 columns; the part beyond them is
  cut (the loop is always kept) and the rest is scored.
- ``ok``: scored as is.

With a feature model (`premirna.classifier.feature_model`, written by the `train_cnn_features`
rule) three columns follow `probability`: `homology` (share of the molecule's 20-mers found in
other species' pre-miRNAs), `features_probability` (boosted trees on thermodynamic, homology,
coding and splice numbers) and `fused_probability` (the mean of the CNN's and the trees').
`prediction` stays the CNN's: homology favours known families, and a novel pre-miRNA has no
relatives.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.classifier.feature_model import feature_columns
from premirna.classifier.predict import load_checkpoint, predict_proba
from premirna.core.atomic import write_tsv
from premirna.encode.images import fold_and_encode
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.seqio import read_records
from premirna.rna.sequence import is_rna, to_rna
from premirna.training.device import choose_device

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["id", "sequence", "structure", "mfe", "probability", "prediction", "status"]


def reaches_right_edge(images: np.ndarray) -> np.ndarray:
    """True where something is drawn in the image's last column (the hairpin was clipped)."""
    return (np.asarray(images)[:, :, -1, :] != 255).any(axis=(1, 2))


def image_status(sequences: Sequence[str], images: np.ndarray, encodable: np.ndarray) -> np.ndarray:
    """The `status` flag of each sequence (see the module docstring)."""
    clipped = reaches_right_edge(images) if len(images) else np.zeros(0, bool)
    status = []
    for sequence, can, cut in zip(sequences, encodable, clipped, strict=True):
        if not is_rna(sequence):
            status.append("invalid_letters")
        elif not can:
            status.append("no_hairpin")
        elif cut:
            status.append("clipped")
        else:
            status.append("ok")
    return np.array(status, dtype=object)


def score_sequences(
    ids: Sequence[str],
    sequences: Sequence[str],
    model_path: str | os.PathLike[str],
    processes: int = 1,
    threshold: float = 0.5,
    fold: FoldSettings = DEFAULT_FOLD,
    batch_size: int = 512,
    features_model: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Fold, encode and score sequences; one row per input, in input order (`OUTPUT_COLUMNS`,
    with `premirna.classifier.feature_model.COLUMNS` after `probability` when `features_model` is
    given)."""
    sequences = [to_rna(s) for s in sequences]
    structures, mfes, images, encodable = fold_and_encode(sequences, processes, fold)
    device = choose_device("auto")
    model, _ = load_checkpoint(model_path, device)
    probability = np.full(len(sequences), np.nan)
    if encodable.any():
        probability[encodable] = predict_proba(model, images[encodable], batch_size, device)
    status = image_status(sequences, images, encodable)
    prediction = np.where(
        np.isnan(probability), "", np.where(probability >= threshold, "pre-miRNA", "not")
    )
    table = pd.DataFrame(
        {
            "id": list(ids),
            "sequence": sequences,
            "structure": structures,
            "mfe": mfes,
            "probability": probability,
            "prediction": prediction,
            "status": status,
        },
        columns=OUTPUT_COLUMNS,
    )
    if features_model is None:
        return table

    extra = feature_columns(
        features_model, sequences, structures, probability, encodable, processes, list(ids)
    )
    at = OUTPUT_COLUMNS.index("probability") + 1
    for offset, (name, values) in enumerate(extra.items()):
        table.insert(at + offset, name, values)
    return table


def classify_fasta(
    in_path: str | os.PathLike[str],
    out_tsv: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    processes: int = 1,
    threshold: float = 0.5,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
    features_model: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Score every record of a sequence file and write `out_tsv` (columns `OUTPUT_COLUMNS`, plus
    `premirna.classifier.feature_model.COLUMNS` with a `features_model`).

    `probability` is the network's probability of pre-miRNA (empty when there is no image);
    `prediction` is ``pre-miRNA`` at or above `threshold`, else ``not``. Malformed files raise
    `premirna.core.errors.InputError`. Returns the table written.
    """
    records = read_records(in_path, iupac="keep").records
    table = score_sequences(
        [r.id for r in records],
        [r.sequence for r in records],
        model_path,
        processes=processes,
        threshold=threshold,
        fold=FoldSettings.of(fold),
        features_model=features_model,
    )
    write_tsv(table, out_tsv)
    counts = table["status"].value_counts().to_dict()
    log.info(
        "%s: %d sequences scored into %s, %d called pre-miRNA; status %s",
        Path(in_path).name,
        len(table),
        out_tsv,
        int((table["prediction"] == "pre-miRNA").sum()),
        counts,
    )
    return table

"""Score anyone's candidate sequences with a trained classifier: read, fold, encode, score.

`classify_fasta` reads any sequence file that `premirna.rna.seqio` reads (FASTA, RNAfold output,
triplet-SVM records; gzipped or not), folds every sequence with ViennaRNA (`premirna.fold`), draws
the Cordero et al. 2019 hairpin image (`premirna.encode`) and writes one row per input record, in
input order, with the probability that it is a pre-miRNA. Nothing is dropped: a record that cannot
be scored keeps its row with an empty probability and a `status` that says why.

The classifier only calls molecules like those it learnt from (its `Domain`): lengths within the
range of its training molecules (recorded in the checkpoint; `min_length`/`max_length` override
it) and a fold with at least `min_pairs` base pairs (18: the smallest stem of the pseudo-hairpin
negatives of Xue et al. 2005, which the CODING negatives are). Outside it there is no
probability and no prediction. status values (the first that applies):
- ``too_long``: longer than the domain; not even folded (folding time grows with the cube of the
  length: a 10,000-nt sequence takes minutes). Cut genomic sequence into windows first.
- ``too_short``: shorter than the domain.
- ``no_hairpin``: the MFE structure has no hairpin loop (no image), or fewer than `min_pairs`
  base pairs.
- ``invalid_letters``: the sequence holds letters other than A, C, G, U (T is read as U). IUPAC
  codes are folded unpaired and drawn black, as the Cordero encoder does, and the image is scored,
  but the networks never saw such images in training: treat the probability with care.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.classifier.feature_model import COLUMNS as FEATURE_COLUMNS
from premirna.classifier.feature_model import feature_columns, load_feature_model
from premirna.classifier.predict import load_checkpoint, predict_proba
from premirna.core.atomic import write_tsv
from premirna.core.files import check_output
from premirna.core.logs import counts_text
from premirna.encode.image import IMAGE_SHAPE
from premirna.encode.images import fold_and_encode
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.seqio import read_records
from premirna.rna.sequence import is_rna, to_rna
from premirna.training.device import choose_device, use_threads

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["id", "sequence", "structure", "mfe", "probability", "prediction", "status"]
DECIMALS = 4  # of the probabilities and the homology score in the written table


def reaches_right_edge(images: np.ndarray) -> np.ndarray:
    """True where something is drawn in the image's last column (the hairpin was clipped)."""
    return (np.asarray(images)[:, :, -1, :] != 255).any(axis=(1, 2))


#: Fewest base pairs of a molecule that gets a call (Xue et al. 2005: pseudo hairpins >= 18 bp).
MIN_PAIRS = 18
#: The longest molecule called by a checkpoint that records no training lengths (written before
#: they were recorded): about what the image's 100 columns hold.
FALLBACK_MAX_LENGTH = 400


@dataclass(frozen=True)
class Domain:
    """The molecules the classifier gives a call on (see the module docstring)."""

    min_length: int
    max_length: int
    min_pairs: int = MIN_PAIRS

    @classmethod
    def of(
        cls,
        checkpoint: Mapping[str, Any],
        min_length: int | None = None,
        max_length: int | None = None,
        min_pairs: int = MIN_PAIRS,
    ) -> Domain:
        """The training lengths a checkpoint records, each replaced by a limit that is given."""
        seen = checkpoint.get("domain") or {}
        low = seen.get("min_length", 1) if min_length is None else min_length
        high = seen.get("max_length", FALLBACK_MAX_LENGTH) if max_length is None else max_length
        if not 1 <= low <= high:
            raise ValueError(f"classify lengths: min_length {low} and max_length {high} must "
                             "satisfy 1 <= min_length <= max_length")
        if min_pairs < 0:
            raise ValueError(f"classify.min_pairs must be at least 0, not {min_pairs}")
        return cls(int(low), int(high), int(min_pairs))

    def describe(self) -> str:
        return f"{self.min_length}-{self.max_length} nt, at least {self.min_pairs} base pairs"


def image_status(
    sequences: Sequence[str],
    images: np.ndarray,
    encodable: np.ndarray,
    structures: Sequence[str] | None = None,
    domain: Domain | None = None,
) -> np.ndarray:
    """The `status` flag of each sequence (see the module docstring); without a `domain` only
    the image statuses (no_hairpin for no image, invalid_letters, clipped, ok)."""
    clipped = reaches_right_edge(images) if len(images) else np.zeros(0, bool)
    structures = [""] * len(sequences) if structures is None else structures
    status = []
    for sequence, structure, can, cut in zip(sequences, structures, encodable, clipped,
                                             strict=True):
        if domain is not None and len(sequence) > domain.max_length:
            status.append("too_long")
        elif domain is not None and len(sequence) < domain.min_length:
            status.append("too_short")
        elif not can or (domain is not None and structure.count("(") < domain.min_pairs):
            status.append("no_hairpin")
        elif not is_rna(sequence):
            status.append("invalid_letters")
        elif cut:
            status.append("clipped")
        else:
            status.append("ok")
    return np.array(status, dtype=object)


OUT_OF_DOMAIN = ("too_long", "too_short", "no_hairpin")


def _fold_within(
    sequences: list[str], max_length: int, processes: int, fold: FoldSettings
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """`fold_and_encode` of the sequences up to `max_length` nt; the longer ones get an empty
    structure, no MFE and no image."""
    n = len(sequences)
    rows = [i for i, sequence in enumerate(sequences) if len(sequence) <= max_length]
    structures, mfes = [""] * n, np.full(n, np.nan)
    images = np.full((n, *IMAGE_SHAPE), 255, np.uint8)
    encodable = np.zeros(n, bool)
    done = fold_and_encode([sequences[i] for i in rows], processes, fold)
    for k, i in enumerate(rows):
        structures[i] = done[0][k]
    mfes[rows], images[rows], encodable[rows] = done[1], done[2], done[3]
    return structures, mfes, images, encodable


def score_sequences(
    ids: Sequence[str],
    sequences: Sequence[str],
    model_path: str | os.PathLike[str],
    processes: int = 1,
    threshold: float = 0.5,
    fold: FoldSettings = DEFAULT_FOLD,
    batch_size: int = 512,
    features_model: str | os.PathLike[str] | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    min_pairs: int = MIN_PAIRS,
) -> pd.DataFrame:
    """Fold, encode and score sequences; one row per input, in input order (`OUTPUT_COLUMNS`,
    with `premirna.classifier.feature_model.COLUMNS` after `probability` when `features_model` is
    given). Both models are read before any folding, so a bad file fails at once."""
    device = choose_device("auto")
    use_threads(processes)
    model, checkpoint = load_checkpoint(model_path, device)
    trees = None if features_model is None else load_feature_model(features_model)
    domain = Domain.of(checkpoint, min_length, max_length, min_pairs)
    log.info("calls within the classifier's domain: %s", domain.describe())
    sequences = [to_rna(s) for s in sequences]
    structures, mfes, images, encodable = _fold_within(
        sequences, domain.max_length, processes, fold
    )
    status = image_status(sequences, images, encodable, structures, domain)
    scored = encodable & ~np.isin(status, OUT_OF_DOMAIN)
    probability = np.full(len(sequences), np.nan)
    if scored.any():
        probability[scored] = predict_proba(model, images[scored], batch_size, device)
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
    if trees is None:
        return table

    extra = feature_columns(trees, sequences, structures, probability, scored, processes, list(ids))
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
    min_length: int | None = None,
    max_length: int | None = None,
    min_pairs: int = MIN_PAIRS,
) -> pd.DataFrame:
    """Score every record of a sequence file and write `out_tsv` (columns `OUTPUT_COLUMNS`, plus
    `premirna.classifier.feature_model.COLUMNS` with a `features_model`).

    `probability` is the network's probability of pre-miRNA (empty when there is no image or the
    molecule is outside the classifier's domain, see the module docstring); `prediction` is
    ``pre-miRNA`` at or above `threshold`, else ``not``. `min_length` and `max_length` (None:
    the training range the checkpoint records) and `min_pairs` bound the domain. Malformed files
    raise `premirna.core.errors.InputError`, before any folding. Returns the table written.
    """
    check_output(out_tsv)
    records = read_records(in_path, iupac="keep").records
    table = score_sequences(
        [r.id for r in records],
        [r.sequence for r in records],
        model_path,
        processes=processes,
        threshold=threshold,
        fold=FoldSettings.of(fold),
        features_model=features_model,
        min_length=min_length,
        max_length=max_length,
        min_pairs=min_pairs,
    )
    # Four decimals are what a probability from a few thousand training molecules can tell apart;
    # the calls were made on the unrounded values.
    shown = [c for c in ("probability", *FEATURE_COLUMNS) if c in table]
    write_tsv(table.round(dict.fromkeys(shown, DECIMALS)), out_tsv)
    counts = counts_text(table["status"].value_counts().to_dict())
    log.info(
        "%s: %d sequences scored into %s, %d called pre-miRNA; status: %s",
        Path(in_path).name,
        len(table),
        out_tsv,
        int((table["prediction"] == "pre-miRNA").sum()),
        counts,
    )
    return table

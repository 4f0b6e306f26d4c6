"""Boosted trees on the numbers of `premirna.classifier.features`, a second classifier beside the
CNN.

The CNN reads the Cordero image; these trees read what the image does not hold: thermodynamics
against shuffles, homology to other species' pre-miRNAs, coding signals and the splice sites of
mirtrons (103 numbers, `FEATURES`). On the authors' modhsa images the mean of the two models'
probabilities reaches 0.969 accuracy where the CNN alone reaches 0.942 (benchmarks/README.md).

The `train_cnn_features` rule fits them on the train split (`fit_feature_model`); `evaluate_cnn`
and `classify` report three numbers per molecule beside the CNN's probability: `homology` (share of
its 20-mers found in the reference), `features_probability` (the trees) and `fused_probability`
(the mean of the CNN's and the trees' probabilities; nothing is fitted to fuse them).

Homology rewards known families. A novel pre-miRNA, or a generated one, has no relatives by
construction, so it is reported as its own column and the CNN's probability stays unfused.

The reference is the hairpins of every species but the ones being classified. Its k-mers are
stored in the model file, packed 2 bits per base in a sorted uint64 array (about 8 bytes per
distinct k-mer: 16 MB for miRBase 22 without human). The model file is an `.npz` of plain arrays
(the k-mers, the trees' node tables of `premirna.classifier.trees`, and the settings as a JSON
text), read with `allow_pickle=False`: loading it cannot run code. Earlier versions wrote a pickle
(`features_model.pkl`); such a file is refused, not read.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from premirna.classifier.features import (
    SEQUENCE,
    THERMODYNAMIC,
    homology,
    reference_kmers,
    sequence_row,
    thermodynamic,
)
from premirna.classifier.trees import BoostedTrees
from premirna.core.atomic import save_npz
from premirna.core.errors import InputError
from premirna.core.files import load_npz, open_input
from premirna.core.logs import Progress
from premirna.core.seeds import molecule_stream
from premirna.core.settings import Settings
from premirna.core.tables import read_table
from premirna.data.mirbase import species_of
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.seqio import read_records

log = logging.getLogger(__name__)

FORMAT = "premirna-feature-model/2"

FEATURES: tuple[str, ...] = (*THERMODYNAMIC, *SEQUENCE)

# What evaluate_cnn's predictions and classify's tables add after the CNN's `probability`.
COLUMNS: tuple[str, ...] = ("homology", "features_probability", "fused_probability")


@dataclass(frozen=True)
class FeatureSettings(Settings):
    """The `train_cnn: features:` config section."""

    SECTION = "train_cnn.features"

    enabled: bool = True  # fit the trees and report their columns beside the CNN's
    shuffles: int = 20  # dinucleotide shuffles per molecule for the MFE z-score and p-value
    homology_k: int = 20  # k-mer length of the homology share (at most 32)
    max_iter: int = 300  # boosting rounds (benchmark setting, fixed beforehand)
    learning_rate: float = 0.05

    def check(self) -> None:
        if not 1 <= self.homology_k <= 32:
            raise ValueError(f"train_cnn.features.homology_k must be 1-32: {self.homology_k}")
        if self.shuffles < 2:
            raise ValueError(f"train_cnn.features.shuffles must be at least 2: {self.shuffles}")


def _thermodynamic_rows(
    job: tuple[list[str], list[str], list[int], int, int, FoldSettings],
) -> list[list[float]]:
    sequences, structures, records, shuffles, seed, fold = job
    md = fold.model_details()
    return [
        thermodynamic(s, d, md, shuffles, molecule_stream(seed, r), record=r)
        for s, d, r in zip(sequences, structures, records, strict=True)
    ]


def molecule_features(
    sequences: Sequence[str],
    structures: Sequence[str],
    reference: np.ndarray,
    settings: FeatureSettings,
    seed: int,
    processes: int = 1,
    fold: FoldSettings = DEFAULT_FOLD,
    ids: Sequence[str] | None = None,
    records: Sequence[int] | None = None,
) -> np.ndarray:
    """`FEATURES` of each molecule, (N, 103) float64. The shuffles of molecule i are seeded by
    (seed, records[i]) (by default records[i] = i), so the numbers do not depend on `processes`;
    molecules given the same record share their random draws (a mutant and its original).
    Errors name the record (its id when `ids` is given)."""
    if len(sequences) != len(structures):
        raise ValueError(f"{len(sequences)} sequences but {len(structures)} structures")
    names = list(ids) if ids is not None else list(range(len(sequences)))
    n = len(sequences)
    records = list(range(n)) if records is None else list(records)
    step = max(1, -(-n // max(1, 4 * processes)))
    jobs = [
        (
            list(sequences[i : i + step]),
            list(structures[i : i + step]),
            list(records[i : i + step]),
            settings.shuffles,
            seed,
            fold,
        )
        for i in range(0, n, step)
    ]
    progress = Progress(n, f"features ({settings.shuffles} shuffles per molecule)", log)
    parts = []
    try:
        if processes > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(processes) as pool:
                for part in pool.map(_thermodynamic_rows, jobs):  # in order, as each ends
                    parts.append(part)
                    progress.update(len(part))
        else:
            for job in jobs:
                parts.append(_thermodynamic_rows(job))
                progress.update(len(parts[-1]))
    except ValueError as error:
        raise ValueError(_name_record(str(error), names)) from None
    thermo = [row for part in parts for row in part]
    rows = [
        [*t, *sequence_row(s, homology(s, reference, settings.homology_k))]
        for t, s in zip(thermo, sequences, strict=True)
    ]
    return np.array(rows, dtype=np.float64).reshape(n, len(FEATURES))


def _name_record(message: str, names: list) -> str:
    """Replace `record <index>` in a features error by the molecule's id."""
    prefix = "record "
    if message.startswith(prefix):
        index, _, rest = message[len(prefix) :].partition(":")
        if index.isdigit() and int(index) < len(names):
            return f"{prefix}{names[int(index)]}:{rest}"
    return message


def fit_feature_model(
    sequences: Sequence[str],
    structures: Sequence[str],
    labels: np.ndarray,
    reference_sequences: Iterable[str],
    settings: FeatureSettings,
    seed: int,
    processes: int = 1,
    fold: FoldSettings = DEFAULT_FOLD,
    ids: Sequence[str] | None = None,
    reference_note: str = "",
) -> dict[str, Any]:
    """Fit the trees; returns the self-describing model dict that `save_feature_model` writes."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    labels = np.asarray(labels).astype(int)
    if set(np.unique(labels).tolist()) != {0, 1}:
        raise ValueError("the feature trees need pre-miRNAs (label 1) and negatives (label 0)")
    reference = reference_kmers(reference_sequences, settings.homology_k)
    X = molecule_features(sequences, structures, reference, settings, seed, processes, fold, ids)
    fitted = HistGradientBoostingClassifier(
        max_iter=settings.max_iter, learning_rate=settings.learning_rate, random_state=seed
    ).fit(X, labels)
    trees = BoostedTrees.from_sklearn(fitted)
    train_accuracy = float(((trees.predict_proba(X)[:, 1] > 0.5) == labels).mean())
    log.info(
        "feature trees: %d molecules (%d pre-miRNA), %d features, homology reference %d %d-mers; "
        "training accuracy %.4f",
        len(labels),
        int(labels.sum()),
        len(FEATURES),
        len(reference),
        settings.homology_k,
        train_accuracy,
    )
    return {
        "format": FORMAT,
        "features": list(FEATURES),
        "settings": asdict(settings),
        "seed": seed,
        "temperature": fold.temperature,
        "dangles": fold.dangles,
        "n_train": len(labels),
        "n_positive": int(labels.sum()),
        "train_accuracy": train_accuracy,
        "reference": reference,
        "reference_note": reference_note,
        "trees": trees,
    }


#: Keys of the model dict stored as JSON text (the rest are arrays or the trees).
_META = (
    "format",
    "features",
    "settings",
    "seed",
    "temperature",
    "dangles",
    "n_train",
    "n_positive",
    "train_accuracy",
    "reference_note",
)
_PICKLE_MAGIC = b"\x80"


def save_feature_model(model: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the model as an `.npz` of plain arrays (atomically)."""
    meta = json.dumps({key: model[key] for key in _META}, sort_keys=True)
    save_npz(
        path,
        meta=np.array(meta),
        reference=np.asarray(model["reference"], np.uint64),
        **model["trees"].to_arrays(),
    )


def load_feature_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a model written by `save_feature_model`; InputError for anything else (a pickle of an
    earlier version is refused unread: unpickling can run code)."""
    with open_input(path) as handle:
        if handle.read(1) == _PICKLE_MAGIC:
            raise InputError(
                path,
                "a pickle (the feature-model format of earlier versions), which could run code "
                "when loaded: not read; rerun train_cnn_features to write features_model.npz",
            )
    with load_npz(path, "a feature-tree model (features_model.npz)") as archive:
        try:
            model = json.loads(str(archive["meta"]))
            model["reference"] = archive["reference"].astype(np.uint64)
            model["trees"] = BoostedTrees.from_arrays(archive)
        except (KeyError, ValueError, TypeError) as error:
            raise InputError(path, f"not a feature-tree model ({error})") from None
    if model.get("format") != FORMAT:
        raise InputError(path, f"not a feature-tree model of format {FORMAT}")
    if list(model["features"]) != list(FEATURES):
        raise InputError(path, "its features differ from this version's; rerun train_cnn_features")
    if model["trees"].n_features != len(FEATURES):
        raise InputError(
            path, f"its trees read {model['trees'].n_features} features, not {len(FEATURES)}"
        )
    return model


def score_features(
    model: dict[str, Any],
    sequences: Sequence[str],
    structures: Sequence[str],
    processes: int = 1,
    ids: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(homology, trees' probability of pre-miRNA) for each molecule."""
    settings = FeatureSettings(**model["settings"])
    X = molecule_features(
        sequences,
        structures,
        model["reference"],
        settings,
        model["seed"],
        processes,
        FoldSettings(model["temperature"], model["dangles"]),
        ids,
    )
    if not len(X):
        return np.zeros(0), np.zeros(0)
    return X[:, FEATURES.index("homology")], model["trees"].predict_proba(X)[:, 1]


def fuse(cnn: np.ndarray, trees: np.ndarray) -> np.ndarray:
    """The fused probability: the mean of the CNN's and the trees' (NaN where either is)."""
    return (np.asarray(cnn, float) + np.asarray(trees, float)) / 2


def feature_columns(
    model: str | os.PathLike[str] | Mapping[str, Any],
    sequences: Sequence[str],
    structures: Sequence[str],
    cnn_probability: np.ndarray,
    scored: np.ndarray,
    processes: int = 1,
    ids: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """`COLUMNS` of N molecules for a table beside the CNN's `probability`: computed where
    `scored` (the molecules with an image), NaN elsewhere. `model` is a feature model's path or
    the model `load_feature_model` read."""
    columns = {name: np.full(len(sequences), np.nan) for name in COLUMNS}
    rows = np.flatnonzero(np.asarray(scored, bool))
    if len(rows):
        names = list(ids) if ids is not None else list(range(len(sequences)))
        homology, trees = score_features(
            model if isinstance(model, Mapping) else load_feature_model(model),
            [sequences[i] for i in rows],
            [structures[i] for i in rows],
            processes=processes,
            ids=[names[i] for i in rows],
        )
        columns["homology"][rows] = homology
        columns["features_probability"][rows] = trees
        columns["fused_probability"] = fuse(cnn_probability, columns["features_probability"])
    return columns


def reference_hairpins(
    hairpin_fasta: str | os.PathLike[str],
    exclude_species: Sequence[str],
    exclude_sequences: Iterable[str] = (),
) -> list[str]:
    """The homology reference: miRBase hairpins of every species not in `exclude_species` (the
    id's prefix), without any sequence in `exclude_sequences` (the pipeline's own molecules)."""
    if "all" in exclude_species:
        log.warning("download.species is [all]: no other species is left, homology is 0 for all")
        return []
    excluded, species = set(exclude_sequences), set(exclude_species)
    return [
        r.sequence
        for r in read_records(hairpin_fasta, iupac="keep").records
        if species_of(r.id) not in species and r.sequence not in excluded
    ]


def train_feature_model(
    folded_tsv: str | os.PathLike[str],
    hairpin_fasta: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    settings: FeatureSettings | dict[str, Any],
    exclude_species: Sequence[str],
    seed: int,
    processes: int = 1,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
) -> dict[str, Any]:
    """The `train_cnn_features` rule: fit the trees on the train split of the fold stage's table
    (`id`, `sequence`, `structure`, `label`, `split`) and write the model to `out_path`."""
    if not isinstance(settings, FeatureSettings):
        settings = FeatureSettings.from_dict(settings)
    table = read_table(folded_tsv, ("id", "sequence", "structure", "label", "split"))
    train = table[table["split"] == "train"]
    reference = reference_hairpins(hairpin_fasta, exclude_species, table["sequence"])
    model = fit_feature_model(
        train["sequence"].tolist(),
        train["structure"].tolist(),
        train["label"].to_numpy(dtype=int),
        reference,
        settings,
        seed,
        processes,
        FoldSettings.of(fold),
        ids=train["id"].tolist(),
        reference_note=(
            f"{len(reference)} hairpins of {hairpin_fasta} outside species {list(exclude_species)}"
        ),
    )
    save_feature_model(model, out_path)
    return model

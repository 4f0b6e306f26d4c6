"""DeepMir's pre-training set: miRBase hairpins of the other species plus negatives, encoded
(Cordero et al. 2019 pre-train on non-human miRBase hairpins, then fine-tune on human)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.core.atomic import save_npz, write_tsv
from premirna.core.logs import counts_text
from premirna.core.seeds import stream
from premirna.core.tables import read_table
from premirna.data.mirbase import species_of
from premirna.data.negatives import build_negatives
from premirna.encode.images import fold_and_encode
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.seqio import read_records

log = logging.getLogger(__name__)


def _other_species(
    hairpin_fasta: str | Path,
    exclude_species: Sequence[str],
    excluded: set[str],
    max_positives: int | None,
    seed: int,
    max_length: int | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The positives: hairpins of the species not classified, none of the excluded sequences."""
    species_out = {s for s in exclude_species if s != "all"}
    if "all" in exclude_species:
        raise ValueError("download.species is [all]: no other species is left to pre-train on")
    records = read_records(hairpin_fasta, iupac="drop").records
    positives = pd.DataFrame(
        {
            "id": [r.id for r in records],
            "sequence": [r.sequence for r in records],
            "label": 1,
            "species": [species_of(r.id) for r in records],
            "source": "mirbase",
        }
    )
    counts = {"hairpins_read": len(positives)}
    positives = positives[~positives["species"].isin(species_out)]
    counts["other_species"] = len(positives)
    leaked = positives["sequence"].isin(excluded)
    counts["excluded_as_evaluation_molecule"] = int(leaked.sum())
    positives = positives[~leaked].drop_duplicates("sequence")
    if max_length is not None:
        positives = positives[positives["sequence"].str.len() <= max_length]
    if max_positives is not None and len(positives) > max_positives:
        rng = stream(seed, "pretrain_positives")
        positives = positives.iloc[np.sort(rng.choice(len(positives), max_positives, False))]
    counts["positives"] = len(positives)
    if len(positives) == 0:
        raise ValueError(f"{hairpin_fasta}: no hairpin of another species to pre-train on")
    return positives.reset_index(drop=True), counts


def other_species_molecules(
    hairpin_fasta: str | Path,
    coding: str | Path | None,
    exclude_species: Sequence[str] = (),
    exclude_molecules: str | Path | None = None,
    exclude_sequences: Iterable[str] = (),
    coding_ratio: float = 0.3,
    shuffle_ratio: float = 0.7,
    max_positives: int | None = None,
    seed: int = 0,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
    max_length: int | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """miRBase hairpins of other species plus negatives, none of them an evaluation molecule.

    Positives are the records of `hairpin_fasta` whose species (the id's prefix, `cel-let-7` ->
    `cel`) is not in `exclude_species` (at most `max_length` nt when given); negatives are CODING
    pseudo-hairpins (`coding`, Xue et al. 2005) and dinucleotide shuffles of the positives,
    `coding_ratio` and `shuffle_ratio` per positive (`premirna.data.negatives.build_negatives`).
    Every sequence that is in `exclude_molecules` (a molecules/folded table: all splits of the
    configured species) or in `exclude_sequences` is left out, so no evaluation molecule leaks in.
    Returns the table (id, sequence, label, species, source), unfolded, and counts for the log.
    """
    fold = FoldSettings.of(fold)
    excluded = set(exclude_sequences)
    if exclude_molecules is not None:
        excluded |= set(read_table(exclude_molecules, ("sequence",))["sequence"])
    positives, counts = _other_species(
        hairpin_fasta, exclude_species, excluded, max_positives, seed, max_length
    )
    negatives, negative_counts = build_negatives(
        positives,
        coding if coding is not None else "",
        coding_ratio=coding_ratio if coding is not None else 0.0,
        shuffle_ratio=shuffle_ratio,
        seed=seed,
        fold=fold,
    )
    counts.update(negative_counts)
    leaked = negatives["sequence"].isin(excluded)
    counts["negatives_excluded_as_evaluation_molecule"] = int(leaked.sum())
    negatives = negatives[~leaked]
    counts["negatives"] = len(negatives)
    return pd.concat([positives, negatives], ignore_index=True), counts


def build_pretrain_images(
    hairpin_fasta: str | Path,
    coding: str | Path | None,
    out_npz: str | Path,
    out_table: str | Path | None = None,
    exclude_species: Sequence[str] = (),
    exclude_molecules: str | Path | None = None,
    exclude_sequences: Iterable[str] = (),
    coding_ratio: float = 0.3,
    shuffle_ratio: float = 0.7,
    max_positives: int | None = None,
    seed: int = 0,
    processes: int = 1,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
) -> dict[str, int]:
    """DeepMir's pre-training set: `other_species_molecules`, folded and encoded.

    Writes `out_npz` in the encode stage's layout (`ids`, `images`, `labels`, `encodable`,
    `lengths`) and, if given, `out_table` (id, sequence, label, species, source, structure, mfe).
    Returns counts for the log.
    """
    fold = FoldSettings.of(fold)
    table, counts = other_species_molecules(
        hairpin_fasta, coding, exclude_species, exclude_molecules, exclude_sequences,
        coding_ratio, shuffle_ratio, max_positives, seed, fold,
    )
    log.info("pre-training set: folding and encoding %d molecules", len(table))
    structures, mfes, images, encodable = fold_and_encode(
        table["sequence"].tolist(), processes, fold
    )
    table["structure"], table["mfe"] = structures, mfes
    counts["unencodable"] = int((~encodable).sum())
    save_npz(
        out_npz,
        ids=table["id"].to_numpy(dtype=str),
        images=images,
        labels=table["label"].to_numpy(dtype=np.int8),
        encodable=encodable,
        lengths=table["sequence"].str.len().to_numpy(dtype=np.int32),
    )
    if out_table is not None:
        write_tsv(table, out_table)
    log.info("pre-training set written to %s: %s", out_npz, counts_text(counts))
    return counts

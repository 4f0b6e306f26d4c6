"""Assemble the molecule table and split it once into train, validation and test.

`build_molecules` is the `download` stage's library function: miRBase hairpins of the chosen
species (positives), CODING and shuffled negatives (`premirna.data.negatives`), a seeded split
stratified by label x species, written as ``results/download/molecules.tsv``; and the mature
miRNA positions of the kept hairpins as ``results/download/mature.tsv``. The split is made here
and never again, so every later stage (fold, encode, train, evaluate) sees the same partition.
Identical sequences always land in the same split: a duplicate across train and test would leak
the answer into the test score.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from premirna.core.atomic import write_tsv
from premirna.core.errors import InputError
from premirna.core.seeds import stream
from premirna.core.splits import DEFAULT_FRACTIONS, SPLITS, check_fractions
from premirna.core.tables import MATURE_COLUMNS, MOLECULE_COLUMNS, MOLECULES_COLUMNS
from premirna.data.mirbase import (
    missing_species,
    read_hairpin_fasta,
    read_mirna_dat,
    resolve_species,
)
from premirna.data.negatives import CODING_SPECIES, build_negatives, sample_rows
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.seqio import read_records

log = logging.getLogger(__name__)

def _group_strata(molecules: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """The (label, species) of each group of identical sequences: its most common pair.

    Ties go to the smallest pair, so the choice does not depend on row order. Returns one row per
    group code, sorted by code.
    """
    pairs = pd.DataFrame(
        {
            "group": codes,
            "label": molecules["label"].astype(int).to_numpy(),
            "species": molecules["species"].astype(str).to_numpy(),
        }
    )
    counted = pairs.value_counts().rename("n").reset_index()
    counted = counted.sort_values(
        ["group", "n", "label", "species"], ascending=[True, False, True, True]
    )
    return counted.drop_duplicates("group").set_index("group").sort_index()


def assign_splits(
    molecules: pd.DataFrame, fractions: Mapping[str, float] | None = None, seed: int = 0
) -> pd.Series:
    """Split name for every row of `molecules` (columns sequence, label, species).

    Rows with the same sequence form one group and share a split. Groups are stratified by
    (label, species); within a stratum they are put in a seeded random order and handed out so
    that the running molecule count follows the fractions (a group goes to the split whose share
    of the stratum contains the group's middle). The result depends only on the rows' content and
    the seed, not on their order.
    """
    fractions = check_fractions(fractions or DEFAULT_FRACTIONS)
    if molecules.empty:
        return pd.Series(index=molecules.index, dtype=object)
    bounds = np.cumsum([fractions[name] for name in SPLITS])
    # Group codes follow the sorted sequences, so they do not depend on row order.
    codes, _ = pd.factorize(molecules["sequence"], sort=True)
    sizes = np.bincount(codes)
    strata = _group_strata(molecules, codes)
    group_split = np.zeros(len(sizes), dtype=np.int64)
    rng = stream(seed, "download_split")
    for _, members in strata.groupby(["label", "species"], sort=True):
        groups = members.index.to_numpy()[rng.permutation(len(members))]
        ends = np.cumsum(sizes[groups])
        middles = (ends - sizes[groups] / 2) / ends[-1]
        which = np.searchsorted(bounds, middles, side="right")
        group_split[groups] = np.minimum(which, len(SPLITS) - 1)
    return pd.Series(np.asarray(SPLITS, dtype=object)[group_split[codes]], index=molecules.index)


def _positives(
    hairpin_fa: str | os.PathLike[str],
    species: str | Iterable[str],
    iupac: str,
    source: str,
) -> tuple[pd.DataFrame, int]:
    hairpins, dropped = read_hairpin_fasta(hairpin_fa, species=species, iupac=iupac)
    frame = pd.DataFrame(
        {
            "id": [h.id for h in hairpins],
            "sequence": [h.sequence for h in hairpins],
            "label": 1,
            "species": [h.species for h in hairpins],
            "source": source,
        },
        columns=list(MOLECULE_COLUMNS),
    )
    return frame, len(dropped)


def _mature_table(
    mirna_dat: str | os.PathLike[str],
    species: str | Iterable[str],
    positives: pd.DataFrame,
) -> pd.DataFrame:
    """Mature miRNAs of the kept hairpins, checked against the hairpin sequences they index."""
    hairpins, matures = read_mirna_dat(mirna_dat, species=species)
    dat_sequence = {h.id: h.sequence for h in hairpins}
    for hairpin_id, sequence in zip(positives["id"], positives["sequence"], strict=True):
        # Positions from one release on sequences from another would point at the wrong bases.
        if hairpin_id in dat_sequence and dat_sequence[hairpin_id] != sequence:
            raise InputError(
                mirna_dat,
                "the hairpin sequence differs from hairpin.fa (files from different releases?)",
                record=hairpin_id,
            )
    kept = set(positives["id"])
    rows = [
        (m.hairpin_id, m.mature_id, m.accession, m.arm, m.start, m.end)
        for m in matures
        if m.hairpin_id in kept
    ]
    missing = kept - set(dat_sequence)
    if missing:
        log.warning(
            "%d hairpins have no entry in %s (no mature positions), e.g. %s",
            len(missing),
            mirna_dat,
            sorted(missing)[0],
        )
    return pd.DataFrame(rows, columns=list(MATURE_COLUMNS))


def _select_positives(
    hairpin_fa: str | os.PathLike[str],
    species: str | Iterable[str],
    iupac: str,
    release: str,
    seed: int,
    max_per_class: int | None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The positives (a seeded sample of `max_per_class` at most) and their counts."""
    source = f"mirbase_v{release.split('.')[0]}"
    positives, iupac_dropped = _positives(hairpin_fa, species, iupac, source)
    counts: dict[str, int] = {"hairpins_read": len(positives) + iupac_dropped}
    counts["iupac_dropped"] = iupac_dropped
    missing = missing_species(species, hairpin_fa)
    if missing:
        raise InputError(
            hairpin_fa,
            f"no hairpins of species {', '.join(missing)} in this release (check "
            "download.species: miRBase prefixes such as hsa or mmu)",
        )
    if positives.empty:
        raise InputError(hairpin_fa, f"no usable hairpins of species {species} (check iupac)")
    if max_per_class is not None and len(positives) > max_per_class:
        positives = sample_rows(positives, max_per_class, stream(seed, "download_cap"))
    counts["positives"] = len(positives)
    counts["positive_duplicate_sequences"] = int(positives["sequence"].duplicated().sum())
    return positives, counts


#: The `label` of a user set and the molecule table's label.
USER_LABELS = {"pre-miRNA": 1, "not": 0}
USER_SPECIES = "user"


def read_user_sets(
    user_sets: Iterable[Mapping[str, Any]], iupac: str = "drop"
) -> list[tuple[str, pd.DataFrame]]:
    """Each user set (``name``, ``path``, ``label``, optional ``species``) as a molecule table whose
    `source` is the set's name; with the path it came from, for error messages.

    Any format `premirna.rna.seqio` reads (FASTA, RNAfold output, triplet-SVM records, gzipped or
    not). Raises InputError naming the file (and the record) when a set is unreadable, empty, or
    uses an id twice.
    """
    tables = []
    for entry in user_sets:
        path, name = str(entry["path"]), str(entry["name"])
        label = entry["label"]
        if label not in USER_LABELS:
            raise InputError(path, f"user set {name!r}: label must be pre-miRNA or not, "
                             f"not {label!r}")
        records = read_records(path, iupac=iupac).records
        if not records:
            raise InputError(path, f"user set {name!r} holds no usable sequence")
        frame = pd.DataFrame(
            {
                "id": [record.id for record in records],
                "sequence": [record.sequence for record in records],
                "label": USER_LABELS[label],
                "species": str(entry.get("species") or USER_SPECIES),
                "source": name,
            },
            columns=list(MOLECULE_COLUMNS),
        )
        repeated = frame["id"][frame["id"].duplicated()]
        if not repeated.empty:
            raise InputError(path, "this id is used twice in the file", record=repeated.iloc[0])
        tables.append((path, frame))
    return tables


def merge_user_sets(
    molecules: pd.DataFrame, user_tables: list[tuple[str, pd.DataFrame]]
) -> tuple[pd.DataFrame, int]:
    """`molecules` with the user sets' molecules added; also the number left out as duplicates.

    A user molecule whose sequence is already in the table with the same label is left out (the
    first source keeps it); one with the other label, or one whose id is taken, raises InputError
    naming its file and record: a sequence cannot be both a pre-miRNA and not.
    """
    duplicates = 0
    for path, frame in user_tables:
        label_of = dict(zip(molecules["sequence"], molecules["label"].astype(int), strict=True))
        ids = set(molecules["id"])
        keep = []
        for row in frame.itertuples(index=False):
            known = label_of.get(row.sequence)
            if known is not None and known != row.label:
                raise InputError(path, "the same sequence is in the molecule table with the other "
                                 "label", record=row.id)
            if known is None and row.id in ids:
                raise InputError(path, "this id is already in the molecule table (rename it)",
                                 record=row.id)
            keep.append(known is None)
            label_of.setdefault(row.sequence, row.label)
        duplicates += len(keep) - sum(keep)
        molecules = pd.concat([molecules, frame[keep]], ignore_index=True)
    return molecules, duplicates


def _split_counts(molecules: pd.DataFrame) -> dict[str, int]:
    counts = {}
    for name in SPLITS:
        part = molecules[molecules["split"] == name]
        counts[f"{name}_positive"] = int((part["label"] == 1).sum())
        counts[f"{name}_negative"] = int((part["label"] == 0).sum())
    return counts


def _log_counts(counts: Mapping[str, int], iupac: str) -> None:
    log.info(
        "positives: %d hairpins read, %d dropped for IUPAC codes (policy %s), %d kept",
        counts["hairpins_read"],
        counts["iupac_dropped"],
        iupac,
        counts["positives"],
    )
    log.info(
        "negatives: %d CODING kept; %d shuffles kept of %d tried (%d not one hairpin, "
        "%d duplicates)",
        counts["coding_kept"],
        counts["shuffle_kept"],
        counts["shuffle_attempts"],
        counts["shuffle_rejected_structure"],
        counts["shuffle_rejected_duplicate"],
    )
    for name in SPLITS:
        log.info(
            "split %s: %d positives, %d negatives",
            name,
            counts[f"{name}_positive"],
            counts[f"{name}_negative"],
        )
    log.info("mature miRNAs of the kept hairpins: %d", counts["mature"])
    if counts.get("user_molecules") or counts.get("user_duplicates"):
        log.info("user sets: %d molecules added, %d left out as already in the table",
                 counts["user_molecules"], counts["user_duplicates"])


def build_molecules(
    hairpin_fa: str | os.PathLike[str],
    mirna_dat: str | os.PathLike[str],
    coding: str | os.PathLike[str],
    molecules_out: str | os.PathLike[str],
    mature_out: str | os.PathLike[str],
    *,
    species: str | Iterable[str] = ("hsa",),
    iupac: str = "drop",
    coding_ratio: float = 1.0,
    shuffle_ratio: float = 0.0,
    split: Mapping[str, float] | None = None,
    seed: int = 0,
    max_per_class: int | None = None,
    release: str = "22.1",
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
    user_sets: Iterable[Mapping[str, Any]] = (),
) -> dict[str, int]:
    """Write ``molecules.tsv`` and ``mature.tsv`` from the release files; return the counts.

    Positives are the `species` hairpins of `hairpin_fa` (IUPAC codes handled by `iupac`), at most
    `max_per_class` of them (a seeded sample, for quick runs); negatives follow
    `premirna.data.negatives.build_negatives` with the same cap; `split` gives the train/val/test
    fractions (`assign_splits`). `mature_out` lists the mature miRNAs (from `mirna_dat`) of the
    positives kept. `release` names the positives' source (``mirbase_v22``); `fold` is the
    ViennaRNA energy model of the shuffles' single-hairpin check (the fold stage's). Every random
    choice derives from `seed`. `species` takes prefixes or organism names (`resolve_species`).
    `user_sets` (`read_user_sets`) are added whole, whatever `max_per_class`: their positives
    before the negatives are drawn (CODING and shuffles count them), their negatives after;
    each row's `source` is its set's name. Raises InputError for bad input files and ValueError
    for impossible settings.
    """
    fractions = check_fractions(split or DEFAULT_FRACTIONS)
    if max_per_class is not None and max_per_class < 1:
        raise ValueError("max_per_class must be a positive number or null")
    species = resolve_species(species, hairpin_fa)
    user_tables = read_user_sets(user_sets, iupac)
    positives, counts = _select_positives(hairpin_fa, species, iupac, release, seed, max_per_class)
    mirbase_positives = positives
    positives, duplicates = merge_user_sets(
        positives, [(path, t[t["label"] == 1]) for path, t in user_tables])
    negatives, negative_counts = build_negatives(
        positives,
        coding,
        coding_ratio=coding_ratio,
        shuffle_ratio=shuffle_ratio,
        seed=seed,
        max_per_class=max_per_class,
        iupac=iupac,
        fold=FoldSettings.of(fold),
    )
    counts.update(negative_counts)
    counts["negatives"] = len(negatives)
    if counts["coding_kept"] and CODING_SPECIES not in set(positives["species"]):
        log.warning(
            "the CODING negatives are human (%s) but no positive is: label and species coincide, "
            "so a model could learn the species instead of the pre-miRNA",
            CODING_SPECIES,
        )

    molecules = pd.concat([positives, negatives], ignore_index=True)
    molecules, negative_duplicates = merge_user_sets(
        molecules, [(path, t[t["label"] == 0]) for path, t in user_tables])
    counts["user_molecules"] = int(molecules["source"].isin(
        [t["source"].iloc[0] for _, t in user_tables]).sum()) if user_tables else 0
    counts["user_duplicates"] = duplicates + negative_duplicates
    molecules["label"] = molecules["label"].astype(int)
    repeated = molecules["id"][molecules["id"].duplicated()]
    if not repeated.empty:
        raise InputError(
            coding, "an id is used twice in the molecule table", record=repeated.iloc[0]
        )
    molecules["split"] = assign_splits(molecules, fractions, seed)
    mature = _mature_table(mirna_dat, species, mirbase_positives)
    counts["mature"] = len(mature)
    counts.update(_split_counts(molecules))
    write_tsv(molecules[list(MOLECULES_COLUMNS)], molecules_out)
    write_tsv(mature, mature_out)
    _log_counts(counts, iupac)
    return counts

"""The negative class: CODING pseudo-hairpins and dinucleotide-shuffled positives.

Two kinds of negatives, each at a configured number per positive. **CODING** (Xue et al. 2005) are
human CDS fragments that fold into pre-miRNA-like hairpins; they are the classic negatives of
pre-miRNA classifiers and are sampled here, seeded. **Shuffles** keep a positive's exact
dinucleotide composition (the Altschul & Erikson 1985 shuffle, drawn as a random Eulerian walk as
in Kandel et al. 1996) and are kept only if they still fold into a single hairpin, so that a model
cannot tell them from positives by composition or by "is it a hairpin" alone. Negatives are
deduplicated against the positives (exact sequence) and against each other.
"""

from __future__ import annotations

import logging
import os
from collections import Counter

import numpy as np
import pandas as pd

from premirna.core.logs import Progress, counts_text
from premirna.core.seeds import stream
from premirna.core.tables import MOLECULE_COLUMNS
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings, fold_sequences
from premirna.rna.seqio import read_records
from premirna.rna.sequence import dinucleotide_shuffle
from premirna.rna.structure import hairpin_loops

log = logging.getLogger(__name__)

CODING_SOURCE = "coding_xue2005"
SHUFFLE_SOURCE = "shuffle"
#: The CODING pseudo-hairpins come from human RefSeq CDS.
CODING_SPECIES = "hsa"


BATCH = 2000  # shuffles folded at once


def read_coding(path: str | os.PathLike[str], iupac: str = "drop") -> pd.DataFrame:
    """The CODING pseudo-hairpins as a molecule table (label 0, species hsa), in file order."""
    result = read_records(path, iupac=iupac)
    return pd.DataFrame(
        {
            "id": [record.id for record in result.records],
            "sequence": [record.sequence for record in result.records],
            "label": 0,
            "species": CODING_SPECIES,
            "source": CODING_SOURCE,
        },
        columns=list(MOLECULE_COLUMNS),
    )


def sample_rows(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` rows drawn without replacement (all when fewer), kept in their original order."""
    if n >= len(frame):
        return frame.copy()
    chosen = np.sort(rng.choice(len(frame), size=n, replace=False))
    return frame.iloc[chosen].copy()


def shuffle_negatives(
    positives: pd.DataFrame,
    n: int,
    seed: int,
    *,
    exclude: set[str] | frozenset[str] = frozenset(),
    max_attempts: int = 50,
    fold: FoldSettings = DEFAULT_FOLD,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """`n` dinucleotide shuffles of `positives` that still fold into one hairpin loop.

    Parents are taken in a seeded random order, round after round, so the shuffles spread evenly
    over the positives; ids are ``shuf_<parent id>_<k>`` (k = 1, 2 ... per parent). A candidate is
    rejected when its MFE structure (ViennaRNA, energy model `fold`) has other than exactly one
    hairpin loop, or when its sequence is a positive, in `exclude`, or already drawn. At most
    ``max_attempts * n`` candidates are tried; fewer than `n` may come back (logged). Returns the
    table and counts: ``attempts``, ``kept``, ``rejected_structure``, ``rejected_duplicate``.
    """
    counts = {"attempts": 0, "kept": 0, "rejected_structure": 0, "rejected_duplicate": 0}
    empty = pd.DataFrame(columns=list(MOLECULE_COLUMNS))
    if n <= 0 or positives.empty:
        return empty, counts
    rng = stream(seed, "download_shuffle")
    parents = positives.iloc[rng.permutation(len(positives))].reset_index(drop=True)
    taken = set(positives["sequence"]) | set(exclude)
    per_parent: Counter[str] = Counter()
    rows: list[dict[str, object]] = []
    budget = max_attempts * n
    progress = Progress(n, "shuffled negatives that fold into one hairpin", log, every=30.0)
    while len(rows) < n and counts["attempts"] < budget:
        progress.update(len(rows) - progress.done)
        # Fold in batches (ViennaRNA dominates the cost); a batch a bit larger than what is
        # missing, because only a share of the shuffles folds into a single hairpin.
        # At most BATCH at a time, so that progress is logged on long runs (the candidates, hence
        # the result, do not depend on the batch size: they are drawn and tested in one order).
        size = min(2 * (n - len(rows)) + 8, budget - counts["attempts"], BATCH)
        batch = []
        for k in range(size):
            parent = parents.iloc[(counts["attempts"] + k) % len(parents)]
            batch.append((parent, dinucleotide_shuffle(parent["sequence"], rng)))
        folded = fold_sequences([seq for _, seq in batch], fold=fold)
        for (parent, sequence), (structure, _) in zip(batch, folded, strict=True):
            counts["attempts"] += 1
            if sequence in taken:
                counts["rejected_duplicate"] += 1
            elif len(hairpin_loops(structure)) != 1:
                counts["rejected_structure"] += 1
            else:
                taken.add(sequence)
                per_parent[parent["id"]] += 1
                rows.append(
                    {
                        "id": f"shuf_{parent['id']}_{per_parent[parent['id']]}",
                        "sequence": sequence,
                        "label": 0,
                        "species": parent["species"],
                        "source": SHUFFLE_SOURCE,
                    }
                )
                if len(rows) == n:
                    break
    counts["kept"] = len(rows)
    progress.update(len(rows) - progress.done)
    if len(rows) < n:
        log.warning(
            "only %d of %d shuffled negatives fold into a single hairpin after %d attempts",
            len(rows),
            n,
            counts["attempts"],
        )
    return pd.DataFrame(rows, columns=list(MOLECULE_COLUMNS)), counts


def build_negatives(
    positives: pd.DataFrame,
    coding_path: str | os.PathLike[str],
    *,
    coding_ratio: float = 1.0,
    shuffle_ratio: float = 0.0,
    seed: int = 0,
    max_per_class: int | None = None,
    iupac: str = "drop",
    fold: FoldSettings = DEFAULT_FOLD,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The negative molecules for `positives`: sampled CODING plus optional shuffles.

    ``round(coding_ratio * len(positives))`` CODING hairpins (all available at most, after removing
    any whose sequence is a positive or repeats another) and ``round(shuffle_ratio *
    len(positives))`` shuffles (see `shuffle_negatives`). `max_per_class` caps the negative class;
    both kinds are then scaled down in proportion. `fold` is the energy model of the
    single-hairpin check (use the fold stage's). Returns the table (CODING first,
    then shuffles) and the counts that the stage logs.
    """
    if coding_ratio < 0 or shuffle_ratio < 0:
        raise ValueError("coding_ratio and shuffle_ratio must be >= 0")
    n_pos = len(positives)
    want_coding = round(coding_ratio * n_pos)
    want_shuffle = round(shuffle_ratio * n_pos)
    if max_per_class is not None and want_coding + want_shuffle > max_per_class:
        scale = max_per_class / (want_coding + want_shuffle)
        want_coding = round(want_coding * scale)
        want_shuffle = max_per_class - want_coding

    counts: dict[str, int] = {}
    coding = pd.DataFrame(columns=list(MOLECULE_COLUMNS))
    if want_coding > 0:
        coding = read_coding(coding_path, iupac=iupac)
        counts["coding_read"] = len(coding)
        positive_sequences = set(positives["sequence"])
        overlap = coding["sequence"].isin(positive_sequences)
        repeated = coding["sequence"].duplicated()
        counts["coding_equal_to_positive"] = int(overlap.sum())
        counts["coding_repeated"] = int((repeated & ~overlap).sum())
        coding = coding[~overlap & ~repeated]
        if want_coding > len(coding):
            log.warning(
                "asked for %d CODING negatives (%.2f per positive) but only %d are available",
                want_coding,
                coding_ratio,
                len(coding),
            )
        coding = sample_rows(coding, want_coding, stream(seed, "download_coding"))
    counts["coding_kept"] = len(coding)

    shuffles, shuffle_counts = shuffle_negatives(
        positives,
        want_shuffle,
        seed,
        exclude=set(coding["sequence"]),
        fold=fold,
    )
    counts.update({f"shuffle_{key}": value for key, value in shuffle_counts.items()})
    negatives = pd.concat([coding, shuffles], ignore_index=True)
    negatives["label"] = negatives["label"].astype(int)
    log.info("negatives: %s", counts_text(counts))
    return negatives, counts

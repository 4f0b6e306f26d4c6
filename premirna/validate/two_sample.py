"""Classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017): can a classifier tell a set of
molecules from real held-out pre-miRNAs?

Each molecule is described by its sequence and its MFE structure, not by the image: the shares
of 1-, 2- and 3-mers of the sequence, of 3-mers of the dot-bracket and of nucleotide-bracket
pairs (an A paired, a G unpaired ...), and the hairpin features of `premirna.rna.structure`
(length, GC, MFE per nt, stem length, loop size, bulges, internal loops, hairpin loops). Equal
samples of the two sets are drawn (seeded), gradient-boosted trees are cross-validated on them,
and the ROC AUC of the out-of-fold probabilities is the statistic: 0.5 when the sets cannot be
told apart, 1 when they always can. Real validation pre-miRNAs against the test ones give the
floor that sampling alone reaches.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
import pandas as pd

FEATURE_ATTRIBUTES = ("length", "gc", "mfe_per_nt", "stem_length", "loop_size", "bulges",
                      "internal_loops", "hairpin_loops")
_KMERS = {k: ["".join(p) for p in product("ACGU", repeat=k)] for k in (1, 2, 3)}
_STATES = ["".join(p) for p in product("|.", repeat=3)]  # paired (|) or not, 3 in a row
_LETTER_STATES = [n + s for n in "ACGU" for s in "|."]


#: The name of each column of `molecule_features`: a k-mer ("G", "CG", "GGG": its share), three
#: positions paired (|) or not (.) in a row ("pairing ||."), a nucleotide paired or not ("G
#: paired"), then `FEATURE_ATTRIBUTES`.
FEATURE_NAMES: tuple[str, ...] = (
    *[word for k in (1, 2, 3) for word in _KMERS[k]],
    *[f"pairing {word}" for word in _STATES],
    *[f"{word[0]} {'paired' if word[1] == '|' else 'unpaired'}" for word in _LETTER_STATES],
    *FEATURE_ATTRIBUTES,
)


def _shares(text: str, words: list[str], k: int) -> list[float]:
    counts = dict.fromkeys(words, 0)
    for start in range(len(text) - k + 1):
        word = text[start : start + k]
        if word in counts:
            counts[word] += 1
    total = max(1, len(text) - k + 1)
    return [counts[w] / total for w in words]


def molecule_features(table: pd.DataFrame) -> np.ndarray:
    """(N, F) features of molecules (named by `FEATURE_NAMES`): columns `sequence`, `refolded`
    (the MFE structure) and `FEATURE_ATTRIBUTES`."""
    rows = []
    for sequence, structure in zip(table["sequence"], table["refolded"], strict=True):
        states = structure.replace("(", "|").replace(")", "|")
        row = [share for k in (1, 2, 3) for share in _shares(sequence, _KMERS[k], k)]
        row += _shares(states, _STATES, 3)
        letters = [n + s for n, s in zip(sequence, states, strict=False)]
        row += [letters.count(word) / max(1, len(letters)) for word in _LETTER_STATES]
        rows.append(row)
    attributes = table[list(FEATURE_ATTRIBUTES)].to_numpy(dtype=np.float64)
    return np.hstack([np.array(rows, dtype=np.float64), attributes])


def two_sample_auc(
    molecules: pd.DataFrame, reference: pd.DataFrame, seed: int = 0, folds: int = 5,
    max_per_set: int = 500,
) -> float:
    """Cross-validated ROC AUC of telling `molecules` from `reference` (equal samples of at most
    `max_per_set`, seeded); NaN when either set has fewer than `folds` * 2 molecules."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    n = min(len(molecules), len(reference), max_per_set)
    if n < 2 * folds:
        return float("nan")
    rng = np.random.default_rng(seed)
    a = molecules.iloc[np.sort(rng.choice(len(molecules), n, replace=False))]
    b = reference.iloc[np.sort(rng.choice(len(reference), n, replace=False))]
    x = np.vstack([molecule_features(a), molecule_features(b)])
    y = np.r_[np.ones(n), np.zeros(n)]
    scores = np.zeros(2 * n)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    # One OpenMP thread: on these few hundred rows, threads that wait passively cost 3x more
    # than they give (benchmarks/README.md).
    with threadpool_limits(1, user_api="openmp"):
        for train, test in splitter.split(x, y):
            model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1,
                                                   random_state=seed)
            model.fit(x[train], y[train])
            scores[test] = model.predict_proba(x[test])[:, 1]
    return float(roc_auc_score(y, scores))


def length_outside(lengths: Sequence[float], reference: Sequence[float]) -> float:
    """Share of `lengths` outside the 1st-99th percentiles of the `reference` lengths."""
    values = np.asarray(lengths, dtype=np.float64)
    low, high = np.percentile(np.asarray(reference, dtype=np.float64), [1, 99])
    return float(np.mean((values < low) | (values > high))) if len(values) else float("nan")

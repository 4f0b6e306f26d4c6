"""A second independent judge, of another model family: gradient-boosted trees on sequence and
structure features.

The first judge (`premirna.validate.judge`) is a 1-D network in molecule order. Generated
molecules will also be judged by detectors outside this repository, so realism should not rest on
one model's blind spots. This judge reads each molecule as the features of the classifier
two-sample test (`premirna.validate.two_sample.molecule_features`: shares of 1- to 3-mers, of
paired/unpaired runs and of nucleotide-by-state, and the hairpin features with the MFE per nt of
the given structure) and learns them with scikit-learn's histogram gradient boosting from exactly
the first judge's molecules (the other species' miRBase hairpins, CODING pseudo-hairpins and the
two kinds of shuffles; none of the configured species). The trees are not stored: the `validate`
stage fits them from that table (``results/validate/judge/molecules.tsv``) with a seed, in
seconds, so no model file that needs unpickling is ever handed out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import RNA

from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.structure import features
from premirna.validate.judge import Judge
from premirna.validate.two_sample import molecule_features

log = logging.getLogger(__name__)

TREES_ITERATIONS = 200  # boosting rounds (no early stopping: the fit is the same on every run)
TREES_LEARNING_RATE = 0.1


def judge_features(
    sequences: Sequence[str], structures: Sequence[str], fold: FoldSettings = DEFAULT_FOLD
) -> np.ndarray:
    """(N, F) features of molecules given as sequence and structure; the free energy of each
    structure is evaluated with `fold`'s energy model."""
    md = fold.model_details()
    rows = []
    for sequence, structure in zip(sequences, structures, strict=True):
        energy = RNA.fold_compound(sequence, md).eval_structure(structure)
        rows.append({"sequence": sequence, "refolded": structure,
                     **features(sequence, structure, energy)})
    return molecule_features(pd.DataFrame(rows))


def fit_trees_judge(
    table: pd.DataFrame, seed: int, fold: FoldSettings = DEFAULT_FOLD, max_length: int = 200
) -> Judge:
    """Fit the trees on the judge set (`sequence`, `structure`, `label`) and return them as a
    function (sequences, structures) -> P(pre-miRNA); empty molecules and those longer than
    `max_length` get 0, as with the first judge."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    x = judge_features(table["sequence"].tolist(), table["structure"].tolist(), fold)
    y = table["label"].astype(int).to_numpy()
    model = HistGradientBoostingClassifier(max_iter=TREES_ITERATIONS,
                                           learning_rate=TREES_LEARNING_RATE,
                                           early_stopping=False, random_state=seed)
    # One OpenMP thread: the result is then the same whatever the machine's core count.
    with threadpool_limits(1, user_api="openmp"):
        model.fit(x, y)
    log.info("trees judge: fitted on %d molecules (%d pre-miRNAs), %d features", len(y),
             int(y.sum()), x.shape[1])

    def judge(sequences: Sequence[str], structures: Sequence[str]) -> np.ndarray:
        proba = np.zeros(len(sequences))
        rows = [i for i, s in enumerate(sequences) if 0 < len(s) <= max_length]
        if rows:
            x_rows = judge_features([sequences[i] for i in rows],
                                    [structures[i] for i in rows], fold)
            with threadpool_limits(1, user_api="openmp"):
                proba[rows] = model.predict_proba(x_rows)[:, 1]
        return proba

    return judge

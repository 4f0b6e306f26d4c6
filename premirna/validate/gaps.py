"""What gives generated molecules away: per condition, the features that differ most from real
pre-miRNAs of the same kind.

The two-sample AUC (`premirna.validate.two_sample`) says how well all features together tell
generated molecules from real ones; this table says which features do it. For every condition of
generated pre-miRNAs, each feature of the two-sample test (`FEATURE_NAMES`: k-mer shares, runs of
paired and unpaired positions, paired and unpaired shares of each nucleotide, the hairpin
attributes of the re-folded molecule) is compared, on its own, between the condition's molecules
and the real held-out pre-miRNAs whose own attributes lie in the bins the condition requests (as
the judges' `real_in_bin` references are chosen): its ROC AUC is the probability that a
generated molecule's value exceeds a real one's (ties counted half), 0.5 where the two agree and
away from it in the direction of the generator's error. The `top` features furthest from 0.5 are
listed with both means and a q-value: among some 130 features, the one furthest from 0.5 lies
about 0.1 from it by chance alone when 100 molecules meet 100, so only a small q-value (the
Mann-Whitney test's p-value, Benjamini-Hochberg adjusted over the features) marks a gap rather
than noise. Comparing within the bins matters: against all real pre-miRNAs, the G+C-rich
condition differs in GC by request; against the real G+C-rich ones, only by error.

The generator learns from the training split, and the held-out molecules differ from it by
chance and by which families fell where: on the default data the training pre-miRNAs hold 0.026
CpG per dinucleotide, the validation ones 0.022. Given the training pre-miRNAs (`training`), each
row also sets the condition's molecules against those in the same bins (`roc_auc_training`,
`training` their mean): a gap that shows against the held-out molecules and not against the
training ones is the split's, not the generator's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from premirna.validate.metrics import in_named_bins
from premirna.validate.two_sample import FEATURE_NAMES, molecule_features

#: A condition needs at least this many generated and real molecules to be compared.
MIN_MOLECULES = 10
COLUMNS = ("group", "rank", "feature", "roc_auc", "q_value", "generated", "real", "n_generated",
           "n_real")
#: Added when the training pre-miRNAs are given.
TRAINING_COLUMNS = ("roc_auc_training", "training", "n_training")


def _aucs(ours: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature (column): the ROC AUC of `ours` against `theirs` (0.5 for a feature constant
    in both) and the two-sided Mann-Whitney p-value (1 for such a feature)."""
    from scipy.stats import mannwhitneyu

    test = mannwhitneyu(ours, theirs, axis=0)
    auc = test.statistic / (len(ours) * len(theirs))
    return np.where(np.isnan(auc), 0.5, auc), np.nan_to_num(test.pvalue, nan=1.0)


def feature_gaps(molecules: pd.DataFrame, reference: pd.DataFrame, top: int) -> pd.DataFrame:
    """The `top` features (`FEATURE_NAMES`) whose one-feature ROC AUC of `molecules` against
    `reference` lies furthest from 0.5, furthest first: `feature`, `roc_auc`, `q_value` (the
    two-sided Mann-Whitney test's p-value, Benjamini-Hochberg adjusted over all features), and
    the mean of each set (`generated`, `real`). Both tables need `sequence`, `refolded` and the
    attributes of `molecule_features`."""
    return _gaps(molecule_features(molecules), molecule_features(reference), top)


def _gaps(ours: np.ndarray, theirs: np.ndarray, top: int) -> pd.DataFrame:
    """`feature_gaps` of two feature matrices."""
    from scipy.stats import false_discovery_control

    auc, p = _aucs(ours, theirs)
    order = np.argsort(-np.abs(auc - 0.5), kind="stable")[:top]
    return pd.DataFrame({
        "feature": [FEATURE_NAMES[j] for j in order],
        "roc_auc": auc[order],
        "q_value": false_discovery_control(p)[order],
        "generated": ours[:, order].mean(axis=0),
        "real": theirs[:, order].mean(axis=0),
    })


def condition_gaps(
    scored: pd.DataFrame, bin_names: Sequence[str], top: int = 5,
    training: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`feature_gaps` of every condition of generated pre-miRNAs in `scored` (validate's molecule
    table) against the real baseline's molecules in its bins, then of all generated molecules
    against all real ones (group "generated"); `COLUMNS`, `rank` from 1. A group with fewer than
    `MIN_MOLECULES` on either side is left out. With `training` (the training pre-miRNAs, with
    `want_<attribute>` bins and what `molecule_features` reads), `TRAINING_COLUMNS` too: each
    row's feature for the group's molecules against the training pre-miRNAs in its bins (NaN
    where fewer than `MIN_MOLECULES` are)."""
    generated = scored[scored["set"] == "generated"]
    real = scored[scored["set"] == "real"]
    groups = [(name, generated[generated["condition"] == name],
               in_named_bins(real, name, bin_names))
              for name in dict.fromkeys(generated["condition"])
              if str(name).split(", ")[0] == "pre-miRNA"]
    groups.append(("generated", generated, np.ones(len(real), dtype=bool)))
    train_features = molecule_features(training) if training is not None else None
    parts = []
    for name, ours, keep in groups:
        theirs = real[keep]
        if min(len(ours), len(theirs)) < MIN_MOLECULES:
            continue
        features = molecule_features(ours)
        gaps = _gaps(features, molecule_features(theirs), top)
        if training is not None and train_features is not None:
            mine = (train_features if name == "generated"
                    else train_features[in_named_bins(training, name, bin_names)])
            gaps = gaps.assign(**_against_training(features, gaps["feature"], mine))
        gaps.insert(0, "rank", np.arange(1, len(gaps) + 1))
        gaps.insert(0, "group", name)
        parts.append(gaps.assign(n_generated=len(ours), n_real=len(theirs)))
    if parts:
        return pd.concat(parts, ignore_index=True)
    extra = list(TRAINING_COLUMNS) if training is not None else []
    return pd.DataFrame(columns=[*COLUMNS[:7], *extra, *COLUMNS[7:]])


def _against_training(
    ours: np.ndarray, features: pd.Series, training: np.ndarray,
) -> dict[str, object]:
    """`TRAINING_COLUMNS` of the `features` (names) of `ours` against `training` (the
    `molecule_features` of the group's molecules and of the training pre-miRNAs)."""
    if min(len(ours), len(training)) < MIN_MOLECULES:
        return {"roc_auc_training": np.nan, "training": np.nan, "n_training": len(training)}
    columns = [FEATURE_NAMES.index(f) for f in features]
    mine, theirs = ours[:, columns], training[:, columns]
    return {"roc_auc_training": _aucs(mine, theirs)[0], "training": theirs.mean(axis=0),
            "n_training": len(training)}

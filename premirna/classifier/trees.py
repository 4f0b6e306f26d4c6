"""Boosted trees as plain arrays: fitted by scikit-learn, stored and evaluated without pickle.

A fitted `HistGradientBoostingClassifier` (binary, numeric features) is its baseline plus, per
boosting round, one regression tree whose nodes are a table: feature, threshold, which way a
missing value goes, children, leaf value. `BoostedTrees` keeps exactly those arrays, so a model
file holds numbers only (an `.npz` read with `allow_pickle=False` cannot run code), and predicts as
scikit-learn does: a sample goes left when its value is at most the threshold (or, when missing,
where the node sends missing values), the leaves' values are summed in boosting order onto the
baseline, and the logistic function of the sum is the probability of class 1. The probabilities
equal scikit-learn's to the last bit (tests/classifier/test_trees.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

#: The node fields kept, with their types (scikit-learn's `TreePredictor.nodes` has these too).
NODE_FIELDS: dict[str, str] = {
    "value": "f8",
    "feature_idx": "i8",
    "num_threshold": "f8",
    "missing_go_to_left": "u1",
    "left": "i8",
    "right": "i8",
    "is_leaf": "u1",
}


@dataclass(frozen=True)
class BoostedTrees:
    """The trees of a binary gradient-boosting classifier: nodes of all trees concatenated, tree t
    being rows `offsets[t]` to `offsets[t + 1]` (children indices are within their tree)."""

    baseline: float
    n_features: int
    nodes: dict[str, np.ndarray]
    offsets: np.ndarray

    @classmethod
    def from_sklearn(cls, model: Any) -> BoostedTrees:
        """The arrays of a fitted `HistGradientBoostingClassifier` (two classes, no categorical
        features)."""
        if model.n_trees_per_iteration_ != 1 or len(model.classes_) != 2:
            raise ValueError("only a binary classifier can be stored as boosted trees")
        trees = [round_[0].nodes for round_ in model._predictors]
        if any(t["is_categorical"].any() for t in trees):
            raise ValueError("categorical splits are not stored")
        nodes = {
            name: np.concatenate([t[name] for t in trees]).astype(kind)
            for name, kind in NODE_FIELDS.items()
        }
        offsets = np.cumsum([0, *(len(t) for t in trees)]).astype(np.int64)
        baseline = float(np.asarray(model._baseline_prediction).reshape(-1)[0])
        return cls(baseline, int(model.n_features_in_), nodes, offsets)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The baseline plus every tree's leaf value, summed in boosting order."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features per row, got {X.shape}")
        total = np.full(len(X), self.baseline)
        rows = np.arange(len(X))
        n = self.nodes
        for start in self.offsets[:-1].tolist():
            node = np.full(len(X), start, dtype=np.int64)
            while True:
                inner = n["is_leaf"][node] == 0
                if not inner.any():
                    break
                at = node[inner]
                x = X[rows[inner], n["feature_idx"][at]]
                left = np.where(
                    np.isnan(x), n["missing_go_to_left"][at] == 1, x <= n["num_threshold"][at]
                )
                node[inner] = start + np.where(left, n["left"][at], n["right"][at])
            total += n["value"][node]
        return total

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities (N x 2) of class 0 and class 1."""
        p = expit(self.raw(X))
        return np.column_stack([1.0 - p, p])

    def to_arrays(self, prefix: str = "trees_") -> dict[str, np.ndarray]:
        """The arrays to store (names start with `prefix`)."""
        arrays = {f"{prefix}{name}": values for name, values in self.nodes.items()}
        arrays[f"{prefix}offsets"] = self.offsets
        arrays[f"{prefix}baseline"] = np.array(self.baseline)
        arrays[f"{prefix}n_features"] = np.array(self.n_features)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str = "trees_") -> BoostedTrees:
        """Rebuild from `to_arrays` output (an npz archive or a dict); KeyError when one lacks."""
        nodes = {
            name: np.asarray(arrays[f"{prefix}{name}"]).astype(kind)
            for name, kind in NODE_FIELDS.items()
        }
        offsets = np.asarray(arrays[f"{prefix}offsets"]).astype(np.int64)
        lengths = {len(v) for v in nodes.values()}
        if len(lengths) != 1 or offsets[0] != 0 or offsets[-1] != lengths.pop():
            raise ValueError("the tree arrays do not fit together")
        return cls(
            float(arrays[f"{prefix}baseline"]), int(arrays[f"{prefix}n_features"]), nodes, offsets
        )

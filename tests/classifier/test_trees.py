"""The boosted trees as plain arrays predict exactly what scikit-learn predicts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from premirna.classifier.trees import BoostedTrees


def fitted(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 8))
    X[::7, 2] = np.nan  # missing values go where the node says
    y = (X[:, 0] + np.nan_to_num(X[:, 2]) - X[:, 3] ** 2 > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=80, random_state=seed).fit(X, y)
    test = rng.normal(size=(400, 8))
    test[::3, 2] = np.nan
    test[::5, 6] = np.nan  # missing where training had none
    return model, test


def test_probabilities_equal_scikit_learns_bit_for_bit():
    model, test = fitted()
    trees = BoostedTrees.from_sklearn(model)
    assert np.array_equal(trees.predict_proba(test), model.predict_proba(test))
    again = BoostedTrees.from_arrays(trees.to_arrays())
    assert np.array_equal(again.predict_proba(test), model.predict_proba(test))


def test_the_arrays_are_checked():
    trees = BoostedTrees.from_sklearn(fitted()[0])
    arrays = trees.to_arrays()
    arrays["trees_left"] = arrays["trees_left"][:-1]
    with pytest.raises(ValueError, match="do not fit"):
        BoostedTrees.from_arrays(arrays)
    with pytest.raises(ValueError, match="expected 8 features"):
        trees.predict_proba(np.zeros((2, 5)))

"""The split shares: exactly train/val/test, none negative, summing to 1."""

from __future__ import annotations

import pytest

from premirna.core.splits import check_fractions


def test_check_fractions():
    assert check_fractions({"train": 0.8, "val": 0.1, "test": 0.1})["train"] == 0.8
    for bad, words in (
        ({"train": 0.8, "val": 0.1}, "exactly the keys"),
        ({"train": 0.8, "val": 0.3, "test": -0.1}, ">= 0"),
        ({"train": 0.5, "val": 0.1, "test": 0.1}, "sum to 1, not 0.7"),
    ):
        with pytest.raises(ValueError, match=words):
            check_fractions(bad)

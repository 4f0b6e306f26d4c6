"""The three splits of the molecule table, in order, and the check of their shares.

No imports beyond the standard library: the Snakemake process reads this module when it starts.
"""

from __future__ import annotations

from collections.abc import Mapping

SPLITS: tuple[str, ...] = ("train", "val", "test")

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Validate split fractions: exactly train/val/test, each >= 0, summing to 1."""
    if set(fractions) != set(SPLITS):
        raise ValueError(f"split fractions need exactly the keys {SPLITS}, got {sorted(fractions)}")
    values = {name: float(fractions[name]) for name in SPLITS}
    if any(value < 0 for value in values.values()):
        raise ValueError(f"split fractions must be >= 0: {values}")
    if abs(sum(values.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, not {sum(values.values()):g}: {values}")
    return values

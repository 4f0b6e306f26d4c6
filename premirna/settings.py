"""Settings dataclasses built from config sections: one check shared by every stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def reject_unknown(values: Mapping[str, Any], cls: type, section: str) -> None:
    """Raise ValueError naming the keys of `values` that are not fields of the dataclass `cls`
    (a misspelt setting must stop the run, not be ignored)."""
    unknown = set(values) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown {section} settings: {sorted(unknown)}")

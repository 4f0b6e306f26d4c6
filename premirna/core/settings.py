"""What every stage's settings dataclass shares: built from a config section, written as a dict.

A stage's settings are a dataclass whose fields are the keys of its config section, each with its
default and a one-line comment. The defaults are those of `workflow/schemas/config.schema.yaml`,
the single source of defaults (tests/core/test_settings.py proves they agree). `from_dict` rejects
a key that is not a field (a misspelt setting must stop the run, not be ignored) and calls `check`,
which raises ValueError naming the setting for a value the stage cannot use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, ClassVar, Self


def reject_unknown(values: Mapping[str, Any], cls: type, section: str) -> None:
    """Raise ValueError naming the keys of `values` that are not fields of the dataclass `cls`."""
    unknown = set(values) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown {section} settings: {sorted(unknown)}")


def check_bounds(
    settings: Any,
    *,
    at_least: Mapping[str, float] = {},  # noqa: B006 - read only
    above: Mapping[str, float] = {},  # noqa: B006
    below: Mapping[str, float] = {},  # noqa: B006
    at_most: Mapping[str, float] = {},  # noqa: B006
) -> None:
    """Raise ValueError naming the first field of `settings` outside its bounds (the schema's
    minimum, exclusiveMinimum, exclusiveMaximum and maximum), such as
    ``train_cnn.batch_size must be at least 1, not 0``. None values are left alone."""
    tests = (
        (at_least, lambda v, b: v >= b, "at least"),
        (above, lambda v, b: v > b, "above"),
        (below, lambda v, b: v < b, "below"),
        (at_most, lambda v, b: v <= b, "at most"),
    )
    for bounds, holds, words in tests:
        for name, bound in bounds.items():
            value = getattr(settings, name)
            if value is not None and not holds(value, bound):
                raise ValueError(f"{settings.SECTION}.{name} must be {words} {bound:g}, "
                                 f"not {value!r}")


class Settings:
    """Base of the settings dataclasses (subclasses are `@dataclass`es)."""

    #: The config section, as error messages name it (``train_cnn``, ``train_cnn.model`` ...).
    SECTION: ClassVar[str] = ""
    #: Fields that hold nested settings, built from their own sub-section.
    NESTED: ClassVar[dict[str, type[Settings]]] = {}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None) -> Self:
        """Build from a config section: `prepare`, reject unknown keys, nested sections, `check`."""
        values = cls.prepare(dict(values or {}))
        reject_unknown(values, cls, cls.SECTION)
        for name, kind in cls.NESTED.items():
            if name in values and not isinstance(values[name], kind):
                values[name] = kind.from_dict(values[name])
        settings = cls(**values)
        settings.check()
        return settings

    @classmethod
    def from_saved(cls, values: Mapping[str, Any]) -> Self:
        """Rebuild from a dict that a checkpoint holds, ignoring keys this version does not know
        (a checkpoint written by an earlier version still loads)."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls.from_dict({k: v for k, v in values.items() if k in known})

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Map the config section's layout onto the fields (a hook; identity by default)."""
        return values

    def check(self) -> None:
        """Raise ValueError naming the setting whose value cannot be used (a hook)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (what checkpoints store)."""
        return asdict(self)  # type: ignore[call-overload]

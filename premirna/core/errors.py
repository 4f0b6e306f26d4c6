"""Errors that users see: each names the file, the record and what is wrong."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input data. The message names the file, the record (if any) and the problem."""

    def __init__(self, path: object, problem: str, record: object | None = None) -> None:
        self.path = str(path)
        self.record = None if record is None else str(record)
        self.problem = problem
        where = self.path if self.record is None else f"{self.path}, record {self.record}"
        super().__init__(f"{where}: {problem}")


class DownloadError(RuntimeError):
    """A download failed, was truncated or did not match its checksum; nothing was left behind."""


class TrainingError(RuntimeError):
    """Training cannot give a usable model (the loss diverged, or no epoch was trained)."""


def check_finite_loss(values: dict[str, float], where: str, hint: str) -> None:
    """Raise TrainingError naming `where` (stage and epoch) when a loss in `values` is NaN or
    infinite: a diverged training must stop, not hand a broken model to the next stage."""
    import math

    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if bad:
        shown = ", ".join(f"{name} {value}" for name, value in bad.items())
        raise TrainingError(f"{where}: the training diverged ({shown}); {hint}")

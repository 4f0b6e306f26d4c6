"""Logging set-up shared by the command-line tools and the Snakemake scripts."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any


def setup_logging(log_path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send log records to stderr and, if given, to `log_path`; route uncaught errors there too.

    In a Snakemake script pass `snakemake.log[0]` so that tracebacks land in the rule's log.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    root.addHandler(stream)
    if log_path:
        file_handler = logging.FileHandler(log_path, mode="w")
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)

    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        logging.getLogger("premirna").error("uncaught error", exc_info=(kind, value, tb))

    sys.excepthook = excepthook
    return logging.getLogger("premirna")


def counts_text(counts: Mapping[Any, Any]) -> str:
    """'TP 16, TN 16' for a mapping of counts, with numpy scalars written as plain numbers."""
    def plain(value: Any) -> Any:
        return value.item() if hasattr(value, "item") else value

    return ", ".join(f"{plain(key)} {plain(value)}" for key, value in counts.items())


def duration(seconds: float) -> str:
    """A time span as people say it: "40 s", "3 min", "1 h 05 min"."""
    if seconds != seconds or seconds < 0:  # NaN: nothing to estimate from yet
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def eta(done: int, total: int, elapsed: float) -> str:
    """'ETA 3 min' for `total` steps of which `done` took `elapsed` seconds (the mean step)."""
    if done <= 0:
        return "ETA ?"
    return f"ETA {duration((total - done) * elapsed / done)}"


class Progress:
    """Log done/total, rate and time left at most every `every` seconds (for long loops)."""

    def __init__(self, total: int, what: str, logger: logging.Logger, every: float = 10.0):
        self.total, self.what, self.logger, self.every = total, what, logger, every
        self.start = self.last = time.monotonic()
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every or self.done == self.total:
            self.last = now
            elapsed = max(now - self.start, 1e-9)
            rate = self.done / elapsed
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            self.logger.info(
                "%s: %d/%d done, %.1f/s, %.0f s left", self.what, self.done, self.total, rate, left
            )

"""Logging set-up shared by the command-line tools and the Snakemake scripts."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType


def setup_logging(log_path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send log records to stderr and, if given, to `log_path`; route uncaught errors there too.

    In a Snakemake script pass `snakemake.log[0]` so that tracebacks land in the rule's log.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
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

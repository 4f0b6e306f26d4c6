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

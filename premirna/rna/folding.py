"""ViennaRNA folding through its Python binding, in-process and in parallel.

Folding goes through ViennaRNA's Python binding (``RNA.md`` -> ``RNA.fold_compound`` -> ``mfe()``),
never a subprocess per sequence. RNAlib folds one sequence on one core, so `fold_sequences`
spreads contiguous batches over a pool of processes and returns the results in input order; the
MFE structure does not depend on the number of processes. The energy model of every fold in the
pipeline is one frozen `FoldSettings` (the `fold:` config section's temperature and dangles),
recorded in ``results/fold/settings.json``.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import RNA

from premirna.core.logs import Progress
from premirna.core.settings import Settings, check_bounds

# What ViennaRNA may be given: RNA/DNA letters and IUPAC codes, either case. RNAlib itself
# accepts anything (an "X" or a space folds as unpaired), so a typo would pass silently.
_NUCLEOTIDES = frozenset("ACGUTRYKMSWBDHVNacgutrykmswbdhvn")
# Enough batches per process to balance uneven lengths, few enough to keep IPC cheap.
_BATCHES_PER_PROCESS = 8
_MAX_BATCH = 500
# Per-worker model details, built once by `_init_worker` (the SWIG object does not pickle).
_model: Any = None


@dataclass(frozen=True)
class FoldSettings(Settings):
    """The ViennaRNA energy model of a fold (the `fold:` section's temperature and dangles)."""

    SECTION = "fold"

    temperature: float = 37.0  # degrees Celsius; 37 is what the Cordero encoder and miRBase assume
    dangles: int = 2  # dangling-end model (RNAfold -d): 2 is RNAfold's default

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        check_bounds(self, at_least={"temperature": 0}, at_most={"temperature": 100})
        if self.dangles not in (0, 1, 2, 3):
            raise ValueError(f"dangles must be 0, 1, 2 or 3, not {self.dangles!r}")

    @classmethod
    def of(cls, value: FoldSettings | Mapping[str, Any] | None) -> FoldSettings:
        """`value` as FoldSettings: itself, built from a mapping, or the defaults for None."""
        if isinstance(value, FoldSettings):
            return value
        return cls.from_dict(value)

    def model_details(self) -> Any:
        """ViennaRNA model details (``RNA.md``) with this temperature and dangles."""
        md = RNA.md()
        md.temperature = float(self.temperature)
        md.dangles = int(self.dangles)
        return md

    def describe(self) -> dict[str, Any]:
        """The settings that decide a fold, as written to ``results/fold/settings.json``."""
        md = self.model_details()
        return {
            "viennarna_version": RNA.__version__,
            "temperature": md.temperature,
            "dangles": md.dangles,
            "energy_parameters": "ViennaRNA default (Turner 2004)",
            "noLP": md.noLP,
            "noGU": md.noGU,
            "special_hp": md.special_hp,
        }

DEFAULT_FOLD = FoldSettings()


#: The longest sequence the fold command folds unless told otherwise. Folding time grows with the
#: cube of the length (a 10,000-nt sequence: 14 minutes and 1 GB); pre-miRNAs are under 200 nt.
MAX_FOLD_LENGTH = 1000


def sequence_problem(sequence: str) -> str | None:
    """Why `sequence` cannot be folded (empty, or a letter that is not a nucleotide), else None."""
    if not sequence:
        return "empty sequence"
    for pos, letter in enumerate(sequence, start=1):
        if letter not in _NUCLEOTIDES:
            return f"letter {letter!r} at position {pos} is not a nucleotide (ACGU or IUPAC)"
    return None


def _init_worker(fold: FoldSettings) -> None:
    global _model
    _model = fold.model_details()


def _fold_batch(batch: Sequence[str]) -> list[tuple[str, float]]:
    results = []
    for sequence in batch:
        structure, mfe = RNA.fold_compound(sequence, _model).mfe()
        # RNAlib works in integer dcal/mol; 2 decimals keep all of it and drop float32 noise.
        results.append((structure, round(mfe, 2)))
    return results


def _batches(sequences: Sequence[str], processes: int) -> list[Sequence[str]]:
    size = math.ceil(len(sequences) / (processes * _BATCHES_PER_PROCESS))
    size = max(1, min(size, _MAX_BATCH))
    return [sequences[start : start + size] for start in range(0, len(sequences), size)]


def fold_sequences(
    sequences: Sequence[str],
    processes: int = 1,
    fold: FoldSettings = DEFAULT_FOLD,
    progress: Progress | None = None,
) -> list[tuple[str, float]]:
    """MFE structure and MFE (kcal/mol, 2 decimals) of every sequence, in input order.

    `processes` > 1 folds contiguous batches in a process pool; the result is the same for any
    number of processes. `progress`, if given, is updated after each batch. Raises ValueError
    naming the (0-based) index of an empty sequence or one with a letter that is not a nucleotide.
    """
    sequences = list(sequences)
    for index, sequence in enumerate(sequences):
        problem = sequence_problem(sequence)
        if problem:
            raise ValueError(f"sequence {index}: {problem}")
    if processes < 1:
        raise ValueError(f"processes must be at least 1, not {processes}")
    processes = min(processes, max(1, len(sequences)))
    batches = _batches(sequences, processes)
    results: list[tuple[str, float]] = []
    if processes == 1:
        _init_worker(fold)
        for batch in batches:
            results.extend(_fold_batch(batch))
            if progress is not None:
                progress.update(len(batch))
        return results
    # fork, not spawn: spawn re-imports __main__, which under Snakemake is the rule's script.
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(fold,)) as pool:
        for batch_result in pool.imap(_fold_batch, batches):
            results.extend(batch_result)
            if progress is not None:
                progress.update(len(batch_result))
    return results

"""How the molecule table is cut into fold jobs.

No ViennaRNA here: the Snakemake process itself imports this module to list the chunks.
"""

from __future__ import annotations

import math
import os


def chunk_count(n_molecules: int, chunk_size: int) -> int:
    """Number of chunks of at most `chunk_size` molecules (at least 1, even for no molecules)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    return max(1, math.ceil(n_molecules / chunk_size))


def count_chunks(molecules_tsv: str | os.PathLike[str], chunk_size: int) -> int:
    """Number of chunks that `molecules_tsv` is folded in (used by the Snakemake gather rule)."""
    with open(molecules_tsv, encoding="utf-8") as handle:
        rows = sum(1 for line in handle if line.strip()) - 1
    return chunk_count(max(rows, 0), chunk_size)

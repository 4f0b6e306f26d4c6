"""Snakemake adapter for rule download_mirbase (stage download): the miRBase files, checked."""

from pathlib import Path

from premirna.core.logs import setup_logging
from premirna.data.release import fetch_mirbase

setup_logging(snakemake.log[0])
bundled = snakemake.input.bundled  # the bundled files; empty when source is download
fetch_mirbase(
    Path(snakemake.output.hairpin).parent,
    snakemake.output.manifest,
    **({"bundled_dir": Path(bundled[0]).parent} if bundled else {}),
    **snakemake.params,
)

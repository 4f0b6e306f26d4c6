"""Snakemake adapter for rule download_summary: molecules per class, source, species and split."""

from premirna.core.logs import setup_logging
from premirna.data.summary import write_download_summary

setup_logging(snakemake.log[0])
write_download_summary(
    snakemake.input.molecules, snakemake.input.manifest, snakemake.output.summary
)

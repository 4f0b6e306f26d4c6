"""Snakemake adapter for rule download_summary: molecules per class, source, species and split."""

from premirna.core.logs import setup_logging
from premirna.data.summary import write_download_summary
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
write_download_summary(
    snakemake.input.molecules, snakemake.input.manifest, snakemake.output.summary
)
write_table_pages(snakemake.output)

"""Snakemake adapter for rule fold_summary: fold attributes per class and split, and histograms."""

from premirna.core.logs import setup_logging
from premirna.fold.summary import write_fold_summary
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
write_fold_summary(
    snakemake.input.table, snakemake.output.summary, snakemake.output.distributions
)
write_table_pages(snakemake.output)

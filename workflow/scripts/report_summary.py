"""Snakemake adapter for rule report_summary: the report's page of key results."""

from premirna.core.logs import setup_logging
from premirna.report.summary import write_summary
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
write_summary(
    dict(snakemake.input.items()),
    snakemake.output.html,
    snakemake.output.tsv,
    snakemake.output.figure,
    snakemake.output.findings,
)
write_table_pages(snakemake.output)

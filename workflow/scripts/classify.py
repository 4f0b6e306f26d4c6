"""Snakemake adapter for rule classify: fold, encode and score one candidate sequence file."""

from premirna.classifier.classify import classify_fasta
from premirna.core.logs import setup_logging
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
classify_fasta(
    snakemake.input.candidates,
    snakemake.output.table,
    snakemake.input.model,
    features_model=snakemake.input.features or None,
    processes=snakemake.threads,
    **snakemake.params,
)
write_table_pages(snakemake.output)

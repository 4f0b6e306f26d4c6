"""Snakemake adapter for classify: fold, encode and score one candidate sequence file."""

from premirna.classify import classify_fasta
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
classify_fasta(
    snakemake.input.candidates,
    snakemake.output.table,
    snakemake.input.model,
    processes=snakemake.threads,
    threshold=snakemake.params.threshold,
    temperature=snakemake.params.temperature,
    dangles=snakemake.params.dangles,
)

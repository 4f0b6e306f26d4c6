"""Snakemake adapter for rule fold_chunk (stage fold): fold one contiguous chunk of molecules."""

from premirna.core.logs import setup_logging
from premirna.fold.table import fold_table

setup_logging(snakemake.log[0])
fold_table(
    snakemake.input.molecules,
    snakemake.output.table,
    mature_tsv=snakemake.input.mature,
    processes=snakemake.threads,
    chunk=int(snakemake.wildcards.chunk),
    **snakemake.params,
)

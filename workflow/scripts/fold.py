"""Snakemake adapter for fold (rule fold_chunk): fold one contiguous chunk of molecules.tsv."""

from premirna.fold import fold_table
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
fold_table(
    snakemake.input.molecules,
    snakemake.output.table,
    mature_tsv=snakemake.input.mature,
    processes=snakemake.threads,
    temperature=snakemake.params.temperature,
    dangles=snakemake.params.dangles,
    chunk=int(snakemake.wildcards.chunk),
    chunk_size=snakemake.params.chunk_size,
)

"""Snakemake adapter for download (rule make_molecules): molecules.tsv and mature.tsv, split once."""

from premirna.logs import setup_logging
from premirna.split import build_molecules

setup_logging(snakemake.log[0])
build_molecules(
    snakemake.input.hairpin,
    snakemake.input.mirna_dat,
    snakemake.input.coding,
    snakemake.output.molecules,
    snakemake.output.mature,
    **snakemake.params,
)

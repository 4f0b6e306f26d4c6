"""Snakemake adapter for rule make_molecules (stage download): molecules.tsv and mature.tsv."""

from premirna.core.logs import setup_logging
from premirna.data.molecules import build_molecules

setup_logging(snakemake.log[0])
build_molecules(
    snakemake.input.hairpin,
    snakemake.input.mirna_dat,
    snakemake.input.coding,
    snakemake.output.molecules,
    snakemake.output.mature,
    **snakemake.params,
)

"""Snakemake adapter for rule fold (stage fold): the chunks gathered into folded.tsv."""

from premirna.core.logs import setup_logging
from premirna.fold.table import gather_folds

setup_logging(snakemake.log[0])
gather_folds(
    snakemake.input.chunks,
    snakemake.output.table,
    snakemake.output.settings,
    molecules_tsv=snakemake.input.molecules,
    **snakemake.params,
)

"""Snakemake adapter for fold (rule fold): gather the chunks into folded.tsv and settings.json."""

from premirna.fold import gather_folds
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
gather_folds(
    snakemake.input.chunks,
    snakemake.output.table,
    snakemake.output.settings,
    molecules_tsv=snakemake.input.molecules,
    temperature=snakemake.params.temperature,
    dangles=snakemake.params.dangles,
)

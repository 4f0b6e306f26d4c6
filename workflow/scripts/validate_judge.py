"""Snakemake adapter for rule validate_judge: train the independent judge of realism."""

from premirna.core.logs import setup_logging
from premirna.validate.judge import build_judge

setup_logging(snakemake.log[0])
build_judge(
    snakemake.input.hairpin,
    snakemake.input.coding,
    snakemake.input.molecules,
    snakemake.params.species,
    snakemake.output.model,
    snakemake.output.history,
    settings={**snakemake.params.settings, "seed": snakemake.params.seed,
              "threads": snakemake.threads},
    fold=snakemake.params.fold,
    processes=snakemake.threads,
    out_table=snakemake.output.molecules,
)

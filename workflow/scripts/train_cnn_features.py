"""Snakemake adapter for train_cnn (rule train_cnn_features): boosted trees beside the CNN."""

from premirna.feature_model import train_feature_model
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
train_feature_model(
    snakemake.input.folded,
    snakemake.input.hairpin,
    snakemake.output.model,
    dict(snakemake.params.settings),
    exclude_species=snakemake.params.exclude_species,
    seed=snakemake.params.seed,
    processes=snakemake.threads,
    temperature=snakemake.params.temperature,
    dangles=snakemake.params.dangles,
)

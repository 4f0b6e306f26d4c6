"""Snakemake adapter for rule train_cnn_features (stage train_cnn): boosted trees beside the CNN."""

from premirna.classifier.feature_model import train_feature_model
from premirna.core.logs import setup_logging

setup_logging(snakemake.log[0])
train_feature_model(
    snakemake.input.folded,
    snakemake.input.hairpin,
    snakemake.output.model,
    processes=snakemake.threads,
    **snakemake.params,
)

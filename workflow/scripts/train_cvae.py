"""Snakemake adapter for train_cvae: train the conditional VAE on the encoded train/val splits."""

from premirna.cvae_train import train_cvae
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
settings = dict(snakemake.params.settings)
settings["seed"] = snakemake.params.seed
settings["threads"] = snakemake.threads
train_cvae(
    snakemake.input.train,
    snakemake.input.val,
    snakemake.input.folded,
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.reconstructions,
    snakemake.output.curves,
    settings,
)

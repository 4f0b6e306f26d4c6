"""Snakemake adapter for train_cnn: train the pre-miRNA CNN on the encoded train/val splits."""

import os

# Idle OpenMP threads sleep instead of spinning: on a shared or busy CPU, spinning torch threads
# made training several times slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from premirna.cnn_train import train_cnn
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
settings = dict(snakemake.params.settings)
settings["seed"] = snakemake.params.seed
settings["threads"] = snakemake.threads
train_cnn(
    snakemake.input.train,
    snakemake.input.val,
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.curves,
    settings,
    pretrain_npz=snakemake.input.pretrain or None,
)

"""Snakemake adapter for train_cnn (rule train_cnn_pretrain_images): DeepMir's pre-training set."""

import os

# Idle OpenMP threads sleep instead of spinning: on a shared or busy CPU, spinning torch threads
# made training several times slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from premirna.cnn_train import build_pretrain_images
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
build_pretrain_images(
    snakemake.input.hairpin,
    snakemake.input.coding,
    snakemake.output.images,
    snakemake.output.table,
    exclude_species=snakemake.params.exclude_species,
    exclude_molecules=snakemake.input.molecules,
    coding_ratio=snakemake.params.coding_ratio,
    shuffle_ratio=snakemake.params.shuffle_ratio,
    max_positives=snakemake.params.max_positives,
    seed=snakemake.params.seed,
    processes=snakemake.threads,
    temperature=snakemake.params.temperature,
    dangles=snakemake.params.dangles,
)

"""Snakemake adapter for rule train_cnn_pretrain_images (stage train_cnn): DeepMir's pre-training
set."""

from premirna.classifier.pretrain import build_pretrain_images
from premirna.core.logs import setup_logging

setup_logging(snakemake.log[0])
build_pretrain_images(
    snakemake.input.hairpin,
    snakemake.input.coding,
    snakemake.output.images,
    snakemake.output.table,
    exclude_molecules=snakemake.input.molecules,
    processes=snakemake.threads,
    **snakemake.params,
)

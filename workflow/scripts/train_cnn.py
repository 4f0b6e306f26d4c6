"""Snakemake adapter for rule train_cnn: train the pre-miRNA CNN on the encoded train/val splits."""

from premirna.classifier.train import train_cnn
from premirna.core.logs import setup_logging
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
train_cnn(
    snakemake.input.train,
    snakemake.input.val,
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.curves,
    config={**snakemake.params.settings, "seed": snakemake.params.seed,
            "threads": snakemake.threads},
    pretrain_npz=snakemake.input.pretrain or None,
)
write_table_pages(snakemake.output)

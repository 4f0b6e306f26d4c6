"""Snakemake adapter for rule train_cvae: train the conditional VAE on the encoded splits."""

from premirna.core.logs import setup_logging
from premirna.generator.train import train_cvae
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
train_cvae(
    snakemake.input.train,
    snakemake.input.val,
    snakemake.input.folded,
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.reconstructions,
    snakemake.output.curves,
    config={**snakemake.params.settings, "seed": snakemake.params.seed,
            "threads": snakemake.threads},
)
write_table_pages(snakemake.output)

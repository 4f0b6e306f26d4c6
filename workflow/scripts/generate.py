"""Snakemake adapter for rule generate: sample new hairpins from the CVAE, traverse its latents."""

from premirna.classifier.predict import load_scorer
from premirna.core.logs import setup_logging
from premirna.generator.generate import generate
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
generate(
    snakemake.input.model,
    snakemake.input.folded,
    list(snakemake.input.images),
    {key: snakemake.output[key] for key in ("table", "fasta", "npz", "traversals",
                                            "traversal_figure")},
    config={**snakemake.params.settings, "seed": snakemake.params.seed,
            "threads": snakemake.threads},
    fold=snakemake.params.fold,
    processes=snakemake.threads,
    gate=load_scorer(snakemake.input.cnn) if snakemake.input.cnn else None,
)
write_table_pages(snakemake.output)

"""Snakemake adapter for generate: sample new hairpins from the CVAE and traverse its latents."""

from premirna.generate import generate
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
settings = dict(snakemake.params.settings)
settings["seed"] = snakemake.params.seed
settings["threads"] = snakemake.threads
generate(
    snakemake.input.model,
    snakemake.input.folded,
    list(snakemake.input.images),
    {key: snakemake.output[key] for key in ("table", "fasta", "npz", "traversals",
                                            "traversal_figure")},
    settings,
    fold_settings={
        "temperature": snakemake.params.temperature,
        "dangles": snakemake.params.dangles,
        "processes": snakemake.threads,
    },
)

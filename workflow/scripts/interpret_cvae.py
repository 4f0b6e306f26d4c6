"""Snakemake adapter for interpret_cvae: latent dimensions of the CVAE against hairpin biology."""

from premirna.latent import OUTPUT_KEYS, interpret_cvae
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
interpret_cvae(
    model=snakemake.input.model,
    images=snakemake.input.images,
    folded=snakemake.input.folded,
    traversals=snakemake.input.get("traversals") or None,
    outputs={key: snakemake.output[key] for key in OUTPUT_KEYS},
    config={**snakemake.params.settings, "seed": snakemake.params.seed,
            "threads": snakemake.threads},
)

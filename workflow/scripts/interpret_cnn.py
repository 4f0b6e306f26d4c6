"""Snakemake adapter for interpret_cnn: captum attributions of the CNN, sanity check, regions."""

from premirna.interpret import OUTPUT_KEYS, interpret_cnn
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
interpret_cnn(
    model=snakemake.input.model,
    images=snakemake.input.images,
    folded=snakemake.input.folded,
    reference=snakemake.input.reference,
    reference_tn=snakemake.input.reference_tn,
    outputs={key: snakemake.output[key] for key in OUTPUT_KEYS},
    config={**snakemake.params.settings, "seed": snakemake.params.seed,
            "threads": snakemake.threads},
)

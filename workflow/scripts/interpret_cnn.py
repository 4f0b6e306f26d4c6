"""Snakemake adapter for rule interpret_cnn: captum attributions of the CNN, sanity check, regions."""

from premirna.core.logs import setup_logging
from premirna.interpret.cnn import OUTPUT_KEYS, interpret_cnn
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
interpret_cnn(
    snakemake.input.model,
    snakemake.input.images,
    snakemake.input.folded,
    snakemake.input.reference,
    {key: snakemake.output[key] for key in OUTPUT_KEYS},
    config={**snakemake.params.settings, "seed": snakemake.params.seed,
            "threads": snakemake.threads},
    reference_tn=snakemake.input.reference_tn,
)
write_table_pages(snakemake.output)

"""Snakemake adapter for rule interpret_determinants: in-silico mutagenesis of the known
determinants of pri-/pre-miRNA processing, scored by the CNN and the feature trees."""

from premirna.core.logs import setup_logging
from premirna.interpret.mutagenesis import OUTPUT_KEYS, interpret_determinants
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
interpret_determinants(
    snakemake.input.model,
    snakemake.input.features or None,
    snakemake.input.images,
    snakemake.input.folded,
    {key: snakemake.output[key] for key in OUTPUT_KEYS},
    config={**snakemake.params.settings, "seed": snakemake.params.seed,
            "threads": snakemake.threads},
    fold=snakemake.params.fold,
)
write_table_pages(snakemake.output)

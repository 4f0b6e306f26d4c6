"""Snakemake adapter for rule interpret_cvae: latent dimensions of the CVAE against biology."""

from premirna.core.logs import setup_logging
from premirna.interpret.cvae import OUTPUT_KEYS, interpret_cvae
from premirna.validate.judge import load_judge
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
judge = snakemake.input.get("judge") or None
interpret_cvae(
    snakemake.input.model,
    snakemake.input.images,
    snakemake.input.folded,
    {key: snakemake.output[key] for key in OUTPUT_KEYS},
    config={**snakemake.params.settings, "seed": snakemake.params.seed,
            "threads": snakemake.threads},
    traversals=snakemake.input.get("traversals") or None,
    judge=load_judge(judge) if judge else None,
)
write_table_pages(snakemake.output)

"""Snakemake adapter for rule validate: re-fold and score generated molecules and baselines."""

from premirna.core.logs import setup_logging
from premirna.validate.stage import validate
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
validate(
    snakemake.input.table,
    snakemake.input.npz,
    snakemake.input.folded,
    snakemake.input.cnn,
    snakemake.input.cvae,
    {key: snakemake.output[key] for key in ("molecules", "summary", "targets", "realism",
                                            "metrics", "examples", "judge", "gaps",
                                            "against_real")},
    threads=snakemake.threads,
    judge_model=snakemake.input.judge,
    judge_set=snakemake.input.judge_set,
    **snakemake.params,
)
write_table_pages(snakemake.output)

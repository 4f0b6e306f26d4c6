"""Snakemake adapter for validate: re-fold and score generated molecules beside the baselines."""

from premirna.logs import setup_logging
from premirna.validate import validate

setup_logging(snakemake.log[0])
settings = dict(snakemake.params.settings)
validate(
    snakemake.input.table,
    snakemake.input.npz,
    snakemake.input.folded,
    snakemake.input.cnn,
    snakemake.input.cvae,
    {key: snakemake.output[key] for key in ("molecules", "summary", "targets", "realism",
                                            "metrics", "examples")},
    seed=snakemake.params.seed,
    fold_settings={
        "temperature": snakemake.params.temperature,
        "dangles": snakemake.params.dangles,
        "processes": snakemake.threads,
    },
    diversity_sample=settings.get("diversity_sample", 400),
    threads=snakemake.threads,
)

"""Snakemake adapter for rule evaluate_cnn: score the test split, write metrics and figures."""

from premirna.classifier.evaluate import evaluate_cnn
from premirna.core.logs import setup_logging
from premirna.report.pages import write_table_pages

setup_logging(snakemake.log[0])
out = snakemake.output
evaluate_cnn(
    snakemake.input.test,
    snakemake.input.model,
    out.metrics,
    out.predictions,
    out.roc,
    out.pr,
    out.confusion,
    out.calibration,
    out.species,
    out.species_plot,
    molecules=snakemake.input.molecules,
    features_model=snakemake.input.features or None,
    threads=snakemake.threads,
    **snakemake.params,
)
write_table_pages(snakemake.output)

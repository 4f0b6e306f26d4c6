"""Snakemake adapter for evaluate_cnn: score the test split, write metrics, curves and figures."""

import os

# Idle OpenMP threads sleep instead of spinning: on a shared or busy CPU, spinning torch threads
# made training several times slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from premirna.cnn_eval import evaluate_cnn
from premirna.logs import setup_logging

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
    threshold=snakemake.params.threshold,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    features_model=snakemake.input.features or None,
)

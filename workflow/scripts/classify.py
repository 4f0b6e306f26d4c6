"""Snakemake adapter for classify: fold, encode and score one candidate sequence file."""

import os

# Idle OpenMP threads sleep instead of spinning: on a shared or busy CPU, spinning torch threads
# made training several times slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from premirna.classify import classify_fasta
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
classify_fasta(
    snakemake.input.candidates,
    snakemake.output.table,
    snakemake.input.model,
    processes=snakemake.threads,
    threshold=snakemake.params.threshold,
    temperature=snakemake.params.temperature,
    dangles=snakemake.params.dangles,
    features_model=snakemake.input.features or None,
)

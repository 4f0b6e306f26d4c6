"""Snakemake adapter for rule encode: every folded molecule drawn, one npz per split."""

from premirna.core.logs import setup_logging
from premirna.core.splits import SPLITS
from premirna.encode.stage import encode_splits

setup_logging(snakemake.log[0])
encode_splits(
    snakemake.input.folded,
    {split: snakemake.output[split] for split in SPLITS},
    snakemake.output.examples,
    **snakemake.params,
)

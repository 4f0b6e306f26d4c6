"""Snakemake adapter for encode (rule encode): draw every folded molecule, one npz per split."""

from premirna.encode import SPLITS, encode_splits
from premirna.logs import setup_logging

setup_logging(snakemake.log[0])
encode_splits(
    snakemake.input.folded,
    {split: snakemake.output[split] for split in SPLITS},
    snakemake.output.examples,
    n_examples=snakemake.params.n_examples,
    seed=snakemake.params.seed,
)

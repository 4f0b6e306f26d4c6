# Shared helpers: config validation and small lookups used by several rule files.
import os
import sys

from snakemake.utils import validate

# The package lives in the repository root; scripts import it from there, in any conda env.
sys.path.insert(0, workflow.basedir)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (workflow.basedir, os.environ.get("PYTHONPATH", "")) if p
    )
)


validate(config, schema="../schemas/config.schema.yaml")

SPLITS = ["train", "val", "test"]


def fold_chunk_tables(wildcards):
    """The chunk tables to gather, 0 .. n-1; n is known once the molecule table exists.

    make_molecules is a checkpoint, so Snakemake re-evaluates this after it has run. The count
    mirrors premirna.fold.chunk_count (kept import-free here: the Snakemake process need not have
    ViennaRNA); the gather step checks the ids against molecules.tsv, so a mismatch cannot pass.
    """
    molecules = checkpoints.make_molecules.get().output.molecules
    with open(molecules) as handle:
        rows = sum(1 for line in handle if line.strip()) - 1
    size = config["fold"]["chunk_size"]
    n_chunks = max(1, -(-max(rows, 0) // size))
    return expand("results/fold/chunks/{chunk}.tsv", chunk=range(n_chunks))

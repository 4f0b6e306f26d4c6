# Shared helpers: config validation, the workflow's own files, and lookups used by several rules.
import os
import sys

from snakemake.utils import validate

# The package lives beside this workflow; scripts import it from there, in any conda env.
sys.path.insert(0, workflow.basedir)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (workflow.basedir, os.environ.get("PYTHONPATH", "")) if p
    )
)

# Light modules (no ViennaRNA, torch or pandas): the Snakemake process itself imports them.
from premirna.core.splits import SPLITS
from premirna.fold.chunks import count_chunks

validate(config, schema="../schemas/config.schema.yaml")


def workflow_file(*parts):
    """A file shipped with the workflow (resources/ ...), found from the workflow wherever the run
    happens."""
    return os.path.join(workflow.basedir, *parts)


def stage_seed(stage):
    """The stage's own `seed` if its config section has one, else the top-level seed."""
    return config[stage].get("seed", config["seed"])


def fold_settings():
    """The energy model of every fold in the workflow: the `fold:` section's temperature and
    dangles (premirna.rna.folding.FoldSettings)."""
    return {key: config["fold"][key] for key in ("temperature", "dangles")}


def feature_model():
    """The feature trees beside the CNN when `train_cnn.features` is on, else nothing."""
    return (
        "results/train_cnn/features_model.npz"
        if config["train_cnn"]["features"]["enabled"]
        else []
    )


def fold_chunk_tables(wildcards):
    """The chunk tables to gather, 0 .. n-1; n is known once the molecule table exists
    (make_molecules is a checkpoint, so Snakemake re-evaluates this after it has run).
    """
    molecules = checkpoints.make_molecules.get().output.molecules
    n_chunks = count_chunks(molecules, config["fold"]["chunk_size"])
    return expand("results/fold/chunks/{chunk}.tsv", chunk=range(n_chunks))


def classify_candidates(wildcards):
    """The sequence file named {name} in `classify: candidates:`."""
    return config["classify"]["candidates"][wildcards.name]


def generated_traversals(wildcards):
    """The generate stage's latent-traversal table, when that stage is in the workflow."""
    return rules.generate.output.traversals if rules.has("generate") else []

# Shared helpers: config validation, the workflow's own files, and lookups used by several rules.
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The repository: two folders above this file (workflow/rules/common.smk). Not workflow.basedir,
# which is the folder of the user's Snakefile when this workflow is used as a `module`.
REPOSITORY = os.path.dirname(os.path.dirname(str(workflow.current_basedir)))

# The package lives beside this workflow; scripts import it from there, in any conda env.
sys.path.insert(0, REPOSITORY)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (REPOSITORY, os.environ.get("PYTHONPATH", "")) if p
    )
)


def workflow_file(*parts):
    """A file shipped with the workflow (resources/ ...), found from the workflow wherever the run
    happens, also when it is used as a module from another folder."""
    return os.path.join(REPOSITORY, *parts)


# Light modules (no ViennaRNA, torch or pandas): the Snakemake process itself imports them.
from premirna.core.config_file import read_yaml, schema_problems
from premirna.core.errors import InputError
from premirna.core.splits import SPLITS
from premirna.data.config_checks import cross_field_problems
from premirna.data.mirbase import resolve_species
from premirna.fold.chunks import count_chunks

# The config: config/config.yaml unless --configfile replaces it. Snakemake's reader names no line
# for a YAML syntax error, so the default file is read here first (a --configfile is read by
# Snakemake before this runs: `python -m premirna check-config FILE` finds its line).
if not workflow.overwrite_configfiles and os.path.exists("config/config.yaml"):
    try:
        read_yaml("config/config.yaml")
    except InputError as err:
        raise WorkflowError(str(err)) from None


configfile: "config/config.yaml"


def stop_on_config_problems(problems):
    """Stop before any job, one line per problem naming the config file and the key."""
    if problems:
        files = ", ".join(
            map(str, workflow.overwrite_configfiles or workflow.configfiles)
        )
        raise WorkflowError("\n".join(f"{files}: {problem}" for problem in problems))


CONFIG_SCHEMA = workflow_file("workflow", "schemas", "config.schema.yaml")
stop_on_config_problems(schema_problems(config, read_yaml(CONFIG_SCHEMA)))
validate(config, schema=CONFIG_SCHEMA)  # fills in the schema's defaults
stop_on_config_problems(
    cross_field_problems(
        config,
        (
            workflow_file("resources", "mirbase_v22", "hairpin.fa.gz")
            if config["download"]["source"] == "bundled"
            else "results/download/mirbase/hairpin.fa.gz"
        ),
    )
)
# Species given by organism name (Mus musculus) become miRBase prefixes (mmu) for every stage. The
# bundled release's names serve for a downloaded one too: miRBase does not rename organisms.
config["download"]["species"] = resolve_species(
    config["download"]["species"],
    workflow_file("resources", "mirbase_v22", "hairpin.fa.gz"),
)


def torch_env(name):
    """The conda env of a torch stage for the configured `torch_build`, envs/NAME.yaml (CPU
    build of PyTorch) or envs/NAME-cuda.yaml (CUDA build)."""
    suffix = "-cuda" if config["torch_build"] == "cuda" else ""
    return f"../../envs/{name}{suffix}.yaml"


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

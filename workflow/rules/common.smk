# Shared helpers: config validation and small lookups used by several rule files.
import os
import sys

from snakemake.utils import validate

# The package lives in the repository root; scripts import it from there, in any conda env.
sys.path.insert(0, workflow.basedir)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (workflow.basedir, os.environ.get("PYTHONPATH", "")) if p
)


validate(config, schema="../schemas/config.schema.yaml")

SPLITS = ["train", "val", "test"]

# premirna: learn what makes a pre-microRNA and simulate new ones.
# This file is the table of contents; every stage has its own rule file in workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/fold.smk"
include: "workflow/rules/encode.smk"
include: "workflow/rules/targets.smk"

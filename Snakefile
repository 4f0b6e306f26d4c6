# premirna: learn what makes a pre-microRNA and simulate new ones.
# This file is the table of contents; every stage has its own rule file in workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# common.smk reads config/config.yaml (or --configfile) and checks it before any rule.
include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/fold.smk"
include: "workflow/rules/encode.smk"
include: "workflow/rules/train_cnn.smk"
include: "workflow/rules/evaluate_cnn.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/train_cvae.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/interpret.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.download_summary.output,
        rules.fold_summary.output,
        rules.evaluate_cnn.output,
        rules.validate.output,
        rules.interpret_cnn.output,
        rules.interpret_cvae.output,
        rules.interpret_determinants.output,
        rules.report_summary.output,
        expand("results/classify/{name}.tsv", name=config["classify"]["candidates"]),


include: "workflow/rules/targets.smk"

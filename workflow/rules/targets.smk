# Named stage targets: `snakemake --cores 2 <target>` runs the workflow up to that stage.
# `fold`, `encode`, `generate` and `validate` are real rules of their stages and serve as targets too.


rule all:
    default_target: True
    input:
        rules.encode.output,


rule download:
    input:
        rules.make_molecules.output,

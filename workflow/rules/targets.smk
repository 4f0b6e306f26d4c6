# Named stage targets: `snakemake --cores 2 <target>` runs the workflow up to that stage.
# `fold`, `encode`, `generate` and `validate` are rules of their stages and serve as targets too;
# `all` (the default) is in the Snakefile.


rule download:
    input:
        rules.make_molecules.output,
        rules.download_summary.output,


rule train:
    input:
        rules.train_cnn.output,
        rules.train_cvae.output,


rule interpret:
    input:
        rules.interpret_cnn.output,
        rules.interpret_cvae.output,
        rules.interpret_determinants.output,


# Everything the HTML report shows; then `snakemake --report results/report.html`.
rule report:
    input:
        rules.all.input,

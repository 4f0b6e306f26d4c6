# Stage `fold`: ViennaRNA MFE structure, MFE and hairpin features of every molecule, scattered over
# contiguous chunks of `fold.chunk_size` molecules (one job each on a cluster), then gathered in
# order. Settings: the `fold:` section of config/config.yaml.


wildcard_constraints:
    chunk=r"\d+",


rule fold_chunk:
    input:
        molecules="results/download/molecules.tsv",
        mature="results/download/mature.tsv",
    output:
        table="results/fold/chunks/{chunk}.tsv",
    log:
        "results/logs/fold/fold_chunk_{chunk}.log",
    benchmark:
        "results/benchmarks/fold/fold_chunk_{chunk}.tsv"
    conda:
        "../../envs/fold.yaml"
    # Folding processes per chunk; the real number comes from set-threads in profiles/default.
    threads: 1
    params:
        fold=fold_settings(),
        chunk_size=config["fold"]["chunk_size"],
    script:
        "../scripts/fold_chunk.py"


rule fold:
    input:
        chunks=fold_chunk_tables,
        molecules="results/download/molecules.tsv",
    output:
        table="results/fold/folded.tsv",
        settings="results/fold/settings.json",
    log:
        "results/logs/fold/fold.log",
    conda:
        "../../envs/fold.yaml"
    params:
        fold=fold_settings(),
    script:
        "../scripts/fold.py"


# For the report: how each class folds (medians and quartiles per split, and histograms).
# It takes a second, so it runs where Snakemake runs instead of as a cluster job.
localrules:
    fold_summary,


rule fold_summary:
    input:
        table=rules.fold.output.table,
    output:
        summary="results/fold/summary.tsv",
        summary_page=report(
            "results/fold/summary.html",
            caption="../report/fold_summary.rst",
            category="2. fold",
        ),
        distributions=report(
            "results/fold/distributions.png",
            caption="../report/fold_distributions.rst",
            category="2. fold",
        ),
    log:
        "results/logs/fold/fold_summary.log",
    conda:
        "../../envs/fold.yaml"
    script:
        "../scripts/fold_summary.py"

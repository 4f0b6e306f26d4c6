# Stage `download`: miRBase release files in (bundled copy or HTTPS), then the molecule table,
# split once into train/val/test. Settings: the `download:` section of config/config.yaml.
# Bundled files are found relative to the workflow (workflow_file), so the workflow runs from any
# working directory; so is a relative `download.coding` path.


rule download_mirbase:
    input:
        # The bundled files are inputs only when they are the source: edits to them re-run this.
        bundled=(
            expand(
                workflow_file("resources", "mirbase_v22", "{name}"),
                name=["MD5SUMS", "hairpin.fa.gz", "mature.fa.gz", "miRNA.dat.gz"],
            )
            if config["download"]["source"] == "bundled"
            else []
        ),
    output:
        hairpin="results/download/mirbase/hairpin.fa.gz",
        mature="results/download/mirbase/mature.fa.gz",
        mirna_dat="results/download/mirbase/miRNA.dat.gz",
        manifest="results/download/mirbase/manifest.tsv",
    log:
        "results/logs/download/download_mirbase.log",
    conda:
        "../../envs/download.yaml"
    params:
        source=config["download"]["source"],
        release=config["download"]["release"],
        urls=config["download"]["urls"],
        md5=config["download"]["md5"],
        retries=config["download"]["retries"],
        timeout_s=config["download"]["timeout_s"],
    script:
        "../scripts/download_mirbase.py"


# A checkpoint: the fold stage sizes its chunks from the number of rows written here.
checkpoint make_molecules:
    input:
        hairpin=rules.download_mirbase.output.hairpin,
        mirna_dat=rules.download_mirbase.output.mirna_dat,
        coding=workflow_file(config["download"]["coding"]),
        # The user's own sequence sets (download.user_sets; paths relative to the working folder).
        user_sets=[entry["path"] for entry in config["download"]["user_sets"]],
    output:
        molecules="results/download/molecules.tsv",
        mature="results/download/mature.tsv",
    log:
        "results/logs/download/make_molecules.log",
    conda:
        "../../envs/download.yaml"
    params:
        species=config["download"]["species"],
        iupac=config["download"]["iupac"],
        coding_ratio=config["download"]["coding_ratio"],
        shuffle_ratio=config["download"]["shuffle_ratio"],
        split=config["download"]["split"],
        max_per_class=config["download"]["max_per_class"],
        user_sets=config["download"]["user_sets"],
        release=config["download"]["release"],
        seed=stage_seed("download"),
        # Shuffled negatives must fold into one hairpin under the fold stage's energy model.
        fold=fold_settings(),
    script:
        "../scripts/make_molecules.py"


# For the report: what the molecule table holds, with the release and checksum it came from.
# It takes a second, so it runs where Snakemake runs instead of as a cluster job.
localrules:
    download_summary,


rule download_summary:
    input:
        molecules=rules.make_molecules.output.molecules,
        manifest=rules.download_mirbase.output.manifest,
    output:
        summary="results/download/summary.tsv",
        summary_page=report(
            "results/download/summary.html",
            caption="../report/download_summary.rst",
            category="1. download",
        ),
    log:
        "results/logs/download/download_summary.log",
    conda:
        "../../envs/download.yaml"
    script:
        "../scripts/download_summary.py"

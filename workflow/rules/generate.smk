# Stage `generate`: new hairpins from the trained conditional VAE: N per configured condition from
# the prior, some around chosen real molecules, and latent traversals (-3..+3 SD per dimension),
# re-folded for the interpretation stage. Settings: the `generate:` section of config/config.yaml.


rule generate:
    input:
        model="results/train_cvae/model.pt",
        folded="results/fold/folded.tsv",
        images=expand("results/encode/{split}.npz", split=SPLITS),
        # The pipeline's own CNN, the gate of generate.detector_gate, only when the gate is on.
        cnn=(
            "results/train_cnn/model.pt"
            if config["generate"]["detector_gate"] > 0
            else []
        ),
    output:
        table="results/generate/generated.tsv",
        fasta="results/generate/generated.fa",
        npz="results/generate/generated.npz",
        traversals="results/generate/traversals.tsv",
        traversals_page=report(
            "results/generate/traversals.html",
            caption="../report/generate_traversals.rst",
            category="6. generate",
            labels={"table": "latent traversals"},
        ),
        traversal_figure=report(
            "results/generate/traversals.png",
            caption="../report/generate_traversals.rst",
            category="6. generate",
            labels={"figure": "latent traversals"},
        ),
    log:
        "results/logs/generate/generate.log",
    benchmark:
        "results/benchmarks/generate/generate.tsv"
    conda:
        torch_env("train_cvae")
    threads: 2
    params:
        settings=config["generate"],
        seed=stage_seed("generate"),
        fold=fold_settings(),
    script:
        "../scripts/generate.py"

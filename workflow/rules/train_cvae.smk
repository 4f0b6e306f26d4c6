# Stage `train_cvae`: a conditional VAE on the encoded hairpin images (premirna.generator.network). Conditions:
# the class and binned hairpin attributes (quantile bins of the training pre-miRNAs, stored in the
# checkpoint). The decoder predicts every column's discrete factors, so samples are drawable
# hairpins. Settings: the `train_cvae:` section of config/config.yaml. An interrupted training
# resumes from results/train_cvae/last.pt (kept out of the outputs so that Snakemake does not
# delete it when the job fails).


rule train_cvae:
    input:
        train="results/encode/train.npz",
        val="results/encode/val.npz",
        folded="results/fold/folded.tsv",
    output:
        model="results/train_cvae/model.pt",
        history="results/train_cvae/history.tsv",
        history_page=report(
            "results/train_cvae/history.html",
            caption="../report/train_cvae_history.rst",
            category="5. train_cvae",
            labels={"table": "losses per epoch"},
        ),
        curves=report(
            "results/train_cvae/curves.png",
            caption="../report/train_cvae_curves.rst",
            category="5. train_cvae",
            labels={"figure": "loss curves"},
        ),
        reconstructions=report(
            "results/train_cvae/reconstructions.png",
            caption="../report/train_cvae_reconstructions.rst",
            category="5. train_cvae",
            labels={"figure": "reconstructions"},
        ),
    log:
        "results/logs/train_cvae/train_cvae.log",
    benchmark:
        "results/benchmarks/train_cvae/train_cvae.tsv"
    conda:
        torch_env("train_cvae")
    threads: 2
    resources:
        gpu=1,
    params:
        settings=config["train_cvae"],
        seed=stage_seed("train_cvae"),
    script:
        "../scripts/train_cvae.py"

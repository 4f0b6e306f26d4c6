# Stage `train_cnn`: the pre-miRNA classifier (a CNN on the Cordero et al. 2019 hairpin image),
# trained on the encode stage's train split with early stopping on its val split. With
# `train_cnn.pretrain.enabled` it first pre-trains on miRBase hairpins of the other species plus
# negatives (DeepMir's protocol), then fine-tunes. Settings: the `train_cnn:` section of
# config/config.yaml. An interrupted training resumes from results/train_cnn/train_last.pt.
# With `train_cnn.features.enabled`, boosted trees on thermodynamic, homology, coding and
# splice-site numbers (premirna.classifier.feature_model) are fitted beside the CNN; evaluate_cnn and
# classify then report their probability and the fused one as extra columns.


rule train_cnn_pretrain_images:
    input:
        hairpin="results/download/mirbase/hairpin.fa.gz",
        coding=workflow_file(config["download"]["coding"]),
        molecules="results/download/molecules.tsv",
    output:
        images="results/train_cnn/pretrain_images.npz",
        table="results/train_cnn/pretrain_molecules.tsv",
    log:
        "results/logs/train_cnn/train_cnn_pretrain_images.log",
    benchmark:
        "results/benchmarks/train_cnn/train_cnn_pretrain_images.tsv"
    conda:
        torch_env("cnn")
    threads: 2
    params:
        exclude_species=config["download"]["species"],
        coding_ratio=config["train_cnn"]["pretrain"]["coding_ratio"],
        shuffle_ratio=config["train_cnn"]["pretrain"]["shuffle_ratio"],
        max_positives=config["train_cnn"]["pretrain"]["max_positives"],
        seed=stage_seed("train_cnn"),
        fold=fold_settings(),
    script:
        "../scripts/train_cnn_pretrain_images.py"


rule train_cnn:
    input:
        train="results/encode/train.npz",
        val="results/encode/val.npz",
        # The pre-training image set, only when pre-training is on.
        pretrain=(
            "results/train_cnn/pretrain_images.npz"
            if config["train_cnn"]["pretrain"]["enabled"]
            else []
        ),
    output:
        model="results/train_cnn/model.pt",
        history="results/train_cnn/history.tsv",
        history_page=report(
            "results/train_cnn/history.html",
            caption="../report/train_cnn_history.rst",
            category="4. train_cnn",
            subcategory="Training",
            labels={"table": "history per epoch"},
        ),
        curves=report(
            "results/train_cnn/curves.png",
            caption="../report/train_cnn_curves.rst",
            category="4. train_cnn",
            subcategory="Training",
            labels={"figure": "training curves"},
        ),
    log:
        "results/logs/train_cnn/train_cnn.log",
    benchmark:
        "results/benchmarks/train_cnn/train_cnn.tsv"
    conda:
        torch_env("cnn")
    threads: 2
    resources:
        gpu=1,
    params:
        # Without the feature trees' settings: changing them does not retrain the CNN.
        settings={k: v for k, v in config["train_cnn"].items() if k != "features"},
        seed=stage_seed("train_cnn"),
    script:
        "../scripts/train_cnn.py"


rule train_cnn_features:
    input:
        folded="results/fold/folded.tsv",
        # The homology reference: hairpins of the species not classified.
        hairpin="results/download/mirbase/hairpin.fa.gz",
    output:
        model="results/train_cnn/features_model.npz",
    log:
        "results/logs/train_cnn/train_cnn_features.log",
    benchmark:
        "results/benchmarks/train_cnn/train_cnn_features.tsv"
    conda:
        torch_env("cnn")
    threads: 2
    params:
        settings=config["train_cnn"]["features"],
        exclude_species=config["download"]["species"],
        seed=stage_seed("train_cnn"),
        fold=fold_settings(),
    script:
        "../scripts/train_cnn_features.py"

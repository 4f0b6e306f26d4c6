# Stage `evaluate_cnn`: the trained classifier on the held-out test split: metrics, ROC and
# precision-recall curves, confusion matrix, calibration and recall per species; with
# `train_cnn.features` on, also the feature trees' and the fused model's metrics and curves.
# Settings: the `evaluate_cnn:` section of config/config.yaml.


rule evaluate_cnn:
    input:
        test="results/encode/test.npz",
        model=rules.train_cnn.output.model,
        molecules="results/fold/folded.tsv",
        # The feature trees beside the CNN, only when train_cnn.features is on.
        features=feature_model(),
    output:
        metrics="results/evaluate_cnn/metrics.tsv",
        metrics_page=report(
            "results/evaluate_cnn/metrics.html",
            caption="../report/evaluate_cnn_metrics.rst",
            category="4. train_cnn",
            subcategory="Test split",
            labels={"table": "metrics"},
        ),
        predictions="results/evaluate_cnn/predictions.tsv",
        roc=report(
            "results/evaluate_cnn/roc.png",
            caption="../report/evaluate_cnn_roc.rst",
            category="4. train_cnn",
            subcategory="Test split",
            labels={"figure": "ROC curve"},
        ),
        pr=report(
            "results/evaluate_cnn/pr.png",
            caption="../report/evaluate_cnn_pr.rst",
            category="4. train_cnn",
            subcategory="Test split",
            labels={"figure": "precision-recall curve"},
        ),
        confusion=report(
            "results/evaluate_cnn/confusion.png",
            caption="../report/evaluate_cnn_confusion.rst",
            category="4. train_cnn",
            subcategory="Test split",
            labels={"figure": "confusion matrix"},
        ),
        calibration=report(
            "results/evaluate_cnn/calibration.png",
            caption="../report/evaluate_cnn_calibration.rst",
            category="4. train_cnn",
            subcategory="Test split",
            labels={"figure": "calibration"},
        ),
        species="results/evaluate_cnn/species.tsv",
        species_page=report(
            "results/evaluate_cnn/species.html",
            caption="../report/evaluate_cnn_species.rst",
            category="4. train_cnn",
            subcategory="Test split",
            labels={"table": "recall per species"},
        ),
        species_plot=report(
            "results/evaluate_cnn/species.png",
            caption="../report/evaluate_cnn_species.rst",
            category="4. train_cnn",
            subcategory="Test split",
            labels={"figure": "recall per species"},
        ),
    log:
        "results/logs/evaluate_cnn/evaluate_cnn.log",
    conda:
        torch_env("cnn")
    threads: 2
    params:
        threshold=config["evaluate_cnn"]["threshold"],
        batch_size=config["evaluate_cnn"]["batch_size"],
    script:
        "../scripts/evaluate_cnn.py"

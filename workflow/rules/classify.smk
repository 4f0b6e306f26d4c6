# Stage `classify`: score anyone's candidate sequences with the trained classifier. Each entry
# `name: path` of `classify: candidates:` in config/config.yaml gives results/classify/{name}.tsv
# (id, sequence, structure, mfe, probability, prediction, status; one row per input record; with
# `train_cnn.features` on, also homology, features_probability and fused_probability), and
# results/classify/{name}.html, the same table as the report shows it (category 9. classify).


rule classify:
    input:
        candidates=classify_candidates,
        model=rules.train_cnn.output.model,
        # The feature trees beside the CNN, only when train_cnn.features is on.
        features=feature_model(),
    output:
        table="results/classify/{name}.tsv",
        table_page=report(
            "results/classify/{name}.html",
            caption="../report/classify.rst",
            category="9. classify",
            labels={"candidates": "{name}"},
        ),
    log:
        "results/logs/classify/{name}.log",
    wildcard_constraints:
        name=r"[^/]+",
    conda:
        torch_env("cnn")
    threads: 2
    params:
        threshold=config["classify"]["threshold"],
        min_length=config["classify"]["min_length"],
        max_length=config["classify"]["max_length"],
        min_pairs=config["classify"]["min_pairs"],
        fold=fold_settings(),
    script:
        "../scripts/classify.py"

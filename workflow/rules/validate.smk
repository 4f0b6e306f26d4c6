# Stage `validate`: re-fold every generated sequence and score validity, structure agreement,
# judgement by the trained CNN, novelty, uniqueness, diversity, realism and conditional control
# (definitions: SCIENCE.md section 3), per condition and overall, beside three baselines scored the
# same way (real held-out hairpins, their dinucleotide shuffles, random sequences of matched length
# and GC). Settings: the `validate:` section of config/config.yaml.


rule validate:
    input:
        table="results/generate/generated.tsv",
        npz="results/generate/generated.npz",
        folded="results/fold/folded.tsv",
        cnn="results/train_cnn/model.pt",
        cvae="results/train_cvae/model.pt",
    output:
        molecules="results/validate/molecules.tsv",
        summary=report(
            "results/validate/summary.tsv",
            caption="../report/validate_summary.rst",
            category="7. validate",
            labels={"table": "metrics per condition and baseline"},
        ),
        targets=report(
            "results/validate/targets.tsv",
            caption="../report/validate_targets.rst",
            category="7. validate",
            labels={"table": "targets"},
        ),
        realism=report(
            "results/validate/realism.png",
            caption="../report/validate_realism.rst",
            category="7. validate",
            labels={"figure": "realism"},
        ),
        metrics=report(
            "results/validate/metrics.png",
            caption="../report/validate_summary.rst",
            category="7. validate",
            labels={"figure": "metrics"},
        ),
        examples=report(
            "results/validate/examples.png",
            caption="../report/validate_examples.rst",
            category="7. validate",
            labels={"figure": "generated molecules"},
        ),
    log:
        "results/logs/validate/validate.log",
    benchmark:
        "results/benchmarks/validate/validate.tsv"
    conda:
        "../../envs/train_cvae.yaml"
    threads: 2
    params:
        seed=stage_seed("validate"),
        fold=fold_settings(),
        diversity_sample=config["validate"]["diversity_sample"],
    script:
        "../scripts/validate.py"

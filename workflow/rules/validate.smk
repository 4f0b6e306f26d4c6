# Stage `validate`: re-fold every generated sequence and score its realism with judges that never
# saw the generator (two independent detectors trained on other species: a 1-D network on sequence
# and structure in molecule order, and boosted trees on sequence and structure features; a
# classifier two-sample test, the distributions of real held-out pre-miRNAs), and validity,
# structure agreement, novelty, uniqueness, diversity and conditional control (definitions:
# premirna.validate.metrics), per condition and overall, beside three baselines scored the same way
# (real held-out hairpins, their dinucleotide shuffles, random sequences of matched length and GC).
# Settings: the `validate:` section of config/config.yaml.


# The independent judge: never trained on the configured species, nor on the generator's output.
rule validate_judge:
    input:
        hairpin="results/download/mirbase/hairpin.fa.gz",
        coding=workflow_file(config["download"]["coding"]),
        molecules="results/download/molecules.tsv",
    output:
        model="results/validate/judge/model.pt",
        history="results/validate/judge/history.tsv",
        molecules="results/validate/judge/molecules.tsv",
    log:
        "results/logs/validate/validate_judge.log",
    benchmark:
        "results/benchmarks/validate/validate_judge.tsv"
    conda:
        torch_env("train_cvae")
    threads: 2
    params:
        settings=config["validate"]["judge"],
        species=config["download"]["species"],
        seed=stage_seed("validate"),
        fold=fold_settings(),
    script:
        "../scripts/validate_judge.py"


rule validate:
    input:
        table="results/generate/generated.tsv",
        npz="results/generate/generated.npz",
        folded="results/fold/folded.tsv",
        cnn="results/train_cnn/model.pt",
        cvae="results/train_cvae/model.pt",
        judge=rules.validate_judge.output.model,
        judge_set=rules.validate_judge.output.molecules,
    output:
        judge="results/validate/judge/accuracy.tsv",
        judge_page=report(
            "results/validate/judge/accuracy.html",
            caption="../report/validate_judge.rst",
            category="7. validate",
            labels={"table": "the independent judge on the real test split"},
        ),
        molecules="results/validate/molecules.tsv",
        summary="results/validate/summary.tsv",
        summary_page=report(
            "results/validate/summary.html",
            caption="../report/validate_summary.rst",
            category="7. validate",
            labels={"table": "metrics per condition and baseline"},
        ),
        targets="results/validate/targets.tsv",
        targets_page=report(
            "results/validate/targets.html",
            caption="../report/validate_targets.rst",
            category="7. validate",
            labels={"table": "targets"},
        ),
        against_real="results/validate/against_real.tsv",
        against_real_page=report(
            "results/validate/against_real.html",
            caption="../report/validate_against_real.rst",
            category="7. validate",
            labels={"table": "generated against real, per judge, with 95 % intervals"},
        ),
        gaps="results/validate/gaps.tsv",
        gaps_page=report(
            "results/validate/gaps.html",
            caption="../report/validate_gaps.rst",
            category="7. validate",
            labels={"table": "what tells generated molecules from real ones"},
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
        torch_env("train_cvae")
    threads: 2
    params:
        seed=stage_seed("validate"),
        fold=fold_settings(),
        diversity_sample=config["validate"]["diversity_sample"],
    script:
        "../scripts/validate.py"

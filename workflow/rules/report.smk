# Stage `report`: the first page of the HTML report, the key results of the run read from the
# stages' own tables (classifier metrics, generation targets and the independent judge, the
# attribution sanity check, the strongest latent-factor links). `snakemake --report` then collects
# every figure and table of the run; this page comes first.


# A second of work: it runs where Snakemake runs instead of as a cluster job.
localrules:
    report_summary,


rule report_summary:
    input:
        metrics=rules.evaluate_cnn.output.metrics,
        targets=rules.validate.output.targets,
        against_real=rules.validate.output.against_real,
        gaps=rules.validate.output.gaps,
        judge=rules.validate.output.judge,
        sanity=rules.interpret_cnn.output.sanity,
        latent=rules.interpret_cvae.output.summary,
        statistics=rules.interpret_cnn.output.statistics,
        determinants=rules.interpret_determinants.output.determinants,
        disentanglement=rules.interpret_cvae.output.disentanglement,
        monotonicity=rules.interpret_cvae.output.monotonicity,
    output:
        html=report(
            "results/report/summary.html",
            caption="../report/report_summary.rst",
            category="0. summary",
            labels={"page": "key results"},
        ),
        tsv="results/report/summary.tsv",
        findings="results/report/findings.tsv",
        findings_page=report(
            "results/report/findings.html",
            caption="../report/report_findings.rst",
            category="0. summary",
            labels={"table": "findings"},
        ),
        figure=report(
            "results/report/summary.png",
            caption="../report/report_summary.rst",
            category="0. summary",
            labels={"figure": "key results"},
        ),
    log:
        "results/logs/report/report_summary.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_summary.py"

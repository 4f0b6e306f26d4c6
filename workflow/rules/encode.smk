# Stage `encode`: every folded molecule drawn as the Cordero et al. 2019 25 x 100 RGB hairpin image,
# pixel for pixel as the authors' ImageCalc.jar draws it (premirna.encode), one npz per split, and a
# figure of examples for the report.


rule encode:
    input:
        folded="results/fold/folded.tsv",
    output:
        train="results/encode/train.npz",
        val="results/encode/val.npz",
        test="results/encode/test.npz",
        examples=report(
            "results/encode/examples.png",
            caption="../report/encode_examples.rst",
            category="3. encode",
        ),
    log:
        "results/logs/encode/encode.log",
    conda:
        "../../envs/encode.yaml"
    params:
        # Positives and as many negatives in the figure (encodable test molecules, seeded choice).
        n_examples=config["encode"]["n_examples"],
        seed=stage_seed("encode"),
    script:
        "../scripts/encode.py"

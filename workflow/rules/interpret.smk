# Stages `interpret_cnn` and `interpret_cvae`: what the two models learned, in biological terms.
# interpret_cnn: captum attributions of the classifier on test molecules, the model-randomisation
# sanity check (Adebayo et al. 2018), agreement between methods, attribution per hairpin region
# (terminal loop, mature 5p/3p, stem, basal segment, tails, Drosha/Dicer cut sites) and the
# comparison with the authors' average saliency map (resources/cordero_deepmir2019/), and the
# region statistics on every test molecule against position-matched nulls.
# interpret_cvae: each latent dimension of the CVAE against the hairpin attributes, how
# disentangled the latent space is (MIG, DCI) and how monotone its traversals are.
# interpret_determinants: in-silico mutagenesis of the known determinants of processing.
# Settings: the `interpret_cnn:`, `interpret_cvae:` and `interpret_determinants:` sections of
# config/config.yaml.


rule interpret_cnn:
    input:
        model="results/train_cnn/model.pt",
        images="results/encode/test.npz",
        folded="results/fold/folded.tsv",
        # The authors' average saliency maps, shipped with the workflow.
        reference=workflow_file(
            "resources", "cordero_deepmir2019", "hsapseudo_tp_avg_map.npz"
        ),
        reference_tn=workflow_file(
            "resources", "cordero_deepmir2019", "hsapseudo_tn_avg_map.npz"
        ),
    output:
        attributions="results/interpret_cnn/attributions.npz",
        molecules="results/interpret_cnn/molecules.tsv",
        molecules_page=report(
            "results/interpret_cnn/molecules.html",
            caption="../report/interpret_cnn_molecules.rst",
            category="8. interpret",
            subcategory="CNN: attributions",
            labels={"table": "explained molecules"},
        ),
        methods="results/interpret_cnn/methods.tsv",
        methods_page=report(
            "results/interpret_cnn/methods.html",
            caption="../report/interpret_cnn_methods.rst",
            category="8. interpret",
            subcategory="CNN: attributions",
            labels={"table": "methods and settings"},
        ),
        examples_figure=report(
            "results/interpret_cnn/examples.png",
            caption="../report/interpret_cnn_examples.rst",
            category="8. interpret",
            subcategory="CNN: attributions",
            labels={"figure": "example molecules, every method"},
        ),
        class_average_figure=report(
            "results/interpret_cnn/class_average.png",
            caption="../report/interpret_cnn_class_average.rst",
            category="8. interpret",
            subcategory="CNN: attributions",
            labels={"figure": "class-average maps"},
        ),
        sanity="results/interpret_cnn/sanity.tsv",
        sanity_page=report(
            "results/interpret_cnn/sanity.html",
            caption="../report/interpret_cnn_sanity.rst",
            category="8. interpret",
            subcategory="CNN: trust",
            labels={"table": "model-randomisation check"},
        ),
        sanity_figure=report(
            "results/interpret_cnn/sanity.png",
            caption="../report/interpret_cnn_sanity.rst",
            category="8. interpret",
            subcategory="CNN: trust",
            labels={"figure": "model-randomisation check"},
        ),
        agreement="results/interpret_cnn/agreement.tsv",
        agreement_page=report(
            "results/interpret_cnn/agreement.html",
            caption="../report/interpret_cnn_agreement.rst",
            category="8. interpret",
            subcategory="CNN: trust",
            labels={"table": "agreement between methods"},
        ),
        agreement_figure=report(
            "results/interpret_cnn/agreement.png",
            caption="../report/interpret_cnn_agreement.rst",
            category="8. interpret",
            subcategory="CNN: trust",
            labels={"figure": "agreement between methods"},
        ),
        reference="results/interpret_cnn/reference.tsv",
        reference_page=report(
            "results/interpret_cnn/reference.html",
            caption="../report/interpret_cnn_reference.rst",
            category="8. interpret",
            subcategory="CNN: trust",
            labels={"table": "comparison with Cordero et al. 2019"},
        ),
        regions="results/interpret_cnn/regions.tsv",
        regions_page=report(
            "results/interpret_cnn/regions.html",
            caption="../report/interpret_cnn_regions.rst",
            category="8. interpret",
            subcategory="CNN: biology",
            labels={"table": "attribution per hairpin region"},
        ),
        regions_figure=report(
            "results/interpret_cnn/regions.png",
            caption="../report/interpret_cnn_regions.rst",
            category="8. interpret",
            subcategory="CNN: biology",
            labels={"figure": "attribution per hairpin region"},
        ),
        profile="results/interpret_cnn/profile.tsv",
        profile_page=report(
            "results/interpret_cnn/profile.html",
            caption="../report/interpret_cnn_profile.rst",
            category="8. interpret",
            subcategory="CNN: biology",
            labels={"table": "importance along the hairpin"},
        ),
        profile_figure=report(
            "results/interpret_cnn/profile.png",
            caption="../report/interpret_cnn_profile.rst",
            category="8. interpret",
            subcategory="CNN: biology",
            labels={"figure": "importance along the hairpin"},
        ),
        statistics="results/interpret_cnn/statistics.tsv",
        statistics_page=report(
            "results/interpret_cnn/statistics.html",
            caption="../report/interpret_cnn_statistics.rst",
            category="8. interpret",
            subcategory="CNN: biology",
            labels={"table": "regions against position-matched nulls"},
        ),
        statistics_figure=report(
            "results/interpret_cnn/statistics.png",
            caption="../report/interpret_cnn_statistics.rst",
            category="8. interpret",
            subcategory="CNN: biology",
            labels={"figure": "regions against position-matched nulls"},
        ),
    log:
        "results/logs/interpret_cnn/interpret_cnn.log",
    benchmark:
        "results/benchmarks/interpret_cnn/interpret_cnn.tsv"
    conda:
        torch_env("interpret")
    threads: 2
    params:
        settings=config["interpret_cnn"],
        seed=stage_seed("interpret_cnn"),
    script:
        "../scripts/interpret_cnn.py"


rule interpret_cvae:
    input:
        model="results/train_cvae/model.pt",
        images="results/encode/test.npz",
        folded="results/fold/folded.tsv",
        traversals=generated_traversals,
        # The independent judge scores the traversal molecules (traversal_monotonicity.tsv).
        judge="results/validate/judge/model.pt",
    output:
        latents="results/interpret_cvae/latents.npz",
        summary="results/interpret_cvae/summary.tsv",
        summary_page=report(
            "results/interpret_cvae/summary.html",
            caption="../report/interpret_cvae_summary.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"table": "latent factors in words"},
        ),
        links="results/interpret_cvae/links.tsv",
        links_page=report(
            "results/interpret_cvae/links.html",
            caption="../report/interpret_cvae_links.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"table": "latent dimensions vs attributes"},
        ),
        links_figure=report(
            "results/interpret_cvae/links.png",
            caption="../report/interpret_cvae_links.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"figure": "latent dimensions vs attributes"},
        ),
        probe="results/interpret_cvae/probe.tsv",
        probe_page=report(
            "results/interpret_cvae/probe.html",
            caption="../report/interpret_cvae_probe.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"table": "linear probes"},
        ),
        probe_figure=report(
            "results/interpret_cvae/probe.png",
            caption="../report/interpret_cvae_probe.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"figure": "linear probes"},
        ),
        traversal_figure=report(
            "results/interpret_cvae/traversals.png",
            caption="../report/interpret_cvae_traversals.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"figure": "latent traversals"},
        ),
        disentanglement="results/interpret_cvae/disentanglement.tsv",
        disentanglement_page=report(
            "results/interpret_cvae/disentanglement.html",
            caption="../report/interpret_cvae_disentanglement.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"table": "disentanglement (MIG, DCI)"},
        ),
        disentanglement_figure=report(
            "results/interpret_cvae/disentanglement.png",
            caption="../report/interpret_cvae_disentanglement.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"figure": "disentanglement (MIG, DCI)"},
        ),
        monotonicity="results/interpret_cvae/traversal_monotonicity.tsv",
        monotonicity_page=report(
            "results/interpret_cvae/traversal_monotonicity.html",
            caption="../report/interpret_cvae_monotonicity.rst",
            category="8. interpret",
            subcategory="CVAE: latent space",
            labels={"table": "traversal monotonicity"},
        ),
    log:
        "results/logs/interpret_cvae/interpret_cvae.log",
    benchmark:
        "results/benchmarks/interpret_cvae/interpret_cvae.tsv"
    conda:
        torch_env("interpret")
    threads: 2
    params:
        settings=config["interpret_cvae"],
        seed=stage_seed("interpret_cvae"),
    script:
        "../scripts/interpret_cvae.py"


# interpret_determinants: in-silico mutagenesis of the known determinants of pri-/pre-miRNA
# processing (apical UGU/GUG, basal UG, mGHG, basal segment, loop size, duplex-end asymmetry),
# scored by the CNN and the feature trees against size-matched random mutants.
rule interpret_determinants:
    input:
        model="results/train_cnn/model.pt",
        features=feature_model(),
        images="results/encode/test.npz",
        folded="results/fold/folded.tsv",
    output:
        mutants="results/interpret_determinants/mutants.tsv",
        mutants_page=report(
            "results/interpret_determinants/mutants.html",
            caption="../report/interpret_determinants.rst",
            category="8. interpret",
            subcategory="CNN: determinants",
            labels={"table": "every mutant and control"},
        ),
        determinants="results/interpret_determinants/determinants.tsv",
        determinants_page=report(
            "results/interpret_determinants/determinants.html",
            caption="../report/interpret_determinants.rst",
            category="8. interpret",
            subcategory="CNN: determinants",
            labels={"table": "effect per determinant and scorer"},
        ),
        figure=report(
            "results/interpret_determinants/determinants.png",
            caption="../report/interpret_determinants.rst",
            category="8. interpret",
            subcategory="CNN: determinants",
            labels={"figure": "effect per determinant and scorer"},
        ),
    log:
        "results/logs/interpret_determinants/interpret_determinants.log",
    benchmark:
        "results/benchmarks/interpret_determinants/interpret_determinants.tsv"
    conda:
        torch_env("interpret")
    threads: 2
    params:
        settings=config["interpret_determinants"],
        seed=stage_seed("interpret_determinants"),
        fold=fold_settings(),
    script:
        "../scripts/interpret_determinants.py"

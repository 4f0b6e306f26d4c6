"""Benchmark: does the conditional VAE generate pre-miRNAs that judges which never saw it accept?

Runs the stage functions end to end: train_cvae -> generate -> validate, and prints every target
(`premirna.validate.metrics.TARGETS`) with the value reached by the molecules sampled per
condition and by the three baselines scored the same way (real held-out pre-miRNAs, their
dinucleotide shuffles, random sequences of matched length and GC), the independent judge's own
accuracy on the real test split, then the per-condition table.

Inputs: the pipeline's own outputs when they exist (`--results`, default `results/`:
`fold/folded.tsv`, `encode/*.npz`, `train_cnn/model.pt`, `validate/judge/model.pt`), else the
benchmark prepares them in `--workdir` with the same library functions and the default
configuration (human miRBase 22 hairpins + as many CODING pseudo-hairpins, seeded 70/15/15 split,
ViennaRNA folds, Cordero images, the default CNN, the judge of `validate.judge`). The train_cvae
and generate settings are config/config.yaml's sections (or the library defaults), changed with
`--set section.key=value`.

    .venv/bin/python benchmarks/bench_generation.py
    .venv/bin/python benchmarks/bench_generation.py --set generate.guidance=1 --reuse-model
    .venv/bin/python benchmarks/bench_generation.py --set train_cvae.beta=0.5 --workdir WORKDIR

Appends one row per run (settings, seed, seconds, peak memory, every target) to `--out` (TSV,
default in --workdir).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from pathlib import Path

import pandas as pd
import torch
import yaml
from common import REPO, WORK

from premirna.classifier.predict import load_scorer
from premirna.core.logs import setup_logging
from premirna.generator.dinucleotides import NUCLEOTIDES, dinucleotide_table
from premirna.generator.generate import GenerateConfig, generate
from premirna.generator.train import train_cvae
from premirna.rna.folding import FoldSettings
from premirna.validate.stage import validate

SPLITS = ("train", "val", "test")
GENERATE_OUTPUTS = ("table", "fasta", "npz", "traversals", "traversal_figure")
VALIDATE_OUTPUTS = ("molecules", "summary", "targets", "realism", "metrics", "gaps",
                    "against_real")


def read_config() -> dict:
    path = REPO / "config" / "config.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def apply_overrides(config: dict, pairs: list[str]) -> dict:
    """`section.key=value` (values parsed as YAML; `train_cvae.model.key` reaches the network)."""
    for pair in pairs:
        key, value = pair.split("=", 1)
        *path, last = key.split(".")
        node = config
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return config


def fold_settings(config: dict) -> FoldSettings:
    """The energy model of the configuration's `fold:` section (its defaults where absent)."""
    fold = config.get("fold", {})
    return FoldSettings.from_dict({k: fold[k] for k in ("temperature", "dangles") if k in fold})


def prepare_inputs(
    results: Path, workdir: Path, config: dict, log: logging.Logger
) -> dict[str, Path]:
    """Pipeline outputs in `results` if present, else molecules -> folds -> images (-> CNN,
    judge) in `workdir`."""
    paths = {"folded": results / "fold" / "folded.tsv", "cnn": results / "train_cnn" / "model.pt",
             "judge": results / "validate" / "judge" / "model.pt",
             "judge_set": results / "validate" / "judge" / "molecules.tsv"}
    paths.update({s: results / "encode" / f"{s}.npz" for s in SPLITS})
    if all(p.exists() for p in paths.values()):
        log.info("using the pipeline's outputs in %s", results)
        return paths
    from premirna.classifier.train import train_cnn
    from premirna.data.molecules import build_molecules
    from premirna.encode.stage import encode_splits
    from premirna.fold.table import fold_table

    download = config.get("download", {})
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    paths = {"folded": data / "folded.tsv", "cnn": data / "cnn" / "model.pt",
             "judge": data / "judge" / "model.pt", "judge_set": data / "judge" / "molecules.tsv"}
    paths.update({s: data / f"{s}.npz" for s in SPLITS})
    if not paths["folded"].exists():
        log.info("preparing molecules, folds and images in %s", data)
        build_molecules(
            REPO / "resources" / "mirbase_v22" / "hairpin.fa.gz",
            REPO / "resources" / "mirbase_v22" / "miRNA.dat.gz",
            REPO / download.get("coding", "resources/triplet_svm_xue2005/"
                                "8494_hairpins_over_fe_15_bp_18_from_cds.txt.gz"),
            data / "molecules.tsv", data / "mature.tsv",
            species=download.get("species", ["hsa"]),
            coding_ratio=download.get("coding_ratio", 1.0),
            shuffle_ratio=download.get("shuffle_ratio", 0.0),
            split=download.get("split"), seed=config.get("seed", 20191108),
        )
        fold_table(data / "molecules.tsv", data / "folded.tsv", data / "mature.tsv",
                   processes=2, fold=fold_settings(config))
    if not all(paths[s].exists() for s in SPLITS):
        encode_splits(paths["folded"], {s: paths[s] for s in SPLITS}, data / "examples.png")
    if not paths["cnn"].exists():
        log.info("training the default CNN (the judge)")
        settings = dict(config.get("train_cnn", {}))
        settings.setdefault("seed", config.get("seed", 20191108))
        settings["threads"] = 1
        train_cnn(paths["train"], paths["val"], paths["cnn"], data / "cnn" / "history.tsv",
                  data / "cnn" / "curves.png", settings)
    if not (paths["judge"].exists() and paths["judge_set"].exists()):
        from premirna.validate.judge import build_judge

        log.info("training the independent judge")
        build_judge(REPO / "resources" / "mirbase_v22" / "hairpin.fa.gz",
                    REPO / download.get("coding", "resources/triplet_svm_xue2005/"
                                        "8494_hairpins_over_fe_15_bp_18_from_cds.txt.gz"),
                    data / "molecules.tsv", download.get("species", ["hsa"]), paths["judge"],
                    data / "judge" / "history.tsv",
                    {**config.get("validate", {}).get("judge", {}), "threads": 2},
                    fold_settings(config), processes=2, out_table=paths["judge_set"])
    return paths


def composition(molecules: pd.DataFrame) -> pd.DataFrame:
    """CpG per dinucleotide (molecule order), GC and the median MFE per nt of the generated
    molecules of each condition and of the real held-out pre-miRNAs."""
    cg = (NUCLEOTIDES.index("C"), NUCLEOTIDES.index("G"))
    rows = {}
    kept = molecules[molecules["set"].isin(["generated", "real"])]
    names = kept["condition"].where(kept["set"] == "generated", "real held-out")
    for name, group in kept.groupby(names, sort=False):
        table = dinucleotide_table(group["sequence"])
        rows[name] = {"n": len(group), "cpg": table[cg] / table.sum(),
                      "gc": group["gc"].mean(), "mfe_per_nt": group["mfe_per_nt"].median()}
    return pd.DataFrame.from_dict(rows, orient="index")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=WORK / "generation")
    parser.add_argument("--results", type=Path, default=REPO / "results",
                        help="a finished pipeline's results folder to take the inputs from")
    parser.add_argument("--set", nargs="*", action="extend", default=[],
                        help="section.key=value overrides (repeat or list them; all apply)")
    parser.add_argument("--reuse-model", action="store_true",
                        help="keep a trained model in --workdir (only generate and validate)")
    parser.add_argument("--validate-only", action="store_true",
                        help="score the generated molecules of --results with its CVAE (no "
                             "training, no generation): the judges on a finished run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tag", action="append", default=[],
                        help="words recorded with the row's settings (what trained a reused model)")
    parser.add_argument("--out", type=Path, default=None,
                        help="TSV of runs (default: runs.tsv in --workdir)")
    args = parser.parse_args()
    args.out = args.out or args.workdir / "runs.tsv"

    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = setup_logging(str(args.workdir / "bench_generation.log"))
    config = apply_overrides(read_config(), args.set)
    seed = config.get("seed", 20191108)
    paths = prepare_inputs(args.results, args.workdir, config, log)

    run = args.workdir / "run"
    model = run / "train_cvae" / "model.pt"
    train_settings = {**config.get("train_cvae", {}), "threads": args.threads}
    train_settings.setdefault("seed", seed)
    train_seconds = float("nan")
    if args.validate_only:
        model = args.results / "train_cvae" / "model.pt"
    elif not (args.reuse_model and model.exists()):
        started = time.monotonic()
        train_cvae(paths["train"], paths["val"], paths["folded"], model,
                   run / "train_cvae" / "history.tsv", run / "train_cvae" / "reconstructions.png",
                   run / "train_cvae" / "curves.png", train_settings, resume=False)
        train_seconds = time.monotonic() - started

    generate_settings = {**config.get("generate", {}), "threads": args.threads}
    generate_settings.setdefault("seed", seed)
    started = time.monotonic()
    generated = {k: run / "generate" / k for k in GENERATE_OUTPUTS}
    if args.validate_only:
        generated = {k: args.results / "generate" / f"generated.{k}" for k in ("tsv", "npz")}
        generated = {"table": generated["tsv"], "npz": generated["npz"]}
    else:
        generate(model, paths["folded"], [paths[s] for s in SPLITS], generated,
                 generate_settings, fold_settings(config), processes=args.threads,
                 gate=load_scorer(paths["cnn"]))
    generate_seconds = time.monotonic() - started
    started = time.monotonic()
    outputs = {k: run / "validate" / f"{k}.{'png' if k in ('realism', 'metrics') else 'tsv'}"
               for k in VALIDATE_OUTPUTS}
    outputs["judge"] = run / "validate" / "judge_accuracy.tsv"
    targets = validate(generated["table"], generated["npz"], paths["folded"], paths["cnn"],
                       model, outputs, seed=seed, fold=fold_settings(config),
                       threads=args.threads, judge_model=paths["judge"],
                       judge_set=paths["judge_set"])
    validate_seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print(f"\ntrain_cvae {train_seconds:.0f} s, generate {generate_seconds:.0f} s, validate "
          f"{validate_seconds:.0f} s ({args.threads} thread(s)), peak memory {peak_mb:.0f} MB, "
          f"seed {seed}\n")
    print(targets.round(3).to_string(index=False))
    print("\nthe independent judges on the real test split:")
    print(pd.read_csv(outputs["judge"], sep="\t").round(3).to_string(index=False))
    summary = pd.read_csv(outputs["summary"], sep="\t")
    shown = ["group", "n", "independent_judge", "judge_median", "independent_judge_raw",
             "judge_real_in_bin", "trees_judge", "trees_judge_raw", "trees_judge_real_in_bin",
             "two_sample_auc", "outside_length_range", "ks_length", "ks_mfe_per_nt", "ks_gc",
             "ks_stem_length", "ks_loop_size", "novelty", "uniqueness", "conditional_control",
             "judged_premirna"]
    shown = [c for c in shown if c in summary.columns]
    print()
    print(summary[shown].round(3).to_string(index=False))
    print("\nCpG per dinucleotide and GC (medians of MFE per nt), generated per condition and "
          "real held-out pre-miRNAs (premirna.generator.dinucleotides):")
    print(composition(pd.read_csv(outputs["molecules"], sep="\t")).round(4).to_string())
    gaps = pd.read_csv(outputs["gaps"], sep="\t")
    print("\nfeatures that tell generated molecules from real ones in their bins, q < 0.05 "
          "(premirna.validate.gaps; results/validate/gaps.tsv):")
    print(gaps[gaps["q_value"] < 0.05].round(4).to_string(index=False))
    against = pd.read_csv(outputs["against_real"], sep="\t")
    print("\neach judge against real held-out pre-miRNAs, 95 % intervals "
          "(premirna.validate.against_real; results/validate/against_real.tsv):")
    print(against.drop(columns=["compared_with"]).round(3).to_string(index=False))

    row = {"when": time.strftime("%Y-%m-%d %H:%M"),
           "settings": json.dumps(args.set + args.tag
                                  + (["--validate-only"] if args.validate_only else [])),
           "seed": seed, "train_seconds": round(train_seconds, 1),
           "generate_seconds": round(generate_seconds, 1),
           "validate_seconds": round(validate_seconds, 1), "peak_mb": round(peak_mb)}
    # The decoding actually used (config.yaml plus --set), so rows stay comparable when the
    # shipped defaults change.
    used = GenerateConfig.from_saved(generate_settings)
    for key in ("latent", "latent_scale", "temperature", "top_p", "guidance",
                "attribute_guidance", "requested_guidance", "refine_steps", "resample_rounds",
                "detector_gate", "attribute_matching", "dinucleotide_matching",
                "matched_dinucleotides", "steering", "steered", "refine_neighbours",
                "stem_pair_matching"):
        row[key] = getattr(used, key)
    for rec in targets.itertuples(index=False):
        row[rec.metric] = round(float(rec.generated), 4)
    frame = pd.DataFrame([row])
    frame.to_csv(args.out, sep="\t", index=False, mode="a", header=not args.out.exists())


if __name__ == "__main__":
    main()

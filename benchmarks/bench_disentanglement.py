"""Benchmark: does tying named attributes to latent axes (AR-VAE) make the CVAE's latent space
disentangled, and at what cost?

Compares two CVAEs on the real test split with the interpret_cvae stage function itself
(`premirna.interpret.cvae.interpret_cvae`): the pipeline's default model (`--results`:
`train_cvae/model.pt`, with the generate stage's `generate/traversals.tsv`) and one trained here
with the same configuration plus `attribute_regularisation` (the attribute-regularised VAE of Pati
& Lerch 2021; `--tie attribute=dimension ...`, by default stem length, loop size, GC, MFE per nt,
the 5p miRNA's start and the duplex-end asymmetry on z0..z5). For each: MIG (Chen et al. 2018)
per attribute with its bootstrap interval, DCI (Eastwood & Williams 2018) completeness and
held-out R² per attribute and overall, the validation loss of the kept epoch, and, from latent
traversals decoded and refolded with `premirna.generator.generate.traverse`, Spearman's rho of
each tied attribute along its axis and the share of traversal molecules the independent judge
(`validate/judge/model.pt`, when present) calls pre-miRNAs.

The inputs are the pipeline's outputs (`fold/folded.tsv`, `encode/*.npz`); the settings are
`--config`'s `train_cvae`, `generate` and `interpret_cvae` sections and its top-level seed,
changed with `--set section.key=value`. Everything written goes to `--workdir` (never into the
results folder).

    .venv/bin/python benchmarks/bench_disentanglement.py
    .venv/bin/python benchmarks/bench_disentanglement.py --reuse-model --threads 2
    .venv/bin/python benchmarks/bench_disentanglement.py --set train_cvae.epochs=30 \\
        --tie gc=0 stem_length=1 --set train_cvae.ar_gamma=5

Appends one row per model and run (settings, seed, seconds, peak memory, overall scores) to
`--out` (TSV, default in --workdir).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import pandas as pd
import yaml
from bench_generation import apply_overrides, fold_settings
from common import REPO, WORK

from premirna.core.atomic import write_tsv
from premirna.core.logs import setup_logging
from premirna.core.tables import read_folded
from premirna.generator.generate import GenerateConfig, traversal_spans, traverse
from premirna.generator.posterior import load_cvae
from premirna.generator.train import train_cvae
from premirna.interpret.cvae import OUTPUT_KEYS, interpret_cvae
from premirna.interpret.latent import ATTRIBUTES
from premirna.training.checkpoints import read_checkpoint

DEFAULT_TIES = ("stem_length=0", "loop_size=1", "gc=2", "mfe_per_nt=3", "mature_5p_start=4",
                "duplex_asymmetry=5")


def output_paths(folder: Path) -> dict[str, Path]:
    """interpret_cvae's outputs under `folder`."""
    suffix = {"latents": ".npz"}
    return {k: folder / (k + (".png" if k.endswith("figure") else suffix.get(k, ".tsv")))
            for k in OUTPUT_KEYS}


def decode_traversals(model_path: Path, config: dict, out: Path, threads: int,
                      paths: dict[str, Path]) -> Path:
    """The generate stage's latent traversals of `model_path`, refolded, written to `out`, over
    the same spans as the stage (`generate.traversal_span`: the prior's, or the training
    pre-miRNAs' from `paths`)."""
    model, checkpoint = load_cvae(model_path, "cpu")
    settings = {**config.get("generate", {}), "threads": threads}
    settings.setdefault("seed", config.get("seed", 20191108))
    generate_config = GenerateConfig.from_dict(settings)
    spans = traversal_spans(model, checkpoint, generate_config, [paths["train"]],
                            read_folded(paths["folded"]))
    table, _ = traverse(model, checkpoint, generate_config, fold_settings(config),
                        processes=threads, spans=spans)
    write_tsv(table, out)
    return out


def measure(name: str, model: Path, traversals: Path | None, paths: dict[str, Path],
            config: dict, judge, workdir: Path, threads: int, overrides: list[str]) -> dict:
    """interpret_cvae on the test split for one model; its tables, read back."""
    settings = {"attributes": list(ATTRIBUTES), **config.get("interpret_cvae", {}),
                "threads": threads}
    if not any(pair.startswith("interpret_cvae.attributes=") for pair in overrides):
        settings["attributes"] = list(ATTRIBUTES)  # every attribute, the new ones too
    settings.setdefault("seed", config.get("seed", 20191108))
    outputs = output_paths(workdir / name / "interpret_cvae")
    started = time.monotonic()
    summary = interpret_cvae(model, paths["test"], paths["folded"], outputs, settings,
                             traversals=traversals, judge=judge)
    scores = pd.read_csv(outputs["disentanglement"], sep="\t")
    monotone = pd.read_csv(outputs["monotonicity"], sep="\t", keep_default_na=False,
                           na_values=[""])
    history = pd.read_csv(model.with_name("history.tsv"), sep="\t")
    return {"name": name, "summary": summary, "scores": scores, "monotone": monotone,
            "links": pd.read_csv(outputs["links"], sep="\t"),
            "val_loss": float(history["val"].min()), "train_seconds": float(
                history["seconds"].sum()), "seconds": time.monotonic() - started}


def report(results: list[dict], tied: dict[str, int]) -> pd.DataFrame:
    """Per attribute and overall, the models side by side: MIG [95 % interval], DCI completeness
    and held-out R², and Spearman's rho on the test molecules of the dimension `tied` names
    (for the default model too, as the baseline of the same axis)."""
    frames = []
    for result in results:
        scores = result["scores"]
        rows = scores[scores["kind"].isin(["attribute", "overall"])].copy()
        rows["subject"] = rows["subject"].where(rows["kind"] == "attribute", "OVERALL")
        links = result["links"].set_index(["attribute", "dimension"])["spearman"]
        rows["rho_tied"] = [links.get((a, tied[a]), float("nan")) if a in tied else float("nan")
                            for a in rows["subject"]]
        rows["mig_95"] = [f"[{lo:.2f}, {hi:.2f}]" if pd.notna(lo) else ""
                          for lo, hi in zip(rows["mig_low"], rows["mig_high"], strict=True)]
        rows["dci_d"] = rows["disentanglement"].where(rows["kind"] == "overall")
        frames.append(rows.set_index("subject")[["mig", "mig_95", "completeness",
                                                 "informativeness_r2", "dci_d", "rho_tied"]]
                      .rename(columns={"informativeness_r2": "r2", "completeness": "dci_c"})
                      .add_prefix(result["name"] + ":"))
    table = pd.concat(frames, axis=1)
    table.insert(0, "tied_to", [f"z{tied[a]}" if a in tied else "" for a in table.index])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results",
                        help="a pipeline results folder: its fold, encode and train_cvae outputs")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--workdir", type=Path, default=WORK / "disentanglement")
    parser.add_argument("--tie", nargs="*", default=list(DEFAULT_TIES),
                        help="attribute=dimension pairs tied by the AR-VAE model")
    parser.add_argument("--set", nargs="*", action="extend", default=[],
                        help="section.key=value overrides (repeat or list them; all apply)")
    parser.add_argument("--reuse-model", action="store_true",
                        help="keep an AR-VAE model already trained in --workdir")
    parser.add_argument("--no-traversals", action="store_true",
                        help="skip decoding the AR-VAE model's traversals")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.out = args.out or args.workdir / "runs.tsv"
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = setup_logging(str(args.workdir / "bench_disentanglement.log"))
    config = apply_overrides(yaml.safe_load(args.config.read_text()) or {}, args.set)
    seed = config.get("seed", 20191108)
    paths = {"folded": args.results / "fold" / "folded.tsv",
             **{s: args.results / "encode" / f"{s}.npz" for s in ("train", "val", "test")}}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise SystemExit(f"missing pipeline outputs: {missing}")
    judge_path = args.results / "validate" / "judge" / "model.pt"
    judge = None
    if judge_path.exists():
        from premirna.validate.judge import load_judge

        judge = load_judge(judge_path)

    tied = {k: int(v) for k, v in (pair.split("=", 1) for pair in args.tie)}
    ar_model = args.workdir / "ar" / "train_cvae" / "model.pt"
    if not (args.reuse_model and ar_model.exists()):
        settings = {**config.get("train_cvae", {}), "threads": args.threads,
                    "attribute_regularisation": tied}
        settings.setdefault("seed", seed)
        train_cvae(paths["train"], paths["val"], paths["folded"], ar_model,
                   ar_model.with_name("history.tsv"), ar_model.with_name("reconstructions.png"),
                   ar_model.with_name("curves.png"), settings, resume=False)
    started = time.monotonic()
    ar_traversals = None
    if not args.no_traversals:
        ar_traversals = decode_traversals(ar_model, config, args.workdir / "ar" /
                                          "traversals.tsv", args.threads, paths)
    traverse_seconds = time.monotonic() - started
    default_traversals = args.results / "generate" / "traversals.tsv"
    results = [
        measure("default", args.results / "train_cvae" / "model.pt",
                default_traversals if default_traversals.exists() else None, paths, config,
                judge, args.workdir, args.threads, args.set),
        measure("ar", ar_model, ar_traversals, paths, config, judge, args.workdir, args.threads,
                args.set),
    ]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    trained = read_checkpoint(ar_model)["config"]
    print(f"\nseed {seed}; AR-VAE ties {trained['attribute_regularisation']}, gamma "
          f"{trained['ar_gamma']:g}, delta {trained['ar_delta']:g}, {trained['epochs']} epochs; "
          f"{args.threads} thread(s); peak memory {peak_mb:.0f} MB")
    for r in results:
        print(f"{r['name']}: training {r['train_seconds']:.0f} s (sum of its epochs), best "
              f"validation loss {r['val_loss']:.2f}, interpret_cvae {r['seconds']:.0f} s")
    print(f"decoding and refolding the AR-VAE model's traversals: {traverse_seconds:.0f} s\n")
    print(report(results, tied).round(3).to_string())
    for result in results:
        monotone = result["monotone"]
        print(f"\n{result['name']}: traversals of the tied dimensions (Spearman rho of the "
              "refolded attribute along the axis):")
        shown = monotone[monotone["attribute"].isin(tied)]
        shown = shown[[tied.get(a) == d for a, d in zip(shown["attribute"], shown["dimension"],
                                                        strict=True)]]
        print(shown.round(3).to_string(index=False) if len(shown) else "  (no traversals)")
        if monotone["judge_share"].notna().any():
            share = monotone.groupby("dimension")["judge_share"].first()
            print("judge: share of traversal molecules called pre-miRNA, per dimension: "
                  + " ".join(f"z{d} {v:.2f}" for d, v in share.items()))
    rows = [{"when": time.strftime("%Y-%m-%d %H:%M"), "model": r["name"],
             "settings": json.dumps(args.set), "ties": json.dumps(tied), "seed": seed,
             "train_seconds": r["train_seconds"],
             "peak_mb": round(peak_mb), "val_loss": r["val_loss"], "mean_mig": r["summary"]["mig"],
             **{f"dci_{k}": v for k, v in r["summary"]["dci"].items()}} for r in results]
    table = pd.DataFrame(rows)
    if args.out.exists():
        table = pd.concat([pd.read_csv(args.out, sep="\t"), table])
    write_tsv(table, args.out)
    log.info("appended %d rows to %s", len(rows), args.out)


if __name__ == "__main__":
    main()

"""Benchmark: decoding settings of the generate stage, scored by the validate stage.

Runs `premirna.generator.generate.generate` and `premirna.validate.stage.validate` on the outputs of
a finished workflow run (`--results`: its fold table, encode npz files, CNN judge and, unless
`--model` names another, its CVAE), once per `--set` of generate settings, and appends one row per
run to `--out`: the settings, the seconds generate took, every target of the issue (SCIENCE.md
section 3) for the generated molecules, and the repair walk's figures. The benchmark README's
decoding grid was made with it:

    .venv/bin/python benchmarks/bench_decoding.py --tag g2_a2 \\
        --set '{"latent_scale": 0.7, "guidance": 2.0, "attribute_guidance": 2.0}'

Outputs of each run go to `--workdir/<tag>/`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import yaml
from common import REPO, WORK

from premirna.classifier.predict import load_scorer
from premirna.core.logs import setup_logging
from premirna.generator.generate import generate
from premirna.validate.stage import validate

EXTRA = ("refined_share", "refined_nt_per_molecule", "raw_structure_agreement", "diversity",
         "ks_length", "ks_gc", "ks_stem_length", "ks_loop_size", "control_stem_length",
         "control_loop_size", "control_gc", "control_mfe_per_nt", "first_draw_control",
         "draws_per_molecule")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--model", type=Path, help="CVAE checkpoint (default: the run's)")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--set", default="{}", help="generate settings (JSON) over config.yaml's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=WORK / "decoding")
    parser.add_argument("--out", type=Path, default=None, help="TSV (default: workdir/runs.tsv)")
    args = parser.parse_args()
    setup_logging(None)

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    results = args.results
    model = args.model or results / "train_cvae" / "model.pt"
    settings = {**config.get("generate", {}), **json.loads(args.set)}
    settings.update(seed=config["seed"], threads=args.threads)
    fold = {key: config["fold"][key] for key in ("temperature", "dangles")}
    out = args.workdir / args.tag
    out.mkdir(parents=True, exist_ok=True)
    generated = {"table": out / "generated.tsv", "fasta": out / "generated.fa",
                 "npz": out / "generated.npz", "traversals": out / "traversals.tsv",
                 "traversal_figure": out / "traversals.png"}
    started = time.monotonic()
    generate(model, results / "fold/folded.tsv",
             [results / f"encode/{split}.npz" for split in ("train", "val", "test")],
             generated, settings, fold=fold, processes=args.threads,
             gate=load_scorer(results / "train_cnn" / "model.pt"))
    seconds = time.monotonic() - started
    scored = {name: out / f"validate_{name}" for name in ("molecules", "summary", "targets")}
    scored.update(realism=out / "realism.png", metrics=out / "metrics.png")
    targets = validate(generated["table"], generated["npz"], results / "fold/folded.tsv",
                       results / "train_cnn/model.pt", model, scored, seed=config["seed"],
                       fold=fold, threads=args.threads)
    summary = pd.read_csv(scored["summary"], sep="\t").set_index("group")
    row = {"date": time.strftime("%Y-%m-%d %H:%M"), "tag": args.tag, "model": str(model),
           "settings": json.dumps(json.loads(args.set), sort_keys=True),
           "generate_seconds": round(seconds)}
    row.update({r.metric: round(float(r.generated), 4) for r in targets.itertuples()})
    row.update({c: round(float(summary.at["generated", c]), 4) for c in EXTRA if c in summary})
    table = args.out or args.workdir / "runs.tsv"
    frame = pd.DataFrame([row])
    frame.to_csv(table, sep="\t", index=False, mode="a", header=not table.exists())
    print(frame.T.to_string(header=False))


if __name__ == "__main__":
    main()

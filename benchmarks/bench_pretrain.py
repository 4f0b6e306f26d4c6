"""Benchmark: does pre-training the CVAE on other species' hairpins, then fine-tuning it on the
configured species, make generated molecules that the independent judges accept more often?

The CVAE's decoder learns from 1,342 human training pre-miRNAs and is limited by that (its
validation loss stops falling while its training loss still does; benchmarks/README.md). miRBase
holds about 36,000 hairpins of other species. The judges of `validate` learn from 8,000 of them,
so the pre-training set takes only hairpins the judges' molecule table
(`results/validate/judge/molecules.tsv`) does not hold, none with a sequence of the run's molecule
table (human molecules), at most `--max-length` nt and without IUPAC letters: a seeded sample of
`--pretrain` of them. They are folded (ViennaRNA, `--processes`), encoded and labelled
pre-miRNA; the CVAE first trains on them together with the human training split
(`--pretrain-epochs`), then on the human training split alone, starting from those weights
(`--finetune-epochs`; KL annealing restarts). Generation and validation are those of
`bench_generation.py`: the generated molecules are scored by the run's judges, which never saw
the pre-training hairpins.

    .venv/bin/python benchmarks/bench_pretrain.py --workdir benchmarks/work/pretrain

Needs a finished default run (`--results`, default results/). Generation and validation run
through `bench_generation.py --reuse-model`, which writes the row to `--out` (default
`<workdir>/runs.tsv`), the pre-training recorded in its settings.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from bench_generation import apply_overrides, prepare_inputs, read_config
from common import REPO, WORK

import premirna.generator.train as cvae_training
from premirna.core.atomic import save_npz, write_tsv
from premirna.core.logs import setup_logging
from premirna.core.tables import read_folded
from premirna.encode.images import fold_and_encode
from premirna.rna.seqio import iter_records
from premirna.rna.structure import features

HAIRPINS = REPO / "resources" / "mirbase_v22" / "hairpin.fa.gz"


def pretraining_hairpins(
    results: Path, count: int, max_length: int, seed: int
) -> tuple[pd.DataFrame, int]:
    """id, sequence of `count` miRBase hairpins of other species that neither the judges nor the
    run's molecule table hold (seeded sample), and how many were eligible."""
    judge = pd.read_csv(results / "validate" / "judge" / "molecules.tsv", sep="\t")
    molecules = pd.read_csv(results / "fold" / "folded.tsv", sep="\t")
    taken = set(judge["sequence"]) | set(molecules["sequence"])
    species = set(molecules["species"].astype(str))
    rows = []
    for _, record in iter_records(HAIRPINS):
        sequence = record.sequence.upper().replace("T", "U")
        if (record.id.split("-")[0] in species or sequence in taken or len(sequence) > max_length
                or set(sequence) - set("ACGU")):
            continue
        taken.add(sequence)
        rows.append((record.id, sequence))
    table = pd.DataFrame(rows, columns=["id", "sequence"])
    pick = np.random.default_rng(seed).choice(len(table), min(count, len(table)), replace=False)
    return table.iloc[np.sort(pick)].reset_index(drop=True), len(table)


def write_pretraining_set(table: pd.DataFrame, workdir: Path, processes: int) -> tuple[Path, Path]:
    """Fold and encode the hairpins: an encode-style npz and their fold-table rows."""
    structures, mfes, images, encodable = fold_and_encode(table["sequence"].tolist(), processes)
    rows = [features(s, t, m) for s, t, m in zip(table["sequence"], structures, mfes, strict=True)]
    folded = pd.concat([table, pd.DataFrame(rows)], axis=1)
    folded["structure"], folded["label"], folded["split"] = structures, 1, "pretrain"
    npz = workdir / "pretrain.npz"
    save_npz(npz, ids=table["id"].to_numpy(str), images=images,
             labels=np.ones(len(table), np.int8), encodable=encodable)
    path = workdir / "pretrain_folded.tsv"
    write_tsv(folded, path)
    return npz, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=WORK / "pretrain")
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--set", nargs="*", action="extend", default=[])
    parser.add_argument("--pretrain", type=int, default=4000, help="pre-training hairpins")
    parser.add_argument("--max-length", type=int, default=180)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--finetune-epochs", type=int, default=30)
    parser.add_argument("--finetune-lr", type=float, default=0.001)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.out = args.out or args.workdir / "runs.tsv"
    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = setup_logging(str(args.workdir / "bench_pretrain.log"))
    config = apply_overrides(read_config(), args.set)
    seed = config.get("seed", 20191108)
    paths = prepare_inputs(args.results, args.workdir, config, log)

    started = time.monotonic()
    hairpins, eligible = pretraining_hairpins(args.results, args.pretrain, args.max_length, seed)
    log.info("pre-training set: %d of %d eligible hairpins of other species", len(hairpins),
             eligible)
    npz, pre_folded = write_pretraining_set(hairpins, args.workdir, args.processes)
    prepare_seconds = time.monotonic() - started

    # One fold table for both stages: the run's, plus the pre-training hairpins.
    table = pd.concat([pd.read_csv(paths["folded"], sep="\t"),
                       pd.read_csv(pre_folded, sep="\t")], ignore_index=True)
    both = args.workdir / "folded_with_pretrain.tsv"
    write_tsv(table, both)
    human_train = cvae_training.load_hairpins(paths["train"], read_folded(both))
    other = cvae_training.load_hairpins(npz, read_folded(both))
    mixed = cvae_training.HairpinSet(
        np.concatenate([human_train.ids, other.ids]),
        np.concatenate([human_train.images, other.images]),
        np.concatenate([human_train.labels, other.labels]),
        np.concatenate([human_train.tokens, other.tokens]),
        pd.concat([human_train.attributes, other.attributes], ignore_index=True))
    val = cvae_training.load_hairpins(paths["val"], read_folded(both))
    settings = {**config.get("train_cvae", {}), "threads": args.threads}
    settings.setdefault("seed", seed)

    run = args.workdir / "run"
    started = time.monotonic()
    pre_config = cvae_training.CVAETrainConfig.from_dict(
        {**settings, "epochs": args.pretrain_epochs})
    _, pre_checkpoint = cvae_training.fit(mixed, val, pre_config, run / "pretrain" / "model.pt",
                                          resume=False)
    pretrain_seconds = time.monotonic() - started

    # Fine-tune: the same network, started from the pre-trained weights.
    fresh_start = cvae_training._start

    def warm_start(*a, **k):
        state = fresh_start(*a, **k)
        state.model.load_state_dict(pre_checkpoint["model"])
        state.best_state = {n: v.detach().clone() for n, v in state.model.state_dict().items()}
        return state

    cvae_training._start = warm_start
    started = time.monotonic()
    model = run / "train_cvae" / "model.pt"
    fine_config = cvae_training.CVAETrainConfig.from_dict(
        {**settings, "epochs": args.finetune_epochs, "learning_rate": args.finetune_lr})
    cvae_training.fit(human_train, val, fine_config, model, resume=False)
    cvae_training._start = fresh_start
    finetune_seconds = time.monotonic() - started

    print(f"prepare {prepare_seconds:.0f} s, pre-train {pretrain_seconds:.0f} s, fine-tune "
          f"{finetune_seconds:.0f} s", flush=True)
    tags = [f"pretrain={len(hairpins)} hairpins x {args.pretrain_epochs} epochs",
            f"finetune={args.finetune_epochs} epochs at lr {args.finetune_lr:g}",
            f"train_seconds={pretrain_seconds + finetune_seconds:.0f}"]
    command = [sys.executable, str(Path(__file__).with_name("bench_generation.py")),
               "--workdir", str(args.workdir), "--results", str(args.results), "--reuse-model",
               "--threads", str(args.threads), "--out", str(args.out),
               *(f"--tag={t}" for t in tags), *(["--set", *args.set] if args.set else [])]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()

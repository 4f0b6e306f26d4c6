"""Build DeepMir's pre-training image set for `bench_cnn_modhsa.py --pretrain`.

Positives: miRBase 21 hairpins of every species but human (`mirbase_v21` in the shared data folder,
`--data`, default ../shared/data beside the repository: the release the modhsa images were made
from). Negatives: the triplet-SVM CODING pseudo-hairpins (Xue et al.
2005) and dinucleotide shuffles of the positives. Every sequence behind a modhsa image (train and
test, from `modhsa_sequences.tsv`: all positives and CODING negatives) is removed from both
classes, so no modhsa_test molecule leaks into pre-training. Folded with ViennaRNA and drawn as
Cordero images by `premirna.classifier.pretrain.build_pretrain_images`.

    .venv/bin/python benchmarks/bench_cnn_pretrain_set.py --out benchmarks/results/pretrain.npz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from common import RESULTS, add_data_option, need

from premirna.classifier.pretrain import build_pretrain_images
from premirna.core.logs import setup_logging

CODING = "triplet_svm_xue2005/4_pseudo_miRNAs/8494_hairpins_over_fe_15_bp_18_from_cds.txt.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=RESULTS / "pretrain_images.npz")
    add_data_option(parser)
    parser.add_argument("--coding-ratio", type=float, default=0.3)
    parser.add_argument("--shuffle-ratio", type=float, default=0.7)
    parser.add_argument("--max-positives", type=int, default=None)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20191108)
    args = parser.parse_args()
    setup_logging(None)

    modhsa = pd.read_csv(need(args.data / "cordero_deepmir2019/modhsa_sequences.tsv"), sep="\t")
    known = modhsa["sequence"].dropna()
    started = time.monotonic()
    counts = build_pretrain_images(
        need(args.data / "mirbase_v21/hairpin.fa.gz"),
        need(args.data / CODING),
        args.out,
        Path(args.out).with_suffix(".tsv"),
        exclude_species=["hsa"],
        exclude_sequences=set(known),
        coding_ratio=args.coding_ratio,
        shuffle_ratio=args.shuffle_ratio,
        max_positives=args.max_positives,
        seed=args.seed,
        processes=args.processes,
    )
    table = pd.read_csv(Path(args.out).with_suffix(".tsv"), sep="\t")
    test = modhsa[modhsa["split"] == "modhsa_test"]
    leaked_ids = set(table["id"]) & set(test["name"])
    leaked_sequences = set(table["sequence"]) & set(test["sequence"].dropna())
    assert not leaked_ids and not leaked_sequences, "a modhsa_test molecule is in pre-training"
    counts["seconds"] = round(time.monotonic() - started)
    print(json.dumps(counts, indent=1))


if __name__ == "__main__":
    main()

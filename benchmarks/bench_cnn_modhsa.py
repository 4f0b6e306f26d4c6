"""Benchmark: DeepMir's modhsa set (Cordero et al. 2019), the authors' own images.

Trains on `modhsa_train` (2,562 images; a stratified, seeded 10 % of it is held out for early
stopping), reports accuracy and ROC AUC on `modhsa_test` (1,098 images, 549 + / 549 -). Published:
0.9517 accuracy with pre-training on non-human miRBase, 0.9171 without; the authors' code retrained
on these images alone: 0.894. `--pretrain NPZ` adds the paper's pre-training phase on an image set
built by `bench_cnn_pretrain_set.py` (non-human miRBase 21 hairpins plus negatives, with every
modhsa_test sequence removed).

    .venv/bin/python benchmarks/bench_cnn_modhsa.py --architecture hairpin --seeds 1 2 3
    .venv/bin/python benchmarks/bench_cnn_modhsa.py --architecture deepmir --set epochs=60

The images are read from `--data` (default ../shared/data beside the repository:
`cordero_deepmir2019/`). Writes one row per run to `--out` (TSV, appended) and prints it. The
pre-trained rows of benchmarks/README.md pre-trained for 6 epochs (`--pretrain-epochs`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from common import RESULTS, SHARED_DATA, add_data_option, need
from sklearn.metrics import accuracy_score, roc_auc_score

from premirna.classifier.config import TrainConfig
from premirna.classifier.predict import predict_proba
from premirna.classifier.train import train_on_sets
from premirna.core.logs import setup_logging
from premirna.encode.images import ImageSet

MODHSA = "cordero_deepmir2019"


def load_modhsa(split: str, data: Path = SHARED_DATA) -> ImageSet:
    """The authors' float64 0/255 images as uint8, labels int64, names str (from the shared data
    folder `data`)."""
    data = need(Path(data) / MODHSA)
    images = np.load(data / f"modhsa_{split}_images.npz")["arr_0"].astype(np.uint8)
    labels = np.load(data / f"modhsa_{split}_labels.npz")["arr_0"].reshape(-1).astype(np.int64)
    names = np.array([n.decode() for n in np.load(data / f"modhsa_{split}_names.npz")["arr_0"]])
    return ImageSet(names, images, labels)


def parse_overrides(pairs: list[str]) -> dict:
    """`key=value` pairs (values parsed as YAML); `model.key=value` goes to the network."""
    out: dict = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        parsed = yaml.safe_load(value)
        if key.startswith("model."):
            out.setdefault("model", {})[key[6:]] = parsed
        else:
            out[key] = parsed
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architecture", default="hairpin", choices=["hairpin", "deepmir"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--set", nargs="*", action="extend", default=[],
                        help="config overrides key=value (repeat or list them; all apply)")
    parser.add_argument("--pretrain", help="npz of pre-training images (ids, images, labels)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pretrain-epochs", type=int, default=6,
                        help="most pre-training epochs (default 6, as benchmarks/README.md)")
    parser.add_argument("--out", default=RESULTS / "cnn_modhsa.tsv")
    add_data_option(parser)
    parser.add_argument("--tag", default="", help="free text stored with the result row")
    parser.add_argument("--predictions", help="folder for per-run test probabilities (TSV)")
    parser.add_argument(
        "--checkpoints",
        help="keep checkpoints here (a re-run resumes; with --pretrain all seeds share one "
        "pre-training, seeded by the first seed); default: a temporary folder",
    )
    args = parser.parse_args()
    setup_logging(None)

    train, test = load_modhsa("train", args.data), load_modhsa("test", args.data)
    pretrain = None
    if args.pretrain:
        from premirna.encode.images import read_images

        pretrain = read_images(args.pretrain)
        leaked = set(pretrain.ids.tolist()) & set(test.ids.tolist())
        assert not leaked, f"modhsa_test ids in the pre-training set: {sorted(leaked)[:5]}"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        out.write_text(
            "date\ttag\tarchitecture\tseed\tpretrain\tbest_epoch\tepochs_run\t"
            "train_seconds\ttest_accuracy\ttest_auroc\tconfig\n"
        )
    probabilities = []
    for seed in args.seeds:
        values = {"architecture": args.architecture, **parse_overrides(args.set)}
        values.update(seed=seed, threads=args.threads, pretrain=pretrain is not None)
        values.update(pretrain_seed=args.seeds[0], pretrain_epochs=args.pretrain_epochs)
        config = TrainConfig.from_dict(values)
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.checkpoints or tmp)
            model, checkpoint = train_on_sets(
                train, None, config, folder / f"seed{seed}", pretrain, pretrain_dir=folder
            )
        seconds = time.monotonic() - started
        prob = predict_proba(model, test.images)
        probabilities.append(prob)
        if args.predictions:
            folder = Path(args.predictions)
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{args.tag or args.architecture}_seed{seed}.tsv"
            pd.DataFrame({"name": test.ids, "label": test.labels, "probability": prob}).to_csv(
                folder / name, sep="\t", index=False
            )
        accuracy = accuracy_score(test.labels, prob >= 0.5)
        auroc = roc_auc_score(test.labels, prob)
        row = [
            time.strftime("%Y-%m-%d %H:%M"),
            args.tag,
            args.architecture,
            seed,
            int(pretrain is not None),
            checkpoint["best_epoch"],
            len([h for h in checkpoint["history"] if h["phase"] == "train"]),
            f"{seconds:.0f}",
            f"{accuracy:.4f}",
            f"{auroc:.4f}",
            json.dumps(config.to_dict(), sort_keys=True),
        ]
        with out.open("a") as handle:
            handle.write("\t".join(map(str, row)) + "\n")
        print("\t".join(map(str, row[:10])), flush=True)
    if len(probabilities) > 1:
        mean = np.mean(probabilities, axis=0)
        accuracy = accuracy_score(test.labels, mean >= 0.5)
        print(
            f"ensemble of {len(probabilities)} (mean probability): accuracy {accuracy:.4f}, "
            f"ROC AUC {roc_auc_score(test.labels, mean):.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Benchmark: DeepMir's modhsa set (Cordero et al. 2019), the authors' own images.

Trains on `modhsa_train` (2,562 images; a stratified, seeded 10 % of it is held out for early
stopping), reports accuracy and ROC AUC on `modhsa_test` (1,098 images, 549 + / 549 -). Published:
0.9517 accuracy with pre-training on non-human miRBase, 0.9171 without; the authors' code retrained
on these images alone: 0.894. `--pretrain NPZ` adds the paper's pre-training phase on an image set
built by `bench_cnn_pretrain_set.py` (non-human miRBase 21 hairpins plus negatives, with every
modhsa_test sequence removed).

    .venv/bin/python benchmarks/bench_cnn_modhsa.py --architecture hairpin --seeds 1 2 3
    .venv/bin/python benchmarks/bench_cnn_modhsa.py --architecture deepmir --set epochs=60

Writes one row per run to `--out` (TSV, appended) and prints it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import accuracy_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from premirna.cnn_train import ImageSet, TrainConfig, predict_proba, train_on_sets  # noqa: E402
from premirna.logs import setup_logging  # noqa: E402

DATA = Path("/work/shared/data/cordero_deepmir2019")


def load_modhsa(split: str, data: Path = DATA) -> ImageSet:
    """The authors' float64 0/255 images as uint8, labels int64, names str."""
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
    parser.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    parser.add_argument("--pretrain", help="npz of pre-training images (ids, images, labels)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/cnn_modhsa.tsv")
    parser.add_argument("--tag", default="", help="free text stored with the result row")
    parser.add_argument("--predictions", help="folder for per-run test probabilities (TSV)")
    parser.add_argument(
        "--checkpoints",
        help="keep checkpoints here (a re-run resumes; with --pretrain all seeds share one "
        "pre-training, seeded by the first seed); default: a temporary folder",
    )
    args = parser.parse_args()
    setup_logging(None)

    train, test = load_modhsa("train"), load_modhsa("test")
    pretrain = None
    if args.pretrain:
        from premirna.cnn_train import load_images

        pretrain = load_images(args.pretrain)
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
        values.update(pretrain_seed=args.seeds[0])
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

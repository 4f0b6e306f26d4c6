"""Benchmark: deepMiRGene's human cross-validation set (Park et al. 2017), through our own pipeline.

Every sequence of `deepmirgene_park2017/cv/human/` in the shared data folder (`--data`, default
../shared/data beside the repository; 777 pre-miRNAs, 6,680 negatives) is folded with ViennaRNA (37
C, dangles 2) and drawn as the Cordero image (`premirna.encode.images.fold_and_encode`); for each of
the 5 folds a network is trained on the fold's train part (a stratified, seeded 10 % of it held out
for early stopping) and scored on the fold's val part. Reported per fold and as mean +/- SD: ROC
AUC, PR AUC (average precision), sensitivity and specificity at probability 0.5. Sequences without a
hairpin image get probability 0 (called negative) so that every val sequence counts. deepMiRGene's
own logs report AUROC 0.979 on the (withheld) human test split. `--pretrain NPZ` (from
`bench_cnn_pretrain_set.py`) first pre-trains once, shared by all folds, on that set minus every
molecule whose sequence is in this benchmark (read from the NPZ's companion .tsv).

    .venv/bin/python benchmarks/bench_cnn_deepmirgene.py --architecture hairpin --folds 1 2 3 4 5

Folded and encoded images are cached in `--cache` (an npz keyed by sequence).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, add_data_option, need
from sklearn.metrics import average_precision_score, roc_auc_score

from premirna.classifier.config import TrainConfig
from premirna.classifier.predict import predict_proba
from premirna.classifier.train import train_on_sets
from premirna.core.atomic import save_npz
from premirna.core.logs import setup_logging
from premirna.encode.images import ImageSet

HUMAN = Path("deepmirgene_park2017/cv/human")


def read_sequences(path: Path) -> list[str]:
    from premirna.rna.seqio import read_records

    return [record.sequence for record in read_records(path, iupac="keep").records]


def fold_file(data: Path, k: int, part: str) -> tuple[list[str], np.ndarray]:
    """Sequences and labels of fold `k`, `part` (train or val), from the shared data folder."""
    folder = need(data / HUMAN / part)
    pos = read_sequences(folder / f"human_pos_{part}_f{k}.fa.gz")
    neg = read_sequences(folder / f"human_neg_{part}_f{k}.fa.gz")
    return pos + neg, np.array([1] * len(pos) + [0] * len(neg), dtype=np.int64)


def encode_all(sequences: list[str], cache: Path, processes: int) -> dict[str, tuple]:
    """sequence -> (image, encodable), folding and encoding only what the cache lacks."""
    known: dict[str, tuple] = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            for seq, image, ok in zip(
                data["sequences"], data["images"], data["encodable"], strict=True
            ):
                known[str(seq)] = (image, bool(ok))
    missing = sorted(set(sequences) - set(known))
    if missing:
        from premirna.encode.images import fold_and_encode

        started = time.monotonic()
        _, _, images, encodable = fold_and_encode(missing, processes=processes)
        print(
            f"folded and encoded {len(missing)} sequences in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        for seq, image, ok in zip(missing, images, encodable, strict=True):
            known[seq] = (image, bool(ok))
        keys = sorted(known)
        save_npz(
            cache,
            sequences=np.array(keys),
            images=np.stack([known[s][0] for s in keys]),
            encodable=np.array([known[s][1] for s in keys]),
        )
    return known


def as_image_set(
    sequences: list[str], labels: np.ndarray, known: dict
) -> tuple[ImageSet, np.ndarray]:
    ok = np.array([known[s][1] for s in sequences])
    images = np.stack([known[s][0] for s in sequences])
    ids = np.array([f"s{i}" for i in range(len(sequences))])
    return ImageSet(ids[ok], images[ok], labels[ok]), ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architecture", default="hairpin", choices=["hairpin", "deepmir"])
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", nargs="*", action="extend", default=[],
                        help="config overrides key=value (repeat or list them; all apply)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2, help="folding processes")
    parser.add_argument("--cache", default=RESULTS / "deepmirgene_human_images.npz")
    parser.add_argument("--out", default=RESULTS / "cnn_deepmirgene.tsv")
    add_data_option(parser)
    parser.add_argument("--tag", default="")
    parser.add_argument("--pretrain", help="npz of pre-training images (with its .tsv beside it)")
    parser.add_argument("--checkpoints", help="keep checkpoints here (a re-run resumes)")
    args = parser.parse_args()
    setup_logging(None)
    from bench_cnn_modhsa import parse_overrides

    cache = Path(args.cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    everything = []
    for k in args.folds:
        for part in ("train", "val"):
            everything += fold_file(args.data, k, part)[0]
    known = encode_all(everything, cache, args.processes)

    pretrain = None
    if args.pretrain:
        import pandas as pd

        from premirna.encode.images import read_images

        pretrain = read_images(args.pretrain)
        table = pd.read_csv(Path(args.pretrain).with_suffix(".tsv"), sep="\t")
        here = set(table.loc[table["sequence"].isin(set(everything)), "id"])
        keep = ~np.isin(pretrain.ids, list(here))
        print(f"pre-training set: {len(pretrain)} images, {len(here)} left out (in this benchmark)")
        pretrain = pretrain.subset(keep)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        out.write_text(
            "date\ttag\tarchitecture\tseed\tfold\tn_val\tn_val_unencodable\tbest_epoch\t"
            "train_seconds\troc_auc\tpr_auc\tsensitivity\tspecificity\n"
        )
    rows = []
    for k in args.folds:
        train_seqs, train_labels = fold_file(args.data, k, "train")
        val_seqs, val_labels = fold_file(args.data, k, "val")
        train, _ = as_image_set(train_seqs, train_labels, known)
        val, val_ok = as_image_set(val_seqs, val_labels, known)
        values = {"architecture": args.architecture, **parse_overrides(args.set)}
        values.update(seed=args.seed, threads=args.threads, pretrain=pretrain is not None)
        config = TrainConfig.from_dict(values)
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.checkpoints or tmp)
            model, checkpoint = train_on_sets(
                train, None, config, folder / f"fold{k}", pretrain, pretrain_dir=folder
            )
        seconds = time.monotonic() - started
        prob = np.zeros(len(val_seqs))
        prob[val_ok] = predict_proba(model, val.images)
        called = prob >= 0.5
        row = {
            "roc_auc": roc_auc_score(val_labels, prob),
            "pr_auc": average_precision_score(val_labels, prob),
            "sensitivity": called[val_labels == 1].mean(),
            "specificity": (~called[val_labels == 0]).mean(),
        }
        rows.append(row)
        line = [
            time.strftime("%Y-%m-%d %H:%M"),
            args.tag,
            args.architecture,
            args.seed,
            k,
            len(val_seqs),
            int((~val_ok).sum()),
            checkpoint["best_epoch"],
            f"{seconds:.0f}",
            *(f"{row[m]:.4f}" for m in ("roc_auc", "pr_auc", "sensitivity", "specificity")),
        ]
        with out.open("a") as handle:
            handle.write("\t".join(map(str, line)) + "\n")
        print("\t".join(map(str, line)), flush=True)
    for metric in ("roc_auc", "pr_auc", "sensitivity", "specificity"):
        values = np.array([r[metric] for r in rows])
        spread = values.std(ddof=1) if len(values) > 1 else 0.0
        print(f"{metric}: mean {values.mean():.4f} +/- {spread:.4f}")


if __name__ == "__main__":
    main()

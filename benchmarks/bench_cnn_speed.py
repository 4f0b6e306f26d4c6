"""Benchmark: training seconds per epoch and inference throughput of the CNNs on this machine.

Training: `--epochs` epochs on DeepMir's modhsa_train images (2,562, of which 10 % are held out for
validation, as in `bench_cnn_modhsa.py`), median seconds per epoch as logged by `cnn_train.fit`
(one pass over the training images, batch-norm recalibration and validation included).
Inference: hairpin images scored per second (images already encoded; folding and drawing are not
counted), batch 512, eval mode, median of `--repeats` passes over the 1,098 modhsa_test images.

    .venv/bin/python benchmarks/bench_cnn_speed.py --threads 1 2
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_cnn_modhsa import load_modhsa

from premirna.classifier.config import TrainConfig
from premirna.classifier.predict import predict_proba
from premirna.classifier.train import train_on_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architectures", nargs="+", default=["hairpin", "deepmir"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/cnn_speed.tsv")
    args = parser.parse_args()

    train, test = load_modhsa("train"), load_modhsa("test")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        out.write_text(
            "date\tmachine\tarchitecture\tthreads\tparameters\ttrain_images\t"
            "seconds_per_epoch\tinference_images_per_second\n"
        )
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} cores seen"
    for architecture in args.architectures:
        for threads in args.threads:
            config = TrainConfig.from_dict(
                {
                    "architecture": architecture,
                    "epochs": args.epochs,
                    "patience": args.epochs,
                    "threads": threads,
                    "device": "cpu",
                }
            )
            with tempfile.TemporaryDirectory() as tmp:
                model, checkpoint = train_on_sets(train, None, config, tmp)
            per_epoch = float(np.median([h["seconds"] for h in checkpoint["history"]]))
            timings = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                predict_proba(model, test.images, batch_size=512)
                timings.append(time.perf_counter() - started)
            rate = len(test) / float(np.median(timings))
            parameters = sum(p.numel() for p in model.parameters())
            row = [
                time.strftime("%Y-%m-%d %H:%M"),
                machine,
                architecture,
                threads,
                parameters,
                checkpoint["n_train"],
                f"{per_epoch:.1f}",
                f"{rate:.0f}",
            ]
            with out.open("a") as handle:
                handle.write("\t".join(map(str, row)) + "\n")
            print("\t".join(map(str, row)), flush=True)


if __name__ == "__main__":
    main()

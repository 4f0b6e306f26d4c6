"""The small trained classifier shipped in `resources/default_classifier/`, so that
`python -m premirna classify` scores sequences without a training run first.

`ship_classifier` turns a `train_cnn` checkpoint into the shipped one: the weights and what
describes them (architecture, config, training length range, history), without the optimizer
state, beside its test metrics and a PROVENANCE.md saying which configuration, commit and data
made it. The file is a plain checkpoint, read with `torch.load(weights_only=True)` like any other.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from premirna.core.atomic import atomic_open
from premirna.core.errors import InputError
from premirna.core.tables import read_table
from premirna.training.checkpoints import read_checkpoint, save_checkpoint

#: Where the shipped classifier lives in the repository.
DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "resources" / "default_classifier"
DEFAULT_MODEL = DEFAULT_FOLDER / "model.pt"
#: Checkpoint entries a user of the model does not need (training state only).
DROPPED = ("optimizer", "scheduler")
#: The metrics quoted in PROVENANCE.md.
QUOTED = ("accuracy", "sensitivity", "specificity", "mcc", "roc_auc", "pr_auc")


def default_model() -> Path:
    """The shipped classifier, or an InputError saying where it should be."""
    if not DEFAULT_MODEL.is_file():
        raise InputError(DEFAULT_MODEL, "the shipped default classifier is not there (an "
                         "installation without the repository's resources/); give --model")
    return DEFAULT_MODEL


def ship_classifier(
    checkpoint_path: str | Path, metrics_tsv: str | Path, out_folder: str | Path,
    provenance: Mapping[str, Any],
) -> Path:
    """Write `out_folder`/model.pt (the checkpoint without `DROPPED`), metrics.tsv (a copy of
    evaluate_cnn's), MD5SUMS and PROVENANCE.md (`provenance`: commit, config, data, command as
    key -> text). Returns the model's path."""
    out = Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = read_checkpoint(checkpoint_path)
    if checkpoint.get("kind") != "classifier":
        raise InputError(checkpoint_path, "not a train_cnn classifier checkpoint")
    model = out / "model.pt"
    save_checkpoint({k: v for k, v in checkpoint.items() if k not in DROPPED}, model)
    shutil.copyfile(metrics_tsv, out / "metrics.tsv")
    metrics = read_table(out / "metrics.tsv", ("metric", "value")).set_index("metric")["value"]
    lines = ["# The shipped default classifier", "",
             "The CNN that `python -m premirna classify` uses when no `--model` is given: the "
             "`train_cnn` checkpoint of the run below, without its optimizer state.", ""]
    lines += [f"- **{key}**: {value}" for key, value in provenance.items()]
    domain = checkpoint.get("domain") or {}
    lines += [f"- **training lengths**: {domain.get('min_length')}-{domain.get('max_length')} nt "
              "(molecules outside get a status, no probability)",
              f"- **training molecules**: {checkpoint.get('n_train')} train, "
              f"{checkpoint.get('n_val')} validation; best epoch {checkpoint.get('best_epoch')}",
              "", "Test-split metrics of the CNN (`metrics.tsv`, from `evaluate_cnn`):", "",
              "| metric | value |", "|---|---|"]
    lines += [f"| {m} | {float(metrics[m]):.4f} |" for m in QUOTED if m in metrics]
    lines += ["", "Check the files: `md5sum -c MD5SUMS`.", ""]
    with atomic_open(out / "PROVENANCE.md", "w") as handle:
        handle.write("\n".join(lines))
    sums = [f"{hashlib.md5((out / name).read_bytes()).hexdigest()}  {name}"
            for name in ("model.pt", "metrics.tsv")]
    with atomic_open(out / "MD5SUMS", "w") as handle:
        handle.write("\n".join(sums) + "\n")
    return model


def main(argv: list[str] | None = None) -> None:
    """`python -m premirna.classifier.default RESULTS [OUT]`: ship the classifier of a finished
    default run (RESULTS/train_cnn/model.pt, RESULTS/evaluate_cnn/metrics.tsv) into OUT (default:
    the repository's resources/default_classifier/), with the commit of the checkout that holds
    RESULTS."""
    import argparse
    import subprocess

    import RNA
    import yaml

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("out", type=Path, nargs="?", default=DEFAULT_FOLDER)
    parser.add_argument("--config", type=Path, default=DEFAULT_FOLDER.parents[1] / "config" /
                        "config.yaml", help="the configuration the run used")
    args = parser.parse_args(argv)
    # The commit of the checkout the run was made in (RESULTS is its results/ folder).
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=args.results.resolve().parent).stdout.strip()
    config = yaml.safe_load(args.config.read_text())
    download = config.get("download", {})
    settings = yaml.safe_dump(config.get("train_cnn", {}), sort_keys=False,
                              default_flow_style=True, width=10_000).strip()
    provenance = {
        "made by": f"`python -m premirna.classifier.default {args.results}` after "
                   "`make run` (the default configuration)",
        "commit": f"`{commit or 'unknown'}`",
        "data": f"miRBase 22.1 hairpins of {download.get('species')} and as many CODING "
                "pseudo-hairpins (Xue et al. 2005), seeded train/val/test split "
                f"{download.get('split')}, seed {config.get('seed')}; folded with ViennaRNA "
                f"{RNA.__version__} at {config.get('fold', {}).get('temperature')} C",
        "train_cnn settings": f"`{settings}`",
    }
    ship_classifier(args.results / "train_cnn" / "model.pt",
                    args.results / "evaluate_cnn" / "metrics.tsv", args.out, provenance)


if __name__ == "__main__":
    main()

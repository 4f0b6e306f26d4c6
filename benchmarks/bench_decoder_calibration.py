"""Benchmark: does the CVAE's decoder predict its tokens as often as the molecules hold them?

A decoder at the maximum-likelihood optimum predicts, summed over its training molecules'
columns, each token as often as they hold it. For each split (`--splits`) this benchmark
teacher-forces the decoder on that split's pre-miRNAs (z their posterior mean, each molecule under
its own class and bins, every earlier column given) and sets the predicted shares beside the
counted ones: the base-pair types (5' nucleotide first) among the pair columns, the letters of the
terminal loop, and the negative log-likelihood per molecule. It reads the kept model of a finished
run (`train_cvae/model.pt`) and, with `--last`, the weights of the run's last epoch
(`train_cvae/last.pt`) in the same network.

    .venv/bin/python benchmarks/bench_decoder_calibration.py --results results [--last]

Rows (one per model, split and quantity) go to `--out` (default
benchmarks/results/decoder_calibration.tsv, replaced); the table is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import RESULTS, need

from premirna.core.tables import read_folded
from premirna.encode.image import N_CODES, NT_A, NT_C, NT_G, NT_U
from premirna.generator.conditions import make_conditions
from premirna.generator.data import load_hairpins
from premirna.generator.posterior import load_cvae
from premirna.generator.tokens import VOCABULARY, teacher_inputs, token_lengths
from premirna.training.checkpoints import read_checkpoint
from premirna.training.tensors import images_to_tensor

LETTERS = {NT_A: "A", NT_C: "C", NT_G: "G", NT_U: "U"}


def token_names() -> list[str]:
    """A name per token: "GC pair" (5' G paired with 3' C), "A unpaired" (an unpaired A on the
    5' arm, whatever the 3' arm holds: in the terminal loop it mirrors the 5' one), or ""."""
    names = []
    for token in range(VOCABULARY):
        top, bottom, paired = (token // 2) // N_CODES, (token // 2) % N_CODES, token % 2 == 1
        if paired and top in LETTERS and bottom in LETTERS:
            names.append(LETTERS[top] + LETTERS[bottom] + " pair")
        elif not paired and top in LETTERS:
            names.append(LETTERS[top] + " unpaired")
        else:
            names.append("")
    return names


def teacher_forced(model, hairpins, checkpoint) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities N x columns x vocabulary, tokens, drawn-column mask) of the pre-miRNAs."""
    keep = hairpins.labels == 1
    tokens = hairpins.tokens[keep]
    conditions = make_conditions(hairpins.labels[keep], hairpins.attributes[keep],
                                 checkpoint["bins"])
    with torch.no_grad():
        images = images_to_tensor(hairpins.images[keep])
        c = torch.as_tensor(conditions).long()
        mu, _ = model.encode(images, c)
        logits = model.decode(mu, c, teacher_inputs(torch.as_tensor(tokens), model.start_token))
    drawn = np.arange(tokens.shape[1])[None, :] < token_lengths(tokens)[:, None]
    return torch.softmax(logits.double(), -1).numpy(), tokens, drawn


def shares(probabilities, tokens, drawn, names) -> list[dict]:
    """Counted and predicted shares of the pair types and the terminal loop's letters."""
    paired = tokens % 2 == 1
    in_loop = (np.cumsum(paired, axis=1) == 0) & drawn
    rows = []
    for quantity, mask, suffix in (("pairs", drawn & paired, " pair"),
                                   ("terminal loop", in_loop, " unpaired")):
        counted = np.bincount(tokens[mask], minlength=VOCABULARY).astype(float)
        predicted = probabilities[mask].sum(0)
        kinds = sorted({name for name in names if name.endswith(suffix)})
        by_kind = {kind: [t for t in range(VOCABULARY) if names[t] == kind] for kind in kinds}
        total_counted = sum(counted[t].sum() for t in by_kind.values())
        total_predicted = sum(predicted[t].sum() for t in by_kind.values())
        for kind, members in by_kind.items():
            rows.append({"quantity": quantity, "token": kind.replace(suffix, ""),
                         "counted": counted[members].sum() / total_counted,
                         "predicted": predicted[members].sum() / total_predicted})
    picked = np.take_along_axis(probabilities, tokens[..., None], -1)[..., 0]
    nll = -(np.log(picked + 1e-12) * drawn).sum() / len(tokens)
    rows.append({"quantity": "nll per molecule", "token": "", "counted": np.nan, "predicted": nll})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    parser.add_argument("--last", action="store_true", help="also the last epoch's weights")
    parser.add_argument("--out", type=Path, default=RESULTS / "decoder_calibration.tsv")
    args = parser.parse_args()
    model_path = need(args.results / "train_cvae" / "model.pt")
    table = read_folded(need(args.results / "fold" / "folded.tsv"))
    model, checkpoint = load_cvae(model_path)
    models = {f"kept (epoch {checkpoint['epoch']})": model}
    if args.last:
        last = read_checkpoint(need(args.results / "train_cvae" / "last.pt"))
        final, _ = load_cvae(model_path)
        final.load_state_dict(last["model"])
        models[f"last (epoch {last['epoch']})"] = final.eval()
    names = token_names()
    rows = []
    for split in args.splits:
        hairpins = load_hairpins(need(args.results / "encode" / f"{split}.npz"), table)
        for label, network in models.items():
            network.eval()
            found = shares(*teacher_forced(network, hairpins, checkpoint), names)
            rows += [{"model": label, "split": split, **row} for row in found]
    frame = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
    wide = frame.pivot_table(index=["quantity", "token"], columns=["split", "model"],
                             values="predicted", sort=False)
    counted = frame.drop_duplicates(["split", "quantity", "token"]).pivot_table(
        index=["quantity", "token"], columns="split", values="counted", sort=False)
    counted.columns = [(split, "counted") for split in counted.columns]
    print(pd.concat([counted, wide], axis=1).round(4).to_string())


if __name__ == "__main__":
    main()

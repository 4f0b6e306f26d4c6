"""Small real inputs for the generative tests (test_cvae, test_generate, test_validate).

A few dozen human miRBase 22 hairpins (bundled in resources/) and CODING pseudo-hairpins, folded
with ViennaRNA and encoded, written in the layout of the fold and encode stages; and the settings of
a tiny network that trains in a second.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from premirna.core.atomic import save_npz, write_tsv
from premirna.data.negatives import read_coding
from premirna.encode.image import N_CODES
from premirna.encode.render import encode_many
from premirna.rna.folding import fold_sequences
from premirna.rna.structure import features

REPO = Path(__file__).resolve().parents[1]
HAIRPINS = REPO / "resources" / "mirbase_v22" / "hairpin.fa.gz"
CODING = (
    REPO / "resources" / "triplet_svm_xue2005" / "8494_hairpins_over_fe_15_bp_18_from_cds.txt.gz"
)
SPLITS = ("train", "val", "test")


def column_token(top: int, bottom: int, paired: bool = False) -> int:
    """A decoder token written out by hand from its two nucleotide codes and pairing, as an
    oracle independent of `premirna.generator.tokens` (which numbers them the same way)."""
    return (top * N_CODES + bottom) * 2 + int(paired)


def pilot_drawers(model_path: Path, calls: list) -> tuple[Callable, dict]:
    """Drawers of the CVAE at `model_path` as `generate` hands them to a pilot: `drawer(label)`
    draws m molecules of that class from z = 0 with the round as the seed, and records
    (label, m, round) in `calls`. Also returns the checkpoint without its length range (the tiny
    CVAE draws molecules shorter than its training range), as a pilot then reads it."""
    from premirna.generator.conditions import make_conditions
    from premirna.generator.posterior import load_cvae
    from premirna.generator.sample import decode_latents

    model, checkpoint = load_cvae(model_path)

    def drawer(label: int):
        def draw(m: int, round_: int):
            calls.append((label, m, round_))
            z = np.zeros((m, model.config.latent_dim), dtype=np.float32)
            rows = make_conditions(np.full(m, label), None, checkpoint["bins"])
            return decode_latents(model, z, rows, seed=round_), rows, z
        return draw

    return drawer, {**checkpoint, "lengths": {}}


def human_hairpins(n: int) -> pd.DataFrame:
    """The first `n` human (hsa-) hairpins of miRBase 22: id, sequence (upper-case RNA)."""
    records: list[list[str]] = []
    with gzip.open(HAIRPINS, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                records.append([line[1:].split()[0], ""])
            else:
                records[-1][1] += line.strip()
    human = [(name, seq.upper().replace("T", "U")) for name, seq in records
             if name.startswith("hsa-")]
    return pd.DataFrame(human[:n], columns=["id", "sequence"])


def folded_molecules(n_positive: int = 36, n_negative: int = 18) -> pd.DataFrame:
    """Positives and CODING negatives, folded, with the fold stage's columns and a split
    (every fifth molecule val, the next test, the rest train)."""
    positives = human_hairpins(n_positive).assign(label=1)
    negatives = read_coding(CODING).head(n_negative)[["id", "sequence", "label"]]
    table = pd.concat([positives, negatives], ignore_index=True)
    folds = fold_sequences(table["sequence"].tolist())
    table["structure"] = [s for s, _ in folds]
    table["mfe"] = [e for _, e in folds]
    feats = pd.DataFrame(
        [features(q, s, e) for q, (s, e) in zip(table["sequence"], folds, strict=True)]
    )
    table = pd.concat([table, feats], axis=1)
    position = np.arange(len(table)) % 5
    table["split"] = np.where(position == 0, "val", np.where(position == 1, "test", "train"))
    return table


def write_stage_inputs(folder: Path, table: pd.DataFrame | None = None) -> dict[str, Path]:
    """`folded.tsv` and `{train,val,test}.npz` in the encode stage's layout; returns their paths."""
    table = folded_molecules() if table is None else table
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"folded": folder / "folded.tsv"}
    write_tsv(table, paths["folded"])
    images, encodable = encode_many(table["sequence"].tolist(), table["structure"].tolist())
    for split in SPLITS:
        rows = (table["split"] == split).to_numpy()
        paths[split] = folder / f"{split}.npz"
        save_npz(paths[split], ids=table["id"].to_numpy(dtype=str)[rows], images=images[rows],
                 labels=table["label"].to_numpy(dtype=np.int8)[rows], encodable=encodable[rows])
    return paths


def tiny_settings(**changes: object) -> dict:
    """A `train_cvae:` section for a network small enough to train in about a second."""
    settings = {
        "epochs": 2,
        "batch_size": 8,
        "kl_anneal_epochs": 1,
        "threads": 1,
        "device": "cpu",
        "seed": 7,
        "model": {
            "latent_dim": 4,
            "channels": [8, 8],
            "hidden": 16,
            "token_dim": 8,
            "position_dim": 4,
            "decoder_hidden": 16,
        },
    }
    settings.update(changes)
    return settings


def trained_stage(folder: Path) -> dict[str, Path]:
    """Stage inputs in `folder` and a CVAE (`model`) trained on them for two epochs with
    `tiny_settings`."""
    from premirna.generator.train import train_cvae

    paths = write_stage_inputs(folder, folded_molecules())
    paths["model"] = folder / "model.pt"
    train_cvae(paths["train"], paths["val"], paths["folded"], paths["model"],
               folder / "history.tsv", folder / "reconstructions.png", None, tiny_settings())
    return paths

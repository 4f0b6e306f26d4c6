"""The encode stage and the encode/decode command-line tools: files in, files out."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from premirna.core.atomic import save_npz, write_tsv
from premirna.core.errors import InputError
from premirna.core.figures import pyplot, save_figure
from premirna.core.files import check_output
from premirna.core.splits import SPLITS
from premirna.core.tables import read_table
from premirna.encode.decode import decode_many
from premirna.encode.images import read_images
from premirna.encode.render import encode_many
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings, fold_sequences, sequence_problem

log = logging.getLogger(__name__)

def _encode_rows(
    table: Any, sequences: list[str], structures: list[str], path: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    """`encode_many` whose errors name the row by its id, as the other stages do."""
    try:
        return encode_many(sequences, structures, source=str(path))
    except InputError as err:
        if err.record is None:
            raise
        raise InputError(path, err.problem, record=table["id"].iat[int(err.record)]) from err


def encode_table(
    in_tsv: str | os.PathLike[str],
    out_npz: str | os.PathLike[str],
    *,
    processes: int = 1,
    fold: FoldSettings = DEFAULT_FOLD,
) -> int:
    """`python -m premirna encode IN.tsv OUT.npz`: draw every row of a table.

    IN has columns ``id``, ``sequence`` and optionally ``structure`` (folded with energy model
    `fold` when the column is absent). OUT holds ``ids`` (str), ``images`` (uint8,
    N x 25 x 100 x 3), ``encodable`` (bool) and ``lengths`` (int32, nt). Returns the number of
    rows; logs how many had no hairpin loop. Ids must be unique, as `fold` and `classify` ask.
    """
    check_output(out_npz)
    table = read_table(in_tsv, ("id", "sequence"))
    duplicated = table["id"][table["id"].duplicated()]
    if len(duplicated):
        raise InputError(in_tsv, "duplicate id", record=duplicated.iloc[0])
    sequences = table["sequence"].tolist()
    if "structure" in table.columns:
        structures = table["structure"].tolist()
    else:
        for record_id, sequence in zip(table["id"], sequences, strict=True):
            problem = sequence_problem(sequence)
            if problem:
                raise InputError(in_tsv, problem, record=record_id)
        folds = fold_sequences(sequences, processes=processes, fold=fold)
        structures = [structure for structure, _ in folds]
    images, encodable = _encode_rows(table, sequences, structures, in_tsv)
    if (~encodable).any():
        log.warning("%d of %d rows have no hairpin loop: all-black images",
                    int((~encodable).sum()), len(encodable))
    save_npz(out_npz, ids=table["id"].to_numpy(dtype=str), images=images, encodable=encodable,
             lengths=np.array([len(s) for s in sequences], dtype=np.int32))
    return len(table)


def decode_file(in_npz: str | os.PathLike[str], out_tsv: str | os.PathLike[str]) -> int:
    """`python -m premirna decode IN.npz OUT.tsv`: recover id, sequence, structure from images.

    IN holds ``images`` (N x 25 x 100 x 3 uint8) and optionally ``ids``; OUT has columns ``id``,
    ``sequence``, ``structure`` (empty for an all-black image). Returns the number of rows.
    """
    check_output(out_tsv)
    found = read_images(in_npz, encodable_only=False, as_uint8=False)
    ids, images = found.ids, found.images
    try:
        sequences, structures = decode_many(images, source=str(in_npz))
    except InputError as err:
        if err.record is None:
            raise
        raise InputError(in_npz, err.problem, record=ids[int(err.record)]) from err
    write_tsv(pd.DataFrame({"id": ids, "sequence": sequences, "structure": structures}), out_tsv)
    return len(ids)


def encode_splits(
    folded_tsv: str | os.PathLike[str],
    outputs: Mapping[str, str | os.PathLike[str]],
    examples_png: str | os.PathLike[str],
    *,
    n_examples: int = 4,
    seed: int = 0,
) -> dict[str, int]:
    """The `encode` stage: ``results/fold/folded.tsv`` -> one npz per split and an example figure.

    `outputs` maps each split (train, val, test) to its npz: ``ids`` (str), ``images`` (uint8),
    ``labels`` (int8), ``encodable`` (bool; False = no hairpin loop, an all-black image to
    leave out of training) and ``lengths`` (int32, nt: the classifier records the range it was
    trained on). `examples_png` shows `n_examples` positives and as many negatives
    (seeded choice among the encodable test rows, or any split if test has too few). Returns the
    rows per split.
    """
    table = read_table(folded_tsv, ("id", "sequence", "structure", "label", "split"))
    unknown = sorted(set(table["split"]) - set(SPLITS))
    if unknown:
        raise InputError(folded_tsv, f"unknown split names: {', '.join(unknown)}")
    bad_label = ~pd.to_numeric(table["label"], errors="coerce").isin([0, 1])
    if bad_label.any():
        row = int(np.argmax(bad_label.to_numpy()))
        raise InputError(folded_tsv, f"label {table['label'].iat[row]!r} is not 0 or 1",
                         record=table["id"].iat[row])
    images, encodable = _encode_rows(
        table, table["sequence"].tolist(), table["structure"].tolist(), folded_tsv
    )
    labels = table["label"].astype(np.int8).to_numpy()
    ids = table["id"].to_numpy(dtype=str)
    lengths = table["sequence"].str.len().to_numpy(dtype=np.int32)
    split = table["split"].to_numpy()
    counts: dict[str, int] = {}
    for name in SPLITS:
        rows = split == name
        save_npz(outputs[name], ids=ids[rows], images=images[rows], labels=labels[rows],
                 encodable=encodable[rows], lengths=lengths[rows])
        counts[name] = int(rows.sum())
        log.info("%s: %d molecules, %d without a hairpin loop", name, counts[name],
                 int((~encodable[rows]).sum()))
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in (1, 0):
        pool = np.flatnonzero(encodable & (labels == label) & (split == "test"))
        if len(pool) < n_examples:
            pool = np.flatnonzero(encodable & (labels == label))
        chosen.extend(sorted(rng.choice(pool, size=min(n_examples, len(pool)), replace=False)))
    titles = [f"{ids[i]} ({'pre-miRNA' if labels[i] == 1 else 'negative'})" for i in chosen]
    plot_examples(images[chosen], titles, examples_png)
    return counts


def plot_examples(
    images: np.ndarray, titles: Sequence[str], path: str | os.PathLike[str]
) -> None:
    """A column of images, each drawn large with nearest-neighbour pixels and its title."""
    plt = pyplot()
    n = max(len(images), 1)
    fig, axes = plt.subplots(n, 1, figsize=(9.0, 2.9 * n), squeeze=False)
    for ax, image, title in zip(axes[:, 0], images, titles, strict=False):
        ax.imshow(image, interpolation="nearest", aspect="equal")
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xticks([0, 20, 40, 60, 80, 99])
        ax.set_yticks([0, 12, 13, 24])
        ax.set_xlabel("column (0 = terminal loop)", fontsize=9)
        ax.tick_params(labelsize=9)
    for ax in axes[len(images):, 0]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)

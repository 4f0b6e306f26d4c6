"""Latent traversals: the generate stage walks each latent dimension with the others at 0 and
re-folds what the decoder draws, so that the interpretation stage can read what each dimension
changes (`premirna.interpret.cvae`). The walk spans -range .. +range prior SD, or the training
pre-miRNAs' posterior means on that dimension (`traversal_span: data`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from premirna.core.seeds import offset
from premirna.generator.conditions import binned_reference, make_conditions
from premirna.generator.config import GenerateConfig
from premirna.generator.network import CVAE
from premirna.generator.posterior import training_posteriors
from premirna.generator.sample import Decoded, decode_latents, gumbel_noise
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings, fold_sequences
from premirna.rna.structure import features

#: Attributes of re-folded traversal molecules written to the traversal table.
TRAVERSAL_ATTRIBUTES: tuple[str, ...] = (
    "length", "gc", "mfe_per_nt", "hairpin_loops", "loop_size", "stem_length", "bulges",
    "internal_loops",
)


def traverse(
    model: CVAE,
    checkpoint: Mapping[str, Any],
    config: GenerateConfig,
    fold: FoldSettings = DEFAULT_FOLD,
    processes: int = 1,
    spans: np.ndarray | None = None,
) -> tuple[pd.DataFrame, Decoded]:
    """Latent traversals: for every dimension d, z = value * e_d for `traversal_steps` values
    from -range to +range (other dimensions 0), or from `spans[d, 0]` to `spans[d, 1]` when
    `spans` (latent_dim x 2) is given; pre-miRNA class, attributes unspecified,
    `traversal_samples` molecules per value drawn with the same noise at every value. Returns the
    table of re-folded attributes (dimension, step, value, sample, ..., `TRAVERSAL_ATTRIBUTES`)
    and the decoded molecules in table order."""
    dim = model.config.latent_dim
    if spans is None:
        spans = np.tile([-config.traversal_range, config.traversal_range], (dim, 1))
    n_samples = config.traversal_samples
    generator = torch.Generator().manual_seed(offset(config.seed, "traversal"))
    shape = (n_samples, model.config.columns, model.config.vocabulary)
    noise = gumbel_noise(shape, generator)
    rows, z_all, noise_all = [], [], []
    for d in range(dim):
        for step, value in enumerate(np.linspace(spans[d, 0], spans[d, 1],
                                                 config.traversal_steps)):
            z = np.zeros((n_samples, dim), dtype=np.float32)
            z[:, d] = value
            z_all.append(z)
            noise_all.append(noise)
            rows += [(d, step, float(value), k) for k in range(n_samples)]
    z = np.concatenate(z_all)
    conditions = make_conditions(np.ones(len(z), dtype=np.int64), None, checkpoint["bins"])
    decoded = decode_latents(model, z, conditions, config.decoding, noise=torch.cat(noise_all),
                             batch_size=config.batch_size)
    frame = pd.DataFrame(rows, columns=["dimension", "step", "value", "sample"])
    frame.insert(0, "id", [f"trav_z{d}_{step}_{k}" for d, step, _, k in rows])
    frame["sequence"] = decoded.sequences
    frame["intended"] = decoded.structures
    folds = fold_sequences(decoded.sequences, processes=processes, fold=fold)
    frame["refolded"] = [s for s, _ in folds]
    frame["mfe"] = [e for _, e in folds]
    feats = pd.DataFrame(
        [features(q, s, e) for q, (s, e) in zip(decoded.sequences, folds, strict=True)]
    )
    for name in TRAVERSAL_ATTRIBUTES:
        frame[name] = feats[name].to_numpy()
    frame["valid"] = frame["hairpin_loops"] == 1
    return frame, decoded


def data_spans(
    posterior: Mapping[str, tuple[np.ndarray, np.ndarray]], table: pd.DataFrame,
    low: float = 1.0, high: float = 99.0,
) -> np.ndarray:
    """latent_dim x 2: the `low` and `high` percentiles of the posterior means of the training
    pre-miRNAs in `posterior` (id -> (mean, SD)) on every latent dimension."""
    labels = table["label"].astype(int)
    means = np.array([mu for name, (mu, _) in posterior.items() if labels.get(name) == 1])
    if not len(means):
        raise ValueError("generate.traversal_span data: no training pre-miRNA to take the span "
                         "from")
    return np.percentile(means, [low, high], axis=0).T


def traversal_spans(
    model: CVAE, checkpoint: Mapping[str, Any], config: GenerateConfig,
    image_npz: Sequence[str | Path], table: pd.DataFrame,
    posterior: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray | None:
    """The spans `traverse` walks: None (the prior's -range .. +range) unless
    `config.traversal_span` is "data", then `data_spans` of the training pre-miRNAs' posteriors
    (`posterior` when the caller has them, else encoded from `image_npz`)."""
    if config.traversal_span != "data":
        return None
    if posterior is None:
        posterior = training_posteriors(model, checkpoint, binned_reference(table, checkpoint),
                                        image_npz, table)
    return data_spans(posterior, table)

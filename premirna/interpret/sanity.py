"""Can the maps be trusted: the model-randomisation check and agreement between methods."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import nn

from premirna.core.seeds import offset
from premirna.interpret.attribution import (
    CONTROL,
    InterpretConfig,
    attribute,
    baseline_image,
    pixel_maps,
)

log = logging.getLogger(__name__)

def randomised_copy(model: nn.Module, seed: int) -> nn.Module:
    """A copy of `model` with every layer re-initialised (seeded): the full model randomisation of
    Adebayo et al. 2018. Batch-norm layers go back to their initial state (scale 1, shift 0,
    running mean 0, variance 1), so no trained statistic survives either."""
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in clone.modules():
        if module is not clone and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return clone.eval()


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between row i of `a` and row i of `b` (maps flattened).

    A row that is constant in either (a Grad-CAM that is zero everywhere, say) gets 0: a map
    that lost all its structure has certainly changed."""
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denominator = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    numerator = (ra * rb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)
    return rho


def sanity_check(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    methods: Sequence[str],
    config: InterpretConfig,
    trained_maps: Mapping[str, np.ndarray] | None = None,
    attribute_fn: Callable[..., tuple[torch.Tensor, torch.Tensor | None]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model-randomisation test (Adebayo et al. 2018) for each method.

    Maps of the trained model and of a fully randomised copy (`randomised_copy`) are compared per
    molecule by Spearman rank correlation of the pixel magnitudes over the whole image. A method
    whose median correlation is at or above `config.sanity_threshold` is flagged FAILS: its maps
    hardly depend on the weights. The same comparison over the drawn pixels only (those that
    differ from the baseline) is reported beside it (`verdict_drawn`): white-baseline methods give
    exact zeros on every white pixel whatever the weights, and those shared zeros alone raise the
    whole-image correlation. `trained_maps` reuses maps already computed for the same inputs;
    `attribute_fn` replaces `attribute` (tests plug in rigged methods). Returns the summary (one
    row per method) and the per-molecule correlations (method, molecule, spearman,
    spearman_drawn).
    """
    fn = attribute_fn or attribute
    random_model = randomised_copy(model, offset(config.seed, "randomised_weights"))
    baseline = baseline_image(config.baseline)
    rows, per_molecule = [], []
    # Pixels that differ from the baseline in any channel: the drawing itself.
    drawn_masks = (inputs != baseline.to(inputs.device)).any(dim=1).numpy()
    for method in methods:
        maps = {}
        for name, net in (("trained", model), ("random", random_model)):
            if name == "trained" and trained_maps is not None and method in trained_maps:
                maps[name] = trained_maps[method]
                continue
            parts = []
            for first in range(0, len(inputs), config.batch_size):
                batch = inputs[first : first + config.batch_size]
                result, _ = fn(method, net, batch, targets[first : first + config.batch_size],
                               baseline, config)
                parts.append(pixel_maps(result))
            maps[name] = np.concatenate(parts)
        rho = rowwise_spearman(maps["trained"], maps["random"])
        drawn = np.array([
            rowwise_spearman(t[mask][None], r[mask][None])[0] if mask.sum() > 1 else 0.0
            for t, r, mask in zip(maps["trained"], maps["random"], drawn_masks, strict=True)
        ])
        per_molecule.append(pd.DataFrame({"method": method, "molecule": np.arange(len(rho)),
                                          "spearman": rho, "spearman_drawn": drawn}))
        median, median_drawn = float(np.median(rho)), float(np.median(drawn))
        rows.append(
            {
                "method": method,
                "n_molecules": len(rho),
                "spearman_median": median,
                "spearman_q1": float(np.quantile(rho, 0.25)),
                "spearman_q3": float(np.quantile(rho, 0.75)),
                "share_above_threshold": float(np.mean(rho >= config.sanity_threshold)),
                "threshold": config.sanity_threshold,
                "verdict": "FAILS (map hardly changes with random weights)"
                if median >= config.sanity_threshold
                else "passes",
                "spearman_drawn_median": median_drawn,
                "verdict_drawn": "FAILS" if median_drawn >= config.sanity_threshold
                else "passes",
                "is_control": method == CONTROL,
            }
        )
        log.info("sanity check %s: median Spearman trained vs random %.3f, drawn pixels %.3f "
                 "(%s)", method, median, median_drawn, rows[-1]["verdict"])
    return pd.DataFrame(rows), pd.concat(per_molecule, ignore_index=True)


def method_agreement(maps: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Median over molecules of the Spearman correlation between the maps of every two methods
    (a square table, methods on both axes)."""
    names = list(maps)
    matrix = np.eye(len(names))
    for i, first in enumerate(names):
        for j in range(i + 1, len(names)):
            rho = float(np.median(rowwise_spearman(maps[first], maps[names[j]])))
            matrix[i, j] = matrix[j, i] = rho
    frame = pd.DataFrame(matrix, index=names, columns=names)
    frame.index.name = "method"
    return frame

"""The conditions of the CVAE: the class and binned hairpin attributes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

log = logging.getLogger(__name__)

#: Hairpin attributes that can be conditions (columns of results/fold/folded.tsv).
CONDITION_ATTRIBUTES: tuple[str, ...] = ("stem_length", "loop_size", "gc", "mfe_per_nt")


def bin_names(n_bins: int) -> list[str]:
    """Readable names of `n_bins` quantile bins: low/mid/high for 3, q1..qn otherwise."""
    named = {2: ["low", "high"], 3: ["low", "mid", "high"], 4: ["low", "midlow", "midhigh", "high"]}
    return named.get(n_bins, [f"q{k + 1}" for k in range(n_bins)])


def quantile_bins(
    attributes: pd.DataFrame, labels: np.ndarray, names: list[str], n_bins: int
) -> dict[str, list[float]]:
    """Inner bin edges (n_bins - 1, increasing) of each attribute: quantiles of the pre-miRNAs.

    Edges are lower-inclusive (`assign_bins`); repeated quantiles of a whole-number attribute are
    kept, which leaves that bin empty rather than shifting the others.
    """
    chosen = attributes[labels == 1] if (labels == 1).any() else attributes
    edges = {}
    for name in names:
        values = chosen[name].to_numpy(dtype=np.float64)
        values = values[~np.isnan(values)]
        if not len(values):
            raise ValueError(f"no values of {name} to bin")
        qs = np.quantile(values, np.arange(1, n_bins) / n_bins)
        edges[name] = [float(q) for q in qs]
    return edges


def assign_bins(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin index of each value (lower-inclusive edges); NaN -> -1."""
    values = np.asarray(values, dtype=np.float64)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return np.where(np.isnan(values), -1, index).astype(np.int64)


def condition_sizes(n_attributes: int, n_bins: int) -> list[int]:
    """Categories of each condition: the class (0, 1, any), then each attribute's bins + any."""
    return [3] + [n_bins + 1] * n_attributes


def make_conditions(
    labels: np.ndarray | None,
    attributes: pd.DataFrame | None,
    bins: dict[str, list[float]],
    n_rows: int | None = None,
) -> np.ndarray:
    """Condition matrix N x (1 + attributes): class, then each attribute's bin (the checkpoint's
    `bins` order). `labels=None` or `attributes=None` leave those conditions "not specified"
    (the last category); so does a missing attribute value."""
    n = n_rows if n_rows is not None else (len(labels) if labels is not None else len(attributes))
    names = list(bins)
    out = np.empty((n, 1 + len(names)), dtype=np.int64)
    out[:, 0] = 2 if labels is None else np.asarray(labels, dtype=np.int64)
    for k, name in enumerate(names, start=1):
        n_bins = len(bins[name]) + 1
        if attributes is None:
            out[:, k] = n_bins
        else:
            index = assign_bins(attributes[name].to_numpy(dtype=np.float64), bins[name])
            out[:, k] = np.where(index < 0, n_bins, index)
    return out


def hide_conditions(
    conditions: torch.Tensor,
    sizes: list[int],
    rate: float,
    generator: torch.Generator,
    all_rate: float = 0.0,
) -> torch.Tensor:
    """Replace each condition by "not specified" (its last category) with probability `rate`,
    and all conditions of a row at once with probability `all_rate`."""
    if rate <= 0 and all_rate <= 0:
        return conditions
    hidden = torch.rand(conditions.shape, generator=generator) < rate
    hidden |= torch.rand((len(conditions), 1), generator=generator) < all_rate
    unspecified = torch.tensor(sizes, dtype=conditions.dtype).sub(1).expand_as(conditions)
    return torch.where(hidden, unspecified, conditions)


def hide_tokens(
    previous: torch.Tensor, start_token: int, rate: float, generator: torch.Generator
) -> torch.Tensor:
    """Word dropout (Bowman et al. 2016): replace decoder inputs by the start token with
    probability `rate`, so that the decoder has to lean on z."""
    if rate <= 0:
        return previous
    hidden = torch.rand(previous.shape, generator=generator) < rate
    return torch.where(hidden, torch.full_like(previous, start_token), previous)


@dataclass
class Condition:
    """One requested condition: a class and, for some attributes, a bin (index)."""

    name: str  # readable, e.g. "pre-miRNA, stem_length=high"
    label: int | None  # 1 = pre-miRNA, 0 = not, None = not specified
    bins: dict[str, int]  # attribute -> requested bin index


def requested_columns(condition: Condition, checkpoint: Mapping[str, Any]) -> np.ndarray:
    """Which columns of a condition row (class, then the checkpoint's attributes) are bins that
    `condition` asks for (the class, guided on its own, never is)."""
    asked = [False] + [a in condition.bins for a in checkpoint["attributes"]]
    return np.array(asked, dtype=bool)


def _bin_index(value: Any, attribute: str, names: list[str], n_bins: int) -> int:
    if isinstance(value, str) and value in names:
        return names.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n_bins:
        return value
    raise ValueError(f"generate.conditions: {attribute}={value!r} is not one of {names} "
                     f"or 0..{n_bins - 1}")


def parse_conditions(spec: Any, checkpoint: Mapping[str, Any]) -> list[Condition]:
    """The conditions of the config: "single" or a list of {label: ..., attribute: bin}.

    "single" gives the pre-miRNA class alone, then the pre-miRNA class with each bin of each
    conditioned attribute alone. Bins are named as in the checkpoint (`bin_names`) or indexed.
    """
    attributes = list(checkpoint["attributes"])
    names = list(checkpoint["bin_names"])
    n_bins = len(names)
    if spec == "single":
        spec = [{"label": 1}] + [
            {"label": 1, attribute: name} for attribute in attributes for name in names
        ]
    if not isinstance(spec, list) or not spec:
        raise ValueError("generate.conditions must be 'single' or a non-empty list of mappings")
    out = []
    for entry in spec:
        entry = dict(entry)
        label = entry.pop("label", None)
        if label not in (None, 0, 1):
            raise ValueError(f"generate.conditions: label must be 0, 1 or absent, not {label!r}")
        unknown = set(entry) - set(attributes)
        if unknown:
            raise ValueError(f"generate.conditions: {sorted(unknown)} are not conditions of "
                             f"this model ({attributes})")
        bins = {a: _bin_index(v, a, names, n_bins) for a, v in entry.items()}
        words = ["pre-miRNA" if label == 1 else "not pre-miRNA" if label == 0 else "any class"]
        words += [f"{a}={names[b]}" for a, b in bins.items()]
        out.append(Condition(", ".join(words), label, bins))
    return out


def condition_rows(
    condition: Condition,
    n: int,
    checkpoint: Mapping[str, Any],
    reference: pd.DataFrame | None,
    rng: np.random.Generator,
    sources: list[str] | None = None,
) -> np.ndarray:
    """Condition matrix (n x K) for one requested condition.

    With `reference` (training molecules with `id`, `label` and the attributes' bins), the
    attributes the condition leaves open are drawn jointly from the reference molecules of the
    same class that fall in the requested bins (ancestral sampling of the conditions: the open
    attributes keep their real distribution and correlations); without it, or if none match,
    they stay "not specified". If `sources` is a list, the id of the reference molecule behind
    each row is appended to it ("" where none).
    """
    attributes = list(checkpoint["attributes"])
    n_bins = len(checkpoint["bin_names"])
    rows = np.empty((n, 1 + len(attributes)), dtype=np.int64)
    rows[:, 0] = 2 if condition.label is None else condition.label
    for k, attribute in enumerate(attributes, start=1):
        rows[:, k] = condition.bins.get(attribute, n_bins)
    if reference is None:
        if sources is not None:
            sources.extend([""] * n)
        return rows
    pool = reference
    if condition.label is not None:
        pool = reference[reference["label"] == condition.label]
    keep = np.ones(len(pool), dtype=bool)
    for attribute, wanted in condition.bins.items():
        keep &= pool[f"bin_{attribute}"].to_numpy() == wanted
    pool = pool[keep]
    if pool.empty:
        log.warning("no training molecule matches %s: open attributes stay unspecified",
                    condition.name)
        if sources is not None:
            sources.extend([""] * n)
        return rows
    drawn = pool.iloc[rng.integers(len(pool), size=n)]
    if sources is not None:
        sources.extend(drawn["id"].astype(str).tolist())
    for k, attribute in enumerate(attributes, start=1):
        if attribute not in condition.bins:
            values = drawn[f"bin_{attribute}"].to_numpy()
            rows[:, k] = np.where(values < 0, n_bins, values)
    return rows


def binned_reference(table: pd.DataFrame, checkpoint: Mapping[str, Any]) -> pd.DataFrame:
    """Training-split molecules of the fold table with each attribute's bin (`bin_<attribute>`)."""
    train = table[table["split"] == "train"] if "split" in table else table
    out = pd.DataFrame(
        {"id": train.index.astype(str), "label": train["label"].astype(int).to_numpy()}
    )
    for attribute, edges in checkpoint["bins"].items():
        out[f"bin_{attribute}"] = assign_bins(train[attribute].to_numpy(dtype=float), edges)
    return out

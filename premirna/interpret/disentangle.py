"""How disentangled the CVAE's latent space is with respect to named hairpin attributes.

Two published scores, both against attributes of real molecules (`premirna.rna.attributes`):

* **MIG**, the mutual information gap (Chen, Li, Grosse & Duvenaud, NeurIPS 2018, "Isolating
  sources of disentanglement in VAEs"): per attribute, the mutual information of the attribute with
  the most informative single latent dimension minus that with the second most informative one,
  divided by the attribute's entropy; 1 when one dimension alone carries the attribute, 0 when two
  carry it equally. Chen et al. integrate over the encoder's distribution; here, as in the
  benchmark of Locatello et al. (ICML 2019), both sides are discretised and the plug-in estimate of
  the mutual information is used: an attribute with at most `bins` distinct values keeps them as
  categories, any other is cut into `bins` equal-frequency bins (quantiles of the molecules
  measured), and each latent mean into `latent_bins` equal-frequency bins. The plug-in estimate is
  biased upward by about (bins - 1)(latent_bins - 1) / 2n nats for every dimension alike, which the
  gap largely cancels. A seeded bootstrap over molecules (with the bins kept) gives a 95 %
  percentile interval; resampling repeats molecules, which lifts the plug-in MI of uninformative
  dimensions a little, so the interval can sit slightly below the estimate.
* **DCI** (Eastwood & Williams, ICLR 2018, "A framework for the quantitative evaluation of
  disentangled representations"): one regressor per attribute from the whole latent vector
  (gradient-boosted trees of scikit-learn, or a cross-validated lasso), fitted on a seeded part of
  the molecules; the importance of each dimension for each attribute forms a matrix R.
  Disentanglement of a dimension is 1 minus the entropy (base: number of attributes) of its row of
  R, weighted over dimensions by their share of all importance; completeness of an attribute is 1
  minus the entropy (base: number of dimensions) of its column; informativeness is the held-out R²
  (and RMSE in units of the attribute's SD) of its regressor.

`traversal_monotonicity` reads the generate stage's latent traversals: per latent dimension and
attribute of the refolded molecules, Spearman's rho with the position along the axis, whether a
dimension tied to that attribute (AR-VAE, `premirna.generator.attribute_loss`) moves it
monotonically (|rho| >= a threshold), and optionally the share of each dimension's molecules that
the independent judge (`premirna.validate.judge`) calls pre-miRNAs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

Judge = Callable[[Sequence[str], Sequence[str]], np.ndarray]


def discretise(values: np.ndarray, bins: int) -> np.ndarray:
    """Integer codes 0..k-1 of finite `values`: the distinct values themselves when there are at
    most `bins` of them, else `bins` equal-frequency bins (ties may merge some)."""
    values = np.asarray(values, dtype=float)
    distinct = np.unique(values)
    if len(distinct) <= bins:
        return np.searchsorted(distinct, values)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, values, side="right")


def entropy(codes: np.ndarray) -> float:
    """Shannon entropy (nats) of the empirical distribution of integer `codes`."""
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information (nats) of two integer code vectors of equal length."""
    n_b = int(b.max()) + 1
    joint = np.bincount(a * n_b + b, minlength=(int(a.max()) + 1) * n_b).reshape(-1, n_b)
    joint = joint / joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def _gap(codes: np.ndarray, latent_codes: np.ndarray) -> tuple[np.ndarray, float]:
    """MI of the attribute codes with every latent dimension, and the normalised gap."""
    mi = np.array([mutual_information(codes, latent_codes[:, d])
                   for d in range(latent_codes.shape[1])])
    h = entropy(codes)
    top = np.sort(mi)[::-1]
    second = top[1] if len(top) > 1 else 0.0
    return mi, float((top[0] - second) / h) if h > 0 else math.nan


def mig(
    z: np.ndarray, attributes: pd.DataFrame, bins: int = 10, latent_bins: int = 10,
    bootstrap: int = 200, seed: int = 0,
) -> pd.DataFrame:
    """One row per attribute: n, distinct codes, entropy (nats), the two most informative
    dimensions and their MI, the MIG and its seeded bootstrap 95 % interval (NaN where the
    attribute has one value or fewer than 10 molecules)."""
    rng = np.random.default_rng(seed)
    rows = []
    for name in attributes.columns:
        values = attributes[name].to_numpy(dtype=float)
        ok = np.isfinite(values)
        row: dict = {"attribute": name, "n": int(ok.sum()), "bins": 0, "entropy": math.nan,
                     "top_dimension": -1, "mi_top": math.nan, "second_dimension": -1,
                     "mi_second": math.nan, "mig": math.nan, "mig_low": math.nan,
                     "mig_high": math.nan}
        if ok.sum() < 10 or np.ptp(values[ok]) == 0:
            rows.append(row)
            continue
        codes = discretise(values[ok], bins)
        latent_codes = np.column_stack([discretise(z[ok, d], latent_bins)
                                        for d in range(z.shape[1])])
        mi, gap = _gap(codes, latent_codes)
        order = np.argsort(mi)[::-1]
        row.update(bins=int(codes.max()) + 1, entropy=entropy(codes), mig=gap,
                   top_dimension=int(order[0]), mi_top=float(mi[order[0]]),
                   second_dimension=int(order[1]) if len(order) > 1 else -1,
                   mi_second=float(mi[order[1]]) if len(order) > 1 else 0.0)
        if bootstrap:
            draws = [_gap(codes[i], latent_codes[i])[1] for i in
                     (rng.integers(0, len(codes), len(codes)) for _ in range(bootstrap))]
            row["mig_low"], row["mig_high"] = (float(v) for v in
                                               np.nanpercentile(draws, [2.5, 97.5]))
        rows.append(row)
    return pd.DataFrame(rows)


def _regressor(kind: str, seed: int):
    if kind == "trees":
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=seed)
    from sklearn.linear_model import LassoCV

    return LassoCV(cv=5, random_state=seed, max_iter=5000)


def _importance(model) -> np.ndarray:
    raw = model.feature_importances_ if hasattr(model, "feature_importances_") else np.abs(
        model.coef_)
    total = raw.sum()
    return raw / total if total > 0 else np.zeros_like(raw)


def _one_minus_entropy(p: np.ndarray, base: int) -> float:
    total = p.sum()
    if total <= 0 or base < 2:
        return math.nan
    p = p / total
    p = p[p > 0]
    return float(1 + (p * np.log(p)).sum() / math.log(base))


def dci(
    z: np.ndarray, attributes: pd.DataFrame, regressor: str = "trees", test_share: float = 0.3,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Eastwood & Williams (2018): (importance matrix, dimensions x attributes; per attribute n,
    completeness, held-out R² and RMSE in SD; per dimension disentanglement and weight; overall
    disentanglement, completeness and informativeness). The latent means are standardised."""
    scaled = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)
    importance = pd.DataFrame(0.0, index=range(z.shape[1]), columns=list(attributes.columns))
    rows = []
    for k, name in enumerate(attributes.columns):
        values = attributes[name].to_numpy(dtype=float)
        ok = np.flatnonzero(np.isfinite(values))
        row = {"attribute": name, "n": len(ok), "completeness": math.nan,
               "informativeness_r2": math.nan, "rmse_sd": math.nan}
        if len(ok) < 10 or np.ptp(values[ok]) == 0:
            importance[name] = math.nan
            rows.append(row)
            continue
        order = np.random.default_rng([seed, k]).permutation(ok)
        n_test = max(2, int(round(test_share * len(order))))
        test, train = order[:n_test], order[n_test:]
        mean, sd = values[train].mean(), values[train].std() or 1.0
        model = _regressor(regressor, seed).fit(scaled[train], (values[train] - mean) / sd)
        error = model.predict(scaled[test]) - (values[test] - mean) / sd
        truth = (values[test] - mean) / sd
        importance[name] = _importance(model)
        row.update(completeness=_one_minus_entropy(importance[name].to_numpy(), z.shape[1]),
                   informativeness_r2=float(1 - (error ** 2).sum() / ((truth - truth.mean()) ** 2)
                                            .sum()),
                   rmse_sd=float(np.sqrt((error ** 2).mean())))
        rows.append(row)
    per_attribute = pd.DataFrame(rows)
    matrix = importance.dropna(axis=1, how="all").to_numpy()
    weights = matrix.sum(1) / matrix.sum() if matrix.size and matrix.sum() > 0 else np.zeros(
        len(importance))
    per_dimension = pd.DataFrame({
        "dimension": importance.index,
        "disentanglement": [_one_minus_entropy(r, matrix.shape[1]) for r in matrix]
        if matrix.size else math.nan,
        "weight": weights,
    })
    overall = {
        "disentanglement": float(np.nansum(per_dimension["disentanglement"] * weights))
        if matrix.shape[1] >= 2 else math.nan,
        "completeness": float(per_attribute["completeness"].mean()),
        "informativeness": float(per_attribute["informativeness_r2"].mean()),
    }
    return importance, per_attribute, per_dimension, overall


def disentanglement(
    z: np.ndarray, attributes: pd.DataFrame, *, bins: int = 10, latent_bins: int = 10,
    bootstrap: int = 200, regressor: str = "trees", test_share: float = 0.3, seed: int = 0,
    tied: Mapping[str, int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The disentanglement table and the DCI importance matrix. The table has one row per
    attribute (`kind` "attribute": MIG with its interval, DCI completeness and informativeness,
    the dimension it is tied to or -1), one per latent dimension ("dimension": DCI
    disentanglement and weight) and one "overall" row (mean MIG over the attributes measured;
    DCI disentanglement, completeness, informativeness)."""
    gaps = mig(z, attributes, bins, latent_bins, bootstrap, seed)
    importance, per_attribute, per_dimension, overall = dci(z, attributes, regressor,
                                                            test_share, seed)
    table = gaps.merge(per_attribute.drop(columns="n"), on="attribute")
    table.insert(0, "kind", "attribute")
    table.insert(1, "subject", table["attribute"])
    table["tied_dimension"] = [int((tied or {}).get(a, -1)) for a in table["attribute"]]
    table["disentanglement"] = math.nan
    dims = pd.DataFrame({"kind": "dimension", "subject": [f"z{d}" for d in
                                                          per_dimension["dimension"]],
                         "disentanglement": per_dimension["disentanglement"],
                         "weight": per_dimension["weight"]})
    summary = pd.DataFrame([{"kind": "overall", "subject": "all", "mig": gaps["mig"].mean(),
                             "completeness": overall["completeness"],
                             "informativeness_r2": overall["informativeness"],
                             "disentanglement": overall["disentanglement"],
                             "n": int(len(z))}])
    out = pd.concat([table, dims, summary], ignore_index=True)
    out.loc[out["kind"] != "attribute", "attribute"] = ""
    importance.index = [f"z{d}" for d in importance.index]
    return out, importance.rename_axis("dimension").reset_index()


def traversal_monotonicity(
    traversals: pd.DataFrame, attributes: Sequence[str], tied: Mapping[str, int] | None = None,
    threshold: float = 0.9, judge: Judge | None = None,
    measured_as: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per (latent dimension, attribute of `attributes` that the traversal table holds,
    and every tied attribute): n; Spearman's rho of the refolded attribute with the position
    along the axis over every molecule (`spearman`: the trend and the decoder's sampling noise
    at each point together) and of its mean at each point (`spearman_means`: the trend alone,
    what "the attribute changes monotonically along the axis" asks); whether the attribute is
    tied to the dimension and, if so, whether |`spearman_means`| >= `threshold` ("yes"/"no");
    with `judge`, the share of the dimension's molecules (sequence, refolded structure) it
    scores above 0.5; `measured_as`, how each attribute was had from the molecule ("refolded"
    unless `measured_as` names it, as for the predicted mature starts)."""
    tied = dict(tied or {})
    names = list(dict.fromkeys([*(a for a in attributes if a in traversals), *tied]))
    share: dict[int, float] = {}
    if judge is not None and len(traversals):
        proba = judge(traversals["sequence"].astype(str).tolist(),
                      traversals["refolded"].astype(str).tolist())
        share = pd.Series(proba > 0.5).groupby(traversals["dimension"].to_numpy()).mean().to_dict()
    rows = []
    for dim, part in traversals.groupby("dimension", sort=True):
        for name in names:
            values = part[name].to_numpy(dtype=float) if name in part else np.full(len(part),
                                                                                   np.nan)
            ok, position = np.isfinite(values), part["value"].to_numpy(dtype=float)
            means = pd.Series(values[ok]).groupby(position[ok]).mean()
            rho, rho_means = (_spearman(position[ok], values[ok]),
                              _spearman(means.index.to_numpy(), means.to_numpy()))
            is_tied = tied.get(name) == int(dim)
            monotone = ("" if not is_tied else "not measured" if math.isnan(rho_means)
                        else "yes" if abs(rho_means) >= threshold else "no")
            rows.append({"dimension": int(dim), "attribute": name, "n": int(ok.sum()),
                         "spearman": rho, "spearman_means": rho_means, "tied": is_tied,
                         "monotone": monotone, "judge_share": share.get(dim, math.nan),
                         "measured_as": (measured_as or {}).get(name, "refolded")})
    return pd.DataFrame(rows, columns=["dimension", "attribute", "n", "spearman",
                                       "spearman_means", "tied", "monotone", "judge_share",
                                       "measured_as"])


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho of x and y; NaN with fewer than 3 points or a constant side."""
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y)[0])

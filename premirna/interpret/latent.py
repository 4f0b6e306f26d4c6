"""Which latent factors of the conditional VAE track which biological aspects of a hairpin.

The encoder of the trained CVAE (`premirna.generator.network`) maps held-out molecules to the means
of their latent posteriors; each latent dimension is then set against the hairpin attributes a
biologist reads off a fold: length, stem length, terminal-loop size, GC content, folding energy per
nucleotide, number of bulges, where the mature miRNAs sit on their arms (miRBase) and the
duplex-end asymmetry that decides which strand becomes the guide. For every
dimension and attribute: Spearman's rank correlation (with Benjamini-Hochberg q-values) and the
mutual information (the k-nearest-neighbour estimator of Kraskov, Stögbauer & Grassberger 2004, as
scikit-learn implements it); for every attribute, a cross-validated linear probe from the whole
latent vector (R²); for every dimension its activity (variance of the posterior means; below 0.01
the unit is collapsed, Burda, Grosse & Salakhutdinov 2016). A table in words says which factor
tracks which aspect and how strongly (Cohen's 1988 conventions for correlations: 0.1 small, 0.3
medium, 0.5 large). Latent traversals written by the generate stage (molecules decoded along one
dimension and refolded) are drawn per dimension. `interpret_cvae` is what the rule calls.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from premirna.core.settings import Settings, check_bounds
from premirna.rna.attributes import hairpin_attribute_frame

log = logging.getLogger(__name__)

#: Hairpin attributes compared with the latent factors, with the words used in the report.
ATTRIBUTES: dict[str, str] = {
    "length": "hairpin length",
    "stem_length": "stem length (base pairs)",
    "loop_size": "terminal-loop size",
    "gc": "GC content",
    "mfe_per_nt": "folding energy per nucleotide",
    "bulges": "number of bulges",
    "mature_5p_start": "start of the 5p miRNA (5' flank length)",
    "mature_3p_start": "start of the 3p miRNA (Dicer's cut on the 3' arm)",
    "mature_loop_distance": "distance from the 5p miRNA to the terminal loop",
    "mature_3p_loop_distance": "distance from the terminal loop to the 3p miRNA (Dicer's cut)",
    "duplex_asymmetry": "duplex-end asymmetry (5p end minus 3p end, kcal/mol)",
}

#: Cohen (1988): |r| of 0.1, 0.3 and 0.5 are small, medium and large effects.
STRENGTHS: tuple[tuple[float, str], ...] = ((0.5, "strongly"), (0.3, "moderately"),
                                            (0.1, "weakly"))

ACTIVE_VARIANCE = 0.01  # Burda et al. 2016: a unit is active if Var_x(E[z|x]) > 0.01


@dataclass
class LatentConfig(Settings):
    """Settings of the `interpret_cvae` stage (the `interpret_cvae:` config section)."""

    SECTION = "interpret_cvae"

    attributes: list[str] = field(default_factory=lambda: list(ATTRIBUTES))  # subset of ATTRIBUTES
    n_molecules: int = 0  # molecules of the split encoded (0 = all of them)
    conditions: str = "unspecified"  # "unspecified": every condition "any", so the latent must
    # carry the attributes itself; "given": the true class and attribute bins
    probe_folds: int = 5  # folds of the cross-validated linear probe
    mi_neighbors: int = 3  # k of the Kraskov mutual-information estimator
    q_threshold: float = 0.05  # Benjamini-Hochberg q below which a link counts as found
    seed: int = 20191108  # folds of the probe, noise of the MI estimator, choice of molecules
    threads: int = 2  # torch CPU threads
    mig_bins: int = 10  # MIG: an attribute with more distinct values is cut into this many
    # equal-frequency bins
    latent_bins: int = 10  # MIG: equal-frequency bins of each latent mean
    mig_bootstrap: int = 200  # bootstrap resamples of the molecules for MIG's interval; 0 = none
    dci_regressor: str = "trees"  # DCI's regressors: "trees" (gradient boosting) or "lasso"
    dci_test_share: float = 0.3  # share of the molecules held out for DCI's informativeness
    monotone_rho: float = 0.9  # |Spearman rho| along a traversal that counts as monotone

    def check(self) -> None:
        check_bounds(self, at_least={"mig_bins": 2, "latent_bins": 2, "mig_bootstrap": 0},
                     above={"dci_test_share": 0, "monotone_rho": 0},
                     below={"dci_test_share": 1}, at_most={"monotone_rho": 1})
        if self.dci_regressor not in ("trees", "lasso"):
            raise ValueError(f"interpret_cvae.dci_regressor {self.dci_regressor!r}: trees or "
                             "lasso")
        bad = [a for a in self.attributes if a not in ATTRIBUTES]
        if bad or not self.attributes:
            raise ValueError(f"interpret_cvae.attributes: unknown {bad}; "
                             f"choose from {list(ATTRIBUTES)}")
        if self.conditions not in ("unspecified", "given"):
            raise ValueError(f"interpret_cvae.conditions {self.conditions!r}: "
                             "unspecified or given")


def hairpin_attributes(folded: pd.DataFrame) -> pd.DataFrame:
    """The attributes of `ATTRIBUTES` per molecule, from the fold table
    (`premirna.rna.attributes.hairpin_attribute_frame`, docs/ARCHITECTURE.md): the fold stage's
    columns as they are, miRBase's 1-based starts of the 5p miRNA (Drosha's cut: how long the 5'
    flank is) and of the 3p miRNA, the distances of both miRNAs from the terminal loop, and the
    duplex-end asymmetry. NaN where miRBase gives no such miRNA (negatives, single-arm entries).
    """
    return hairpin_attribute_frame(folded, list(ATTRIBUTES))


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini & Hochberg (1995) q-values (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=float)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not len(ok):
        return q
    order = ok[np.argsort(p[ok])]
    ranked = p[order] * len(ok) / np.arange(1, len(ok) + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def latent_links(
    z: np.ndarray, attributes: pd.DataFrame, seed: int = 0, n_neighbors: int = 3
) -> pd.DataFrame:
    """One row per (latent dimension, attribute): n, Spearman's rho and its p and BH q-value, and
    the mutual information in nats (molecules where the attribute is missing are left out)."""
    from scipy.stats import spearmanr
    from sklearn.feature_selection import mutual_info_regression

    rows = []
    for name in attributes.columns:
        values = attributes[name].to_numpy(dtype=float)
        ok = ~np.isnan(values)
        usable = ok.sum() >= max(n_neighbors + 2, 5) and np.ptp(values[ok]) > 0
        if usable:
            mi = mutual_info_regression(z[ok], values[ok], n_neighbors=n_neighbors,
                                        random_state=seed)
        for dim in range(z.shape[1]):
            rho = p = info = math.nan
            if usable and np.ptp(z[ok, dim]) > 0:
                result = spearmanr(z[ok, dim], values[ok])
                rho, p, info = float(result[0]), float(result[1]), float(mi[dim])
            rows.append({"dimension": dim, "attribute": name, "n": int(ok.sum()),
                         "spearman": rho, "p_value": p, "mutual_information": info})
    table = pd.DataFrame(rows)
    table["q_value"] = benjamini_hochberg(table["p_value"].to_numpy())
    return table


def linear_probe(
    z: np.ndarray, attributes: pd.DataFrame, folds: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Cross-validated R² of a ridge regression from the whole (standardised) latent vector to
    each attribute: how much of the attribute is linearly readable from the latent space."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = []
    for name in attributes.columns:
        values = attributes[name].to_numpy(dtype=float)
        ok = ~np.isnan(values)
        n_folds = min(folds, int(ok.sum()) // 2)
        if n_folds < 2 or np.ptp(values[ok]) == 0:
            rows.append({"attribute": name, "n": int(ok.sum()), "r2_mean": math.nan,
                         "r2_sd": math.nan, "folds": n_folds})
            continue
        probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        scores = cross_val_score(probe, z[ok], values[ok], scoring="r2",
                                 cv=KFold(n_folds, shuffle=True, random_state=seed))
        rows.append({"attribute": name, "n": int(ok.sum()), "r2_mean": float(scores.mean()),
                     "r2_sd": float(scores.std(ddof=1)), "folds": n_folds})
    return pd.DataFrame(rows)


def activity(z: np.ndarray) -> np.ndarray:
    """Variance over molecules of each dimension's posterior mean (Burda et al. 2016)."""
    return z.var(axis=0)


def strength(rho: float) -> str:
    """Cohen's words for |rho|: strongly, moderately, weakly, or not at all."""
    if rho is None or math.isnan(rho):
        return "not measurably"
    for bound, word in STRENGTHS:
        if abs(rho) >= bound:
            return word
    return "not"


def describe(
    links: pd.DataFrame, probe: pd.DataFrame, variances: np.ndarray, q_threshold: float = 0.05
) -> pd.DataFrame:
    """The table in words: one row per latent dimension (its strongest link) and one per
    attribute (how well the latent space carries it, and by which dimension)."""
    rows = []
    for dim, variance in enumerate(variances):
        part = links[(links["dimension"] == dim) & links["spearman"].notna()]
        if variance < ACTIVE_VARIANCE:
            rows.append({"subject": f"z{dim}", "kind": "dimension", "attribute": "",
                         "spearman": math.nan, "r2": math.nan,
                         "statement": f"z{dim} is collapsed (variance of its posterior means "
                                      f"{variance:.3g} < {ACTIVE_VARIANCE}): it carries nothing."})
            continue
        if part.empty:
            continue
        best = part.loc[part["spearman"].abs().idxmax()]
        found = best["q_value"] < q_threshold
        direction = "rises" if best["spearman"] > 0 else "falls"
        words = strength(best["spearman"])
        if found and words != "not":
            others = part[(part["q_value"] < q_threshold) & (part["spearman"].abs() >= 0.3)
                          & (part["attribute"] != best["attribute"])]
            also = (" It also follows " + ", ".join(
                f"{ATTRIBUTES[a]} (ρ = {r:+.2f})" for a, r in
                zip(others["attribute"], others["spearman"], strict=True)) + ".") if len(
                others) else ""
            statement = (f"z{dim} {words} tracks {ATTRIBUTES[best['attribute']]}: "
                         f"{ATTRIBUTES[best['attribute']]} {direction} with z{dim} "
                         f"(Spearman ρ = {best['spearman']:+.2f}, MI = "
                         f"{best['mutual_information']:.2f} nats, n = {best['n']}).{also}")
        else:
            statement = (f"z{dim} tracks none of the attributes measurably (strongest: "
                         f"{ATTRIBUTES[best['attribute']]}, ρ = {best['spearman']:+.2f}, "
                         f"q = {best['q_value']:.2g}).")
        rows.append({"subject": f"z{dim}", "kind": "dimension", "attribute": best["attribute"],
                     "spearman": float(best["spearman"]), "r2": math.nan,
                     "statement": statement})
    for _, row in probe.iterrows():
        name = row["attribute"]
        part = links[(links["attribute"] == name) & links["spearman"].notna()]
        if part.empty or math.isnan(row["r2_mean"]):
            rows.append({"subject": ATTRIBUTES[name], "kind": "attribute", "attribute": name,
                         "spearman": math.nan, "r2": math.nan,
                         "statement": f"{ATTRIBUTES[name]}: not measurable here "
                                      f"(n = {row['n']})."})
            continue
        best = part.loc[part["spearman"].abs().idxmax()]
        r2 = float(row["r2_mean"])
        carried = ("well" if r2 >= 0.5 else "partly" if r2 >= 0.2 else "hardly")
        words = ATTRIBUTES[name]
        statement = (f"{words[0].upper() + words[1:]} is {carried} readable from the latent "
                     f"vector (cross-validated linear R² = {r2:.2f} ± {row['r2_sd']:.2f}); the "
                     f"dimension that follows it most is z{int(best['dimension'])} "
                     f"(ρ = {best['spearman']:+.2f}).")
        rows.append({"subject": ATTRIBUTES[name], "kind": "attribute", "attribute": name,
                     "spearman": float(best["spearman"]), "r2": r2, "statement": statement})
    return pd.DataFrame(rows)


def strongest_links(links: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The `n` (dimension, attribute) pairs with the largest |Spearman rho|."""
    ranked = links.dropna(subset=["spearman"]).copy()
    ranked["abs"] = ranked["spearman"].abs()
    return ranked.sort_values("abs", ascending=False).head(n).drop(columns="abs")


def analyse(
    z: np.ndarray, attributes: pd.DataFrame, config: LatentConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Links, probe, the table in words and the per-dimension activity for latent means `z`."""
    chosen = attributes[[a for a in config.attributes if a in attributes.columns]]
    links = latent_links(z, chosen, config.seed, config.mi_neighbors)
    probe = linear_probe(z, chosen, config.probe_folds, config.seed)
    variances = activity(z)
    summary = describe(links, probe, variances, config.q_threshold)
    return links, probe, summary, variances

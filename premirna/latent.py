"""Which latent factors of the conditional VAE track which biological aspects of a hairpin.

The encoder of the trained CVAE (`premirna.cvae`) maps held-out molecules to the means of their
latent posteriors; each latent dimension is then set against the hairpin attributes a biologist
reads off a fold: length, stem length, terminal-loop size, GC content, folding energy per
nucleotide, number of bulges, and where the mature miRNA sits on its arm (miRBase). For every
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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.atomic import write_tsv
from premirna.errors import InputError
from premirna.interpret import pyplot, save_figure
from premirna.settings import reject_unknown

log = logging.getLogger("premirna.latent")

#: Hairpin attributes compared with the latent factors, with the words used in the report.
ATTRIBUTES: dict[str, str] = {
    "length": "hairpin length",
    "stem_length": "stem length (base pairs)",
    "loop_size": "terminal-loop size",
    "gc": "GC content",
    "mfe_per_nt": "folding energy per nucleotide",
    "bulges": "number of bulges",
    "mature_5p_start": "start of the 5p miRNA (5' flank length)",
    "mature_loop_distance": "distance from the 5p miRNA to the terminal loop",
}
#: Cohen (1988): |r| of 0.1, 0.3 and 0.5 are small, medium and large effects.
STRENGTHS: tuple[tuple[float, str], ...] = ((0.5, "strongly"), (0.3, "moderately"),
                                            (0.1, "weakly"))
ACTIVE_VARIANCE = 0.01  # Burda et al. 2016: a unit is active if Var_x(E[z|x]) > 0.01

OUTPUT_KEYS: tuple[str, ...] = (
    "latents",
    "links",
    "probe",
    "summary",
    "links_figure",
    "probe_figure",
    "traversal_figure",
)


@dataclass
class LatentConfig:
    """Settings of the `interpret_cvae` stage (the `interpret_cvae:` config section)."""

    attributes: list[str] = field(default_factory=lambda: list(ATTRIBUTES))  # subset of ATTRIBUTES
    n_molecules: int = 0  # molecules of the split encoded (0 = all of them)
    conditions: str = "unspecified"  # "unspecified": every condition "any", so the latent must
    # carry the attributes itself; "given": the true class and attribute bins
    probe_folds: int = 5  # folds of the cross-validated linear probe
    mi_neighbors: int = 3  # k of the Kraskov mutual-information estimator
    q_threshold: float = 0.05  # Benjamini-Hochberg q below which a link counts as found
    seed: int = 20191108  # folds of the probe, noise of the MI estimator, choice of molecules
    threads: int = 2  # torch CPU threads

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> LatentConfig:
        """Build from a config section; unknown keys or attributes raise ValueError naming them."""
        values = dict(values or {})
        reject_unknown(values, cls, "interpret_cvae")
        config = cls(**values)
        bad = [a for a in config.attributes if a not in ATTRIBUTES]
        if bad or not config.attributes:
            raise ValueError(f"interpret_cvae.attributes: unknown {bad}; "
                             f"choose from {list(ATTRIBUTES)}")
        if config.conditions not in ("unspecified", "given"):
            raise ValueError(f"interpret_cvae.conditions {config.conditions!r}: "
                             "unspecified or given")
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Attributes


def hairpin_attributes(folded: pd.DataFrame) -> pd.DataFrame:
    """The attributes of `ATTRIBUTES` per molecule, from the fold table (docs/ARCHITECTURE.md).

    The fold stage's columns are used as they are; the two mature-miRNA attributes come from
    miRBase's 1-based positions: `mature_5p_start` (Drosha's cut: how long the 5' flank is) and
    `mature_loop_distance`, the nucleotides between the 5p miRNA's last nucleotide and the first
    nucleotide of the terminal loop (Dicer measures from the loop, Gu et al. 2012, Cell
    151:900). NaN where miRBase gives no 5p miRNA (negatives, 3p-only entries).
    """
    from premirna.structure import central_hairpin_loop

    out = pd.DataFrame(index=folded.index)
    for name in ("length", "stem_length", "loop_size", "gc", "mfe_per_nt", "bulges"):
        out[name] = pd.to_numeric(folded[name], errors="coerce") if name in folded else np.nan
    start = pd.to_numeric(folded.get("mature_5p_start", pd.Series(np.nan, index=folded.index)),
                          errors="coerce")
    end = pd.to_numeric(folded.get("mature_5p_end", pd.Series(np.nan, index=folded.index)),
                        errors="coerce")
    out["mature_5p_start"] = start
    distance = []
    for structure, last in zip(folded["structure"], end, strict=True):
        loop = central_hairpin_loop(str(structure)) if isinstance(structure, str) else None
        if loop is None or pd.isna(last):
            distance.append(np.nan)
        else:
            # loop[0] is the 0-based closing nucleotide: the loop starts at loop[0] + 1 (0-based),
            # i.e. loop[0] + 2 (1-based); nucleotides strictly between: loop[0] + 1 - last.
            distance.append(float(loop[0] + 1 - last))
    out["mature_loop_distance"] = distance
    return out


# --------------------------------------------------------------------------------------------
# Statistics


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


# --------------------------------------------------------------------------------------------
# Figures




def plot_links(links: pd.DataFrame, variances: np.ndarray, path: str | Path) -> None:
    """Heatmaps: Spearman's rho (left) and mutual information (right), dimensions x attributes."""
    plt = pyplot()
    rho = links.pivot(index="dimension", columns="attribute", values="spearman")
    mi = links.pivot(index="dimension", columns="attribute", values="mutual_information")
    order = [a for a in ATTRIBUTES if a in rho.columns]
    rho, mi = rho[order], mi[order]
    labels = [ATTRIBUTES[a] for a in order]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.35 * len(rho) + 2.8))
    for axis, table, title, cmap, limits in (
        (axes[0], rho, "Spearman ρ", "RdBu_r", (-1, 1)),
        (axes[1], mi, "mutual information (nats)", "viridis", (0, None)),
    ):
        image = axis.imshow(table.to_numpy(dtype=float), cmap=cmap, vmin=limits[0],
                            vmax=limits[1], aspect="auto")
        axis.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=7)
        axis.set_yticks(range(len(table)), [
            f"z{d}" + (" (collapsed)" if variances[d] < ACTIVE_VARIANCE else "")
            for d in table.index], fontsize=7)
        for i in range(table.shape[0]):
            for j in range(table.shape[1]):
                value = table.iat[i, j]
                if not pd.isna(value):
                    axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6)
        axis.set_title(title, fontsize=9)
        fig.colorbar(image, ax=axis, shrink=0.8)
    fig.suptitle("Latent dimensions of the CVAE against hairpin attributes", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_probe(probe: pd.DataFrame, path: str | Path) -> None:
    """Cross-validated R² of the linear probe per attribute."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(6, 0.4 * len(probe) + 1.2))
    labels = [ATTRIBUTES[a] for a in probe["attribute"]]
    axis.barh(range(len(probe)), probe["r2_mean"], xerr=probe["r2_sd"], color="tab:green")
    axis.set_yticks(range(len(probe)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.axvline(0, color="grey", lw=0.8)
    axis.set_xlabel("cross-validated R² (ridge regression from the whole latent vector)",
                    fontsize=8)
    axis.set_xlim(min(-0.1, float(np.nanmin(probe["r2_mean"])) - 0.05)
                  if probe["r2_mean"].notna().any() else -0.1, 1)
    fig.tight_layout()
    save_figure(fig, path)


def plot_traversals(
    traversals: pd.DataFrame | None, attributes: Sequence[str], path: str | Path
) -> None:
    """Refolded attributes of molecules decoded along each latent dimension: one panel per
    attribute, one line per dimension (mean over the molecules at each step)."""
    plt = pyplot()
    if traversals is None or traversals.empty:
        fig, axis = plt.subplots(figsize=(6, 1.5))
        axis.text(0.5, 0.5, "no latent traversals were written by the generate stage",
                  ha="center", va="center")
        axis.axis("off")
        save_figure(fig, path)
        return
    step = "value"
    shown = [a for a in attributes if a in traversals.columns]
    n_cols = min(3, max(len(shown), 1))
    n_rows = max(1, math.ceil(len(shown) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 3.0 * n_rows),
                             squeeze=False)
    dims = sorted(traversals["dimension"].unique())
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(dims), 2)))
    for axis, name in zip(axes.ravel(), shown, strict=False):
        for colour, dim in zip(colours, dims, strict=False):
            part = traversals[traversals["dimension"] == dim]
            mean = part.groupby(step)[name].mean()
            axis.plot(mean.index, mean.to_numpy(), color=colour, lw=1, label=f"z{dim}")
        axis.set_title(ATTRIBUTES.get(name, name), fontsize=8)
        axis.set_xlabel("position along the dimension (SD)", fontsize=7)
        axis.tick_params(labelsize=7)
    for axis in axes.ravel()[len(shown):]:
        axis.axis("off")
    axes[0, 0].legend(fontsize=6, ncol=2)
    fig.suptitle("Latent traversals: attributes of the decoded and refolded molecules",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


# --------------------------------------------------------------------------------------------
# The stage


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


def interpret_cvae(
    model: str | Path,
    images: str | Path,
    folded: str | Path,
    outputs: Mapping[str, str | Path],
    config: LatentConfig | Mapping[str, Any] | None = None,
    traversals: str | Path | None = None,
) -> dict[str, Any]:
    """The `interpret_cvae` stage: encode the molecules of `images` (an encode-stage npz) with the
    CVAE checkpoint `model`, compare the latent means with the attributes from `folded`, and
    write the tables and figures named in `outputs` (`OUTPUT_KEYS`). `traversals` is the generate
    stage's table of refolded traversal molecules (optional)."""
    import torch

    from premirna.atomic import save_npz

    if not isinstance(config, LatentConfig):
        config = LatentConfig.from_dict(config)
    missing = set(OUTPUT_KEYS) - set(outputs)
    if missing:
        raise ValueError(f"interpret_cvae: outputs missing {sorted(missing)}")
    torch.set_num_threads(config.threads)
    with np.load(images, allow_pickle=False) as data:
        keep = data["encodable"].astype(bool) if "encodable" in data else None
        ids, pixels = data["ids"].astype(str), data["images"]
        labels = data["labels"].astype(np.int64).reshape(-1)
    if keep is not None:
        ids, pixels, labels = ids[keep], pixels[keep], labels[keep]
    if config.n_molecules and config.n_molecules < len(ids):
        chosen = np.sort(np.random.default_rng(config.seed).choice(
            len(ids), config.n_molecules, replace=False))
        ids, pixels, labels = ids[chosen], pixels[chosen], labels[chosen]
    table = pd.read_csv(folded, sep="\t", dtype={"id": str}).drop_duplicates("id")
    table = table.set_index("id")
    absent = [i for i in ids if i not in table.index]
    if absent:
        raise InputError(folded, f"{len(absent)} encoded molecules are not in the fold table",
                         record=absent[0])
    table = table.loc[ids]
    z = encode_latents(model, pixels, labels, table, config)
    attributes = hairpin_attributes(table.reset_index())
    attributes.index = ids
    links, probe, summary, variances = analyse(z, attributes, config)

    save_npz(outputs["latents"], ids=ids, labels=labels.astype(np.int8), z=z.astype(np.float32),
             attributes=attributes.to_numpy(dtype=np.float64),
             attribute_names=np.array(attributes.columns, dtype=str))
    write_tsv(links, outputs["links"])
    write_tsv(probe, outputs["probe"])
    write_tsv(summary, outputs["summary"])
    plot_links(links, variances, outputs["links_figure"])
    plot_probe(probe, outputs["probe_figure"])
    traversal_table = read_traversals(traversals) if traversals else None
    plot_traversals(traversal_table, config.attributes, outputs["traversal_figure"])
    top = strongest_links(links)
    for _, row in top.iterrows():
        log.info("z%d ~ %s: Spearman %.3f, MI %.3f", row["dimension"], row["attribute"],
                 row["spearman"], row["mutual_information"])
    return {"n_molecules": len(ids), "latent_dim": z.shape[1],
            "active_dimensions": int((variances >= ACTIVE_VARIANCE).sum()),
            "strongest": top.to_dict("records")}


#: Names the generate stage may give the traversal table's columns (normalised on reading).
DIMENSION_COLUMNS: tuple[str, ...] = ("dimension", "dim", "latent_dimension", "latent")
STEP_COLUMNS: tuple[str, ...] = ("value", "sd", "z", "z_value", "offset", "step")


def read_traversals(path: str | Path) -> pd.DataFrame:
    """The generate stage's traversal table: one row per decoded and refolded molecule, with the
    latent dimension moved, where along it (in SD), and the refolded attributes. The two index
    columns are renamed `dimension` and `value`."""
    table = pd.read_csv(path, sep="\t")
    dimension = next((c for c in DIMENSION_COLUMNS if c in table.columns), None)
    step = next((c for c in STEP_COLUMNS if c in table.columns), None)
    if dimension is None or step is None:
        raise InputError(path, f"a traversal table needs a dimension column (one of "
                               f"{list(DIMENSION_COLUMNS)}) and a position column (one of "
                               f"{list(STEP_COLUMNS)}); it has {list(table.columns)}")
    return table.rename(columns={dimension: "dimension", step: "value"})


def encode_latents(
    model: str | Path,
    pixels: np.ndarray,
    labels: np.ndarray,
    table: pd.DataFrame,
    config: LatentConfig,
) -> np.ndarray:
    """Posterior means of the molecules under the CVAE checkpoint `model`.

    With `config.conditions == "unspecified"` every condition is set to its last category
    ("not specified", which training teaches through condition dropout), so that the latent
    space has to carry the attributes by itself; with "given" the molecules' own class and
    attribute bins are used, and the latent space holds what the conditions leave out.
    """
    from premirna.cvae_train import encode_posterior, load_cvae, make_conditions

    network, checkpoint = load_cvae(model, "cpu")
    bins = checkpoint["bins"]
    if config.conditions == "unspecified":
        conditions = make_conditions(None, None, bins, n_rows=len(pixels))
    else:
        conditions = make_conditions(labels, table.reset_index(drop=True), bins)
    mu, _ = encode_posterior(network, pixels, conditions)
    return np.asarray(mu, dtype=np.float64)

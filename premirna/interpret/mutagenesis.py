"""The interpret_determinants stage: do the classifiers rely on what the literature says makes a
pre-miRNA? In-silico mutagenesis of real test pre-miRNAs.

Each determinant of `premirna.interpret.determinants` is destroyed in the test pre-miRNAs that
carry it; the mutant is refolded (ViennaRNA), drawn (Cordero image) and scored by the CNN
(probability of pre-miRNA) and the feature trees (log-odds: their probability is 1 for nearly
every miRBase hairpin). `controls_per_molecule` random mutants of the same size and kind outside
the determinant's region are scored too. Per determinant and scorer, the effect is the mean over
molecules of (the mutant's change - the mean change of its controls), with a percentile
bootstrap interval, a two-sided paired sign-flip permutation p (+1 correction of Phipson & Smyth
2010) and Benjamini-Hochberg q over determinants x scorers. Effect < 0: destroying the
determinant lowers the score more than random mutations of the same size.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.classifier.classify import image_status
from premirna.classifier.feature_model import (
    FEATURES,
    FeatureSettings,
    load_feature_model,
    molecule_features,
)
from premirna.classifier.predict import load_checkpoint, predict_proba
from premirna.core.atomic import write_tsv
from premirna.core.errors import InputError
from premirna.core.figures import pyplot, save_figure
from premirna.core.settings import Settings, check_bounds
from premirna.core.tables import read_folded
from premirna.encode.images import read_images
from premirna.encode.render import encode_many
from premirna.interpret.determinants import (
    DETERMINANTS,
    Hairpin,
    Mutation,
    fold_check,
    random_control,
)
from premirna.interpret.latent import benjamini_hochberg
from premirna.interpret.regions import mature_sites
from premirna.interpret.statistics import bootstrap_interval, sign_flip_p
from premirna.rna.duplex import duplex_asymmetry
from premirna.rna.folding import FoldSettings, fold_sequences
from premirna.training.device import use_threads

log = logging.getLogger(__name__)

OUTPUT_KEYS: tuple[str, ...] = ("mutants", "determinants", "figure")
SCORERS: dict[str, str] = {"cnn": "probability", "trees": "log-odds"}
#: Stream numbers of this stage's draws, after the seed: [seed, stream, determinant, molecule].
_SAMPLE, _CONTROLS, _BOOTSTRAP, _PERMUTATION = 1, 2, 3, 4
#: Features of the trees each determinant changes directly (none describes a position: the
#: basal UG and the duplex ends have none).
_LOOP = ("length", "pairs_per_nt", "drawn_pairs_per_nt")
RELATED_FEATURES: dict[str, tuple[str, ...]] = {
    "apical_ugu": ("share_UGU", "share_GUG"),
    "mismatched_ghg": ("share_GAG", "share_GCG", "share_GUG"),
    "basal_segment": ("pairs_per_nt", "drawn_pairs_per_nt", "mfe_per_nt"),
    "loop_shrink": _LOOP,
    "loop_enlarge": _LOOP,
}


@dataclass
class DeterminantsConfig(Settings):
    """Settings of the `interpret_determinants` stage (the `interpret_determinants:` section)."""

    SECTION = "interpret_determinants"

    controls_per_molecule: int = 4  # random mutants of the same size per mutated molecule
    min_molecules: int = 10  # fewer molecules carrying a determinant: "not testable"
    max_molecules: int = 0  # test pre-miRNAs considered (seeded sample); 0 = all
    max_per_determinant: int = 60  # molecules mutated per determinant (seeded sample); 0 = all
    n_bootstrap: int = 2000  # bootstrap resamples of the molecules for the 95 % interval
    n_permutations: int = 5000  # sign flips of the paired differences for the p-value
    q_threshold: float = 0.05  # Benjamini-Hochberg q below which an effect is called
    trees: bool = True  # also score with the feature trees (when their model is given)
    batch_size: int = 256  # images per CNN call
    seed: int = 20191108  # molecule samples, controls, bootstrap and permutations
    threads: int = 2  # torch threads and folding processes

    def check(self) -> None:
        check_bounds(self, at_least={"controls_per_molecule": 1, "min_molecules": 2,
                                     "max_molecules": 0, "max_per_determinant": 0,
                                     "n_bootstrap": 100, "n_permutations": 100,
                                     "batch_size": 1, "threads": 1},
                     above={"q_threshold": 0}, below={"q_threshold": 1})


@dataclass(frozen=True)
class Variant:
    """A mutant of a molecule: replicate 0 is the determinant's mutation, 1.. controls."""

    molecule: int
    determinant: str
    replicate: int
    mutation: Mutation


def _span(row: Mapping[str, Any], arm: str) -> tuple[float, float] | None:
    start, end = row.get(f"mature_{arm}_start"), row.get(f"mature_{arm}_end")
    return None if start is None or end is None or pd.isna(start) or pd.isna(end) else (start, end)


def load_hairpins(
    images: str | Path, folded: str | Path, config: DeterminantsConfig, fold: FoldSettings
) -> tuple[np.ndarray, list[Hairpin], np.ndarray]:
    """The test pre-miRNAs (label 1) with an image: ids, hairpins with their miRBase mature spans
    (the arm miRBase lacks inferred, `premirna.interpret.regions.mature_sites`) and images."""
    found = read_images(images)
    table = read_folded(folded)
    rows = np.flatnonzero(found.labels == 1)
    if not len(rows):
        raise InputError(images, "no test pre-miRNA (label 1) with an image to mutate")
    missing = found.ids[rows][~np.isin(found.ids[rows], table.index)]
    if len(missing):
        raise InputError(folded, "a test image's molecule is not in the fold table", missing[0])
    if config.max_molecules and len(rows) > config.max_molecules:
        rng = np.random.default_rng([config.seed, _SAMPLE])
        rows = np.sort(rng.choice(rows, config.max_molecules, replace=False))
    hairpins = []
    for name in found.ids[rows]:
        row = table.loc[name]
        sites = mature_sites(str(row["structure"]), _span(row, "5p"), _span(row, "3p"))
        spans = (sites.five_p, sites.three_p) if sites else (None, None)
        hairpins.append(Hairpin(str(row["sequence"]), str(row["structure"]), *spans, fold))
    return found.ids[rows], hairpins, found.images[rows]


def make_variants(hairpins: Sequence[Hairpin], config: DeterminantsConfig
                  ) -> tuple[list[Variant], dict[str, int]]:
    """Every determinant's mutation in the molecules that carry it (at most
    `max_per_determinant`, a seeded sample) and its controls; a molecule that has too few
    positions for its controls is left out of that determinant. Also how many carry each."""
    variants, carriers = [], {}
    for d, determinant in enumerate(DETERMINANTS):
        found = [(m, mutation) for m, h in enumerate(hairpins)
                 if (mutation := determinant.mutate(h)) is not None]
        carriers[determinant.name] = len(found)
        if config.max_per_determinant and len(found) > config.max_per_determinant:
            rng = np.random.default_rng([config.seed, _SAMPLE, d])
            keep = np.sort(rng.choice(len(found), config.max_per_determinant, replace=False))
            found = [found[k] for k in keep]
        for m, mutation in found:
            rng = np.random.default_rng([config.seed, _CONTROLS, d, m])
            controls = [random_control(hairpins[m], mutation, rng)
                        for _ in range(config.controls_per_molecule)]
            if any(c is None for c in controls):
                continue
            variants.append(Variant(m, determinant.name, 0, mutation))
            variants.extend(Variant(m, determinant.name, k, c)
                            for k, c in enumerate(controls, start=1))
    return variants, carriers


def tree_scores(model: Mapping[str, Any], sequences: Sequence[str], structures: Sequence[str],
                records: Sequence[int], processes: int = 1) -> np.ndarray:
    """The trees' log-odds of pre-miRNA. Unlike `score_features`, the dinucleotide shuffles of
    each mutant are drawn from its molecule's stream (`records`: the molecule's index), so that
    a mutant and its original share their random draws and the change measures the mutation."""
    if not len(sequences):
        return np.zeros(0)
    X = molecule_features(sequences, structures, model["reference"],
                          FeatureSettings(**model["settings"]), model["seed"], processes,
                          FoldSettings(model["temperature"], model["dangles"]),
                          records=records)
    return model["trees"].raw(X)


def _variant_rows(ids: np.ndarray, hairpins: Sequence[Hairpin], variants: Sequence[Variant],
                  structures: Sequence[str], status: np.ndarray) -> pd.DataFrame:
    """The mutants table without the scores; the end_asymmetry rows with the duplex-end
    asymmetry (`premirna.rna.duplex`) before (original fold) and after (the refold)."""
    rows = []
    for v, structure, state in zip(variants, structures, status, strict=True):
        h = hairpins[v.molecule]
        check = fold_check(h, v.mutation, structure)
        sequence = v.mutation.apply(h.sequence)
        asymmetry = [duplex_asymmetry(s, d, h.five_p, h.three_p, fold=h.fold)
                     for s, d in ((h.sequence, h.structure), (sequence, structure))
                     ] if v.determinant == "end_asymmetry" else [math.nan, math.nan]
        rows.append({
            "id": ids[v.molecule], "determinant": v.determinant,
            "kind": "determinant" if v.replicate == 0 else "control", "replicate": v.replicate,
            "edit": v.mutation.kind, "n_changed": v.mutation.n_changed(),
            "changed": ",".join(str(p + 1) for p in v.mutation.changed()),
            "sequence": sequence, "structure": structure, "image_status": state,
            "hairpin_loops": check.hairpin_loops,
            "loop_before": h.loop[1] - h.loop[0] - 1 if h.loop else -1,
            "loop_after": check.loop_size, "bp_distance": check.bp_distance,
            "pairs_kept": round(check.pairs_kept, 4), "fold_kept": check.kept,
            "asymmetry_before": round(asymmetry[0], 3), "asymmetry_after": round(asymmetry[1], 3),
        })
    return pd.DataFrame(rows)


def score_mutants(network: Any, trees: Mapping[str, Any] | None, ids: np.ndarray,
                  hairpins: Sequence[Hairpin], images: np.ndarray, variants: Sequence[Variant],
                  config: DeterminantsConfig, fold: FoldSettings) -> pd.DataFrame:
    """Refold, redraw and score every variant: one row of the mutants table each."""
    sequences = [v.mutation.apply(hairpins[v.molecule].sequence) for v in variants]
    structures = [s for s, _ in fold_sequences(sequences, config.threads, fold)]
    drawn, encodable = encode_many(sequences, structures)
    status = image_status(sequences, drawn, encodable, structures)
    table = _variant_rows(ids, hairpins, variants, structures, status)
    scored = status != "no_hairpin"
    molecule = np.array([v.molecule for v in variants], dtype=np.int64)
    before = {"cnn": predict_proba(network, images, config.batch_size)}
    after = {"cnn": np.full(len(variants), np.nan)}
    if scored.any():
        after["cnn"][scored] = predict_proba(network, drawn[scored], config.batch_size)
    if trees is not None:
        # originals and mutants in one call: records are molecule indices either way
        rows = np.flatnonzero(scored)
        everything = tree_scores(
            trees, [h.sequence for h in hairpins] + [sequences[r] for r in rows],
            [h.structure for h in hairpins] + [structures[r] for r in rows],
            list(range(len(hairpins))) + molecule[rows].tolist(), config.threads)
        before["trees"] = everything[: len(hairpins)]
        after["trees"] = np.full(len(variants), np.nan)
        after["trees"][rows] = everything[len(hairpins) :]
    for scorer in before:
        table[f"{scorer}_before"] = before[scorer][molecule].round(6)
        table[f"{scorer}_after"] = after[scorer].round(6)
        table[f"{scorer}_delta"] = (after[scorer] - before[scorer][molecule]).round(6)
    return table


def paired_differences(table: pd.DataFrame, scorer: str) -> np.ndarray:
    """Per molecule of one determinant: its mutant's change minus the mean change of its controls
    (molecules whose mutant or every control went unscored are left out)."""
    delta = table.pivot_table(index="id", columns="kind", values=f"{scorer}_delta",
                              aggfunc="mean")
    if not {"determinant", "control"} <= set(delta.columns):
        return np.zeros(0)
    d = (delta["determinant"] - delta["control"]).to_numpy(dtype=float)
    return d[np.isfinite(d)]


def verdict(effect: float, q: float, n: int, config: DeterminantsConfig) -> str:
    """The call in words (see the module docstring)."""
    if n < config.min_molecules:
        return f"not testable ({n} molecules, fewer than {config.min_molecules})"
    if not math.isnan(q) and q < config.q_threshold:
        return "relies on it" if effect < 0 else "opposite"
    return "ignores it / not supported"


def trees_importance(trees: Mapping[str, Any] | None) -> dict[str, str]:
    """Per determinant, the share of the trees' splits on its `RELATED_FEATURES`. The trees keep
    no gain per split (scikit-learn's HistGradientBoosting has no feature_importances_), so the
    split count is the only importance they hold."""
    if trees is None:
        return {}
    nodes = trees["trees"].nodes
    used = nodes["feature_idx"][nodes["is_leaf"] == 0]
    share = np.bincount(used, minlength=len(FEATURES)) / max(len(used), 1)
    even = f" (an even share: {1 / len(FEATURES):.2%})"
    return {d.name: "; ".join(f"{f} {share[FEATURES.index(f)]:.2%} of splits"
                              for f in RELATED_FEATURES.get(d.name, ())) + even
            if d.name in RELATED_FEATURES else "no feature of the trees describes it"
            for d in DETERMINANTS}


def determinant_table(mutants: pd.DataFrame, config: DeterminantsConfig,
                      carriers: Mapping[str, int], importance: Mapping[str, str]) -> pd.DataFrame:
    """One row per determinant x scorer: the statistics, the verdict and the citation."""
    rows = []
    scorers = [s for s in SCORERS if f"{s}_delta" in mutants]
    for d, determinant in enumerate(DETERMINANTS):
        part = mutants[mutants["determinant"] == determinant.name]
        mine, controls = part[part["kind"] == "determinant"], part[part["kind"] == "control"]
        for s, scorer in enumerate(scorers):
            diff = paired_differences(part, scorer)
            n, low, high, p = len(diff), math.nan, math.nan, math.nan
            if n >= config.min_molecules:
                rng = np.random.default_rng([config.seed, _BOOTSTRAP, d, s])
                low, high = bootstrap_interval(diff, rng, config.n_bootstrap)
                rng = np.random.default_rng([config.seed, _PERMUTATION, d, s])
                p = sign_flip_p(diff, rng, config.n_permutations)
            rows.append({
                "determinant": determinant.name, "scorer": scorer, "score": SCORERS[scorer],
                "expected": determinant.expected, "n_carrying": carriers.get(determinant.name, 0),
                "n_molecules": n,
                "mean_delta_determinant": mine[f"{scorer}_delta"].mean(),
                "mean_delta_control": controls[f"{scorer}_delta"].mean(),
                "effect": diff.mean() if n else math.nan, "ci_low": low, "ci_high": high,
                "p": p, "fold_kept_determinant": mine["fold_kept"].mean(),
                "fold_kept_control": controls["fold_kept"].mean(),
                "asymmetry_reversed": (np.sign(mine["asymmetry_before"])
                                       != np.sign(mine["asymmetry_after"])).mean()
                if determinant.name == "end_asymmetry" else math.nan,
                "trees_importance": importance.get(determinant.name, "") if scorer == "trees"
                else "",
                "test": f"two-sided paired sign-flip permutation ({config.n_permutations})",
                "citation": determinant.citation,
            })
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("p") + 1, "q", benjamini_hochberg(table["p"].to_numpy()))
    table.insert(table.columns.get_loc("q") + 1, "verdict", [
        verdict(e, q, n, config)
        for e, q, n in zip(table["effect"], table["q"], table["n_molecules"], strict=True)])
    agrees = (((table["expected"] == "lower") & (table["effect"] < 0))
              | ((table["expected"] == "higher") & (table["effect"] > 0)))
    table.insert(table.columns.get_loc("verdict") + 1, "matches_biology", np.where(
        table["verdict"].isin(["relies on it", "opposite"]), np.where(agrees, "yes", "no"), ""))
    return table.round(6)


def plot_determinants(table: pd.DataFrame, path: str | Path) -> None:
    """Effect with its 95 % interval per determinant, one panel per scorer."""
    plt = pyplot()
    scorers = list(dict.fromkeys(table["scorer"]))
    names = [d.name for d in DETERMINANTS]
    fig, axes = plt.subplots(1, len(scorers), figsize=(4.5 * len(scorers), 5.2), squeeze=False)
    for axis, scorer in zip(axes[0], scorers, strict=True):
        part = table[table["scorer"] == scorer].set_index("determinant").reindex(names)
        y = np.arange(len(names))[::-1]
        untested = part["verdict"].str.startswith("not testable").to_numpy()
        effect = np.where(untested, np.nan, part["effect"].to_numpy(float))
        error = np.vstack([effect - part["ci_low"], part["ci_high"] - effect])
        called = part["verdict"].isin(["relies on it", "opposite"]).to_numpy()
        axis.errorbar(effect, y, xerr=np.nan_to_num(error), fmt="none", ecolor="0.4", capsize=3)
        axis.scatter(effect[~called], y[~called], color="0.55", zorder=3, label="not called")
        axis.scatter(effect[called], y[called], color="C3", zorder=3, label="q < threshold")
        for k in np.flatnonzero(untested):
            axis.text(0.02, y[k], f" not testable (n={part['n_molecules'].iat[k]})", fontsize=9,
                      va="center", color="0.3", transform=axis.get_yaxis_transform())
        axis.axvline(0, color="0.2", lw=0.8)
        axis.set_yticks(y, [f"{n.replace('_', ' ')}\n(expected {d.expected.split(' ')[0]})"
                            for n, d in zip(names, DETERMINANTS, strict=True)], fontsize=9)
        axis.tick_params(axis="x", labelsize=9)
        axis.set_xlabel(f"effect on {SCORERS[scorer]}\n(determinant minus controls)", fontsize=10)
        axis.set_title(f"{scorer}", fontsize=11)
        axis.legend(fontsize=9, loc="lower right")
    fig.suptitle("In-silico mutagenesis of the determinants of miRNA processing", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


def interpret_determinants(
    model: str | Path,
    features_model: str | Path | None,
    images: str | Path,
    folded: str | Path,
    outputs: Mapping[str, str | Path],
    config: DeterminantsConfig | Mapping[str, Any] | None = None,
    fold: FoldSettings | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `interpret_determinants` stage (see the module docstring); `outputs` maps each of
    `OUTPUT_KEYS` to a path. `features_model` may be None (no trees rows)."""
    if not isinstance(config, DeterminantsConfig):
        config = DeterminantsConfig.from_dict(config)
    missing = set(OUTPUT_KEYS) - set(outputs)
    if missing:
        raise ValueError(f"interpret_determinants: outputs missing {sorted(missing)}")
    fold = FoldSettings.of(fold)
    started = time.monotonic()
    use_threads(config.threads)
    network, _ = load_checkpoint(model, "cpu")
    trees = load_feature_model(features_model) if features_model and config.trees else None
    ids, hairpins, pictures = load_hairpins(images, folded, config, fold)
    variants, carriers = make_variants(hairpins, config)
    log.info("%d test pre-miRNAs, %d mutants (%d controls each)", len(hairpins), len(variants),
             config.controls_per_molecule)
    mutants = score_mutants(network, trees, ids, hairpins, pictures, variants, config, fold)
    table = determinant_table(mutants, config, carriers, trees_importance(trees))
    write_tsv(mutants, outputs["mutants"])
    write_tsv(table, outputs["determinants"])
    plot_determinants(table, outputs["figure"])
    log.info("interpret_determinants: %.0f s", time.monotonic() - started)
    return {"n_molecules": len(hairpins), "n_mutants": len(variants),
            "verdicts": dict(zip(table["determinant"] + ":" + table["scorer"], table["verdict"],
                                 strict=True))}

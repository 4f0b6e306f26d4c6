"""The interpret_cnn stage: what the pre-miRNA CNN looks at, whether that can be trusted, and what
it means biologically."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from premirna.classifier.predict import load_checkpoint, predict_proba
from premirna.core.atomic import save_npz, write_tsv
from premirna.core.errors import InputError
from premirna.core.logs import counts_text
from premirna.core.seeds import offset
from premirna.core.tables import read_folded
from premirna.encode.images import read_images
from premirna.encode.walk import central_loop
from premirna.interpret.attribution import CONTROL, InterpretConfig, attribute_all
from premirna.interpret.figures import (
    plot_agreement,
    plot_class_averages,
    plot_examples,
    plot_profile,
    plot_regions,
    plot_sanity,
    plot_statistics,
)
from premirna.interpret.regions import (
    REGIONS,
    column_map,
    mature_sites,
    proxy_sites,
    typical_columns,
)
from premirna.interpret.sanity import method_agreement, sanity_check
from premirna.interpret.statistics import region_shares, statistics_table, used_regions
from premirna.interpret.tables import (
    OUTCOMES,
    Molecules,
    load_reference_map,
    outcomes,
    profile_table,
    reference_comparison,
    region_table,
    select_molecules,
)
from premirna.training.device import use_threads
from premirna.training.tensors import images_to_tensor

log = logging.getLogger(__name__)

OUTPUT_KEYS: tuple[str, ...] = (
    "attributions",
    "molecules",
    "methods",
    "regions",
    "profile",
    "sanity",
    "agreement",
    "reference",
    "examples_figure",
    "class_average_figure",
    "regions_figure",
    "profile_figure",
    "sanity_figure",
    "agreement_figure",
    "statistics",
    "statistics_figure",
)


def _mature_pair(row: Mapping[str, Any], arm: str) -> tuple[float, float] | None:
    start, end = row.get(f"mature_{arm}_start"), row.get(f"mature_{arm}_end")
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return None
    return float(start), float(end)


def load_molecules(
    model: nn.Module,
    images_npz: str | Path,
    folded_tsv: str | Path,
    config: InterpretConfig,
    n_molecules: int | None = None,
) -> tuple[Molecules, dict[str, tuple[int, int]] | None]:
    """Score every encodable test image, choose `n_molecules` of them (default
    `config.n_molecules`; 0 = all) across outcomes, and join their sequence, structure and miRBase
    mature positions from the fold table. Returns the molecules and the typical mature columns
    used as proxy for unannotated molecules."""
    found = read_images(images_npz)
    ids, images, labels = found.ids, found.images, found.labels
    if len(ids) == 0:
        raise InputError(images_npz, "no encodable images to explain")
    prob = predict_proba(model, images, batch_size=256)
    outcome = outcomes(labels, prob >= 0.5)
    n = config.n_molecules if n_molecules is None else n_molecules
    chosen = select_molecules(outcome, n or len(ids), config.seed)
    folded = read_folded(folded_tsv)
    sequences, structures, columns, sites, loops = [], [], [], [], []
    for k in chosen:
        if ids[k] not in folded.index:
            raise InputError(folded_tsv, "molecule of the test images is not in the fold table",
                             record=ids[k])
        row = folded.loc[ids[k]]
        sequence, structure = str(row["sequence"]), str(row["structure"])
        sequences.append(sequence)
        structures.append(structure)
        columns.append(column_map(sequence, structure))
        loops.append(central_loop(structure))
        sites.append(mature_sites(structure, _mature_pair(row, "5p"), _mature_pair(row, "3p")))
    spans = typical_columns(columns, sites)
    if spans is not None:
        sites = [s if s is not None else proxy_sites(c, spans)
                 for s, c in zip(sites, columns, strict=True)]
    molecules = Molecules(ids[chosen], images[chosen], labels[chosen], prob[chosen],
                          outcome[chosen], sequences, structures, columns, sites, loops)
    log.info("explaining %d of %d test molecules: %s", len(chosen), len(ids),
             counts_text(dict(zip(*np.unique(molecules.outcome, return_counts=True),
                                  strict=True))))
    return molecules, spans


def example_indices(molecules: Molecules, per_outcome: int) -> list[int]:
    """The most confidently classified molecules of each outcome (errors: the most confident
    mistakes, which are the most telling)."""
    chosen = []
    confidence = np.abs(molecules.probability - 0.5)
    for o in OUTCOMES:
        rows = np.flatnonzero(molecules.outcome == o)
        chosen.extend(rows[np.argsort(-confidence[rows], kind="stable")][:per_outcome].tolist())
    return chosen


def _targets(molecules: Molecules, target: str) -> torch.Tensor:
    """The class each molecule's maps explain (`InterpretConfig.target`)."""
    if target == "predicted":
        return torch.from_numpy((molecules.probability >= 0.5).astype(np.int64))
    if target == "true":
        return torch.from_numpy(molecules.labels.astype(np.int64))
    return torch.ones(len(molecules.ids), dtype=torch.int64)


def _reference_table(
    averages: Mapping[str, Mapping[str, np.ndarray]], references: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Our class-average maps against the authors' (`reference_comparison`), per outcome."""
    comparison = []
    for outcome, ref in references.items():
        ours = {m: avg[outcome] for m, avg in averages.items() if outcome in avg}
        if ours:
            table = reference_comparison(ours, ref, outcome)
            table.insert(0, "outcome", outcome)
            comparison.append(table)
    return pd.concat(comparison, ignore_index=True) if comparison else pd.DataFrame()


def _molecule_table(
    molecules: Molecules, sanity_rows: np.ndarray, per_molecule_regions: pd.DataFrame
) -> pd.DataFrame:
    """One row per explained molecule: its outcome, annotation and region shares per method."""
    table = pd.DataFrame(
        {
            "id": molecules.ids,
            "label": molecules.labels,
            "probability": molecules.probability,
            "outcome": molecules.outcome,
            "in_sanity_check": np.isin(np.arange(len(molecules.ids)), sanity_rows),
            "annotation": [s.source if s else "none" for s in molecules.sites],
            "mature_5p": [_span(s.five_p) if s else "" for s in molecules.sites],
            "mature_3p": [_span(s.three_p) if s else "" for s in molecules.sites],
        }
    )
    wide = per_molecule_regions.pivot(index="id", columns="method",
                                      values=[f"share_{r}" for r in REGIONS])
    wide.columns = [f"{method}:{name.removeprefix('share_')}" for name, method in wide.columns]
    return table.merge(wide, left_on="id", right_index=True, how="left")


def interpret_cnn(
    model: str | Path,
    images: str | Path,
    folded: str | Path,
    reference: str | Path,
    outputs: Mapping[str, str | Path],
    config: InterpretConfig | Mapping[str, Any] | None = None,
    reference_tn: str | Path | None = None,
) -> dict[str, Any]:
    """The `interpret_cnn` stage: attributions, trust checks, regions, figures; returns a summary.

    `outputs` maps each of `OUTPUT_KEYS` to a path. `reference` is the authors' true-positive
    average map (`reference_tn` their true-negative map, optional).
    """
    if not isinstance(config, InterpretConfig):
        config = InterpretConfig.from_dict(config)
    missing = set(OUTPUT_KEYS) - set(outputs)
    if missing:
        raise ValueError(f"interpret_cnn: outputs missing {sorted(missing)}")
    use_threads(config.threads)
    network, _ = load_checkpoint(model, "cpu")
    molecules, spans = load_molecules(network, images, folded, config)
    inputs = images_to_tensor(molecules.images)
    targets = _targets(molecules, config.target)

    maps, methods_table = attribute_all(network, inputs, targets, config.methods, config)
    methods_table["settings"] = [json.dumps(_settings(m, config)) for m in methods_table["method"]]
    methods_table["baseline"] = config.baseline
    methods_table["target"] = config.target

    sanity_n = min(config.sanity_molecules, len(inputs))
    sanity_rows = select_molecules(
        molecules.outcome, sanity_n, offset(config.seed, "sanity_molecules")
    )
    sanity, per_molecule = sanity_check(
        network, inputs[sanity_rows], targets[sanity_rows], [*config.methods, CONTROL], config,
        trained_maps={m: v[sanity_rows] for m, v in maps.items()},
    )
    agreement = method_agreement(maps)
    per_molecule_regions, regions = region_table(maps, molecules, config.cut_site_window)
    profile = profile_table(maps, molecules)

    references = {"TP": load_reference_map(reference)}
    if reference_tn:
        references["TN"] = load_reference_map(reference_tn)
    failing = sanity[(sanity["verdict"] != "passes") & ~sanity["is_control"]]["method"].tolist()
    averages = plot_class_averages(maps, molecules, references, outputs["class_average_figure"],
                                   failing)
    save_npz(
        outputs["attributions"],
        ids=molecules.ids.astype(str),
        labels=molecules.labels.astype(np.int8),
        outcome=molecules.outcome.astype(str),
        probability=molecules.probability,
        methods=np.array(list(maps), dtype=str),
        maps=np.stack([maps[m] for m in maps], axis=1).astype(np.float32),
    )
    write_tsv(_molecule_table(molecules, sanity_rows, per_molecule_regions), outputs["molecules"])
    write_tsv(methods_table, outputs["methods"])
    write_tsv(regions, outputs["regions"])
    write_tsv(profile, outputs["profile"])
    write_tsv(sanity, outputs["sanity"])
    write_tsv(agreement.reset_index(), outputs["agreement"])
    write_tsv(_reference_table(averages, references), outputs["reference"])
    plot_examples(maps, molecules, example_indices(molecules, config.examples_per_outcome),
                  outputs["examples_figure"], failing)
    plot_regions(regions, outputs["regions_figure"], failing)
    plot_profile(profile, spans, outputs["profile_figure"], failing)
    plot_sanity(sanity, per_molecule, outputs["sanity_figure"])
    plot_agreement(agreement, outputs["agreement_figure"], failing)
    statistics = region_statistics(network, images, folded, config, failing)
    write_tsv(statistics, outputs["statistics"])
    plot_statistics(statistics, outputs["statistics_figure"], failing)
    if failing:
        log.warning("methods that fail the model-randomisation check: %s", failing)
    return {"n_molecules": len(molecules.ids), "failing_methods": failing, "spans": spans}


def region_statistics(
    network: nn.Module,
    images: str | Path,
    folded: str | Path,
    config: InterpretConfig,
    failing: list[str],
) -> pd.DataFrame:
    """`premirna.interpret.statistics.statistics_table` on maps of the pre-miRNA class for
    `config.statistics_molecules` test molecules (0 = all), every one of `statistics_methods`."""
    if not config.statistics_methods:
        return pd.DataFrame(columns=["method", "area", "verdict"])
    molecules, _ = load_molecules(network, images, folded, config, config.statistics_molecules)
    inputs = images_to_tensor(molecules.images)
    targets = torch.ones(len(inputs), dtype=torch.int64)
    maps, _ = attribute_all(network, inputs, targets, config.statistics_methods, config)
    shares = {m: region_shares(v, molecules, config.cut_site_window) for m, v in maps.items()}
    table = statistics_table(shares, molecules.labels, molecules.outcome, failing, config.seed,
                             config.n_bootstrap, config.n_permutations, config.q_threshold)
    for method, area in used_regions(table):
        log.info("%s: the CNN uses %s for pre-miRNAs", method, area)
    return table


def _span(region: tuple[int, int] | None) -> str:
    return "" if region is None else f"{region[0] + 1}-{region[1] + 1}"


def _settings(method: str, config: InterpretConfig) -> dict[str, Any]:
    if method == "smoothgrad":
        return {"nt_samples": config.smoothgrad_samples, "stdevs": config.smoothgrad_noise}
    if method == "integrated_gradients":
        return {"n_steps": config.ig_steps, "method": "gausslegendre"}
    if method == "gradient_shap":
        return {"n_samples": config.gradient_shap_samples, "stdevs": config.gradient_shap_noise}
    if method == "occlusion":
        return {"window": config.occlusion_window, "stride": config.occlusion_stride}
    if method == "grad_cam":
        return {"layer": "last_conv", "relu": True, "interpolate": "bilinear"}
    return {}

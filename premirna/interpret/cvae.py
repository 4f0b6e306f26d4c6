"""The interpret_cvae stage: latent factors of the CVAE against hairpin biology, how disentangled
they are (MIG, DCI: `premirna.interpret.disentangle`) and whether the traversals of the
dimensions tied to attributes (AR-VAE training) move those attributes monotonically. Generated
molecules have no miRBase annotation: their mature starts are predicted from the refolded loop
(`premirna.rna.attributes.LoopCounting`, fitted on the training pre-miRNAs and scored on the
annotated molecules interpreted here), and the monotonicity table says so."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.core.atomic import save_npz, write_tsv
from premirna.core.errors import InputError
from premirna.core.tables import read_table
from premirna.encode.images import read_images
from premirna.generator.conditions import make_conditions
from premirna.generator.posterior import encode_posterior, load_cvae
from premirna.interpret.disentangle import Judge, disentanglement, traversal_monotonicity
from premirna.interpret.latent import (
    ACTIVE_VARIANCE,
    LatentConfig,
    analyse,
    hairpin_attributes,
    strongest_links,
)
from premirna.interpret.latent_figures import (
    plot_disentanglement,
    plot_links,
    plot_probe,
    plot_traversals,
)
from premirna.rna.attributes import PREDICTED_STARTS, LoopCounting, loop_counting_accuracy
from premirna.training.device import use_threads

log = logging.getLogger(__name__)

OUTPUT_KEYS: tuple[str, ...] = (
    "latents",
    "links",
    "probe",
    "summary",
    "links_figure",
    "probe_figure",
    "traversal_figure",
    "disentanglement",
    "disentanglement_figure",
    "monotonicity",
)


def interpret_cvae(
    model: str | Path,
    images: str | Path,
    folded: str | Path,
    outputs: Mapping[str, str | Path],
    config: LatentConfig | Mapping[str, Any] | None = None,
    traversals: str | Path | None = None,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """The `interpret_cvae` stage: encode the molecules of `images` (an encode-stage npz) with the
    CVAE checkpoint `model`, compare the latent means with the attributes from `folded`, and
    write the tables and figures named in `outputs` (`OUTPUT_KEYS`). `traversals` is the generate
    stage's table of refolded traversal molecules (optional); `judge` a function (sequences,
    structures) -> P(pre-miRNA), such as the independent judge of `premirna.validate.judge`
    (`load_judge`, which the rule's script calls: validate sits beside interpret, not below it),
    scores the traversal molecules (optional)."""
    if not isinstance(config, LatentConfig):
        config = LatentConfig.from_dict(config)
    missing = set(OUTPUT_KEYS) - set(outputs)
    if missing:
        raise ValueError(f"interpret_cvae: outputs missing {sorted(missing)}")
    use_threads(config.threads)
    ids, pixels, labels, table, fold_table = _molecules(images, folded, config)
    z, tied = encode_latents(model, pixels, labels, table, config)
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
    scores = measure_disentanglement(z, attributes, config, tied)
    write_tsv(scores, outputs["disentanglement"])
    plot_disentanglement(scores, outputs["disentanglement_figure"])
    traversal_table = read_traversals(traversals) if traversals else None
    traversal_table, measured_as = predicted_starts(traversal_table, fold_table, table)
    plot_traversals(traversal_table, config.attributes, outputs["traversal_figure"],
                    predicted=tuple(measured_as))
    monotonicity = traversal_monotonicity(
        traversal_table if traversal_table is not None else pd.DataFrame(
            columns=["dimension", "value"]), config.attributes, tied, config.monotone_rho, judge,
        measured_as)
    write_tsv(monotonicity, outputs["monotonicity"])
    top = strongest_links(links)
    for _, row in top.iterrows():
        log.info("z%d ~ %s: Spearman %.3f, MI %.3f", row["dimension"], row["attribute"],
                 row["spearman"], row["mutual_information"])
    overall = scores[scores["kind"] == "overall"].iloc[0]
    log.info("disentanglement: mean MIG %.3f, DCI D %.3f C %.3f I %.3f", overall["mig"],
             overall["disentanglement"], overall["completeness"], overall["informativeness_r2"])
    return {"n_molecules": len(ids), "latent_dim": z.shape[1],
            "active_dimensions": int((variances >= ACTIVE_VARIANCE).sum()),
            "strongest": top.to_dict("records"), "tied": tied,
            "mig": float(overall["mig"]), "dci": {
                k: float(overall[c]) for k, c in (("disentanglement", "disentanglement"),
                                                  ("completeness", "completeness"),
                                                  ("informativeness", "informativeness_r2"))}}


def _molecules(
    images: str | Path, folded: str | Path, config: LatentConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Ids, images, labels of the (chosen) molecules of `images`, their fold-table rows and the
    whole fold table (indexed by id)."""
    found = read_images(images)
    ids, pixels, labels = found.ids, found.images, found.labels
    if config.n_molecules and config.n_molecules < len(ids):
        chosen = np.sort(np.random.default_rng(config.seed).choice(
            len(ids), config.n_molecules, replace=False))
        ids, pixels, labels = ids[chosen], pixels[chosen], labels[chosen]
    table = read_table(folded, ("id", "structure")).drop_duplicates("id").set_index("id")
    absent = [i for i in ids if i not in table.index]
    if absent:
        raise InputError(folded, f"{len(absent)} encoded molecules are not in the fold table",
                         record=absent[0])
    return ids, pixels, labels, table.loc[ids], table


def predicted_starts(
    traversals: pd.DataFrame | None, fold_table: pd.DataFrame, molecules: pd.DataFrame
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """`traversals` with the mature starts (`PREDICTED_STARTS`) that the loop-counting rule
    predicts from each refolded structure, and for each of them how it was measured: the rule is
    fitted on the fold table's training split and scored on the annotated `molecules` (the ones
    interpreted, from another split). Unchanged where the table has no refolded structures or
    no molecule is annotated."""
    if traversals is None or "refolded" not in traversals:
        return traversals, {}
    training = fold_table[fold_table["split"] == "train"] if "split" in fold_table else fold_table
    rule = LoopCounting.fit(training)
    if rule is None:
        return traversals, {}
    accuracy = loop_counting_accuracy(molecules, rule).set_index("attribute")
    predicted = rule.predict(traversals["refolded"].reset_index(drop=True))
    traversals, measured_as = traversals.copy(), {}
    for name in PREDICTED_STARTS:
        if name in traversals:
            continue
        traversals[name] = predicted[name].to_numpy()
        row = accuracy.loc[name]
        measured_as[name] = (f"predicted from the refolded loop (loop counting, fitted on "
                             f"{rule.n} training pre-miRNAs): mean error {row['mae_nt']:.1f} nt, "
                             f"{row['within_2nt']:.2f} within 2 nt, Spearman "
                             f"{row['spearman']:.2f} on {int(row['n'])} annotated molecules")
        log.info("%s of the traversal molecules: %s", name, measured_as[name])
    return traversals, measured_as


def measure_disentanglement(
    z: np.ndarray, attributes: pd.DataFrame, config: LatentConfig,
    tied: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """`premirna.interpret.disentangle.disentanglement` of the configured attributes, with the
    DCI importance of every dimension as columns `importance_z<d>` of the attribute rows."""
    chosen = attributes[[a for a in config.attributes if a in attributes.columns]]
    table, importance = disentanglement(
        z, chosen, bins=config.mig_bins, latent_bins=config.latent_bins,
        bootstrap=config.mig_bootstrap, regressor=config.dci_regressor,
        test_share=config.dci_test_share, seed=config.seed, tied=tied)
    wide = importance.set_index("dimension").T.add_prefix("importance_")
    return table.merge(wide, left_on="attribute", right_index=True, how="left")


def read_traversals(path: str | Path) -> pd.DataFrame:
    """The generate stage's traversal table (`premirna.generator.traversal.traverse`): one row per
    decoded and refolded molecule, with the latent `dimension` moved, the `value` along it (in SD)
    and the refolded attributes."""
    return read_table(path, ("dimension", "value"))


def encode_latents(
    model: str | Path,
    pixels: np.ndarray,
    labels: np.ndarray,
    table: pd.DataFrame,
    config: LatentConfig,
) -> tuple[np.ndarray, dict[str, int]]:
    """Posterior means of the molecules under the CVAE checkpoint `model`, and the attributes
    its training tied to latent dimensions (`train_cvae.attribute_regularisation`; empty for a
    checkpoint trained without it, or written before the option existed).

    With `config.conditions == "unspecified"` every condition is set to its last category
    ("not specified", which training teaches through condition dropout), so that the latent
    space has to carry the attributes by itself; with "given" the molecules' own class and
    attribute bins are used, and the latent space holds what the conditions leave out.
    """
    network, checkpoint = load_cvae(model, "cpu")
    bins = checkpoint["bins"]
    if config.conditions == "unspecified":
        conditions = make_conditions(None, None, bins, n_rows=len(pixels))
    else:
        conditions = make_conditions(labels, table.reset_index(drop=True), bins)
    mu, _ = encode_posterior(network, pixels, conditions)
    tied = dict((checkpoint.get("config") or {}).get("attribute_regularisation") or {})
    return np.asarray(mu, dtype=np.float64), {str(k): int(v) for k, v in tied.items()}

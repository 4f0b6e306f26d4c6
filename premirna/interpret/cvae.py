"""The interpret_cvae stage: latent factors of the CVAE against hairpin biology."""

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
from premirna.interpret.latent import (
    ACTIVE_VARIANCE,
    LatentConfig,
    analyse,
    hairpin_attributes,
    strongest_links,
)
from premirna.interpret.latent_figures import plot_links, plot_probe, plot_traversals
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
)


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
    if not isinstance(config, LatentConfig):
        config = LatentConfig.from_dict(config)
    missing = set(OUTPUT_KEYS) - set(outputs)
    if missing:
        raise ValueError(f"interpret_cvae: outputs missing {sorted(missing)}")
    use_threads(config.threads)
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


def read_traversals(path: str | Path) -> pd.DataFrame:
    """The generate stage's traversal table (`premirna.generator.generate.traverse`): one row per
    decoded and refolded molecule, with the latent `dimension` moved, the `value` along it (in SD)
    and the refolded attributes."""
    return read_table(path, ("dimension", "value"))


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
    network, checkpoint = load_cvae(model, "cpu")
    bins = checkpoint["bins"]
    if config.conditions == "unspecified":
        conditions = make_conditions(None, None, bins, n_rows=len(pixels))
    else:
        conditions = make_conditions(labels, table.reset_index(drop=True), bins)
    mu, _ = encode_posterior(network, pixels, conditions)
    return np.asarray(mu, dtype=np.float64)

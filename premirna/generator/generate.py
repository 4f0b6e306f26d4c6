"""The generate stage: new hairpins from the trained conditional VAE, per condition, near real
molecules, and along each latent dimension.

Sampling runs the decoder column by column from the terminal loop outward
(`premirna.generator.sample.decode_latents`): at each column the categorical over the column's
joint factors is sharpened by a temperature and cut to its top-p nucleus (Holtzman et al. 2020)
before a draw; temperature 0 takes the most likely column (greedy). Attribute steering adds, at
each column, feedback towards the GC, free energy and stem length of the training molecule behind
the draw's latent vector (`steering`, `steered`; `premirna.generator.steering`). The columns are
rendered by the encoder and read back as a sequence and its intended structure, so every output is
a drawable, decodable hairpin. A molecule whose drawn hairpin misses a requested bin (its GC, its
drawn stem or loop, the free energy of its drawn structure) is redrawn with a new latent and new
noise, up to `resample_rounds` times (`premirna.generator.request.match_request`): the decoder's
distribution restricted to the request; the share of first draws that already matched is kept
(`first_draw_in_bin`) for the report. A pre-miRNA is also redrawn while the pipeline's own CNN
turns its drawn image down (`detector_gate`) or attribute matching turns it down at random
(`attribute_matching`; `premirna.generator.realism`). Each pre-miRNA condition's draws are tilted
towards the molecule-order dinucleotides of the training pre-miRNAs in its bins, as a pilot
measures them (`dinucleotide_matching`; `premirna.generator.dinucleotides`), and the kinds of
their base pairs, by place in the stem, towards those pre-miRNAs' (`stem_pair_matching`;
`premirna.generator.stem_pairs`). A decoded sequence
that ViennaRNA folds differently from its drawing is then repaired by a short walk that changes
only nucleotides the drawing leaves unpaired, a tie between letters going to the one whose
neighbours the training pre-miRNAs make most often (`premirna.generator.refine`, `refine_steps`,
`refine_neighbours`; the decoder's own sequence is kept as `raw_sequence`). `generate` makes N
molecules per configured condition (z from the prior, or from the posterior of training molecules
in the requested bins: `latent`), molecules around chosen real ones (their posterior, widened by
`around_scale`), and latent traversals (every dimension from -3 to +3 SD, or across the training
pre-miRNAs' span on it, with the others at 0), re-folded so that the interpretation stage can read
what each dimension changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.core.atomic import save_npz, write_tsv
from premirna.core.seeds import offset, redraw_seed, stream
from premirna.core.tables import read_folded
from premirna.generator.conditions import (
    Condition,
    binned_reference,
    condition_rows,
    make_conditions,
    parse_conditions,
    requested_columns,
)
from premirna.generator.config import GenerateConfig
from premirna.generator.figures import plot_traversals
from premirna.generator.network import CVAE
from premirna.generator.posterior import (
    _find_images,
    encode_posterior,
    load_cvae,
    posterior_latents,
    training_posteriors,
)
from premirna.generator.realism import (
    Acceptance,
    Gate,
    acceptances,
    dinucleotide_tilts,
    stem_tilts,
)
from premirna.generator.refine import neighbour_scores, refine_decoded
from premirna.generator.request import Drawer, match_request
from premirna.generator.sample import Decoded, decode_latents
from premirna.generator.steering import source_targets, steering_targets
from premirna.generator.traversal import traversal_spans, traverse
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.seqio import Record, write_fasta
from premirna.training.device import choose_device, use_threads

log = logging.getLogger(__name__)


def _frame(
    decoded: Decoded,
    ids: list[str],
    set_name: str,
    condition: str,
    conditions: np.ndarray,
    requested: Condition | None,
    checkpoint: Mapping[str, Any],
    source_id: str = "",
) -> pd.DataFrame:
    attributes = list(checkpoint["attributes"])
    n_bins = len(checkpoint["bin_names"])
    frame = pd.DataFrame({"id": ids, "set": set_name, "condition": condition})
    frame["label"] = np.where(conditions[:, 0] == 2, -1, conditions[:, 0])
    for k, attribute in enumerate(attributes, start=1):
        wanted = requested.bins.get(attribute, -1) if requested is not None else -1
        frame[f"want_{attribute}"] = wanted
        frame[f"cond_{attribute}"] = np.where(conditions[:, k] == n_bins, -1, conditions[:, k])
    frame["source_id"] = source_id
    frame["raw_sequence"] = decoded.raw_sequences or decoded.sequences
    frame["refined_nt"] = (
        decoded.refined_nt if decoded.refined_nt is not None else np.zeros(len(ids), np.int64)
    )
    frame["sequence"] = decoded.sequences
    frame["structure"] = decoded.structures
    frame["length"] = [len(s) for s in decoded.sequences]
    return frame


def around_molecules(spec: Any, table: pd.DataFrame) -> list[str]:
    """Ids to sample around: the given list, or the first `spec` test-split pre-miRNAs by id."""
    if isinstance(spec, bool) or spec is None:
        raise ValueError("generate.around must be a list of ids or a number")
    if isinstance(spec, int):
        test = table[(table["split"] == "test") & (table["label"].astype(int) == 1)]
        return sorted(test["id"].astype(str))[:spec]
    return [str(name) for name in spec]


@dataclass
class _Generated:
    """The molecules of the stage, gathered in the order they are written."""

    frames: list[pd.DataFrame] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    tokens: list[np.ndarray] = field(default_factory=list)
    conditions: list[np.ndarray] = field(default_factory=list)
    latents: list[np.ndarray] = field(default_factory=list)

    def add(self, frame: pd.DataFrame, decoded: Decoded, rows: np.ndarray, z: np.ndarray) -> None:
        self.frames.append(frame)
        self.images.append(decoded.images)
        self.tokens.append(decoded.tokens)
        self.conditions.append(rows)
        self.latents.append(z.astype(np.float32))

    def write(self, outputs: Mapping[str, str | Path]) -> pd.DataFrame:
        """The table, the FASTA and the npz (ids, images, tokens, conditions, z)."""
        frame = pd.concat(self.frames, ignore_index=True)
        write_tsv(frame, outputs["table"])
        write_fasta(
            (Record(r.id, r.sequence, description=r.condition)
             for r in frame.itertuples(index=False)),
            outputs["fasta"],
        )
        save_npz(outputs["npz"], ids=frame["id"].to_numpy(dtype=str),
                 images=np.concatenate(self.images),
                 tokens=np.concatenate(self.tokens).astype(np.int8),
                 conditions=np.concatenate(self.conditions).astype(np.int16),
                 z=np.concatenate(self.latents).astype(np.float32))
        return frame


@dataclass
class _Context:
    """What every draw of the stage uses."""

    model: CVAE
    checkpoint: Mapping[str, Any]
    config: GenerateConfig
    rng: np.random.Generator
    fold: FoldSettings
    processes: int
    targets: pd.DataFrame | None = None  # steering's targets of the training molecules, by id
    neighbours: np.ndarray | None = None  # the repair walk's tie-break (`neighbour_scores`)


def _drawer(
    ctx: _Context, k: int, condition: Condition, reference: pd.DataFrame | None,
    posterior: Mapping[str, tuple[np.ndarray, np.ndarray]] | None,
    tilt: np.ndarray | None = None, stem_tilt: np.ndarray | None = None,
) -> Drawer:
    """draw(m, round) for the `k`-th condition: new latents, new noise (`redraw_seed`), the
    decoder tilted by dinucleotide matching's `tilt` and stem-pair matching's `stem_tilt`."""
    config, checkpoint = ctx.config, ctx.checkpoint

    def draw(m: int, round_: int) -> tuple[Decoded, np.ndarray, np.ndarray]:
        sources: list[str] = []
        rows = condition_rows(condition, m, checkpoint, reference, ctx.rng, sources)
        z = (ctx.rng.standard_normal((m, ctx.model.config.latent_dim))
             * config.latent_scale).astype(np.float32)
        if posterior is not None:
            z = posterior_latents(posterior, sources, z)
        decoded = decode_latents(ctx.model, z, rows, config.decoding,
                                 seed=redraw_seed(config.seed, round_, k),
                                 batch_size=config.batch_size,
                                 requested=requested_columns(condition, checkpoint), tilt=tilt,
                                 targets=_targets(ctx, condition, sources),
                                 stem_tilt=stem_tilt)
        return decoded, rows, z

    return draw


def _targets(
    ctx: _Context, condition: Condition, sources: Sequence[str]
) -> dict[str, np.ndarray] | None:
    """Steering's targets of the rows drawn from `sources`; None without steering."""
    if ctx.targets is None or not ctx.config.steering:
        return None
    return source_targets(ctx.targets, sources, condition.bins, ctx.config.steered == "all")


def _by_condition(
    ctx: _Context, conditions: Sequence[Condition], drawers: Sequence[Drawer], out: _Generated,
    keep: Sequence[Acceptance | None],
) -> None:
    """`n_per_condition` molecules for every condition from its drawer, misses redrawn, then
    repaired; `keep` holds each condition's further test (`premirna.generator.realism`) or
    None."""
    config, checkpoint = ctx.config, ctx.checkpoint
    for k, (condition, draw) in enumerate(zip(conditions, drawers, strict=True)):
        n = config.n_per_condition
        matched = match_request(draw, condition, n, config.resample_rounds, checkpoint, ctx.fold,
                                keep[k])
        decoded = refine_decoded(matched.decoded, config.refine_steps,
                                 offset(config.seed, "condition", k), ctx.fold, ctx.processes,
                                 ctx.neighbours)
        ids = [f"gen_c{k:02d}_{i:04d}" for i in range(n)]
        frame = _frame(decoded, ids, config.latent, condition.name, matched.conditions,
                       condition, checkpoint)
        requested = bool(condition.bins)
        frame["draws"] = matched.draws
        frame["first_draw_in_bin"] = np.where(requested, matched.first_hit, np.nan)
        frame["drawn_in_bin"] = np.where(requested, matched.hit, np.nan)
        out.add(frame, decoded, matched.conditions, matched.z)
        if requested:
            log.info("%s: %d molecules; first draws in the requested bins %.2f, kept %.2f "
                     "(%.2f draws per molecule)", condition.name, n, matched.first_hit.mean(),
                     matched.hit.mean(), matched.draws.mean())
        else:
            log.info("%s: %d molecules (%.2f draws per molecule)", condition.name, n,
                     matched.draws.mean())


def _around(
    ctx: _Context, around: Sequence[str], image_npz: Sequence[str | Path], table: pd.DataFrame,
    out: _Generated,
) -> None:
    """`n_around` molecules from the (widened) posterior of each real molecule in `around`."""
    config, checkpoint = ctx.config, ctx.checkpoint
    real_images, labels, real_rows = _find_images(around, image_npz, table)
    own = make_conditions(labels, real_rows, checkpoint["bins"])
    mu, logvar = encode_posterior(ctx.model, real_images, own)
    for j, name in enumerate(around):
        n = config.n_around
        eps = ctx.rng.standard_normal((n, ctx.model.config.latent_dim)).astype(np.float32)
        z = mu[j] + config.around_scale * np.exp(0.5 * logvar[j]) * eps
        rows = np.repeat(own[j : j + 1], n, axis=0)
        seed = offset(config.seed, "around", j)
        decoded = decode_latents(ctx.model, z, rows, config.decoding, seed=seed,
                                 batch_size=config.batch_size)
        decoded = refine_decoded(decoded, config.refine_steps, seed, ctx.fold, ctx.processes,
                                 ctx.neighbours)
        ids = [f"near_{name}_{i:03d}" for i in range(n)]
        out.add(_frame(decoded, ids, "around", f"around {name}", rows, None, checkpoint,
                       source_id=name), decoded, rows, z)
        log.info("around %s: %d molecules", name, n)


def generate(
    model_path: str | Path,
    folded_tsv: str | Path,
    image_npz: Sequence[str | Path],
    outputs: Mapping[str, str | Path],
    config: GenerateConfig | Mapping[str, Any] | None = None,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
    processes: int = 1,
    gate: Gate | None = None,
) -> dict[str, int]:
    """The `generate` stage.

    `outputs` names `table` (TSV), `fasta`, `npz` (ids, images, tokens, conditions, z),
    `traversals` (TSV) and `traversal_figure` (PNG). `image_npz` are the encode stage's npz files
    in which the molecules of `around` are looked up; `folded_tsv` gives the training molecules
    whose attribute bins complete open conditions. `fold` is the energy model of the drawn
    energies, the repair walk and the re-folded traversals; `processes` fold in parallel.
    `gate` is train_cnn's model as images -> P(pre-miRNA)
    (`premirna.classifier.predict.load_scorer`), the gate of `detector_gate`.
    """
    if not isinstance(config, GenerateConfig):
        config = GenerateConfig.from_dict(config)
    fold = FoldSettings.of(fold)
    use_threads(config.threads)
    model, checkpoint = load_cvae(model_path, choose_device(config.device))
    table = read_folded(folded_tsv)
    reference = binned_reference(table, checkpoint) if config.complete_conditions else None
    conditions = parse_conditions(config.conditions, checkpoint)
    targets = None
    if config.steering and reference is not None:
        targets = steering_targets(table[table.index.isin(reference["id"])])
    training = binned_reference(table, checkpoint).query("label == 1")["id"]
    neighbours = neighbour_scores(table.loc[training, "sequence"])
    ctx = _Context(model, checkpoint, config, np.random.default_rng(config.seed), fold, processes,
                   targets, neighbours if config.refine_neighbours else None)
    posterior = (
        training_posteriors(model, checkpoint, reference, image_npz, table)
        if config.latent == "posterior" and reference is not None else None
    )
    if config.detector_gate > 0 and gate is None:
        raise ValueError("generate.detector_gate needs train_cnn's model (gate); set it to 0 to "
                         "generate without the gate")
    gate = gate if config.detector_gate > 0 else None
    # the pilot's latents come from a stream of their own, so that the later draws are the same
    # with and without dinucleotide matching (but for the tilt)
    pilot = replace(ctx, rng=stream(config.seed, "generate_tilt"))
    tilts = dinucleotide_tilts(
        conditions, [_drawer(pilot, k, c, reference, posterior) for k, c in enumerate(conditions)],
        table, checkpoint, gate, config.detector_gate, config.dinucleotide_matching,
        config.tilted, fold)
    # stem-pair matching's pilot is drawn from the dinucleotide-tilted decoder
    stem = replace(ctx, rng=stream(config.seed, "generate_stem"))
    stems = stem_tilts(
        conditions, [_drawer(stem, k, c, reference, posterior, tilts[k])
                     for k, c in enumerate(conditions)],
        table, checkpoint, gate, config.detector_gate, config.stem_pair_matching, fold)
    drawers = [_drawer(ctx, k, c, reference, posterior, tilts[k], stems[k])
               for k, c in enumerate(conditions)]
    keep = acceptances(conditions, drawers, table, checkpoint, gate, config.detector_gate,
                       config.attribute_matching, config.n_per_condition, config.seed, fold)
    out = _Generated()
    _by_condition(ctx, conditions, drawers, out, keep)
    around = around_molecules(config.around, table)
    if around:
        _around(ctx, around, image_npz, table, out)
    frame = out.write(outputs)
    spans = traversal_spans(model, checkpoint, config, image_npz, table, posterior)
    traversal, decoded = traverse(model, checkpoint, config, fold, processes, spans)
    write_tsv(traversal, outputs["traversals"])
    plot_traversals(traversal, decoded, outputs["traversal_figure"])
    return {"generated": len(frame), "traversal_molecules": len(traversal)}

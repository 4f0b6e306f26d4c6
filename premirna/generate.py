"""Generate new hairpins with the trained conditional VAE: per condition, near real molecules, and
along each latent dimension.

Sampling runs the decoder column by column from the terminal loop outward (`decode_latents`): at
each column the categorical over the column's joint factors is sharpened by a temperature and cut to
its top-p nucleus (Holtzman et al. 2020) before a draw; temperature 0 takes the most likely column
(greedy). The columns are rendered by the encoder (`premirna.encode.render`) and read back as a
sequence and its intended structure (`premirna.encode.factors_to_hairpins`), so every output is a
drawable, decodable hairpin. A decoded sequence that ViennaRNA folds differently from its drawing
is then repaired by a short walk that changes only nucleotides the drawing leaves unpaired
(`premirna.refine`, `refine_steps`; the decoder's own sequence is kept as `raw_sequence`).
Before that, a molecule whose drawn hairpin misses a requested bin (its GC, its drawn stem or loop,
the free energy of its drawn structure) is redrawn with a new latent and new noise, up to
`resample_rounds` times (`match_request`): the decoder's distribution restricted to the request.
The share of first draws that already matched is kept (`first_draw_in_bin`) for the report.
`generate` is the `generate` stage: N molecules per configured
condition (z from the prior, or from the posterior of training molecules in the requested bins:
`latent`), molecules around chosen real ones (their posterior, widened by
`around_scale`), and latent traversals (every dimension from -3 to +3 SD with the others at 0),
which are re-folded so that the interpretation stage can read what each dimension changes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from premirna import encode
from premirna.atomic import atomic_open, atomic_path, save_npz, write_tsv
from premirna.cvae import CVAE
from premirna.cvae_train import (
    assign_bins,
    encode_posterior,
    load_cvae,
    make_conditions,
    read_fold_table,
    tokens_to_factors,
)
from premirna.errors import InputError
from premirna.settings import reject_unknown
from premirna.training import choose_device

log = logging.getLogger("premirna.generate")

#: Attributes of re-folded traversal molecules written to the traversal table.
TRAVERSAL_ATTRIBUTES: tuple[str, ...] = (
    "length", "gc", "mfe_per_nt", "hairpin_loops", "loop_size", "stem_length", "bulges",
    "internal_loops",
)


@dataclass
class Decoded:
    """A batch of decoded samples."""

    tokens: np.ndarray  # int64 N x 100, one token per column
    images: np.ndarray  # uint8 N x 25 x 100 x 3, rendered by premirna.encode
    sequences: list[str]  # the hairpin each image draws
    structures: list[str]  # its intended (drawn) dot-bracket structure
    raw_sequences: list[str] | None = None  # the decoder's sequences, when refined
    refined_nt: np.ndarray | None = None  # nucleotides changed by refinement, per molecule


def refine_decoded(
    decoded: Decoded, steps: int, seed: int, fold_settings: Mapping[str, Any] | None = None
) -> Decoded:
    """`decoded` after the repair walk of `premirna.refine` (unpaired nucleotides changed until
    the sequence folds as drawn), images redrawn; the decoder's sequences are kept beside."""
    from premirna.refine import refine_hairpins

    if steps <= 0 or not decoded.sequences:
        return decoded
    settings = dict(fold_settings or {})
    refined = refine_hairpins(decoded.sequences, decoded.structures, steps=steps, seed=seed,
                              processes=int(settings.get("processes", 1)),
                              temperature=float(settings.get("temperature", 37.0)),
                              dangles=int(settings.get("dangles", 2)))
    sequences = [r.sequence for r in refined]
    images = decoded.images.copy()
    changed = [i for i, r in enumerate(refined) if r.changed]
    if changed:
        images[changed] = encode.encode_many([sequences[i] for i in changed],
                                             [decoded.structures[i] for i in changed],
                                             source="<refined>")[0]
    return Decoded(decoded.tokens, images, sequences, list(decoded.structures),
                   raw_sequences=list(decoded.sequences),
                   refined_nt=np.array([r.changed for r in refined], dtype=np.int64))


@dataclass
class GenerateConfig:
    """Settings of the `generate` stage (the `generate:` config section)."""

    n_per_condition: int = 100  # molecules sampled for every condition
    conditions: Any = "single"  # "single": pre-miRNA alone, then each attribute bin alone; or a
    # list of {label: 0/1, <attribute>: <bin name or index>} (omitted = not specified)
    temperature: float = 1.0  # softmax temperature of every column; 0 = greedy (most likely)
    top_p: float = 1.0  # nucleus: draw among the most likely columns holding this probability
    guidance: float = 3.0  # classifier-free guidance of the class (1 = plain conditional)
    attribute_guidance: float = 2.0  # classifier-free guidance of the attribute bins (1 = none)
    complete_conditions: bool = True  # draw the attributes a condition leaves open from real
    # training molecules of that class (else they stay "not specified")
    latent_scale: float = 1.0  # scales the noise of z: its SD around 0 (`prior`) or, in units
    # of the posterior SD, around the posterior mean (`posterior`); 1 = the distribution itself
    latent: str = "prior"  # where z comes from: "prior" (N(0, I) times latent_scale) or
    # "posterior": the posterior of the training molecule that completed the condition (the
    # aggregate posterior), so that z agrees with the requested bins
    around: Any = 3  # real molecules to sample around: a list of ids, or a number k for the
    # first k test-split pre-miRNAs (by id)
    n_around: int = 20  # molecules per real molecule in `around`
    around_scale: float = 1.0  # multiplies the posterior SD around a real molecule
    traversal_steps: int = 7  # grid points from -3 to +3 SD per latent dimension
    traversal_samples: int = 8  # molecules per grid point (same noise at every point)
    traversal_range: float = 3.0  # the grid spans -range .. +range SD
    refine_steps: int = 20  # steps of the repair walk (premirna.refine) that changes unpaired
    # nucleotides until the molecule folds as drawn; 0 = keep the decoder's sequences as they are
    resample_rounds: int = 10  # rounds of redrawing (new z, new noise) the molecules whose drawn
    # hairpin misses a requested bin; 0 = keep every first draw (see `match_request`)
    batch_size: int = 500  # molecules decoded at once
    seed: int = 20191108  # seeds every draw
    threads: int = 1  # torch CPU threads
    device: str = "auto"  # "auto" (CUDA if available), "cpu" or "cuda"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> GenerateConfig:
        """Build from a config section; unknown keys raise ValueError naming them."""
        values = dict(values or {})
        reject_unknown(values, cls, "generate")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Sampling.
def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Standard Gumbel noise: argmax(log p + noise) is a draw from p (the Gumbel-max trick)."""
    uniform = torch.rand(shape, generator=generator, dtype=torch.float64)
    return -torch.log(-torch.log(uniform.clamp_(1e-12, 1.0 - 1e-12)))


def _choose(
    logits: torch.Tensor, temperature: float, top_p: float, noise: torch.Tensor | None
) -> torch.Tensor:
    """One token per row: greedy at temperature 0, else a draw from the top-p nucleus of the
    tempered distribution, made with the given Gumbel `noise` (N x vocabulary)."""
    if temperature <= 0 or noise is None:
        return logits.argmax(dim=1)
    log_probs = F.log_softmax(logits.double() / temperature, dim=1)
    if top_p < 1.0:
        sorted_log, order = log_probs.sort(dim=1, descending=True)
        sorted_probs = sorted_log.exp()
        # Keep the most likely tokens until their mass reaches top_p (the first is always kept).
        drop = (sorted_probs.cumsum(dim=1) - sorted_probs) >= top_p
        log_probs = log_probs.scatter(1, order, sorted_log.masked_fill(drop, float("-inf")))
    return (log_probs + noise.to(log_probs.device)).argmax(dim=1)


def ending_tokens(vocabulary: int) -> torch.Tensor:
    """Bool mask of the tokens with no nucleotide in either half: a column that ends a hairpin."""
    factors = tokens_to_factors(np.arange(vocabulary)[None, :])
    letters = {encode.NT_A, encode.NT_C, encode.NT_G, encode.NT_U, encode.NT_N}
    top, bottom = factors.top_nt[0].tolist(), factors.bottom_nt[0].tolist()
    return torch.tensor([t not in letters and b not in letters for t, b in zip(top, bottom,
                                                                               strict=True)])


def iupac_tokens(vocabulary: int) -> torch.Tensor:
    """Bool mask of the tokens with an IUPAC letter (N) in either half: never sampled, since a
    generated molecule is RNA."""
    factors = tokens_to_factors(np.arange(vocabulary)[None, :])
    return torch.from_numpy((factors.top_nt[0] == encode.NT_N) | (factors.bottom_nt[0] ==
                                                                  encode.NT_N))


def pairing_tokens(vocabulary: int) -> torch.Tensor:
    """Bool mask of the tokens that are a base pair (paired, A/C/G/U on both halves)."""
    factors = tokens_to_factors(np.arange(vocabulary)[None, :])
    acgu = {encode.NT_A, encode.NT_C, encode.NT_G, encode.NT_U}
    top, bottom = factors.top_nt[0].tolist(), factors.bottom_nt[0].tolist()
    paired = factors.paired[0].tolist()
    return torch.tensor([p and t in acgu and b in acgu for t, b, p in zip(top, bottom, paired,
                                                                           strict=True)])


def unspecified_conditions(
    model: CVAE, conditions: torch.Tensor, which: str = "all"
) -> torch.Tensor:
    """`conditions` with every condition (`which="all"`) or only the class (`"class"`) set to
    "not specified" (its last category)."""
    sizes = torch.tensor(model.config.condition_sizes, dtype=torch.long, device=conditions.device)
    free = (sizes - 1).expand(len(conditions), -1).clone()
    if which == "class":
        free[:, 1:] = conditions[:, 1:]
    elif which != "all":
        raise ValueError(f"guide {which!r}: all or class")
    return free


@torch.no_grad()
def sample_tokens(
    model: CVAE,
    z: torch.Tensor,
    conditions: torch.Tensor,
    temperature: float = 1.0,
    top_p: float = 1.0,
    noise: torch.Tensor | None = None,
    guidance: float = 1.0,
    attribute_guidance: float = 1.0,
) -> torch.Tensor:
    """Tokens (N x columns) decoded column by column from latents z (N x D) and conditions.

    `noise` (N x columns x vocabulary, `gumbel_noise`) makes the draws; the same noise gives the
    same choices wherever the distributions agree (used for traversals). Classifier-free guidance
    (Ho & Salimans 2022), composed per condition group as in Liu et al. 2022 (composable
    diffusion): with l_full the logits under all conditions, l_attr with the class "not
    specified" and l_none with every condition "not specified" (training teaches both by hiding
    conditions), the logits become l_none + attribute_guidance * (l_attr - l_none) +
    guidance * (l_full - l_attr). Both 1 = the plain conditional decoder.
    """
    model.eval()
    state, context = model.start(z, conditions)
    branches = []  # (weight, state, context) of the guidance terms
    if guidance != 1.0 or attribute_guidance != 1.0:
        attr = unspecified_conditions(model, conditions, "class")
        branches.append([1.0 - guidance, *model.start(z, attr)])
        if attribute_guidance != 1.0:
            branches[0][0] = attribute_guidance - guidance
            none = unspecified_conditions(model, conditions, "all")
            branches.append([1.0 - attribute_guidance, *model.start(z, none)])
    ends = ending_tokens(model.config.vocabulary).to(z.device)
    pairs = pairing_tokens(model.config.vocabulary).to(z.device)
    iupac = iupac_tokens(model.config.vocabulary).to(z.device)
    previous = torch.full((len(z),), model.start_token, dtype=torch.long, device=z.device)
    ended = torch.zeros(len(z), dtype=torch.bool, device=z.device)
    has_pair = torch.zeros(len(z), dtype=torch.bool, device=z.device)
    last = model.config.columns - 1
    out = torch.zeros((len(z), model.config.columns), dtype=torch.long, device=z.device)
    for column in range(model.config.columns):
        logits, state = model.step(previous, column, state, context)
        if branches:
            logits = guidance * logits
            for branch in branches:
                branch_logits, branch[1] = model.step(previous, column, branch[1], branch[2])
                logits = logits + branch[0] * branch_logits
        # A hairpin has a loop (column 0 holds a nucleotide; it is never paired) and a closing
        # pair: a molecule cannot end before its first pair, and pairs at the last column if
        # it has none yet.
        logits = logits.masked_fill(iupac, float("-inf"))
        if column == 0:
            logits = logits.masked_fill(ends, float("-inf"))
        else:
            logits = logits.masked_fill(~has_pair[:, None] & ends[None, :], float("-inf"))
            if column == last:
                logits = logits.masked_fill(~has_pair[:, None] & ~pairs[None, :], float("-inf"))
        step_noise = None if noise is None else noise[:, column]
        previous = _choose(logits, temperature, top_p, step_noise)
        previous = torch.where(ended, torch.zeros_like(previous), previous)
        out[:, column] = previous
        ended |= ends[previous]
        if column > 0:
            has_pair |= pairs[previous]
        if bool(ended.all()):
            break  # every later column is empty
    return out


def tokens_to_hairpins(tokens: np.ndarray) -> Decoded:
    """Read tokens as hairpins (sequence, intended structure) and draw each hairpin's image.

    The image is drawn from the hairpin's own columns (`premirna.encode.encode_many`), so it is
    exactly what the encoder makes of the decoded molecule (the loop drawn mirrored in both
    halves, whatever the sampled 3' half of the loop columns held).
    """
    sequences, structures = encode.factors_to_hairpins(tokens_to_factors(tokens))
    images, _ = encode.encode_many(sequences, structures, source="<generated>")
    # A hairpin whose drawing needs more than 100 columns (a loop column with a gap can make it
    # longer than its tokens) is clipped: keep the hairpin the image shows, and draw that one.
    for _ in range(3):
        shown = encode.decode_many(images, source="<generated>")
        changed = [i for i in range(len(sequences))
                   if (sequences[i], structures[i]) != (shown[0][i], shown[1][i])]
        if not changed:
            break
        for i in changed:
            sequences[i], structures[i] = shown[0][i], shown[1][i]
        images[changed] = encode.encode_many([sequences[i] for i in changed],
                                             [structures[i] for i in changed])[0]
    return Decoded(np.asarray(tokens), images, sequences, structures)


@dataclass
class Decoding:
    """How latents become tokens (the decoding part of `GenerateConfig`)."""

    temperature: float = 1.0
    top_p: float = 1.0
    guidance: float = 1.0
    attribute_guidance: float = 1.0


def decode_latents(
    model: CVAE,
    z: np.ndarray,
    conditions: np.ndarray,
    decoding: Decoding | None = None,
    seed: int = 0,
    noise: torch.Tensor | None = None,
    batch_size: int = 500,
) -> Decoded:
    """Decode latents (N x D) under conditions (N x K) into rendered, decodable hairpins.

    Draws use Gumbel noise from `seed`, or the given `noise` (N x columns x vocabulary).
    """
    decoding = decoding or Decoding()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    shape = (model.config.columns, model.config.vocabulary)
    chunks = []
    for lo in range(0, len(z), batch_size):
        zt = torch.as_tensor(np.asarray(z[lo : lo + batch_size]), dtype=torch.float32).to(device)
        ct = torch.as_tensor(np.asarray(conditions[lo : lo + batch_size])).long().to(device)
        if noise is not None:
            batch_noise = noise[lo : lo + batch_size]
        elif decoding.temperature > 0:
            batch_noise = gumbel_noise((len(zt), *shape), generator)
        else:
            batch_noise = None
        tokens = sample_tokens(model, zt, ct, decoding.temperature, decoding.top_p, batch_noise,
                               decoding.guidance, decoding.attribute_guidance)
        chunks.append(tokens.cpu().numpy())
    tokens = (
        np.concatenate(chunks) if chunks else np.zeros((0, model.config.columns), np.int64)
    )
    return tokens_to_hairpins(tokens)


# --------------------------------------------------------------------------------------------
# Conditions.
@dataclass
class Condition:
    """One requested condition: a class and, for some attributes, a bin (index)."""

    name: str  # readable, e.g. "pre-miRNA, stem_length=high"
    label: int | None  # 1 = pre-miRNA, 0 = not, None = not specified
    bins: dict[str, int]  # attribute -> requested bin index


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


# --------------------------------------------------------------------------------------------
# Keeping the molecules that match the request.
def drawn_attributes(
    sequences: Sequence[str], structures: Sequence[str], attributes: Sequence[str],
    fold_settings: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """`attributes` of each molecule as drawn: its features (`premirna.structure.features`) on
    the drawn structure, with the free energy of that structure (ViennaRNA's evaluation, not a
    fold) for `mfe_per_nt`. Where ViennaRNA folds the molecule as drawn these are the attributes
    the validate stage measures."""
    from premirna.structure import features

    settings = dict(fold_settings or {})
    md = None
    if "mfe_per_nt" in attributes:
        import RNA

        from premirna.fold import model_details

        md = model_details(float(settings.get("temperature", 37.0)),
                           int(settings.get("dangles", 2)))
    rows = []
    for sequence, structure in zip(sequences, structures, strict=True):
        energy = None
        if md is not None and sequence:
            energy = RNA.fold_compound(sequence, md).eval_structure(structure)
        values = features(sequence, structure, energy) if sequence else {}
        rows.append({a: values.get(a, math.nan) for a in attributes})
    return pd.DataFrame(rows, columns=list(attributes))


def in_requested_bins(
    decoded: Decoded, condition: Condition, checkpoint: Mapping[str, Any],
    fold_settings: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Per molecule: does its drawn hairpin fall in every bin `condition` requests?"""
    hit = np.ones(len(decoded.sequences), dtype=bool)
    if not condition.bins:
        return hit
    values = drawn_attributes(decoded.sequences, decoded.structures, list(condition.bins),
                              fold_settings)
    for attribute, wanted in condition.bins.items():
        reached = assign_bins(values[attribute].to_numpy(dtype=np.float64),
                              checkpoint["bins"][attribute])
        hit &= reached == wanted
    return hit


def _take(decoded: Decoded, rows: np.ndarray) -> Decoded:
    return Decoded(decoded.tokens[rows], decoded.images[rows],
                   [decoded.sequences[i] for i in rows], [decoded.structures[i] for i in rows])


def _put(decoded: Decoded, rows: np.ndarray, other: Decoded) -> None:
    decoded.tokens[rows] = other.tokens
    decoded.images[rows] = other.images
    for k, i in enumerate(rows):
        decoded.sequences[i] = other.sequences[k]
        decoded.structures[i] = other.structures[k]


@dataclass
class Matched:
    """The molecules of one condition after `match_request`."""

    decoded: Decoded
    conditions: np.ndarray  # N x K condition rows each molecule was decoded under
    z: np.ndarray  # N x D latents
    draws: np.ndarray  # draws each molecule took (1 = the first)
    first_hit: np.ndarray  # did the first draw fall in the requested bins? (the decoder alone)
    hit: np.ndarray  # does the kept molecule?


#: draw(m, round) -> m new molecules (new latents, new noise), their condition rows and latents.
Drawer = Callable[[int, int], "tuple[Decoded, np.ndarray, np.ndarray]"]


def match_request(
    draw: Drawer, condition: Condition, n: int, rounds: int, checkpoint: Mapping[str, Any],
    fold_settings: Mapping[str, Any] | None = None,
) -> Matched:
    """`n` molecules for `condition`, redrawing those whose drawn hairpin misses a requested bin.

    `draw(m, round)` returns (Decoded, conditions, z) for m new molecules (new latents, new noise).
    A molecule that misses after `rounds` redraws keeps its first draw, so the validate stage
    still sees every miss. This samples the decoder's distribution restricted to the requested
    bins (rejection sampling on what the decoder drew, not on a re-fold); `first_hit` keeps the
    decoder's own control for the report.
    """
    decoded, rows, z = draw(n, 0)
    hit = in_requested_bins(decoded, condition, checkpoint, fold_settings)
    first_hit = hit.copy()
    draws = np.ones(n, dtype=np.int64)
    for round_ in range(1, rounds + 1):
        missing = np.flatnonzero(~hit)
        if not len(missing) or not condition.bins:
            break
        again, again_rows, again_z = draw(len(missing), round_)
        draws[missing] += 1
        now = in_requested_bins(again, condition, checkpoint, fold_settings)
        keep = missing[now]
        if len(keep):
            _put(decoded, keep, _take(again, np.flatnonzero(now)))
            rows[keep] = again_rows[now]
            z[keep] = again_z[now]
            hit[keep] = True
    return Matched(decoded, rows, z, draws, first_hit, hit)


# --------------------------------------------------------------------------------------------
# The stage.
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


def _find_images(
    wanted: Sequence[str], npz_paths: Sequence[str | Path], table: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Images, labels and fold-table rows of the molecules `wanted`, from any of the npz files."""
    found: dict[str, tuple[np.ndarray, int]] = {}
    for path in npz_paths:
        with np.load(path, allow_pickle=False) as data:
            ids = data["ids"].astype(str)
            rows = np.flatnonzero(np.isin(ids, list(wanted)))
            if not len(rows):
                continue
            # Read each array once (every data[...] decompresses it) and keep copies of the rows.
            images, labels = data["images"][rows].copy(), data["labels"][rows]
            for k, row in enumerate(rows):
                found[ids[row]] = (images[k], int(labels[k]))
    missing = [w for w in wanted if w not in found or w not in table.index]
    if missing:
        raise InputError(", ".join(str(p) for p in npz_paths),
                         "generate.around names molecules that are not encoded",
                         record=missing[0])
    images = np.stack([found[w][0] for w in wanted])
    labels = np.array([found[w][1] for w in wanted], dtype=np.int64)
    return images, labels, table.loc[list(wanted)].reset_index(drop=True)


def training_posteriors(
    model: CVAE,
    checkpoint: Mapping[str, Any],
    reference: pd.DataFrame,
    image_npz: Sequence[str | Path],
    table: pd.DataFrame,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Posterior mean and SD of z for every reference (training) molecule, under its own class
    and bins: the aggregate posterior that `latent: posterior` samples from."""
    ids = reference["id"].astype(str).tolist()
    images, labels, rows = _find_images(ids, image_npz, table)
    mu, logvar = encode_posterior(model, images, make_conditions(labels, rows, checkpoint["bins"]))
    sd = np.exp(0.5 * logvar)
    return {name: (mu[i], sd[i]) for i, name in enumerate(ids)}


def posterior_latents(
    posterior: Mapping[str, tuple[np.ndarray, np.ndarray]], sources: Sequence[str],
    noise: np.ndarray,
) -> np.ndarray:
    """z = mu + SD * noise from the posterior of each row's source molecule; rows without a
    source keep `noise` (a prior draw)."""
    z = np.array(noise, dtype=np.float32, copy=True)
    for i, name in enumerate(sources):
        if name:
            mu, sd = posterior[name]
            z[i] = mu + sd * noise[i]
    return z


def around_molecules(spec: Any, table: pd.DataFrame) -> list[str]:
    """Ids to sample around: the given list, or the first `spec` test-split pre-miRNAs by id."""
    if isinstance(spec, bool) or spec is None:
        raise ValueError("generate.around must be a list of ids or a number")
    if isinstance(spec, int):
        test = table[(table["split"] == "test") & (table["label"].astype(int) == 1)]
        return sorted(test["id"].astype(str))[:spec]
    return [str(name) for name in spec]


def traverse(
    model: CVAE,
    checkpoint: Mapping[str, Any],
    config: GenerateConfig,
    fold_settings: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, Decoded]:
    """Latent traversals: for every dimension, z = value * e_d for `traversal_steps` values from
    -range to +range (other dimensions 0), pre-miRNA class, attributes unspecified,
    `traversal_samples` molecules per value drawn with the same noise at every value. Returns the
    table of re-folded attributes (dimension, value, sample, ..., `TRAVERSAL_ATTRIBUTES`) and the
    decoded molecules in table order."""
    from premirna.fold import fold_sequences
    from premirna.structure import features

    dim = model.config.latent_dim
    values = np.linspace(-config.traversal_range, config.traversal_range, config.traversal_steps)
    n_samples = config.traversal_samples
    generator = torch.Generator().manual_seed(config.seed + 1)
    shape = (n_samples, model.config.columns, model.config.vocabulary)
    noise = gumbel_noise(shape, generator)
    rows, z_all, noise_all = [], [], []
    for d in range(dim):
        for value in values:
            z = np.zeros((n_samples, dim), dtype=np.float32)
            z[:, d] = value
            z_all.append(z)
            noise_all.append(noise)
            rows += [(d, float(value), k) for k in range(n_samples)]
    z = np.concatenate(z_all)
    conditions = make_conditions(np.ones(len(z), dtype=np.int64), None, checkpoint["bins"])
    decoding = Decoding(config.temperature, config.top_p, config.guidance,
                        config.attribute_guidance)
    decoded = decode_latents(model, z, conditions, decoding, noise=torch.cat(noise_all),
                             batch_size=config.batch_size)
    frame = pd.DataFrame(rows, columns=["dimension", "value", "sample"])
    frame.insert(0, "id", [f"trav_z{d}_{v:+.1f}_{k}" for d, v, k in rows])
    frame["sequence"] = decoded.sequences
    frame["intended"] = decoded.structures
    folds = fold_sequences(decoded.sequences, **dict(fold_settings or {}))
    frame["refolded"] = [s for s, _ in folds]
    frame["mfe"] = [e for _, e in folds]
    feats = pd.DataFrame(
        [features(q, s, e) for q, (s, e) in zip(decoded.sequences, folds, strict=True)]
    )
    for name in TRAVERSAL_ATTRIBUTES:
        frame[name] = feats[name].to_numpy()
    frame["valid"] = frame["hairpin_loops"] == 1
    return frame, decoded


def plot_traversals(
    frame: pd.DataFrame, decoded: Decoded, path: str | Path, max_dimensions: int = 16
) -> None:
    """One row per latent dimension: the first sample's image at every value of the grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = frame["sample"].to_numpy() == 0
    dims = sorted(frame["dimension"].unique())[:max_dimensions]
    values = sorted(frame["value"].unique())
    fig, axes = plt.subplots(len(dims), len(values), squeeze=False,
                             figsize=(1.9 * len(values), 0.62 * len(dims) + 0.6))
    for r, d in enumerate(dims):
        for c, v in enumerate(values):
            index = np.flatnonzero(first & (frame["dimension"].to_numpy() == d)
                                   & np.isclose(frame["value"].to_numpy(), v))[0]
            ax = axes[r, c]
            ax.imshow(decoded.images[index], interpolation="nearest", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"z{d}", rotation=0, ha="right", va="center", fontsize=8)
            if r == 0:
                ax.set_title(f"{v:+.1f} SD", fontsize=8)
    fig.suptitle("Latent traversals (pre-miRNA class; other dimensions 0)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_fasta(frame: pd.DataFrame, path: str | Path) -> None:
    """FASTA of the generated molecules, the condition in each header."""
    with atomic_open(path, "w") as handle:
        for rec in frame.itertuples(index=False):
            handle.write(f">{rec.id} {rec.condition}\n{rec.sequence}\n")


def generate(
    model_path: str | Path,
    folded_tsv: str | Path,
    image_npz: Sequence[str | Path],
    outputs: Mapping[str, str | Path],
    config: GenerateConfig | Mapping[str, Any] | None = None,
    fold_settings: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """The `generate` stage.

    `outputs` names `table` (TSV), `fasta`, `npz` (ids, images, tokens, conditions, z),
    `traversals` (TSV) and `traversal_figure` (PNG). `image_npz` are the encode stage's npz files
    in which the molecules of `around` are looked up; `folded_tsv` gives the training molecules
    whose attribute bins complete open conditions. `fold_settings` (temperature, dangles,
    processes) are used to re-fold the traversal molecules.
    """
    if not isinstance(config, GenerateConfig):
        config = GenerateConfig.from_dict(config)
    torch.set_num_threads(max(1, config.threads))

    model, checkpoint = load_cvae(model_path, choose_device(config.device))
    table = read_fold_table(folded_tsv)
    reference = binned_reference(table, checkpoint) if config.complete_conditions else None
    conditions = parse_conditions(config.conditions, checkpoint)
    decoding = Decoding(config.temperature, config.top_p, config.guidance,
                        config.attribute_guidance)
    rng = np.random.default_rng(config.seed)
    dim = model.config.latent_dim
    frames, images, tokens, all_conditions, latents = [], [], [], [], []

    if config.latent not in ("prior", "posterior"):
        raise ValueError(f"generate.latent: 'prior' or 'posterior', not {config.latent!r}")
    posterior = (
        training_posteriors(model, checkpoint, reference, image_npz, table)
        if config.latent == "posterior" and reference is not None else None
    )
    for k, condition in enumerate(conditions):
        n = config.n_per_condition

        def draw(m: int, round_: int, k: int = k, condition: Condition = condition):
            sources: list[str] = []
            rows = condition_rows(condition, m, checkpoint, reference, rng, sources)
            z = (rng.standard_normal((m, dim)) * config.latent_scale).astype(np.float32)
            if posterior is not None:
                z = posterior_latents(posterior, sources, z)
            # Round 0 keeps the seeds of earlier versions; each redraw round gets its own.
            seed = config.seed + k if round_ == 0 else config.seed + 100_000 * round_ + k
            decoded = decode_latents(model, z, rows, decoding, seed=seed,
                                     batch_size=config.batch_size)
            return decoded, rows, z

        matched = match_request(draw, condition, n, config.resample_rounds, checkpoint,
                                fold_settings)
        decoded = refine_decoded(matched.decoded, config.refine_steps, config.seed + k,
                                 fold_settings)
        ids = [f"gen_c{k:02d}_{i:04d}" for i in range(n)]
        frame = _frame(decoded, ids, config.latent, condition.name, matched.conditions,
                       condition, checkpoint)
        requested = bool(condition.bins)
        frame["draws"] = matched.draws
        frame["first_draw_in_bin"] = np.where(requested, matched.first_hit, np.nan)
        frame["drawn_in_bin"] = np.where(requested, matched.hit, np.nan)
        frames.append(frame)
        images.append(decoded.images)
        tokens.append(decoded.tokens)
        all_conditions.append(matched.conditions)
        latents.append(matched.z)
        if requested:
            log.info("%s: %d molecules; first draws in the requested bins %.2f, kept %.2f "
                     "(%.2f draws per molecule)", condition.name, n, matched.first_hit.mean(),
                     matched.hit.mean(), matched.draws.mean())
        else:
            log.info("%s: %d molecules", condition.name, n)

    around = around_molecules(config.around, table)
    if around:
        real_images, labels, real_rows = _find_images(around, image_npz, table)
        own = make_conditions(labels, real_rows, checkpoint["bins"])
        mu, logvar = encode_posterior(model, real_images, own)
        for j, name in enumerate(around):
            n = config.n_around
            eps = rng.standard_normal((n, dim)).astype(np.float32)
            z = mu[j] + config.around_scale * np.exp(0.5 * logvar[j]) * eps
            rows = np.repeat(own[j : j + 1], n, axis=0)
            decoded = decode_latents(model, z, rows, decoding, seed=config.seed + 1000 + j,
                                     batch_size=config.batch_size)
            decoded = refine_decoded(decoded, config.refine_steps, config.seed + 1000 + j,
                                     fold_settings)
            ids = [f"near_{name}_{i:03d}" for i in range(n)]
            frames.append(_frame(decoded, ids, "around", f"around {name}", rows, None,
                                 checkpoint, source_id=name))
            images.append(decoded.images)
            tokens.append(decoded.tokens)
            all_conditions.append(rows)
            latents.append(z.astype(np.float32))
            log.info("around %s: %d molecules", name, n)

    frame = pd.concat(frames, ignore_index=True)
    write_tsv(frame, outputs["table"])
    write_fasta(frame, outputs["fasta"])
    save_npz(outputs["npz"], ids=frame["id"].to_numpy(dtype=str),
             images=np.concatenate(images), tokens=np.concatenate(tokens).astype(np.int8),
             conditions=np.concatenate(all_conditions).astype(np.int16),
             z=np.concatenate(latents).astype(np.float32))
    traversal, decoded = traverse(model, checkpoint, config, fold_settings)
    write_tsv(traversal, outputs["traversals"])
    plot_traversals(traversal, decoded, outputs["traversal_figure"])
    return {"generated": len(frame), "traversal_molecules": len(traversal)}

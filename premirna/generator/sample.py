"""Sampling: latents and conditions -> tokens -> rendered, decodable hairpins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from premirna.encode.decode import decode_many, factors_to_hairpins
from premirna.encode.render import encode_many
from premirna.generator.dinucleotides import ArmNeighbours
from premirna.generator.network import CVAE
from premirna.generator.steering import Steering
from premirna.generator.stem_pairs import StemPairs
from premirna.generator.tokens import ending_tokens, iupac_tokens, pairing_tokens, tokens_to_factors


@dataclass
class Decoded:
    """A batch of decoded samples."""

    tokens: np.ndarray  # int64 N x 100, one token per column
    images: np.ndarray  # uint8 N x 25 x 100 x 3, rendered by premirna.encode
    sequences: list[str]  # the hairpin each image draws
    structures: list[str]  # its intended (drawn) dot-bracket structure
    raw_sequences: list[str] | None = None  # the decoder's sequences, when refined
    refined_nt: np.ndarray | None = None  # nucleotides changed by refinement, per molecule


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


def _guidance_branches(
    model: CVAE, z: torch.Tensor, conditions: torch.Tensor, guidance: float,
    attribute_guidance: float, requested_guidance: float, requested: torch.Tensor | None,
) -> tuple[list[list], float]:
    """The guidance terms of `sample_tokens` as [weight, state, context], and the weight of the
    logits under all conditions."""
    branches: list[list] = []
    if guidance != 1.0 or attribute_guidance != 1.0:
        attr = unspecified_conditions(model, conditions, "class")
        branches.append([1.0 - guidance, *model.start(z, attr)])
        if attribute_guidance != 1.0:
            branches[0][0] = attribute_guidance - guidance
            none = unspecified_conditions(model, conditions, "all")
            branches.append([1.0 - attribute_guidance, *model.start(z, none)])
    if requested_guidance != 1.0 and requested is not None and bool(requested.any()):
        free = unspecified_conditions(model, conditions, "all")
        open_ = torch.where(requested.to(conditions.device), free, conditions)
        branches.append([1.0 - requested_guidance, *model.start(z, open_)])
        guidance = guidance + requested_guidance - 1.0  # the weight of l_full
    return branches, guidance


def _terms(
    model: CVAE, z: torch.Tensor, tilt: np.ndarray | None, stem_tilt: np.ndarray | None,
    steer: Steering | None,
) -> list[ArmNeighbours | StemPairs | Steering]:
    """The terms `sample_tokens` adds to every column's logits: each has bias() before a column
    and advance() after it."""
    vocabulary, rows = model.config.vocabulary, len(z)
    terms: list[ArmNeighbours | StemPairs | Steering] = []
    if tilt is not None:
        terms.append(ArmNeighbours(tilt, vocabulary, rows, z.device))
    if stem_tilt is not None:
        terms.append(StemPairs(stem_tilt, vocabulary, rows, z.device))
    return terms + ([] if steer is None else [steer])


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
    requested_guidance: float = 1.0,
    requested: torch.Tensor | None = None,
    tilt: np.ndarray | None = None,
    steer: Steering | None = None,
    stem_tilt: np.ndarray | None = None,
) -> torch.Tensor:
    """Tokens (N x columns) decoded column by column from latents z (N x D) and conditions.

    `noise` (N x columns x vocabulary, `gumbel_noise`) makes the draws; the same noise gives the
    same choices wherever the distributions agree (used for traversals). Classifier-free guidance
    (Ho & Salimans 2022), composed per condition group as in Liu et al. 2022 (composable
    diffusion): with l_full the logits under all conditions, l_attr with the class "not
    specified" and l_none with every condition "not specified" (training teaches both by hiding
    conditions), the logits become l_none + attribute_guidance * (l_attr - l_none) +
    guidance * (l_full - l_attr). All 1 = the plain conditional decoder.

    `requested` (N x K bool, K the conditions) marks the conditions a user asked for. With
    l_open the logits with those "not specified" and the others kept, `requested_guidance` adds
    (requested_guidance - 1) * (l_full - l_open): a push towards the requested bins alone, not
    towards the bins a training molecule filled in (training hides each condition on its own,
    so the decoder has learnt l_open too).

    `tilt` (4 x 4, `premirna.generator.dinucleotides.fit_tilt`) adds to each candidate column
    the log-tilt of the molecule-order dinucleotides it would make with the last nucleotide of
    each arm; `stem_tilt` (`premirna.generator.stem_pairs`) that of each pair's kind at its
    place in the stem; `steer` (`premirna.generator.steering`), attribute steering's feedback."""
    model.eval()
    state, context = model.start(z, conditions)
    branches, guidance = _guidance_branches(model, z, conditions, guidance, attribute_guidance,
                                            requested_guidance, requested)
    ends = ending_tokens(model.config.vocabulary).to(z.device)
    pairs = pairing_tokens(model.config.vocabulary).to(z.device)
    iupac = iupac_tokens(model.config.vocabulary).to(z.device)
    previous = torch.full((len(z),), model.start_token, dtype=torch.long, device=z.device)
    ended = torch.zeros(len(z), dtype=torch.bool, device=z.device)
    has_pair = torch.zeros(len(z), dtype=torch.bool, device=z.device)
    last = model.config.columns - 1
    out = torch.zeros((len(z), model.config.columns), dtype=torch.long, device=z.device)
    terms = _terms(model, z, tilt, stem_tilt, steer)
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
        for term in terms:
            logits = logits + term.bias().to(logits.dtype)
        step_noise = None if noise is None else noise[:, column]
        previous = _choose(logits, temperature, top_p, step_noise)
        previous = torch.where(ended, torch.zeros_like(previous), previous)
        out[:, column] = previous
        ended |= ends[previous]
        if column > 0:
            has_pair |= pairs[previous]
        for term in terms:
            term.advance(previous, has_pair)
        if bool(ended.all()):
            break  # every later column is empty
    return out


def tokens_to_hairpins(tokens: np.ndarray) -> Decoded:
    """Read tokens as hairpins (sequence, intended structure) and draw each hairpin's image.

    The image is drawn from the hairpin's own columns (`premirna.encode.render.encode_many`), so it
    is exactly what the encoder makes of the decoded molecule (the loop drawn mirrored in both
    halves, whatever the sampled 3' half of the loop columns held).
    """
    sequences, structures = factors_to_hairpins(tokens_to_factors(tokens))
    images, _ = encode_many(sequences, structures, source="<generated>")
    # A hairpin whose drawing needs more than 100 columns (a loop column with a gap can make it
    # longer than its tokens) is clipped: keep the hairpin the image shows, and draw that one.
    for _ in range(3):
        shown = decode_many(images, source="<generated>")
        changed = [i for i in range(len(sequences))
                   if (sequences[i], structures[i]) != (shown[0][i], shown[1][i])]
        if not changed:
            break
        for i in changed:
            sequences[i], structures[i] = shown[0][i], shown[1][i]
        images[changed] = encode_many([sequences[i] for i in changed],
                                             [structures[i] for i in changed])[0]
    return Decoded(np.asarray(tokens), images, sequences, structures)


@dataclass
class Decoding:
    """How latents become tokens (the decoding part of `GenerateConfig`)."""

    temperature: float = 1.0
    top_p: float = 1.0
    guidance: float = 1.0
    attribute_guidance: float = 1.0
    requested_guidance: float = 1.0  # guidance of the requested conditions alone
    steering: float = 0.0  # strength of attribute steering (`premirna.generator.steering`)


def decode_latents(
    model: CVAE,
    z: np.ndarray,
    conditions: np.ndarray,
    decoding: Decoding | None = None,
    seed: int = 0,
    noise: torch.Tensor | None = None,
    batch_size: int = 500,
    requested: np.ndarray | None = None,
    tilt: np.ndarray | None = None,
    targets: Mapping[str, np.ndarray] | None = None,
    stem_tilt: np.ndarray | None = None,
) -> Decoded:
    """Decode latents (N x D) under conditions (N x K) into rendered, decodable hairpins.

    Draws use Gumbel noise from `seed`, or the given `noise` (N x columns x vocabulary).
    `requested` (N x K bool, or K for every row) marks the conditions
    `decoding.requested_guidance` pushes towards. `tilt`, `stem_tilt`: dinucleotide and
    stem-pair matching's tilts (`sample_tokens`). `targets`: attribute -> one value per row
    that steering holds the draws to, with strength `decoding.steering`
    (`premirna.generator.steering`).
    """
    decoding = decoding or Decoding()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    shape = (model.config.columns, model.config.vocabulary)
    if requested is not None:
        requested = np.broadcast_to(np.asarray(requested, dtype=bool), np.shape(conditions))
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
        wanted = None if requested is None else torch.tensor(requested[lo : lo + batch_size])
        steer = None
        if targets and decoding.steering > 0:
            steer = Steering({a: np.asarray(v)[lo : lo + batch_size] for a, v in targets.items()},
                             decoding.steering, model.config.vocabulary, device)
        tokens = sample_tokens(model, zt, ct, decoding.temperature, decoding.top_p, batch_noise,
                               decoding.guidance, decoding.attribute_guidance,
                               decoding.requested_guidance, wanted, tilt, steer, stem_tilt)
        chunks.append(tokens.cpu().numpy())
    tokens = (
        np.concatenate(chunks) if chunks else np.zeros((0, model.config.columns), np.int64)
    )
    return tokens_to_hairpins(tokens)

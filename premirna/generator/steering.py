"""Attribute steering: feedback on what a molecule has drawn so far, towards the attribute values
of the real molecule its latent vector came from.

The decoder draws a hairpin column by column from the loop outward and learns each column's
distribution given the ones before it; nothing in that likelihood holds the whole molecule to
the bin it was asked for. Its draws in a bin spread wider than the real molecules of the bin:
the open-ended bins overshoot (the most stable third more stable than its real molecules), the
middle bins are missed on both sides (benchmarks/README.md, "What still tells generated
molecules from real ones, per condition"). Steering adds to the logit of every candidate column
a proportional feedback term, -strength * D * e, for each steered attribute: D is how far the
molecule drawn so far lies from the target (in letters for GC, in kcal/mol for the free
energy), e how far the candidate column would move it. Where D is 0 nothing is tilted. The
targets are those of the training molecule that completed the draw's condition (under `generate`'s
default `latent: posterior` also the one whose posterior gave the latent vector; without
`complete_conditions` there is none and nothing is steered), so the steered draws of a bin spread
as its real molecules do.

- GC: D = G - g* L, with L the letters drawn and G their G and C, g* the target's GC.
- Free energy per nt: an energy of the drawn structure from its stacked pairs (the Watson-Crick
  stacks of the Turner 2004 nearest-neighbour model, Mathews et al. 2004, PNAS 101:7287; G-U
  stacks approximated) and a fixed cost for each bulge or interior loop. On the default run's
  training pre-miRNAs it correlates with ViennaRNA's MFE per nt at r = 0.95 (`energy_proxy`);
  D = E - m* L with m* the target's value of the same proxy per letter.
- Stem length (base pairs): a column that would end the molecule is tilted by
  strength * (P - P*), P the pairs drawn and P* the target's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from premirna.encode.image import NT_A, NT_C, NT_G, NT_U
from premirna.generator.tokens import ending_tokens, pairing_tokens, tokens_to_factors
from premirna.rna.structure import pair_table

#: Attributes that steering can hold to a target.
STEERABLE: tuple[str, ...] = ("gc", "mfe_per_nt", "stem_length")

#: Watson-Crick stacks, kcal/mol at 37 C (Turner 2004): 5'WX3' / 3'ZY5' as "WXZY".
_WATSON_CRICK = {"AAUU": -0.93, "AUUA": -1.10, "UAAU": -1.33, "CUGA": -2.08, "CAGU": -2.11,
                 "GUCA": -2.24, "GACU": -2.35, "CGGC": -2.36, "GGCC": -3.26, "GCCG": -3.42}
#: Cost of a bulge or interior loop between two pairs of the proxy (kcal/mol; the value that
#: correlated best with ViennaRNA's MFE per nt on the default run's training pre-miRNAs).
LOOP_COST = 1.0
_LETTERS = "ACGU"


def stack_energy(outer: str, inner: str) -> float:
    """Energy of the pair `outer` (5' letter, 3' letter) stacked on `inner`, nearer the loop;
    0 unless both are A-U, G-C or G-U pairs."""
    key = outer[0] + inner[0] + outer[1] + inner[1]
    if key in _WATSON_CRICK:
        return _WATSON_CRICK[key]
    turned = key[::-1]  # the same stack read along the other strand
    if turned in _WATSON_CRICK:
        return _WATSON_CRICK[turned]
    canonical = {"AU", "UA", "GC", "CG", "GU", "UG"}
    if outer not in canonical or inner not in canonical:
        return 0.0
    other = inner if outer in ("GU", "UG") else outer
    return -0.5 if other in ("GU", "UG") else (-1.5 if other in ("GC", "CG") else -0.9)


def energy_proxy(sequence: str, structure: str) -> float:
    """The steering's free energy (kcal/mol) of a one-hairpin structure: its pairs' stacks from
    the loop outward, LOOP_COST for each bulge or interior loop between two pairs."""
    table = pair_table(structure)
    pairs = sorted(((i, int(j)) for i, j in enumerate(table) if j > i), reverse=True)
    energy = 0.0
    for (i, j), (k, m) in zip(pairs[:-1], pairs[1:], strict=True):
        if k == i - 1 and m == j + 1:
            energy += stack_energy(sequence[k] + sequence[m], sequence[i] + sequence[j])
        else:
            energy += LOOP_COST
    return energy


def steering_targets(table: pd.DataFrame) -> pd.DataFrame:
    """Targets of the molecules of a fold table (sequence, structure, gc and stem_length
    columns), indexed as the table (as str): gc, mfe_per_nt (the energy proxy per letter) and
    stem_length."""
    proxy = [energy_proxy(s, t) / max(1, len(s)) for s, t in zip(table["sequence"],
                                                                   table["structure"],
                                                                   strict=True)]
    return pd.DataFrame({"gc": table["gc"].to_numpy(dtype=np.float64),
                         "mfe_per_nt": np.asarray(proxy, dtype=np.float64),
                         "stem_length": table["stem_length"].to_numpy(dtype=np.float64)},
                        index=table.index.astype(str))


def source_targets(
    targets: pd.DataFrame, sources: Sequence[str], requested: Iterable[str], every: bool = False
) -> dict[str, np.ndarray] | None:
    """Per row, the targets (`steering_targets`) of the molecule named in `sources` ("" or an
    unknown id: NaN, not steered): of the `requested` attributes that are STEERABLE, or of all
    of them with `every`; None if that leaves none."""
    wanted = [a for a in STEERABLE if every or a in set(requested)]
    values = targets.reindex([str(s) for s in sources])
    return {a: values[a].to_numpy(dtype=np.float64) for a in wanted} or None


class Steering:
    """The steering term of every candidate column for a batch of rows (`sample_tokens` asks
    for `bias` before a column and calls `advance` after it). `targets` maps attributes of
    STEERABLE to one value per row (NaN: that row not steered on it)."""

    def __init__(self, targets: Mapping[str, np.ndarray], strength: float, vocabulary: int,
                 device: torch.device) -> None:
        factors = tokens_to_factors(np.arange(vocabulary)[None, :])
        top, bottom = factors.top_nt[0].astype(np.int64), factors.bottom_nt[0].astype(np.int64)
        acgu = (NT_A, NT_C, NT_G, NT_U)
        letter_top, letter_bottom = np.isin(top, acgu), np.isin(bottom, acgu)
        pair = pairing_tokens(vocabulary).numpy()
        gc_top, gc_bottom = np.isin(top, (NT_G, NT_C)), np.isin(bottom, (NT_G, NT_C))
        stacks = np.zeros((vocabulary, vocabulary))
        code = {c: _LETTERS[k] for k, c in enumerate(acgu)}
        for inner in np.flatnonzero(pair):
            for outer in np.flatnonzero(pair):
                stacks[inner, outer] = stack_energy(code[top[outer]] + code[bottom[outer]],
                                                    code[top[inner]] + code[bottom[inner]])

        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.tensor(np.array(values, dtype=np.float64), device=device)

        self.strength = strength
        self.pair = torch.as_tensor(pair, device=device)
        self.ends = ending_tokens(vocabulary).to(device)
        # Letters and G+C a column adds in the loop (its 5' half: the 3' half mirrors it) and
        # in the stem (both halves).
        self.loop_letters = tensor(np.where(pair, 2, letter_top))
        self.loop_gc = tensor(np.where(pair, gc_top.astype(int) + gc_bottom, gc_top))
        self.stem_letters = tensor(letter_top.astype(int) + letter_bottom)
        self.stem_gc = tensor(gc_top.astype(int) + gc_bottom)
        self.stacks = tensor(stacks)
        rows = len(next(iter(targets.values()))) if targets else 0
        self.targets = {a: tensor(np.asarray(v, dtype=np.float64)) for a, v in targets.items()
                        if a in STEERABLE}
        zeros = torch.zeros(rows, dtype=torch.float64, device=device)
        self.letters, self.gc, self.energy, self.pairs = (zeros.clone() for _ in range(4))
        self.in_stem = torch.zeros(rows, dtype=torch.bool, device=device)
        self.stacked = torch.zeros(rows, dtype=torch.bool, device=device)  # last column a pair
        self.last_pair = torch.zeros(rows, dtype=torch.long, device=device)

    def _adds(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """rows x vocabulary: the letters, G+C and energy each candidate column would add."""
        stem = self.in_stem[:, None]
        letters = torch.where(stem, self.stem_letters, self.loop_letters)
        gc = torch.where(stem, self.stem_gc, self.loop_gc)
        energy = torch.where(self.stacked[:, None], self.stacks[self.last_pair],
                             torch.full_like(letters, LOOP_COST))
        energy = torch.where(stem & self.pair[None, :], energy, torch.zeros_like(energy))
        return letters, gc, energy

    def bias(self) -> torch.Tensor:
        """rows x vocabulary: the feedback each candidate column gets."""
        letters, gc, energy = self._adds()
        out = torch.zeros_like(letters)
        for attribute, sums, adds in (("gc", self.gc, gc), ("mfe_per_nt", self.energy, energy)):
            target = self.targets.get(attribute)
            if target is None:
                continue
            off = sums - target * self.letters  # D
            term = off[:, None] * (adds - target[:, None] * letters)  # D * e
            out = out - self.strength * torch.nan_to_num(term)
        target = self.targets.get("stem_length")
        if target is not None:
            excess = torch.nan_to_num(self.pairs - target)
            out = out + self.strength * excess[:, None] * self.ends[None, :]
        return out

    def advance(self, tokens: torch.Tensor, in_stem: torch.Tensor | None = None) -> None:
        """Count the chosen `tokens` (one per row). `in_stem` is what `sample_tokens` hands
        every term (`ArmNeighbours.advance` reads it); steering keeps its own."""
        letters, gc, energy = self._adds()
        rows = torch.arange(len(tokens), device=tokens.device)
        self.letters += letters[rows, tokens]
        self.gc += gc[rows, tokens]
        self.energy += energy[rows, tokens]
        pair = self.pair[tokens]
        self.pairs += pair.double()
        self.in_stem |= pair
        self.stacked = pair
        self.last_pair = torch.where(pair, tokens, self.last_pair)

"""Stem-pair matching: the kind of each base pair the decoder draws (G-C, A-U or G-U) tilted, by
its place in the stem counted from the terminal loop, towards the training pre-miRNAs in the same
bins.

The decoder writes a hairpin from the terminal loop outward, and its first pairs are where it
departs most from real molecules. Without this tilt, the default run's molecules (three generate
seeds, 1,300 each) had the second to fourth pairs from the loop G-C pairs 0.53-0.57 of the time
against 0.45-0.46 for the training pre-miRNAs, and G-U pairs 0.07-0.10 against 0.12-0.15; from
the ninth pair on, the shares were those of the training molecules. GC steering
(`premirna.generator.steering`) holds a molecule's G+C letters as a whole, not where in the stem
they are; a feedback that held each molecule's G-C and G-U pair shares as a whole to its source's
matched those shares and left the judges where they were (benchmarks/README.md, "Where in the
stem the decoder departs").

As dinucleotide matching does (`premirna.generator.dinucleotides`), this is one step of
maximum-entropy moment matching: a pilot of each pre-miRNA condition's draws gives q(k | b), the
share of kind k among the pairs in place b of the stem (`PLACES`, counted from the loop's closing
pair), and the training pre-miRNAs in the condition's bins give p(k | b). Every later draw of that
condition adds log(p(k | b) / q(k | b)) to the logit of each pair of kind k at place b. Since
sum_k q(k | b) p(k | b) / q(k | b) = 1, the tilt moves the kinds of pairs among themselves and
leaves the odds of drawing a pair at all as they were, to first order. Other pairs (the decoder
can draw a G-A pair, which folding rejects) and unpaired columns are not tilted. The pilot and
the targets are the generator's own; the judges and the held-out molecules stay out of it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from premirna.encode.image import NT_A, NT_C, NT_G, NT_U
from premirna.generator.tokens import pairing_tokens, tokens_to_factors
from premirna.rna.structure import pair_table

#: The kinds of pair that are tilted.
KINDS: tuple[str, ...] = ("GC", "AU", "GU")
#: Places in the stem, as the first pair index (0: the loop's closing pair) of each place.
PLACES: tuple[int, ...] = (0, 1, 4, 8, 16)
#: The largest tilt, in nats.
LIMIT = 1.0
_CODES = {"A": NT_A, "C": NT_C, "G": NT_G, "U": NT_U}


def kind_of(first: str, second: str) -> int:
    """Index in KINDS of the pair of two letters (either order), -1 for any other pair."""
    name = "".join(sorted(first + second)).replace("CG", "GC")
    return KINDS.index(name) if name in KINDS else -1


def place_of(index: int) -> int:
    """The place (`PLACES`) of the `index`-th pair from the loop (0: its closing pair)."""
    return int(np.searchsorted(PLACES, index, side="right")) - 1


def stem_profile(sequences: Iterable[str], structures: Iterable[str]) -> np.ndarray:
    """len(PLACES) x len(KINDS) counts of the pairs of each kind at each place, the pairs of a
    structure counted from the innermost (the 5' partner nearest the 3' end) outward."""
    counts = np.zeros((len(PLACES), len(KINDS)))
    for sequence, structure in zip(sequences, structures, strict=True):
        table = pair_table(structure)
        pairs = sorted(((i, int(j)) for i, j in enumerate(table) if j > i), reverse=True)
        for index, (i, j) in enumerate(pairs):
            kind = kind_of(sequence[i], sequence[j])
            if kind >= 0:
                counts[place_of(index), kind] += 1
    return counts


def fit_stem_tilt(
    real: np.ndarray, drawn: np.ndarray, pseudocount: float = 1.0, limit: float = LIMIT
) -> np.ndarray:
    """log(p(k | b) / q(k | b)) from the `stem_profile` counts of the real and the drawn
    molecules (each count plus `pseudocount`), clipped to +-`limit`."""
    p = real + pseudocount
    q = drawn + pseudocount
    return np.clip(np.log(p / p.sum(axis=1, keepdims=True))
                   - np.log(q / q.sum(axis=1, keepdims=True)), -limit, limit)


class StemPairs:
    """The stem tilt's term of every candidate column, given the pairs each row has drawn
    (`sample_tokens` asks for `bias` before a column and calls `advance` after it)."""

    def __init__(self, tilt: np.ndarray, vocabulary: int, rows: int, device: torch.device) -> None:
        factors = tokens_to_factors(np.arange(vocabulary)[None, :])
        top, bottom = factors.top_nt[0], factors.bottom_nt[0]
        letters = {code: letter for letter, code in _CODES.items()}
        pair = pairing_tokens(vocabulary).numpy()
        # [place, token]: the tilt of the token's pair kind at that place
        table = np.zeros((len(PLACES), vocabulary))
        for token in np.flatnonzero(pair):
            if top[token] in letters and bottom[token] in letters:
                kind = kind_of(letters[top[token]], letters[bottom[token]])
                if kind >= 0:
                    table[:, token] = tilt[:, kind]
        self.table = torch.as_tensor(table, dtype=torch.float64, device=device)
        self.pair = torch.as_tensor(pair, device=device)
        # the place of the next pair for 0 .. columns pairs drawn
        self.places = torch.tensor([place_of(i) for i in range(128)], device=device)
        self.pairs = torch.zeros(rows, dtype=torch.long, device=device)

    def bias(self) -> torch.Tensor:
        """rows x vocabulary: the log-tilt each candidate column would add."""
        return self.table[self.places[self.pairs.clamp(max=len(self.places) - 1)]]

    def advance(self, tokens: torch.Tensor, in_stem: torch.Tensor | None = None) -> None:
        """Count the pairs among the chosen `tokens`."""
        self.pairs += self.pair[tokens].long()

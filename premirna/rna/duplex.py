"""The miRNA/miRNA* duplex inside a hairpin: how stably each of its two ends is paired.

Which strand of the duplex becomes the guide depends on the relative stability of its ends: the
strand whose 5' end is less stably paired is loaded into Argonaute (Khvorova, Reynolds & Jayasena
2003, Cell 115:209; Schwarz et al. 2003, Cell 115:199). Here the stability of an end is the free
energy it costs to open the base pairs that the first `window` nucleotides of a mature strand make
in the hairpin's structure, evaluated with ViennaRNA's energy model on the whole hairpin (so
mismatches and bulges at the end count as they are). The 5p strand's 5' end sits at the Drosha
cut, the 3p strand's 5' end at the Dicer cut next to the loop.
"""

from __future__ import annotations

import math

import RNA

from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.structure import pair_table

#: Nucleotides at each duplex end whose pairs are opened (Khvorova et al. compared the first 4 bp).
END_WINDOW = 4


def opening_cost(
    sequence: str,
    structure: str,
    positions: range | list[int],
    fold: FoldSettings = DEFAULT_FOLD,
) -> float:
    """kcal/mol it costs to open every base pair that a nucleotide of `positions` (0-based) makes
    in `structure`: E(structure without those pairs) - E(structure). 0.0 when none is paired."""
    table = pair_table(structure)
    opened = list(structure)
    for i in positions:
        if 0 <= i < len(table) and table[i] >= 0:
            opened[i] = opened[int(table[i])] = "."
    opened_structure = "".join(opened)
    if opened_structure == structure:
        return 0.0
    compound = RNA.fold_compound(sequence, fold.model_details())
    return float(compound.eval_structure(opened_structure) - compound.eval_structure(structure))


def end_stabilities(
    sequence: str,
    structure: str,
    five_p: tuple[int, int] | None,
    three_p: tuple[int, int] | None,
    window: int = END_WINDOW,
    fold: FoldSettings = DEFAULT_FOLD,
) -> tuple[float, float]:
    """(stability of the 5p strand's 5' end, stability of the 3p strand's 5' end) in kcal/mol,
    from 0-based inclusive mature spans; NaN for an arm without a span."""

    def end(span: tuple[int, int] | None) -> float:
        if span is None:
            return math.nan
        return opening_cost(sequence, structure, range(span[0], span[0] + window), fold)

    return end(five_p), end(three_p)


def duplex_asymmetry(
    sequence: str,
    structure: str,
    five_p: tuple[int, int] | None,
    three_p: tuple[int, int] | None,
    window: int = END_WINDOW,
    fold: FoldSettings = DEFAULT_FOLD,
) -> float:
    """Stability of the 5p strand's 5' end minus that of the 3p strand's 5' end (kcal/mol).
    Positive: the 5p end is the more stable one, so the 3p strand is favoured as the guide
    (Khvorova et al. 2003; Schwarz et al. 2003). NaN unless both spans are given."""
    a, b = end_stabilities(sequence, structure, five_p, three_p, window, fold)
    return a - b

"""2-D drawings of RNA secondary structures, laid out by ViennaRNA.

`layout` asks ViennaRNA for the coordinates RNAplot uses (the NAView algorithm of Bruccoleri &
Heinrichs 1988, `RNA.naview_xy_coordinates`); `draw_structure` draws them on a matplotlib axis:
the backbone, a line per base pair, each nucleotide a dot in the colour the hairpin image gives
its letter (A yellow, C blue, G red, U green), and the 5' end marked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import RNA

from premirna.rna.structure import pair_table

#: Nucleotide colours, as in the Cordero hairpin image (premirna.encode.image.PALETTE).
NUCLEOTIDE_COLOURS = {"A": "#ffff00", "C": "#0000ff", "G": "#ff0000", "U": "#00ff00"}
OTHER_COLOUR = "#000000"


def layout(structure: str) -> np.ndarray:
    """(n, 2) coordinates of the n nucleotides of a dot-bracket `structure` (NAView layout)."""
    if not structure:
        return np.zeros((0, 2))
    coordinates = RNA.naview_xy_coordinates(structure)
    return np.array([(c.X, c.Y) for c in coordinates[: len(structure)]], dtype=float)


def pairs(structure: str) -> list[tuple[int, int]]:
    """The base pairs (i, j), i < j, 0-based, of a dot-bracket structure (`pair_table`)."""
    table = pair_table(structure)
    return [(i, int(j)) for i, j in enumerate(table) if j > i]


def draw_structure(axis: Any, sequence: str, structure: str, dot_size: float = 18.0) -> None:
    """Draw `sequence` folded as `structure` on `axis` (equal aspect, no ticks)."""
    if len(sequence) != len(structure):
        raise ValueError(f"sequence of {len(sequence)} nt but structure of {len(structure)}")
    xy = layout(structure)
    axis.plot(xy[:, 0], xy[:, 1], color="0.5", lw=0.8, zorder=1)
    for i, j in pairs(structure):
        axis.plot(xy[[i, j], 0], xy[[i, j], 1], color="0.2", lw=0.8, zorder=1)
    colours = [NUCLEOTIDE_COLOURS.get(letter, OTHER_COLOUR) for letter in sequence.upper()]
    axis.scatter(xy[:, 0], xy[:, 1], s=dot_size, c=colours, edgecolors="0.3", linewidths=0.4,
                 zorder=2)
    if len(xy):
        axis.annotate("5'", xy[0], xytext=(-10, -4), textcoords="offset points", fontsize=9)
    axis.set_aspect("equal")
    axis.set_xticks([])
    axis.set_yticks([])
    for side in axis.spines.values():
        side.set_visible(False)

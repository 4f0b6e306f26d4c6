"""premirna.rna.drawing: ViennaRNA's 2-D layout of a structure, drawn with matplotlib."""

from __future__ import annotations

import numpy as np
import pytest

from premirna.core.figures import pyplot
from premirna.rna.drawing import NUCLEOTIDE_COLOURS, draw_structure, layout, pairs
from premirna.rna.folding import fold_sequences

# hsa-mir-30a (miRBase 22 MI0000088)
MIR30A = "GCGACUGUAAACAUCCUCGACUGGAAGCUGUGAAGCCACAGAUGGGCUUUCAGUCGGAUGUUUGCAGCUGC"


def test_pairs_and_layout_follow_the_structure():
    structure, _ = fold_sequences([MIR30A], processes=1)[0]
    found = pairs(structure)
    assert len(found) == structure.count("(")
    assert all(structure[i] == "(" and structure[j] == ")" for i, j in found)
    xy = layout(structure)
    assert xy.shape == (len(MIR30A), 2) and np.isfinite(xy).all()
    # the backbone is drawn with (nearly) equal steps and no two nucleotides share a place
    steps = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    assert steps.max() < 1.6 * np.median(steps)
    assert len({tuple(p) for p in np.round(xy, 3)}) == len(MIR30A)
    # partners sit closer to each other than the ends of the stem do
    i, j = found[0]
    assert np.linalg.norm(xy[i] - xy[j]) < np.linalg.norm(xy[0] - xy[len(MIR30A) // 2])


def test_the_drawing_has_a_line_per_pair_and_a_dot_per_nucleotide():
    structure, _ = fold_sequences([MIR30A], processes=1)[0]
    plt = pyplot()
    fig, axis = plt.subplots()
    draw_structure(axis, MIR30A, structure)
    assert len(axis.lines) == 1 + structure.count("(")  # the backbone, then each pair
    dots = axis.collections[0]
    assert len(dots.get_offsets()) == len(MIR30A)
    colours = dots.get_facecolors()
    first_g = MIR30A.index("G")
    assert np.allclose(colours[first_g][:3], [1, 0, 0])  # G red, as in the hairpin image
    assert set(NUCLEOTIDE_COLOURS) == set("ACGU")
    plt.close(fig)
    with pytest.raises(ValueError, match="structure"):
        draw_structure(axis, MIR30A, structure[:-1])

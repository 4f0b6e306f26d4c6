"""premirna.interpret.figures: mature arms and cut sites drawn where the molecule has them."""

from __future__ import annotations

import numpy as np

from premirna.core.figures import pyplot
from premirna.interpret.figures import SITE_COLOURS, mark_sites
from premirna.interpret.regions import MatureSites, column_map
from premirna.rna.folding import fold_sequences

# hsa-mir-30a (miRBase 22 MI0000088) and its miRNAs: miR-30a-5p at 6-27, miR-30a-3p at 47-68
MIR30A = "GCGACUGUAAACAUCCUCGACUGGAAGCUGUGAAGCCACAGAUGGGCUUUCAGUCGGAUGUUUGCAGCUGC"


def test_arms_and_cut_sites_sit_on_the_columns_that_draw_them():
    structure, _ = fold_sequences([MIR30A], processes=1)[0]
    columns = column_map(MIR30A, structure)
    sites = MatureSites((5, 26), (46, 67))
    plt = pyplot()
    fig, axis = plt.subplots()
    mark_sites(axis, columns, sites)
    bars = {tuple(np.round(line.get_color(), 3)) if not isinstance(line.get_color(), str)
            else line.get_color(): line.get_xdata() for line in axis.lines}
    five = np.flatnonzero((columns.top >= 5) & (columns.top <= 26))
    three = np.flatnonzero((columns.bottom >= 46) & (columns.bottom <= 67))
    assert list(bars[SITE_COLOURS["5p"]]) == [five.min() - 0.5, five.max() + 0.5]
    assert list(bars[SITE_COLOURS["3p"]]) == [three.min() - 0.5, three.max() + 0.5]
    # Drosha (solid) at the outer end of each arm, Dicer (dashed) at its loop end: four cuts.
    cuts = sorted(float(seg[0][0]) for c in axis.collections for seg in c.get_segments())
    assert cuts == sorted([five.max() + 0.5, five.min() - 0.5, three.max() + 0.5,
                           three.min() - 0.5])
    # The two arms of a duplex face each other: their columns overlap.
    assert set(five) & set(three)
    plt.close(fig)


def test_a_molecule_without_sites_gets_no_marks():
    structure, _ = fold_sequences([MIR30A], processes=1)[0]
    plt = pyplot()
    fig, axis = plt.subplots()
    mark_sites(axis, column_map(MIR30A, structure), None)
    assert not axis.lines and not axis.collections
    plt.close(fig)

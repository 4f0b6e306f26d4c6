"""Named hairpin attributes from a fold table: the distances of the mature miRNAs from the
terminal loop count the nucleotides in between, stay put when flanks are added (the starts do
not), and are missing, not zero, where there is no loop or no annotation; the loop-counting rule
puts the starts back from the loop and says how far off it is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from premirna.rna.attributes import (
    LOOP_DISTANCES,
    LoopCounting,
    hairpin_attribute_frame,
    loop_counting_accuracy,
)


def _hairpin(flank: int) -> dict:
    # flank + 2 unpaired, 18-bp stem, 6-nt loop, 18-bp stem, 2 + flank unpaired; the 5p miRNA ends
    # 5 nt before the loop, the 3p miRNA starts 2 nt after it (1-based positions)
    structure = "." * (flank + 2) + "(" * 18 + "." * 6 + ")" * 18 + "." * (flank + 2)
    loop_first, loop_last = flank + 21, flank + 26
    return {"structure": structure, "length": len(structure), "mature_5p_start": flank + 4,
            "mature_5p_end": loop_first - 6, "mature_3p_start": loop_last + 3,
            "mature_3p_end": loop_last + 20}


def test_loop_distances_count_the_nucleotides_in_between_and_ignore_flanks():
    folded = pd.DataFrame([_hairpin(0), _hairpin(10)])
    frame = hairpin_attribute_frame(folded, ["mature_3p_start", *LOOP_DISTANCES])
    assert frame["mature_loop_distance"].tolist() == [5.0, 5.0]
    assert frame["mature_3p_loop_distance"].tolist() == [2.0, 2.0]
    assert frame["mature_3p_start"].tolist() == [29.0, 39.0]  # the start moves with the flank


def test_loop_distances_are_missing_without_a_loop_or_an_annotation():
    no_loop = {**_hairpin(0), "structure": "." * 46}
    no_3p = {**_hairpin(0), "mature_3p_start": None, "mature_3p_end": None}
    frame = hairpin_attribute_frame(pd.DataFrame([no_loop, no_3p]), list(LOOP_DISTANCES))
    assert frame.loc[0].isna().all()
    assert frame.loc[1, "mature_loop_distance"] == 5.0
    assert np.isnan(frame.loc[1, "mature_3p_loop_distance"])
    # a table without mature columns (negatives only) has every distance missing
    bare = pd.DataFrame([{"structure": _hairpin(0)["structure"]}])
    assert hairpin_attribute_frame(bare, list(LOOP_DISTANCES)).isna().all().all()



def test_loop_counting_takes_medians_and_predicts_the_starts_from_the_loop():
    # distances 5, 5, 8 before the loop (median 5), 2, 2, 6 after it (median 2), 5p length 12
    far = {**_hairpin(0), "mature_5p_start": 1, "mature_5p_end": 12,
           "mature_3p_start": 26 + 7, "mature_3p_end": 26 + 24}
    rule = LoopCounting.fit(pd.DataFrame([_hairpin(0), _hairpin(4), far]))
    assert (rule.five_p_distance, rule.five_p_length, rule.three_p_distance, rule.n) == (
        5.0, 12.0, 2.0, 3)
    # on hairpins of the median's geometry the prediction is the annotation, flanks and all
    folded = pd.DataFrame([_hairpin(0), _hairpin(10), {"structure": "." * 30}])
    predicted = rule.predict(folded["structure"])
    assert predicted.loc[0, "mature_3p_start"] == 29.0 and predicted.loc[1, "mature_3p_start"] == 39
    assert predicted.loc[1, "mature_5p_start"] == 14  # the annotation: flank + 4
    assert predicted.loc[2].isna().all()  # no loop, no prediction
    accuracy = loop_counting_accuracy(folded.iloc[:2], rule).set_index("attribute")
    assert accuracy.loc["mature_3p_start", "mae_nt"] == 0.0
    assert accuracy.loc["mature_3p_start", "n"] == 2
    # the far hairpin is 3 nt off on the 5p side, 4 on the 3p side
    off = loop_counting_accuracy(pd.DataFrame([far]), rule).set_index("attribute")
    assert off.loc["mature_3p_start", "mae_nt"] == pytest.approx(4.0)
    assert off.loc["mature_5p_start", "within_2nt"] == 0.0


def test_loop_counting_needs_annotated_molecules():
    assert LoopCounting.fit(pd.DataFrame([{"structure": _hairpin(0)["structure"]}])) is None
    only_5p = {**_hairpin(0), "mature_3p_start": None, "mature_3p_end": None}
    assert LoopCounting.fit(pd.DataFrame([only_5p])) is None  # no 3p distance to take

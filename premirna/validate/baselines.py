"""The baselines every validation table carries: real, shuffled and random molecules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from premirna.rna.sequence import dinucleotide_shuffle, random_matched
from premirna.validate.metrics import BASELINES


def make_baselines(real: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The three baseline sets built from real held-out hairpins (`id`, `sequence`, `structure`).

    Returns one frame with columns `set` (real, shuffled, random), `id`, `condition` ("all"),
    `sequence`, `intended` and `source_id`: real hairpins intend their own MFE structure; the
    shuffled and random sequences intend the structure of the hairpin they were made from (the
    shuffles are not filtered: they may not fold into a hairpin at all).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _, rec in real.iterrows():
        seq, struct, name = str(rec["sequence"]), str(rec["structure"]), str(rec["id"])
        rows.append(("real", name, seq, struct, name))
        rows.append(("shuffled", f"shuf_{name}", dinucleotide_shuffle(seq, rng), struct, name))
        rows.append(("random", f"rand_{name}", random_matched(seq, rng), struct, name))
    frame = pd.DataFrame(rows, columns=["set", "id", "sequence", "intended", "source_id"])
    frame.insert(2, "condition", "all")
    return frame.sort_values("set", kind="stable", key=lambda s: s.map(BASELINES.index))

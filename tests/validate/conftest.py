"""Fixtures of the validate tests: a tiny independent judge, trained once per session."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
from conftest import DATA, REPO

from premirna.validate.judge import build_judge

HAIRPINS = REPO / "resources" / "mirbase_v22" / "hairpin.fa.gz"
TINY_JUDGE = {"max_positives": 400, "epochs": 2, "channels": 8, "members": 2, "seed": 4,
              "threads": 1}


@pytest.fixture(scope="session")
def tiny_judge(tmp_path_factory) -> dict:
    """A judge of two networks trained for two epochs on 400 other-species hairpins, with every
    hsa molecule of the small molecule table left out."""
    folder = tmp_path_factory.mktemp("judge")
    molecules = folder / "molecules.tsv"
    with gzip.open(HAIRPINS, "rt") as handle:
        text = handle.read().split(">")[1:]
    human = [r for r in text if r.startswith("hsa-")][:50]
    pd.DataFrame({"id": [r.split()[0] for r in human],
                  "sequence": ["".join(r.splitlines()[1:]).upper().replace("T", "U")
                               for r in human]}).to_csv(molecules, sep="\t", index=False)
    checkpoint = build_judge(HAIRPINS, DATA / "mirbase" / "coding_head30.txt.gz", molecules,
                             ["hsa", "mmu"], folder / "model.pt", folder / "history.tsv",
                             TINY_JUDGE, out_table=folder / "judge_set.tsv")
    return {"folder": folder, "checkpoint": checkpoint, "molecules": molecules,
            "judge_set": folder / "judge_set.tsv", "human": molecules}

"""Tests for dinucleotide matching (premirna.generator.dinucleotides and its pilot in
premirna.generator.realism): counts in molecule order, the tilt's sign and bounds, the neighbour
each arm of the decoder sees, and a tilted decoder that draws what the tilt asks for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cvae_data import column_token as token
from cvae_data import pilot_drawers, trained_stage

from premirna.core.tables import read_folded
from premirna.encode.image import N_CODES, NT_A, NT_C, NT_G, NT_U
from premirna.generator.conditions import Condition, make_conditions
from premirna.generator.config import GenerateConfig
from premirna.generator.dinucleotides import (
    ALL,
    LIMIT,
    NUCLEOTIDES,
    ArmNeighbours,
    dinucleotide_table,
    fit_tilt,
    tilt_of,
)
from premirna.generator.posterior import load_cvae
from premirna.generator.realism import dinucleotide_tilts, pilot_keep
from premirna.generator.sample import Decoding, decode_latents
from premirna.generator.tokens import VOCABULARY

C, G = NUCLEOTIDES.index("C"), NUCLEOTIDES.index("G")


def cpg_share(sequences: list[str]) -> float:
    table = dinucleotide_table(sequences)
    return float(table[C, G] / table.sum())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return trained_stage(tmp_path_factory.mktemp("dinucleotides"))


def test_dinucleotides_are_counted_in_molecule_order() -> None:
    table = dinucleotide_table(["ACGA", "acgt", "CGNC"])
    index = {a + b: (NUCLEOTIDES.index(a), NUCLEOTIDES.index(b))
             for a in NUCLEOTIDES for b in NUCLEOTIDES}
    assert table[index["AC"]] == 2 and table[index["CG"]] == 3 and table[index["GA"]] == 1
    assert table[index["GU"]] == 1  # T read as U, lower case as upper case
    assert table[index["GC"]] == 0  # CGNC: the pairs with N are left out
    assert table.sum() == 7


def test_the_tilt_points_from_the_drawn_to_the_real_frequencies() -> None:
    real = ["AUGCAUGCAUAUGCAU"] * 5
    assert np.allclose(fit_tilt(real, real), 0.0)
    drawn = ["ACGCGUACGCGAUCGA"] * 5
    tilt = fit_tilt(real, drawn)
    assert tilt[C, G] < 0  # CpG: rarer in the real molecules
    assert tilt[NUCLEOTIDES.index("A"), NUCLEOTIDES.index("U")] > 0
    assert np.abs(tilt).max() <= LIMIT
    assert np.isclose(np.abs(tilt).max(), LIMIT)  # some ratio here is past the limit
    only = fit_tilt(real, drawn, ("CG", "AU"))
    assert only[C, G] == tilt[C, G] and np.count_nonzero(only) == 2
    assert tilt_of(tilt, "CG") == tilt[C, G] and tilt_of(tilt, "AU") == only[0, 3]
    with pytest.raises(ValueError, match="'CT'"):
        fit_tilt(real, drawn, ("CT",))


def test_the_setting_names_the_dinucleotides() -> None:
    assert GenerateConfig.from_dict({}).tilted == ("CG",)
    assert GenerateConfig.from_dict({"matched_dinucleotides": ["all"]}).tilted == ALL
    assert len(ALL) == 16
    with pytest.raises(ValueError, match="matched_dinucleotides"):
        GenerateConfig.from_dict({"matched_dinucleotides": ["CpG"]})


def test_each_arm_sees_its_own_last_nucleotide() -> None:
    """5' arm: a new C before a G drawn at the column inside it makes CpG; 3' arm: a new G
    after a C inside it does, from the closing pair on; gaps leave the neighbour as it was."""
    tilt = np.zeros((4, 4))
    tilt[C, G] = -2.0
    arms = ArmNeighbours(tilt, VOCABULARY, 2, torch.device("cpu"))
    assert torch.equal(arms.bias(), torch.zeros((2, VOCABULARY), dtype=torch.float64))
    # row 0: 5' G, 3' C in the stem; row 1: the same column in the loop (3' arm not counted)
    arms.advance(torch.tensor([token(NT_G, NT_C, True)] * 2), torch.tensor([True, False]))
    bias = arms.bias()
    assert bias[0, token(NT_C, NT_A)] == bias[1, token(NT_C, NT_A)] == -2.0
    assert bias[0, token(NT_A, NT_G)] == -2.0 and bias[1, token(NT_A, NT_G)] == 0.0
    assert bias[0, token(NT_C, NT_G)] == -4.0
    assert bias[0, token(NT_U, NT_U)] == 0.0
    gap = token(N_CODES - 1, N_CODES - 1)  # a gap on both arms
    arms.advance(torch.tensor([gap, gap]), torch.tensor([True, True]))
    assert torch.equal(arms.bias(), bias)


def test_a_tilted_decoder_draws_what_the_tilt_asks_for(trained: dict[str, Path]) -> None:
    model, checkpoint = load_cvae(trained["model"])
    n = 200
    z = np.random.default_rng(2).standard_normal((n, model.config.latent_dim)).astype(np.float32)
    conditions = make_conditions(np.ones(n, dtype=np.int64), None, checkpoint["bins"])
    plain = decode_latents(model, z, conditions, Decoding(temperature=1.5), seed=4)
    zero = decode_latents(model, z, conditions, Decoding(temperature=1.5), seed=4,
                          tilt=np.zeros((4, 4)))
    assert zero.sequences == plain.sequences  # a zero tilt changes nothing
    tilt = np.zeros((4, 4))
    tilt[C, G] = -30.0
    tilted = decode_latents(model, z, conditions, Decoding(temperature=1.5), seed=4, tilt=tilt)
    assert cpg_share(plain.sequences) > 0.02
    # only the loop and its closing pair escape the tilt
    assert cpg_share(tilted.sequences) < 0.3 * cpg_share(plain.sequences)


def test_the_pilot_sets_a_tilt_per_pre_mirna_condition(trained: dict[str, Path]) -> None:
    table = read_folded(trained["folded"])
    conditions = [Condition("pre-miRNA", 1, {}), Condition("negative", 0, {})]
    calls: list = []
    drawer, checkpoint = pilot_drawers(trained["model"], calls)
    tilts = dinucleotide_tilts(conditions, [drawer(1), drawer(0)], table, checkpoint, None, 0.0,
                               40, ("CG",))
    assert tilts[1] is None and tilts[0].shape == (4, 4)
    assert calls == [(1, 40, 1001)]  # only the pre-miRNA condition draws a pilot
    train = table.query("split == 'train' and label == 1")["sequence"]
    pilot, _, _ = drawer(1)(40, 1001)
    kept = pilot_keep(pilot, conditions[0], checkpoint, None, 0.0)
    assert kept.any()
    assert np.allclose(tilts[0], fit_tilt(train, np.array(pilot.sequences)[kept], ("CG",)))
    assert np.count_nonzero(tilts[0]) <= 1  # CpG alone
    assert dinucleotide_tilts(conditions, [drawer(1), drawer(0)], table, checkpoint, None, 0.0,
                              0, ("CG",)) == [None, None]

"""Attribute steering: the energy proxy, the running counts and the feedback's direction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cvae_data import column_token as token
from cvae_data import trained_stage

from premirna.core.tables import read_folded
from premirna.encode.image import NT_A, NT_C, NT_G, NT_U
from premirna.encode.walk import columns
from premirna.generator.conditions import make_conditions
from premirna.generator.config import GenerateConfig
from premirna.generator.posterior import load_cvae
from premirna.generator.sample import Decoding, decode_latents
from premirna.generator.steering import (
    LOOP_COST,
    Steering,
    energy_proxy,
    source_targets,
    stack_energy,
    steering_targets,
)
from premirna.generator.tokens import VOCABULARY, factors_to_tokens


def gc_share(sequences: list[str]) -> float:
    letters = "".join(sequences)
    return (letters.count("G") + letters.count("C")) / len(letters)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return trained_stage(tmp_path_factory.mktemp("steering"))


def test_stacks_read_on_either_strand() -> None:
    # 5'AC3'/3'UG5' (Turner 2004 -2.24) is 5'GU3'/3'CA5' read along the other strand
    assert stack_energy("AU", "CG") == stack_energy("GC", "UA") == -2.24
    assert stack_energy("GC", "CG") == -3.42 and stack_energy("CG", "GC") == -2.36
    assert stack_energy("GU", "GC") == -1.5 and stack_energy("AA", "GC") == 0.0


def test_the_energy_proxy_by_hand() -> None:
    # pairs from the loop out: C-G, A-U (stacked: 5'AC/3'UG), G-C (stacked: 5'GA/3'CU)
    assert energy_proxy("GACAAAAGUC", "(((....)))") == pytest.approx(-2.24 - 2.35)
    # an interior loop between C-G and A-U costs LOOP_COST, then 5'GA/3'CU
    assert energy_proxy("GAACAAAAGUUC", "((.(....).))") == pytest.approx(LOOP_COST - 2.35)
    assert energy_proxy("GAAAAC", "(....)") == 0.0


def test_the_running_counts_are_those_of_the_molecule(trained: dict[str, Path]) -> None:
    """Advancing through real hairpins' columns counts their letters, G+C, pairs and proxy
    energy, the loop's letters once though the image draws them in both halves."""
    table = read_folded(trained["folded"])
    table = table[table["hairpin_loops"] == 1].head(60)
    assert (table["bulges"] + table["internal_loops"] > 0).any()
    tokens = np.concatenate([factors_to_tokens(columns(s, t)) for s, t in
                             zip(table["sequence"], table["structure"], strict=True)])
    steer = Steering({"gc": np.zeros(len(table))}, 1.0, VOCABULARY, torch.device("cpu"))
    for column in range(tokens.shape[1]):
        steer.advance(torch.as_tensor(tokens[:, column]))
    sequences, structures = table["sequence"].tolist(), table["structure"].tolist()
    assert steer.letters.tolist() == [len(s) for s in sequences]
    assert steer.gc.tolist() == [s.count("G") + s.count("C") for s in sequences]
    assert steer.pairs.tolist() == [t.count("(") for t in structures]
    assert steer.energy.numpy() == pytest.approx(
        [energy_proxy(s, t) for s, t in zip(sequences, structures, strict=True)])


def test_the_feedback_points_back_to_the_target() -> None:
    """No tilt of GC on target; a molecule too rich in G+C favours A-U pairs over G-C pairs; one
    short of its stem length holds back from ending, one past it favours ending; a row without a
    target (NaN) is left alone."""
    gc_pair, au_pair = token(NT_G, NT_C, True), token(NT_A, NT_U, True)
    end = token(0, 0)
    steer = Steering({"gc": np.array([0.5, 0.5, np.nan]),
                      "stem_length": np.array([2.0, 2.0, np.nan])}, 1.0, VOCABULARY,
                     torch.device("cpu"))
    ends = steer.ends
    assert steer.bias()[:, ~ends].abs().max() == 0  # nothing drawn: GC on target
    assert (steer.bias()[:2, ends] == -2.0).all()  # two pairs short
    steer.advance(torch.tensor([token(NT_A, NT_A), token(NT_G, NT_G), token(NT_G, NT_G)]))
    bias = steer.bias()
    assert bias[0, au_pair] < bias[0, gc_pair] and bias[1, au_pair] > bias[1, gc_pair]
    assert bias[2].abs().max() == 0
    for _ in range(3):
        steer.advance(torch.tensor([au_pair, au_pair, au_pair]))
    assert steer.bias()[0, end] > 0 and steer.bias()[2, end] == 0


def test_steered_draws_move_towards_their_targets(trained: dict[str, Path]) -> None:
    """The same latents and noise, steered towards GC 0.2 and 0.8: the first draws lie on either
    side of the unsteered ones; strength 0 draws what no steering draws."""
    model, checkpoint = load_cvae(trained["model"])
    n = 150
    z = np.random.default_rng(3).standard_normal((n, model.config.latent_dim)).astype(np.float32)
    conditions = make_conditions(np.ones(n, dtype=np.int64), None, checkpoint["bins"])

    def draw(strength: float, gc: float) -> list[str]:
        decoding = Decoding(steering=strength)
        return decode_latents(model, z, conditions, decoding, seed=7,
                              targets={"gc": np.full(n, gc)}).sequences

    plain = draw(0.0, 0.2)
    assert decode_latents(model, z, conditions, seed=7).sequences == plain
    low, high = draw(0.5, 0.2), draw(0.5, 0.8)
    assert gc_share(low) < gc_share(plain) - 0.05 < gc_share(high) - 0.1


def test_targets_come_from_the_source_molecules(trained: dict[str, Path]) -> None:
    table = read_folded(trained["folded"]).head(30)
    targets = steering_targets(table)
    assert list(targets.index) == list(table.index.astype(str))
    assert np.allclose(targets["gc"], table["gc"])
    proxy = [energy_proxy(s, t) / len(s) for s, t in zip(table["sequence"], table["structure"],
                                                          strict=True)]
    assert np.allclose(targets["mfe_per_nt"], proxy)
    ids = [str(table.index[4]), "", str(table.index[0])]
    rows = source_targets(targets, ids, {"gc": 2})
    assert list(rows) == ["gc"]
    assert rows["gc"][0] == table["gc"].iloc[4] and np.isnan(rows["gc"][1])
    assert list(source_targets(targets, ids, {}, every=True)) == ["gc", "mfe_per_nt",
                                                                 "stem_length"]
    assert source_targets(targets, ids, {"loop_size": 0}) is None


def test_the_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="steered"):
        GenerateConfig.from_dict({"steered": "some"})
    with pytest.raises(ValueError, match="steering"):
        GenerateConfig.from_dict({"steering": -1})
    assert GenerateConfig.from_dict({"steering": 0.2}).decoding.steering == 0.2

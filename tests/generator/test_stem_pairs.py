"""Tests for stem-pair matching (premirna.generator.stem_pairs and its pilot in
premirna.generator.realism): places and kinds counted from the loop, the tilt's direction and
bounds, the term each candidate pair gets, and a tilted decoder that draws what the tilt asks
for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cvae_data import column_token as token
from cvae_data import pilot_drawers, trained_stage

from premirna.core.seeds import STEM_ROUND
from premirna.core.tables import read_folded
from premirna.encode.image import NT_A, NT_C, NT_G, NT_U
from premirna.generator.conditions import Condition, make_conditions
from premirna.generator.posterior import load_cvae
from premirna.generator.realism import pilot_keep, real_in_bins, stem_tilts
from premirna.generator.sample import Decoding, decode_latents
from premirna.generator.stem_pairs import (
    KINDS,
    LIMIT,
    PLACES,
    StemPairs,
    fit_stem_tilt,
    kind_of,
    place_of,
    stem_profile,
)
from premirna.generator.tokens import VOCABULARY

GC, AU, GU = (KINDS.index(k) for k in ("GC", "AU", "GU"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return trained_stage(tmp_path_factory.mktemp("stem_pairs"))


def test_kinds_and_places() -> None:
    assert kind_of("G", "C") == kind_of("C", "G") == GC
    assert kind_of("U", "A") == AU and kind_of("U", "G") == GU
    assert kind_of("G", "A") == -1 and kind_of("N", "C") == -1
    assert [place_of(i) for i in (0, 1, 3, 4, 7, 8, 15, 16, 40)] == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert PLACES[0] == 0


def test_the_profile_counts_from_the_loop_outward() -> None:
    # from the loop out: C-G (closing pair), U-G, A-U, G-C, then a G-A pair and a U-A pair
    profile = stem_profile(["UGGUACAAAAGUGCAA"], ["((((((....))))))"])
    expected = np.zeros((len(PLACES), len(KINDS)))
    expected[0, GC] = 1  # the closing pair C-G
    expected[1, GU] = expected[1, AU] = expected[1, GC] = 1  # pairs 2-4
    expected[2, AU] = 1  # pair 6, U-A (pair 5, G-A, is not counted)
    assert np.array_equal(profile, expected)
    # pairs of a second molecule add up; one without pairs adds nothing
    twice = stem_profile(["UGGUACAAAAGUGCAA", "AAAAAA"], ["((((((....))))))", "......"])
    assert np.array_equal(twice, expected)


def test_the_tilt_points_from_the_drawn_to_the_real_shares() -> None:
    real = np.array([[50.0, 30, 20]] * len(PLACES))
    assert np.allclose(fit_stem_tilt(real, real), 0.0)
    drawn = real.copy()
    drawn[1] = [60, 28, 12]
    tilt = fit_stem_tilt(real, drawn)
    assert np.allclose(np.delete(tilt, 1, axis=0), 0.0)
    assert tilt[1, GC] < 0 < tilt[1, GU]
    p, q = (real[1] + 1) / (real[1] + 1).sum(), (drawn[1] + 1) / (drawn[1] + 1).sum()
    assert tilt[1] == pytest.approx(np.log(p / q))
    # the tilted shares of the drawn pairs are the real ones: sum_k q_k exp(tilt_k) = 1
    assert np.sum(q * np.exp(tilt[1])) == pytest.approx(1.0)
    drawn[3] = [99, 1, 0]
    assert np.abs(fit_stem_tilt(real, drawn)).max() == LIMIT


def test_each_pair_gets_the_tilt_of_its_kind_at_its_place() -> None:
    tilt = np.arange(len(PLACES) * len(KINDS), dtype=float).reshape(len(PLACES), len(KINDS)) + 1
    stems = StemPairs(tilt, VOCABULARY, 2, torch.device("cpu"))
    gc, cg, au, gu = (token(NT_G, NT_C, True), token(NT_C, NT_G, True), token(NT_A, NT_U, True),
                      token(NT_U, NT_G, True))
    bias = stems.bias()
    assert bias[0, gc] == bias[0, cg] == tilt[0, GC] and bias[0, gu] == tilt[0, GU]
    assert bias[0, token(NT_G, NT_A, True)] == 0  # a pair folding rejects
    assert bias[0, token(NT_G, NT_C)] == 0  # unpaired letters
    # row 0 draws four pairs (the fifth pair's place is 2), row 1 a loop letter and a pair
    for row0, row1 in [(gc, token(NT_A, NT_A)), (au, gc), (gu, token(NT_A, NT_A)), (cg, gu)]:
        stems.advance(torch.tensor([row0, row1]))
    bias = stems.bias()
    assert bias[0, au] == tilt[2, AU] and bias[1, au] == tilt[1, AU]


def test_a_tilted_decoder_draws_what_the_tilt_asks_for(trained: dict[str, Path]) -> None:
    model, checkpoint = load_cvae(trained["model"])
    n = 200
    z = np.random.default_rng(2).standard_normal((n, model.config.latent_dim)).astype(np.float32)
    conditions = make_conditions(np.ones(n, dtype=np.int64), None, checkpoint["bins"])
    decoding = Decoding(temperature=1.5)
    plain = decode_latents(model, z, conditions, decoding, seed=4)
    zero = decode_latents(model, z, conditions, decoding, seed=4,
                          stem_tilt=np.zeros((len(PLACES), len(KINDS))))
    assert zero.sequences == plain.sequences  # a zero tilt changes nothing
    tilt = np.zeros((len(PLACES), len(KINDS)))
    tilt[:, GC] = -3.0

    def gc_pairs(decoded) -> float:
        profile = stem_profile(decoded.sequences, decoded.structures)
        return float(profile[:, GC].sum() / profile.sum())

    tilted = decode_latents(model, z, conditions, decoding, seed=4, stem_tilt=tilt)
    assert gc_pairs(plain) > 0.2 and gc_pairs(tilted) < 0.5 * gc_pairs(plain)


def test_the_pilot_sets_a_tilt_per_pre_mirna_condition(trained: dict[str, Path]) -> None:
    table = read_folded(trained["folded"])
    conditions = [Condition("pre-miRNA", 1, {}), Condition("negative", 0, {})]
    calls: list = []
    drawer, checkpoint = pilot_drawers(trained["model"], calls)
    tilts = stem_tilts(conditions, [drawer(1), drawer(0)], table, checkpoint, None, 0.0, 40)
    assert tilts[1] is None and tilts[0].shape == (len(PLACES), len(KINDS))
    assert calls == [(1, 40, STEM_ROUND)]  # only the pre-miRNA condition draws a pilot
    pilot, _, _ = drawer(1)(40, STEM_ROUND)
    kept = pilot_keep(pilot, conditions[0], checkpoint, None, 0.0)
    assert kept.any()
    real = real_in_bins(table, conditions[0], checkpoint, ("sequence", "structure"))
    drawn = stem_profile(np.array(pilot.sequences)[kept], np.array(pilot.structures)[kept])
    assert np.allclose(tilts[0], fit_stem_tilt(stem_profile(real["sequence"],
                                                            real["structure"]), drawn))
    assert stem_tilts(conditions, [drawer(1), drawer(0)], table, checkpoint, None, 0.0,
                      0) == [None, None]


def test_the_stage_tilts_its_draws_and_stays_seeded(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    """generate with stem-pair matching on draws other molecules than with it off (under the same
    ids), and the same ones when run again."""
    from premirna.generator.generate import generate

    names = ("table", "fasta", "npz", "traversals", "traversal_figure")
    images = [trained[s] for s in ("train", "val", "test")]
    config = {"n_per_condition": 6, "around": 0, "traversal_steps": 2, "traversal_samples": 1,
              "seed": 9, "detector_gate": 0, "attribute_matching": 0, "resample_rounds": 0}

    def run(name: str, pilot: int) -> pd.DataFrame:
        folder = tmp_path / name
        folder.mkdir()
        generate(trained["model"], trained["folded"], images,
                 {n: folder / n for n in names}, {**config, "stem_pair_matching": pilot})
        return pd.read_csv(folder / "table", sep="\t")

    off, on, again = run("off", 0), run("on", 60), run("again", 60)
    assert on.equals(again)
    assert list(on["id"]) == list(off["id"])
    assert (on["raw_sequence"] != off["raw_sequence"]).any()

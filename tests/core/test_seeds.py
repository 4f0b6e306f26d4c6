"""Every random stream is derived from the configured seed in one fixed way (core.seeds); the
derivations are those earlier versions used, so a config gives the numbers it always gave."""

from __future__ import annotations

import numpy as np

from premirna.core.seeds import (
    OFFSETS,
    STREAMS,
    cnn_epoch_seed,
    cvae_epoch_seed,
    molecule_stream,
    offset,
    redraw_seed,
    stream,
)


def test_named_streams_are_the_seed_and_the_streams_number():
    for name, number in STREAMS.items():
        a, b = stream(20191108, name), np.random.default_rng([20191108, number])
        assert a.integers(1 << 30, size=5).tolist() == b.integers(1 << 30, size=5).tolist()
    assert len(set(STREAMS.values())) == len(STREAMS)  # independent of each other


def test_offsets_and_redraw_rounds():
    assert offset(100, "around", 2) == 100 + OFFSETS["around"] + 2 == 1102
    assert offset(100, "pretrain_phase") == 8019
    assert redraw_seed(100, 0, 3) == offset(100, "condition", 3) == 103  # the first draws
    assert redraw_seed(100, 2, 3) == 200_103
    assert {redraw_seed(7, r, k) for r in range(5) for k in range(13)}.__len__() == 65


def test_epoch_seeds_do_not_depend_on_what_ran_before():
    assert cnn_epoch_seed(7, 3) == 7003
    assert cvae_epoch_seed(7, 3) == cvae_epoch_seed(7, 3) != cvae_epoch_seed(7, 4)
    a = molecule_stream(5, 9).standard_normal(3)
    assert np.array_equal(a, np.random.default_rng([5, 9]).standard_normal(3))

"""The AR-VAE term (Pati & Lerch 2021) and the training option that ties attributes to latent
axes: the term rewards a latent axis ordered like its attribute, skips missing attributes, is
never computed while the option is off, and a run with it on records what it tied."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cvae_data import folded_molecules, tiny_settings, write_stage_inputs

from premirna.core.tables import read_folded
from premirna.generator import steps
from premirna.generator.attribute_loss import (
    attribute_regularisation,
    attribute_targets,
    sign_loss,
)
from premirna.generator.config import CVAETrainConfig
from premirna.generator.data import HairpinSet, load_hairpins
from premirna.generator.train import AR_KEYS, HISTORY_COLUMNS, _config_key, fit
from premirna.training.checkpoints import read_checkpoint, settings_key


@pytest.fixture(scope="module")
def hairpin_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[HairpinSet, HairpinSet]:
    paths = write_stage_inputs(tmp_path_factory.mktemp("ar_inputs"), folded_molecules())
    table = read_folded(paths["folded"])
    return load_hairpins(paths["train"], table), load_hairpins(paths["val"], table)


def test_the_term_is_lowest_when_the_axis_is_ordered_like_the_attribute() -> None:
    generator = torch.Generator().manual_seed(3)
    a = torch.randn(48, generator=generator)
    ordered = sign_loss(2 * a, a, delta=10.0)
    shuffled = sign_loss(2 * a[torch.randperm(48, generator=generator)], a, delta=10.0)
    reversed_ = sign_loss(-2 * a, a, delta=10.0)
    assert float(ordered) < 0.1 < float(shuffled) < float(reversed_)
    assert float(reversed_) > 1.8  # every off-diagonal pair has the wrong sign
    # only the order counts, not the attribute's scale or a monotone transform of it
    assert math.isclose(float(sign_loss(a, a, 1.0)), float(sign_loss(a, torch.exp(5 * a), 1.0)),
                        rel_tol=1e-6)


def test_missing_attributes_leave_their_molecules_out_of_the_pairs() -> None:
    z = torch.tensor([0.0, 1.0, 2.0, -5.0, 3.0], requires_grad=True)
    a = torch.tensor([1.0, 2.0, 3.0, float("nan"), 0.0])
    loss = sign_loss(z, a, delta=2.0)
    keep = torch.tensor([0, 1, 2, 4])
    assert torch.isclose(loss, sign_loss(z.detach()[keep], a[keep], delta=2.0))
    loss.backward()
    assert z.grad[3] == 0 and z.grad[keep].abs().sum() > 0
    # fewer than two known molecules: zero, but still differentiable
    lone = sign_loss(z, torch.tensor([1.0] + [float("nan")] * 4), 2.0)
    assert float(lone.detach()) == 0.0 and lone.requires_grad


def test_the_regularisation_sums_the_tied_dimensions() -> None:
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(16, 4, generator=generator)
    targets = torch.stack([mu[:, 2], 3 * mu[:, 0]], 1)
    total = attribute_regularisation(mu, targets, [2, 0], delta=5.0)
    parts = sign_loss(mu[:, 2], targets[:, 0], 5.0) + sign_loss(mu[:, 0], targets[:, 1], 5.0)
    assert torch.isclose(total, parts)
    assert float(attribute_regularisation(mu, targets, [2, 3], 5.0)) > float(total)


def test_the_option_is_off_by_default_and_leaves_the_resume_key_alone() -> None:
    config = CVAETrainConfig()
    assert config.attribute_regularisation == {} and not config.regularised
    # nor does the total-correlation option while it is off (its weight 0)
    before = {k: v for k, v in config.to_dict().items() if k not in (*AR_KEYS, "tc_weight")}
    assert _config_key(config) == settings_key(before, ("threads", "device"))
    on = CVAETrainConfig.from_dict({"attribute_regularisation": {"gc": 0}})
    assert on.regularised and _config_key(on) != _config_key(config)


@pytest.mark.parametrize(("tied", "match"), [
    ({"colour": 0}, "unknown attributes"),
    ({"gc": 16}, "distinct and within"),
    ({"gc": 1, "stem_length": 1}, "distinct and within"),
])
def test_bad_ties_are_refused(tied: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CVAETrainConfig.from_dict({"attribute_regularisation": tied})
    with pytest.raises(ValueError, match="ar_delta"):
        CVAETrainConfig.from_dict({"ar_delta": 0})


def test_targets_come_from_the_fold_table(hairpin_sets) -> None:
    train, _ = hairpin_sets
    tied = {"stem_length": 1, "gc": 0, "mature_5p_start": 2, "mature_3p_loop_distance": 3}
    assert CVAETrainConfig.from_dict({"attribute_regularisation": tied}).regularised
    targets = attribute_targets(train, tied)
    assert targets.shape == (len(train), 4) and targets.dtype == torch.float32
    np.testing.assert_allclose(targets[:, 1].numpy(), train.attributes["gc"], rtol=1e-6)
    assert torch.isnan(targets[:, 2:]).all()  # these fold tables carry no miRBase positions


def test_training_without_the_option_never_computes_the_term(hairpin_sets, tmp_path: Path,
                                                             monkeypatch) -> None:
    train, val = hairpin_sets
    config = CVAETrainConfig.from_dict(tiny_settings())
    _, plain = fit(train, val, config, tmp_path / "a.pt", resume=False)

    def forbidden(*args, **kwargs):
        raise AssertionError("the AR term was computed with the option off")

    monkeypatch.setattr(steps, "attribute_regularisation", forbidden)
    _, again = fit(train, val, config, tmp_path / "b.pt", resume=False)
    assert pd.DataFrame(plain["history"]).drop(columns="seconds").equals(
        pd.DataFrame(again["history"]).drop(columns="seconds"))
    assert list(plain["history"][0]) == HISTORY_COLUMNS


def test_training_with_the_option_records_it_and_orders_the_axis(hairpin_sets,
                                                                  tmp_path: Path) -> None:
    train, val = hairpin_sets
    tied = {"gc": 0, "stem_length": 1}
    config = CVAETrainConfig.from_dict(tiny_settings(
        epochs=4, attribute_regularisation=tied, ar_gamma=10.0))
    _, checkpoint = fit(train, val, config, tmp_path / "ar.pt", resume=False)
    history = pd.DataFrame(checkpoint["history"])
    assert "ar" in history and (history["ar"] > 0).all()
    assert history["ar"].iloc[-1] < history["ar"].iloc[0]  # the axes learn the order
    # the kept epoch is the best on the whole validation objective, AR term included
    assert (history["val_ar"] > 0).all()
    np.testing.assert_allclose(history["val"], history["val_recon"] + history["val_kl"]
                               + 10.0 * history["val_ar"])
    assert checkpoint["best_epoch"] == int(history.loc[history["val"].idxmin(), "epoch"])
    saved = read_checkpoint(tmp_path / "ar.pt")
    assert saved["config"]["attribute_regularisation"] == tied
    assert saved["config"]["ar_gamma"] == 10.0


def test_the_term_sees_the_whole_range_even_when_a_batch_holds_one_length() -> None:
    """Training batches group molecules of similar length; an attribute that follows length
    (stem length, mature positions) is then nearly constant inside a batch, and its sign pairs
    say nothing. The term must draw its molecules from the whole training set instead."""

    class Recorder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(()))
            self.seen: list[torch.Tensor] = []

        def encode(self, images, conditions):
            self.seen.append(images[:, 0, 0, 0].detach().clone())
            mu = self.weight * images[:, 0, 0, :2]
            return mu, torch.zeros_like(mu)

    n = 200
    length = torch.arange(n, dtype=torch.float32)  # the attribute, one value per molecule
    images = torch.zeros(n, 3, 25, 100)
    images[:, 0, 0, 0] = length / n  # each molecule identifies itself through a pixel
    tensors = (images, torch.zeros(n, 1, dtype=torch.long), None, None)
    config = CVAETrainConfig.from_dict(tiny_settings(attribute_regularisation={"stem_length": 0}))
    model = Recorder()
    batch = torch.arange(10)  # ten molecules of nearly the same length
    term, tc = steps._whole_set_terms(model, tensors, length[:, None], batch, config, [3],
                                      torch.Generator().manual_seed(0), torch.device("cpu"))
    seen = torch.round(model.seen[0] * n)
    assert len(seen) == len(batch) and term.requires_grad
    assert tc is None  # tc_weight 0: no total correlation is estimated
    assert seen.max() - seen.min() > 50  # molecules from across the range, not the batch
    pairs = torch.sign(seen[:, None] - seen[None, :]) != 0
    assert pairs.float().mean() > 0.8  # nearly every pair carries an order to learn

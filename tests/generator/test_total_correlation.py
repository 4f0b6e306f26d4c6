"""The total-correlation penalty (beta-TCVAE, Chen et al. 2018): the estimate of TC of the
aggregate posterior is right where it is known in closed form, is the exact mixture when the
batch is the whole set, and the training option computes and records it only when it is on."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cvae_data import folded_molecules, tiny_settings, write_stage_inputs
from scipy.special import logsumexp
from scipy.stats import norm

from premirna.core.tables import read_folded
from premirna.generator import steps
from premirna.generator.config import CVAETrainConfig
from premirna.generator.data import HairpinSet, load_hairpins
from premirna.generator.total_correlation import total_correlation
from premirna.generator.train import _config_key, fit


def _correlated(n: int, rho: float, sd: float, seed: int = 0):
    """Posterior means of n molecules spread as a 2-D normal with correlation rho, posteriors of
    standard deviation sd, and one sample of each."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x[:, 1] = rho * x[:, 0] + math.sqrt(1 - rho**2) * x[:, 1]
    logvar = torch.full_like(x, math.log(sd**2))
    return x + sd * torch.randn(n, 2, generator=g, dtype=torch.float64), x, logvar


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_the_estimate_matches_a_gaussian_aggregate_posterior(rho: float) -> None:
    # q(z) is then close to a normal with variance 1 + sd^2 and correlation rho / (1 + sd^2),
    # whose TC is -log(1 - r^2) / 2
    sd = 0.3
    z, mu, logvar = _correlated(4000, rho, sd)
    r = rho / (1 + sd**2)
    expected = -0.5 * math.log(1 - r**2)
    assert float(total_correlation(z, mu, logvar, len(z))) == pytest.approx(expected, abs=0.03)


def test_a_minibatch_estimates_the_whole_set() -> None:
    z, mu, logvar = _correlated(4000, 0.9, 0.3)
    whole = float(total_correlation(z, mu, logvar, len(z)))
    g = torch.Generator().manual_seed(1)
    drawn = [torch.randint(0, len(z), (256,), generator=g) for _ in range(20)]
    batches = [float(total_correlation(z[i], mu[i], logvar[i], len(z))) for i in drawn]
    assert np.mean(batches) == pytest.approx(whole, abs=0.1)
    independent = _correlated(4000, 0.0, 0.3)
    assert max(float(total_correlation(*(t[i] for t in independent), 4000)) for i in drawn) < 0.3


def test_with_the_whole_set_it_is_the_mixture_itself() -> None:
    rng = np.random.default_rng(2)
    mu, sd = rng.normal(size=(6, 3)), rng.uniform(0.2, 1.0, size=(6, 3))
    z = mu + sd * rng.normal(size=(6, 3))
    # log q(z_i,d | x_j) by scipy, then the mixtures over j with weight 1/6 each
    log_p = norm.logpdf(z[:, None, :], mu[None, :, :], sd[None, :, :])
    joint = logsumexp(log_p.sum(2), axis=1) - math.log(6)
    marginals = (logsumexp(log_p, axis=1) - math.log(6)).sum(1)
    as_tensors = (torch.from_numpy(a) for a in (z, mu, np.log(sd**2)))
    assert float(total_correlation(*as_tensors, 6)) == pytest.approx(
        float(np.mean(joint - marginals)), rel=1e-9)


def test_its_gradient_pulls_duplicated_dimensions_apart() -> None:
    z, mu, logvar = _correlated(400, 0.95, 0.3)
    noise = (z - mu) / 0.3
    mu = mu.clone().requires_grad_(True)
    optimiser = torch.optim.SGD([mu], lr=5.0)
    with torch.no_grad():
        before = float(total_correlation(mu + 0.3 * noise, mu, logvar, 400))
    for _ in range(30):
        optimiser.zero_grad()
        total_correlation(mu + 0.3 * noise, mu, logvar, 400).backward()
        optimiser.step()
    with torch.no_grad():
        after = float(total_correlation(mu + 0.3 * noise, mu, logvar, 400))
    assert before > 0.6 and after < before / 2


def test_the_option_is_off_by_default_and_refuses_a_negative_weight() -> None:
    config = CVAETrainConfig()
    assert config.tc_weight == 0
    on = CVAETrainConfig.from_dict({"tc_weight": 2.0})
    assert _config_key(on) != _config_key(config)
    with pytest.raises(ValueError, match="tc_weight"):
        CVAETrainConfig.from_dict({"tc_weight": -1.0})


@pytest.fixture(scope="module")
def hairpin_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[HairpinSet, HairpinSet]:
    paths = write_stage_inputs(tmp_path_factory.mktemp("tc_inputs"), folded_molecules())
    table = read_folded(paths["folded"])
    return load_hairpins(paths["train"], table), load_hairpins(paths["val"], table)


def test_training_with_the_penalty_records_it_and_keeps_the_best_elbo(hairpin_sets, tmp_path: Path,
                                                                monkeypatch) -> None:
    train, val = hairpin_sets
    calls = []

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return total_correlation(*args, **kwargs)

    monkeypatch.setattr(steps, "total_correlation", counted)
    config = CVAETrainConfig.from_dict(tiny_settings(epochs=3, tc_weight=4.0))
    _, checkpoint = fit(train, val, config, tmp_path / "tc.pt", resume=False)
    history = pd.DataFrame(checkpoint["history"])
    assert {"tc", "val_tc"} <= set(history) and "ar" not in history
    assert np.isfinite(history[["tc", "val_tc"]]).all().all()
    # the kept epoch is the best validation ELBO: the penalty's estimate is recorded only
    np.testing.assert_allclose(history["val"], history["val_recon"] + history["val_kl"])
    assert checkpoint["best_epoch"] == int(history.loc[history["val"].idxmin(), "epoch"])
    # once per training step on a uniform draw, once per epoch on the whole validation set
    assert len(val) in calls and len(calls) > 3
    calls.clear()
    _, plain = fit(train, val, CVAETrainConfig.from_dict(tiny_settings(epochs=3)),
                   tmp_path / "plain.pt", resume=False)
    assert calls == [] and "tc" not in plain["history"][0]

"""Tests for premirna.generator.network and premirna.generator.train: tokens, network shapes, loss,
conditions, determinism, checkpoints and resuming, on a few dozen real hairpins."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cvae_data import folded_molecules, tiny_settings, write_stage_inputs

from premirna.core.tables import read_folded
from premirna.encode.decode import factors_to_hairpins, image_to_factors
from premirna.encode.image import COLUMNS, ENCODING_VERSION, NT_A, NT_C, NT_U
from premirna.encode.render import encode_many, render
from premirna.encode.walk import columns
from premirna.generator import train as generator_train
from premirna.generator.conditions import (
    CONDITION_ATTRIBUTES,
    assign_bins,
    condition_sizes,
    hide_conditions,
    make_conditions,
    quantile_bins,
)
from premirna.generator.config import CVAETrainConfig
from premirna.generator.data import HairpinSet, load_hairpins
from premirna.generator.network import CVAE, CVAEConfig
from premirna.generator.posterior import encode_posterior, load_cvae
from premirna.generator.steps import beta_at, cvae_loss
from premirna.generator.tokens import (
    VOCABULARY,
    factors_to_tokens,
    token_lengths,
    tokens_to_factors,
)
from premirna.generator.train import HISTORY_COLUMNS, fit, inner_quantile_bounds, train_cvae
from premirna.rna.structure import hairpin_loops
from premirna.training.checkpoints import save_checkpoint


@pytest.fixture(scope="module")
def molecules() -> pd.DataFrame:
    return folded_molecules()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, molecules: pd.DataFrame) -> dict[str, Path]:
    return write_stage_inputs(tmp_path_factory.mktemp("cvae_inputs"), molecules)


@pytest.fixture(scope="module")
def hairpin_sets(inputs: dict[str, Path]) -> tuple[HairpinSet, HairpinSet]:
    table = read_folded(inputs["folded"])
    return load_hairpins(inputs["train"], table), load_hairpins(inputs["val"], table)


def test_tokens_round_trip_real_hairpins(molecules: pd.DataFrame) -> None:
    images, _ = encode_many(molecules["sequence"].tolist(), molecules["structure"].tolist())
    tokens = factors_to_tokens(image_to_factors(images))
    assert tokens.shape == (len(molecules), COLUMNS)
    assert tokens.min() >= 0 and tokens.max() < VOCABULARY
    sequences, structures = factors_to_hairpins(tokens_to_factors(tokens))
    for seq, struct, want_seq, want_struct in zip(
        sequences, structures, molecules["sequence"], molecules["structure"], strict=True
    ):
        if len(hairpin_loops(want_struct)) == 1:  # single-stem folds decode exactly
            assert (seq, struct) == (want_seq, want_struct)
    # Without mirroring the loop, tokens are exactly the image's factors.
    raw = factors_to_tokens(image_to_factors(images), mirror_loop=False)
    np.testing.assert_array_equal(render(tokens_to_factors(raw)), images)


def test_mirrored_loop_columns_repeat_the_five_prime_half() -> None:
    sequence, structure = "GGGGACUCCCC", "((((...))))"
    drawn = columns(sequence, structure)
    # The image draws the loop ACU twice: reversed on the 5' half, forward on the 3' half.
    assert drawn.top_nt[:3].tolist() == [NT_U, NT_C, NT_A]
    assert drawn.bottom_nt[:3].tolist() == [NT_A, NT_C, NT_U]
    tokens = factors_to_tokens(drawn)
    factors = tokens_to_factors(tokens)
    assert factors.bottom_nt[0, :3].tolist() == factors.top_nt[0, :3].tolist()
    assert not factors.paired[0, :3].any() and factors.paired[0, 3:7].all()
    assert factors_to_hairpins(factors) == ([sequence], [structure])
    # Columns that count: 3 loop + 4 pairs + the empty column that ends the hairpin.
    assert token_lengths(tokens).tolist() == [8]


def test_network_shapes() -> None:
    config = CVAEConfig(condition_sizes=[3, 4, 4], latent_dim=5, channels=[8, 12, 16], hidden=20,
                        token_dim=8, position_dim=4, decoder_hidden=24)
    model = CVAE(config)
    images = torch.rand(6, 3, 25, 100)
    conditions = torch.tensor([[0, 1, 3], [1, 0, 2], [2, 3, 3]] * 2)
    mu, logvar = model.encode(images, conditions)
    assert mu.shape == logvar.shape == (6, 5)
    previous = torch.randint(0, config.vocabulary, (6, 40))
    logits = model.decode(mu, conditions, previous)
    assert logits.shape == (6, 40, config.vocabulary)
    out, mu2, _ = model(images, conditions, previous)
    assert out.shape == logits.shape and mu2.shape == mu.shape
    state, context = model.start(mu, conditions)
    step_logits, state = model.step(previous[:, 0], 0, state, context)
    assert step_logits.shape == (6, config.vocabulary)
    # Step-by-step decoding equals teacher forcing over the same inputs.
    model.eval()
    full = model.decode(mu, conditions, previous[:, :5])
    state, context = model.start(mu, conditions)
    for column in range(5):
        step_logits, state = model.step(previous[:, column], column, state, context)
        torch.testing.assert_close(step_logits, full[:, column])


def test_loss_hand_computed() -> None:
    tokens = torch.zeros(2, 10, dtype=torch.long)
    logits = torch.zeros(2, 10, 98)  # uniform: cross-entropy log(98) per column
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    loss, recon, kl = cvae_loss(logits, tokens, mu, logvar, beta=1.0)
    assert recon.item() == pytest.approx(10 * math.log(98))
    assert kl.item() == pytest.approx(0.0)
    # KL of N(1, 1) from N(0, 1) is 1/2 per dimension.
    _, _, kl = cvae_loss(logits, tokens, torch.ones(2, 3), logvar, beta=1.0)
    assert kl.item() == pytest.approx(1.5)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[:, :4] = True
    _, recon, _ = cvae_loss(logits, tokens, mu, logvar, beta=1.0, mask=mask)
    assert recon.item() == pytest.approx(4 * math.log(98))
    # Free bits: a dimension below the floor is charged the floor and gets no gradient.
    mu = torch.full((2, 3), 0.1, requires_grad=True)
    loss, _, kl = cvae_loss(logits, tokens, mu, logvar, beta=2.0, free_bits=0.5)
    assert loss.item() == pytest.approx(10 * math.log(98) + 2.0 * 1.5)
    loss.backward()
    assert torch.all(mu.grad == 0)


def test_bins_and_conditions() -> None:
    attributes = pd.DataFrame({"gc": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9],
                               "stem_length": [10, 20, 30, 40, 50, 60, 5]})
    labels = np.array([1, 1, 1, 1, 1, 1, 0])
    bins = quantile_bins(attributes, labels, ["gc", "stem_length"], 3)
    # Quantiles of the six pre-miRNAs only (the negative is left out).
    np.testing.assert_allclose(bins["gc"], [np.quantile([.1, .2, .3, .4, .5, .6], 1 / 3),
                                            np.quantile([.1, .2, .3, .4, .5, .6], 2 / 3)])
    conditions = make_conditions(labels, attributes, bins)
    assert conditions.shape == (7, 3)
    assert conditions[:, 0].tolist() == labels.tolist()
    assert conditions[:, 1].tolist() == [0, 0, 1, 1, 2, 2, 2]
    unspecified = make_conditions(None, None, bins, n_rows=2)
    assert unspecified.tolist() == [[2, 3, 3], [2, 3, 3]]
    assert condition_sizes(2, 3) == [3, 4, 4]
    generator = torch.Generator().manual_seed(0)
    hidden = hide_conditions(torch.from_numpy(conditions), [3, 4, 4], 1.0, generator)
    assert (hidden == torch.tensor([2, 3, 3])).all()
    kept = hide_conditions(torch.from_numpy(conditions), [3, 4, 4], 0.0, generator)
    assert torch.equal(kept, torch.from_numpy(conditions))
    assert assign_bins(np.array([np.nan, 0.35]), [0.3, 0.4]).tolist() == [-1, 1]


def test_beta_annealing() -> None:
    config = CVAETrainConfig(beta=2.0, kl_anneal_epochs=4)
    assert [beta_at(e, config) for e in (1, 2, 4, 9)] == [0.5, 1.0, 2.0, 2.0]
    assert beta_at(1, CVAETrainConfig(beta=0.3, kl_anneal_epochs=0)) == 0.3


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_is_deterministic(hairpin_sets, tmp_path: Path) -> None:
    train, val = hairpin_sets
    config = CVAETrainConfig.from_dict(tiny_settings())
    first, _ = fit(train, val, config, tmp_path / "a" / "model.pt", resume=False)
    second, _ = fit(train, val, config, tmp_path / "b" / "model.pt", resume=False)
    for key, value in _weights(first).items():
        torch.testing.assert_close(value, second.state_dict()[key], rtol=0, atol=0)
    other, _ = fit(train, val, CVAETrainConfig.from_dict(tiny_settings(seed=8)),
                     tmp_path / "c" / "model.pt", resume=False)
    assert any(not torch.equal(v, other.state_dict()[k]) for k, v in _weights(first).items())


def test_checkpoint_round_trip(hairpin_sets, tmp_path: Path) -> None:
    train, val = hairpin_sets
    model, checkpoint = fit(train, val, CVAETrainConfig.from_dict(tiny_settings()),
                              tmp_path / "model.pt")
    loaded, stored = load_cvae(tmp_path / "model.pt")
    for key in ("model", "optimizer", "model_args", "config", "bins", "attributes",
                "encoding_version", "epoch", "best_metric", "history"):
        assert key in stored
    assert stored["encoding_version"] == ENCODING_VERSION
    assert list(stored["bins"]) == list(CONDITION_ATTRIBUTES)
    assert all(len(edges) == 2 for edges in stored["bins"].values())
    assert stored["model_args"]["condition_sizes"] == [3, 4, 4, 4, 4]
    for label, (low, high) in stored["lengths"].items():  # inside the 1st-99th percentiles
        lengths = train.attributes["length"][train.labels == label]
        assert [low, high] == inner_quantile_bounds(lengths.to_numpy())
        assert lengths.min() <= low <= high <= lengths.max()
    assert len(stored["history"]) == 2
    conditions = make_conditions(val.labels, val.attributes, stored["bins"])
    mu_a, _ = encode_posterior(model, val.images, conditions)
    mu_b, _ = encode_posterior(loaded, val.images, conditions)
    np.testing.assert_array_equal(mu_a, mu_b)
    assert (tmp_path / "last.pt").exists()


def test_resume_after_interruption_equals_uninterrupted(
    hairpin_sets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, val = hairpin_sets
    config = CVAETrainConfig.from_dict(tiny_settings(epochs=3))
    whole, _ = fit(train, val, config, tmp_path / "whole" / "model.pt", resume=False)

    real_save = save_checkpoint
    saved_last: list[Path] = []

    def interrupt_after_first_epoch(checkpoint: dict, path: Path) -> None:
        real_save(checkpoint, path)
        if Path(path).name == "last.pt":
            saved_last.append(Path(path))
            raise KeyboardInterrupt("killed after epoch 1")

    monkeypatch.setattr(generator_train, "save_checkpoint", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(train, val, config, tmp_path / "parts" / "model.pt", resume=False)
    monkeypatch.setattr(generator_train, "save_checkpoint", real_save)
    assert torch.load(saved_last[0], weights_only=True)["epoch"] == 1
    # The best-so-far model is inside last.pt, never at the final name of an unfinished run.
    assert not (tmp_path / "parts" / "model.pt").exists()
    resumed, checkpoint = fit(train, val, config, tmp_path / "parts" / "model.pt")
    assert [row["epoch"] for row in checkpoint["history"]] == [1, 2, 3]
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)
    # Another configuration does not resume from this last.pt.
    other, checkpoint = fit(train, val, CVAETrainConfig.from_dict(tiny_settings(epochs=1,
                              beta=0.5)), tmp_path / "parts" / "model.pt")
    assert [row["epoch"] for row in checkpoint["history"]] == [1]


def test_other_epochs_start_over_and_a_diverging_loss_stops(hairpin_sets, tmp_path: Path) -> None:
    """The epochs are part of the resume key (they set the cosine schedule): a finished 3-epoch
    run in the folder is not handed back for a 2-epoch one; and a NaN loss stops the run."""
    from premirna.core.errors import TrainingError

    train, val = hairpin_sets
    model = tmp_path / "model.pt"
    fit(train, val, CVAETrainConfig.from_dict(tiny_settings(epochs=3)), model)
    _, checkpoint = fit(train, val, CVAETrainConfig.from_dict(tiny_settings(epochs=2)), model)
    assert [row["epoch"] for row in checkpoint["history"]] == [1, 2]
    with pytest.raises(ValueError, match="train_cvae.epochs must be at least 1, not -5"):
        CVAETrainConfig.from_dict(tiny_settings(epochs=-5))
    model.unlink()
    diverging = CVAETrainConfig.from_dict(tiny_settings(learning_rate=1e30, grad_clip=0.0))
    with pytest.raises(TrainingError, match=r"train_cvae epoch \d+: the training diverged.*"
                                            r"lower train_cvae.learning_rate \(now 1e\+30\)"):
        fit(train, val, diverging, model, resume=False)
    assert not model.exists()


def test_the_kept_epoch_is_the_best_at_the_full_beta(
    hairpin_sets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Epochs of the KL warm-up never become the kept one, even where their validation loss is
    the lowest (here made so: a dip that the warm-up's smaller KL weight invites); a run that
    ends inside the warm-up keeps its last epoch; patience counts from the first epoch at the
    full beta."""
    train, val = hairpin_sets
    real_validate = generator_train._validate
    dips: list[int] = []  # the epochs (1-based calls) whose validation loss is made the lowest

    def dipping(*args, **kwargs) -> dict[str, float]:
        row = real_validate(*args, **kwargs)
        dips.append(0)
        if len(dips) in dipped:
            row["val"] -= 1000.0
        return row

    monkeypatch.setattr(generator_train, "_validate", dipping)

    def run(name: str, **settings: object) -> dict:
        dips.clear()
        config = CVAETrainConfig.from_dict(tiny_settings(**settings))
        return fit(train, val, config, tmp_path / name / "model.pt", resume=False)[1]

    dipped = {1}
    checkpoint = run("after", epochs=4, kl_anneal_epochs=2)
    history = pd.DataFrame(checkpoint["history"])
    at_full_beta = history[history["beta"] >= 1.0]
    assert history.loc[0, "beta"] < 1.0 and history.loc[0, "val"] < at_full_beta["val"].min()
    assert checkpoint["best_epoch"] == at_full_beta.loc[at_full_beta["val"].idxmin(), "epoch"]
    assert checkpoint["epoch"] == checkpoint["best_epoch"] >= 2

    checkpoint = run("inside", epochs=2, kl_anneal_epochs=5)
    assert checkpoint["best_epoch"] == 2  # the last, though epoch 1 dipped

    dipped = {1, 2}
    checkpoint = run("patience", epochs=5, kl_anneal_epochs=3, patience=1)
    assert len(checkpoint["history"]) >= 4 and checkpoint["best_epoch"] >= 3


def test_train_cvae_stage_writes_outputs(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "train_cvae"
    result = train_cvae(inputs["train"], inputs["val"], inputs["folded"], out / "model.pt",
                          out / "history.tsv", out / "reconstructions.png", out / "curves.png",
                          tiny_settings())
    history = pd.read_csv(out / "history.tsv", sep="\t")
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == [1, 2]
    assert (history["beta"] <= 1.0).all() and history["val"].notna().all()
    assert (out / "reconstructions.png").stat().st_size > 0
    assert (out / "curves.png").stat().st_size > 0
    assert result["best_epoch"] in (1, 2)


def test_config_rejects_unknown_settings() -> None:
    with pytest.raises(ValueError, match="unknown train_cvae settings"):
        CVAETrainConfig.from_dict({"epoch": 3})
    config = CVAETrainConfig.from_dict({"model": {"latent_dim": 3}, "beta": 0.5})
    assert config.model.latent_dim == 3 and config.beta == 0.5


def test_length_bounds_lie_inside_the_population_percentiles() -> None:
    # 1..100 in any order: ranks 1 + 1.96 * 0.995 -> 3 and 99 - 1.95 -> 97.
    values = np.random.default_rng(0).permutation(np.arange(1, 101))
    assert inner_quantile_bounds(values) == [3.0, 97.0]
    # The sample's own 1st-99th percentiles of a sample from 0..999 stray outside the
    # population's (9.99 .. 989.01) in about half the samples; the inner bounds do not.
    rng = np.random.default_rng(1)
    strayed = inside = 0
    for _ in range(200):
        sample = rng.integers(0, 1000, size=1500)
        low, high = np.percentile(sample, [1, 99])
        strayed += low < 9.99 or high > 989.01
        bounds = inner_quantile_bounds(sample)
        inside += 9.99 <= bounds[0] <= bounds[1] <= 989.01
    assert strayed > 60 and inside >= 190
    assert inner_quantile_bounds(np.array([70.0])) == [70.0, 70.0]
    assert inner_quantile_bounds(np.array([60.0, 80.0, 70.0])) == [60.0, 70.0]  # ranks 1, 2

"""Tests for premirna.generator.generate: every sample is a drawable, decodable hairpin; seeded
sampling is reproducible; conditions, guidance and the stage's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cvae_data import trained_stage
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from premirna.core.tables import read_folded
from premirna.encode.decode import decode_many
from premirna.encode.render import encode_many
from premirna.generator.conditions import (
    Condition,
    assign_bins,
    binned_reference,
    condition_rows,
    make_conditions,
    parse_conditions,
    requested_columns,
)
from premirna.generator.generate import GenerateConfig, around_molecules, generate
from premirna.generator.network import CVAE
from premirna.generator.posterior import load_cvae, posterior_latents, training_posteriors
from premirna.generator.request import drawn_attributes, match_request
from premirna.generator.sample import (
    Decoded,
    Decoding,
    _choose,
    decode_latents,
    gumbel_noise,
    sample_tokens,
    tokens_to_hairpins,
    unspecified_conditions,
)
from premirna.generator.tokens import VOCABULARY, ending_tokens, iupac_tokens
from premirna.generator.traversal import data_spans, traversal_spans
from premirna.rna.structure import hairpin_loops, pair_table

OUTPUT_NAMES = ("table", "fasta", "npz", "traversals", "traversal_figure")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Stage inputs and a CVAE trained for two epochs on them."""
    return trained_stage(tmp_path_factory.mktemp("generate"))


def assert_hairpins(decoded: Decoded) -> None:
    """Every molecule is a non-empty single-stem hairpin whose image is its own encoding."""
    images, encodable = encode_many(decoded.sequences, decoded.structures)
    assert encodable.all()
    np.testing.assert_array_equal(images, decoded.images)
    sequences, structures = decode_many(decoded.images)
    assert sequences == decoded.sequences and structures == decoded.structures
    for seq, struct in zip(decoded.sequences, decoded.structures, strict=True):
        assert seq and len(seq) == len(struct)
        pair_table(struct)  # balanced
        assert len(hairpin_loops(struct)) == 1


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, (3, 100), elements=st.integers(0, VOCABULARY - 1)))
def test_any_tokens_read_as_a_hairpin_or_nothing(tokens: np.ndarray) -> None:
    # Whatever the tokens, they read back as one hairpin, as nothing (column 0 empty), or as an
    # unpaired stretch when no column after the loop can pair; the sampler rules out the last two.
    ends = ending_tokens(VOCABULARY).numpy()
    decoded = tokens_to_hairpins(tokens)
    for row, seq, struct in zip(tokens, decoded.sequences, decoded.structures, strict=True):
        if ends[row[0]]:
            assert seq == struct == ""
        elif "(" in struct:
            assert seq and len(hairpin_loops(struct)) == 1
        else:
            assert set(struct) <= {"."} and len(seq) == len(struct)


def test_untrained_and_trained_samples_are_hairpins(trained: dict[str, Path]) -> None:
    model, checkpoint = load_cvae(trained["model"])
    n = 40
    z = np.random.default_rng(0).standard_normal((n, model.config.latent_dim)).astype(np.float32)
    conditions = make_conditions(np.ones(n, dtype=np.int64), None, checkpoint["bins"])
    for decoding in (Decoding(), Decoding(temperature=0.0), Decoding(top_p=0.5),
                     Decoding(guidance=3.0, attribute_guidance=2.0)):
        assert_hairpins(decode_latents(model, z, conditions, decoding, seed=1))
    torch.manual_seed(0)
    untrained = CVAE(model.config)
    assert_hairpins(decode_latents(untrained, z, conditions, Decoding(temperature=1.5)))


def test_sampling_is_seeded(trained: dict[str, Path]) -> None:
    model, checkpoint = load_cvae(trained["model"])
    z = np.random.default_rng(1).standard_normal((12, model.config.latent_dim)).astype(np.float32)
    conditions = make_conditions(np.ones(12, dtype=np.int64), None, checkpoint["bins"])
    first = decode_latents(model, z, conditions, seed=5)
    again = decode_latents(model, z, conditions, seed=5, batch_size=5)
    other = decode_latents(model, z, conditions, seed=6)
    np.testing.assert_array_equal(first.tokens, decode_latents(model, z, conditions,
                                                                 seed=5).tokens)
    assert first.sequences == decode_latents(model, z, conditions, seed=5).sequences
    assert len(again.sequences) == 12
    assert first.sequences != other.sequences


def test_choose_greedy_nucleus_and_frequencies() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64)).repeat(20000, 1)
    generator = torch.Generator().manual_seed(0)
    noise = gumbel_noise(logits.shape, generator)
    assert (_choose(logits, 0.0, 1.0, noise) == 0).all()
    assert (_choose(logits, 1.0, 0.4, noise) == 0).all()  # nucleus of 0.4: the top token only
    nucleus = _choose(logits, 1.0, 0.7, noise)  # tokens 0 and 1, renormalised 5/8 and 3/8
    assert set(nucleus.tolist()) == {0, 1}
    assert nucleus.eq(0).double().mean().item() == pytest.approx(0.625, abs=0.015)
    drawn = _choose(logits, 1.0, 1.0, noise)
    frequencies = torch.bincount(drawn, minlength=3).double() / len(drawn)
    torch.testing.assert_close(frequencies, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
                               atol=0.015, rtol=0)


def test_guidance(trained: dict[str, Path]) -> None:
    model, checkpoint = load_cvae(trained["model"])
    z = torch.randn(4, model.config.latent_dim, generator=torch.Generator().manual_seed(1))
    labels = np.ones(4, np.int64)
    table = read_folded(trained["folded"]).head(4).reset_index(drop=True)
    conditions = torch.from_numpy(make_conditions(labels, table, checkpoint["bins"]))
    noise = gumbel_noise((4, 100, VOCABULARY), torch.Generator().manual_seed(2))
    plain = sample_tokens(model, z, conditions, noise=noise)
    same = sample_tokens(model, z, conditions, noise=noise, guidance=1.0, attribute_guidance=1.0)
    assert torch.equal(plain, same)
    free = unspecified_conditions(model, conditions, "class")
    assert free[:, 0].tolist() == [2] * 4 and torch.equal(free[:, 1:], conditions[:, 1:])
    none = unspecified_conditions(model, conditions, "all")
    assert (none == torch.tensor(model.config.condition_sizes) - 1).all()
    # Greedy first column under guidance equals the composed logits computed by hand.
    start = torch.full((4,), model.start_token)
    step = {}
    for name, c in (("full", conditions), ("attr", free), ("none", none)):
        state, context = model.start(z, c)
        step[name] = model.step(start, 0, state, context)[0]
    composed = step["none"] + 1.5 * (step["attr"] - step["none"]) + 3.0 * (step["full"]
                                                                        - step["attr"])
    composed = composed.masked_fill(ending_tokens(VOCABULARY) | iupac_tokens(VOCABULARY),
                                    float("-inf"))
    guided = sample_tokens(model, z, conditions, temperature=0.0, guidance=3.0,
                             attribute_guidance=1.5)
    assert torch.equal(guided[:, 0], composed.argmax(dim=1))


def test_requested_guidance_pushes_the_requested_bins_alone(trained: dict[str, Path]) -> None:
    model, checkpoint = load_cvae(trained["model"])
    (gc_high,) = parse_conditions([{"label": 1, "gc": "high"}], checkpoint)
    asked = requested_columns(gc_high, checkpoint)
    gc_column = 1 + list(checkpoint["attributes"]).index("gc")
    assert asked.tolist() == [k == gc_column for k in range(1 + len(checkpoint["attributes"]))]
    (plain,) = parse_conditions([{"label": 1}], checkpoint)
    assert not requested_columns(plain, checkpoint).any()  # the class is guided on its own

    # Make the gc bin matter to the first column, so that a guidance that missed it shows.
    with torch.no_grad():
        model.decoder_conditions.tables[gc_column].weight.normal_(
            0.0, 5.0, generator=torch.Generator().manual_seed(5))
    n = 32
    z = torch.randn(n, model.config.latent_dim, generator=torch.Generator().manual_seed(3))
    table = read_folded(trained["folded"]).head(n).reset_index(drop=True)
    conditions = torch.from_numpy(make_conditions(np.ones(n, np.int64), table,
                                                  checkpoint["bins"]))
    conditions[:, gc_column] = 2
    requested = torch.from_numpy(np.repeat(asked[None], n, axis=0))
    noise = gumbel_noise((n, 100, VOCABULARY), torch.Generator().manual_seed(4))
    plain_tokens = sample_tokens(model, z, conditions, noise=noise)
    # Weight 1, or nothing requested: the plain conditional decoder, draw for draw.
    assert torch.equal(plain_tokens, sample_tokens(model, z, conditions, noise=noise,
                                                   requested_guidance=1.0, requested=requested))
    assert torch.equal(plain_tokens, sample_tokens(model, z, conditions, noise=noise,
                                                   requested_guidance=2.0,
                                                   requested=torch.zeros_like(requested)))
    # The first column under guidance: l_full + 1.5 (l_full - l_open), where l_open hides the
    # gc bin and keeps the bins a training molecule filled in.
    open_ = conditions.clone()
    open_[:, gc_column] = model.config.condition_sizes[gc_column] - 1
    start = torch.full((n,), model.start_token)
    full, free = (model.step(start, 0, *model.start(z, c))[0] for c in (conditions, open_))
    masked = ending_tokens(VOCABULARY) | iupac_tokens(VOCABULARY)
    composed = (full + 1.5 * (full - free)).masked_fill(masked, float("-inf"))
    guided = sample_tokens(model, z, conditions, temperature=0.0, requested_guidance=2.5,
                           requested=requested)
    assert torch.equal(guided[:, 0], composed.argmax(dim=1))
    assert not torch.equal(guided[:, 0], full.masked_fill(masked, float("-inf")).argmax(dim=1))
    # Composed with class guidance 2: 2 l_full - l_attr + 1.5 (l_full - l_open).
    attr = unspecified_conditions(model, conditions, "class")
    no_class = model.step(start, 0, *model.start(z, attr))[0]
    both = (full + (full - no_class) + 1.5 * (full - free)).masked_fill(masked, float("-inf"))
    guided = sample_tokens(model, z, conditions, temperature=0.0, guidance=2.0,
                           requested_guidance=2.5, requested=requested)
    assert torch.equal(guided[:, 0], both.argmax(dim=1))
    # The stage's settings carry it to the decoder.
    assert GenerateConfig.from_dict({"requested_guidance": 1.5}).decoding.requested_guidance == 1.5


def test_parse_and_complete_conditions(trained: dict[str, Path]) -> None:
    _, checkpoint = load_cvae(trained["model"])
    single = parse_conditions("single", checkpoint)
    assert len(single) == 1 + 4 * 3
    assert single[0].name == "pre-miRNA" and single[0].bins == {}
    assert single[1].name == "pre-miRNA, stem_length=low" and single[1].bins == {"stem_length": 0}
    chosen = parse_conditions([{"label": 0, "gc": "high"}, {"loop_size": 1}], checkpoint)
    assert [c.label for c in chosen] == [0, None] and chosen[1].name == "any class, loop_size=mid"
    with pytest.raises(ValueError, match="not conditions"):
        parse_conditions([{"label": 1, "colour": "red"}], checkpoint)
    with pytest.raises(ValueError, match="is not one of"):
        parse_conditions([{"gc": "huge"}], checkpoint)

    table = read_folded(trained["folded"])
    reference = binned_reference(table, checkpoint)
    rng = np.random.default_rng(0)
    rows = condition_rows(single[1], 50, checkpoint, reference, rng)
    assert (rows[:, 0] == 1).all() and (rows[:, 1] == 0).all()
    pool = reference[(reference["label"] == 1) & (reference["bin_stem_length"] == 0)]
    for k, attribute in enumerate(checkpoint["attributes"][1:], start=2):
        assert set(rows[:, k]) <= set(pool[f"bin_{attribute}"])
    open_rows = condition_rows(single[1], 5, checkpoint, None, rng)
    assert (open_rows[:, 2:] == 3).all()

    # the reference molecule behind each row is reported, and its bins are the row's
    sources: list[str] = []
    rows = condition_rows(single[1], 20, checkpoint, reference, rng, sources)
    assert len(sources) == 20 and set(sources) <= set(pool["id"])
    by_id = reference.set_index("id")
    for row, name in zip(rows, sources, strict=True):
        for k, attribute in enumerate(checkpoint["attributes"], start=1):
            assert row[k] == by_id.at[name, f"bin_{attribute}"]
    condition_rows(single[1], 3, checkpoint, None, rng, sources)
    assert sources[-3:] == ["", "", ""]


def test_latents_from_the_aggregate_posterior(trained: dict[str, Path], tmp_path: Path) -> None:
    model, checkpoint = load_cvae(trained["model"])
    table = read_folded(trained["folded"])
    reference = binned_reference(table, checkpoint)
    images = [trained[s] for s in ("train", "val", "test")]
    posterior = training_posteriors(model, checkpoint, reference, images, table)
    assert set(posterior) == set(reference["id"])
    name = reference["id"].iloc[0]
    mu, sd = posterior[name]
    assert mu.shape == sd.shape == (model.config.latent_dim,) and (sd > 0).all()
    noise = np.random.default_rng(1).standard_normal((2, model.config.latent_dim))
    z = posterior_latents(posterior, [name, ""], noise)
    np.testing.assert_allclose(z[0], mu + sd * noise[0], rtol=1e-6)
    np.testing.assert_allclose(z[1], noise[1], rtol=1e-6)  # no source: a prior draw

    outputs = {n: tmp_path / n for n in OUTPUT_NAMES}
    config = {"n_per_condition": 2, "around": 0, "traversal_steps": 2, "traversal_samples": 1,
              "latent": "posterior", "seed": 5, "detector_gate": 0, "attribute_matching": 0}
    generate(trained["model"], trained["folded"], images, outputs, config)
    with np.load(outputs["npz"]) as data:
        z_posterior = data["z"]
    assert set(pd.read_csv(outputs["table"], sep="\t")["set"]) == {"posterior"}
    generate(trained["model"], trained["folded"], images, outputs, {**config, "latent": "prior"})
    with np.load(outputs["npz"]) as data:
        assert not np.allclose(data["z"], z_posterior)
    with pytest.raises(ValueError, match="'prior' or 'posterior'"):
        generate(trained["model"], trained["folded"], images, outputs,
                   {**config, "latent": "flow"})


def test_traversals_over_the_span_of_the_data(trained: dict[str, Path], tmp_path: Path) -> None:
    model, checkpoint = load_cvae(trained["model"])
    table = read_folded(trained["folded"])
    images = [trained[s] for s in ("train", "val", "test")]
    posterior = training_posteriors(model, checkpoint, binned_reference(table, checkpoint),
                                    images, table)
    spans = data_spans(posterior, table)
    means = np.array([mu for name, (mu, _) in posterior.items() if table.loc[name, "label"] == 1])
    assert spans.shape == (model.config.latent_dim, 2)
    # inside the pre-miRNAs' own range on every axis, not a fixed +-3 SD
    assert (spans[:, 0] >= means.min(0)).all() and (spans[:, 1] <= means.max(0)).all()
    assert (spans[:, 0] < spans[:, 1]).all()
    with pytest.raises(ValueError, match="no training pre-miRNA"):
        data_spans({}, table)
    # what the stage and the benchmarks ask for: the same spans from the images alone (only the
    # training split is needed), none for the prior's span
    span_config = GenerateConfig.from_dict({"traversal_span": "data"})
    np.testing.assert_allclose(traversal_spans(model, checkpoint, span_config, [trained["train"]],
                                               table), spans, rtol=1e-5)
    assert traversal_spans(model, checkpoint, GenerateConfig(), images, table) is None

    outputs = {n: tmp_path / n for n in OUTPUT_NAMES}
    config = {"n_per_condition": 1, "around": 0, "traversal_steps": 3, "traversal_samples": 2,
              "traversal_span": "data", "seed": 5, "detector_gate": 0, "attribute_matching": 0}
    generate(trained["model"], trained["folded"], images, outputs, config)
    traversals = pd.read_csv(outputs["traversals"], sep="\t")
    assert traversals["id"].is_unique
    for d, part in traversals.groupby("dimension"):
        ends = part.groupby("step")["value"].first()
        np.testing.assert_allclose([ends.iloc[0], ends.iloc[-1]], spans[d], rtol=1e-5)
    assert list(traversals.groupby("step").size()) == [2 * model.config.latent_dim] * 3
    with pytest.raises(ValueError, match="'prior' or 'data'"):
        generate(trained["model"], trained["folded"], images, outputs,
                 {**config, "traversal_span": "wide"})


def test_generate_stage(trained: dict[str, Path], tmp_path: Path) -> None:
    outputs = {name: tmp_path / name for name in OUTPUT_NAMES}
    around = pd.read_csv(trained["folded"], sep="\t").query("label == 1")["id"].head(2).tolist()
    config = {"n_per_condition": 3, "around": around, "n_around": 2,
              "traversal_steps": 3, "traversal_samples": 2, "guidance": 2.0, "seed": 3,
              "detector_gate": 0, "attribute_matching": 0}
    images = [trained[s] for s in ("train", "val", "test")]
    counts = generate(trained["model"], trained["folded"], images, outputs, config)
    table = pd.read_csv(outputs["table"], sep="\t")
    assert counts["generated"] == len(table) == 13 * 3 + 2 * 2
    assert table["id"].is_unique
    assert set(table["set"]) == {"posterior", "around"}  # the default `latent`
    assert {"condition", "sequence", "structure", "want_gc", "cond_gc", "source_id"} <= set(table)
    with np.load(outputs["npz"]) as data:
        assert data["images"].shape == (len(table), 25, 100, 3)
        assert list(data["ids"]) == table["id"].tolist()
        sequences, structures = decode_many(data["images"])
    assert sequences == table["sequence"].tolist() and structures == table["structure"].tolist()
    # the repair walk changes unpaired nucleotides only, and says how many
    for row in table.itertuples():
        diff = [i for i, (a, b) in enumerate(zip(row.raw_sequence, row.sequence, strict=True))
                if a != b]
        assert len(diff) == row.refined_nt
        assert all(row.structure[i] == "." for i in diff)
    # molecules of a requested bin were redrawn until their drawing fell in it (or kept their
    # first draw after resample_rounds); unrequested conditions are redrawn for length alone
    checkpoint = torch.load(trained["model"], map_location="cpu", weights_only=True)
    low, high = checkpoint["lengths"].get(1, checkpoint["lengths"].get("1"))
    requested = table[table["set"] == "posterior"]
    assert len(requested) == 13 * 3
    asked = requested["condition"] != "pre-miRNA"
    assert requested.loc[~asked, ["first_draw_in_bin", "drawn_in_bin"]].isna().all().all()
    fits = requested["length"].between(low, high)
    assert (requested.loc[~asked & ~fits, "draws"] == 11).all()
    assert fits[~asked & (requested["draws"] < 11)].all()
    assert fits[asked & (requested["drawn_in_bin"] == 1)].all()
    assert (requested.loc[asked & (requested["draws"] == 1), "first_draw_in_bin"] == 1).all()
    assert (requested.loc[asked & (requested["draws"] == 1), "drawn_in_bin"] == 1).all()
    assert (requested.loc[asked & (requested["drawn_in_bin"] == 0), "draws"] == 11).all()
    for attribute, edges in checkpoint["bins"].items():
        rows = requested[requested[f"want_{attribute}"] >= 0]
        drawn = drawn_attributes(rows["raw_sequence"], rows["structure"], [attribute])
        reached = assign_bins(drawn[attribute].to_numpy(), edges) == rows[f"want_{attribute}"]
        kept = reached.to_numpy() & fits[rows.index].to_numpy()
        assert (kept == rows["drawn_in_bin"].astype(bool).to_numpy()).all()
    raw = tmp_path / "raw"
    raw.mkdir()
    generate(trained["model"], trained["folded"], images,
               {name: raw / name for name in OUTPUT_NAMES}, {**config, "refine_steps": 0})
    unrefined = pd.read_csv(raw / "table", sep="\t")
    assert (unrefined["refined_nt"] == 0).all()
    assert unrefined["sequence"].tolist() == table["raw_sequence"].tolist()
    # Guidance of the requested bins leaves the plain pre-miRNA condition (no bin requested)
    # as it was, draw for draw, and changes the molecules of the binned conditions.
    pushed = tmp_path / "pushed"
    pushed.mkdir()
    generate(trained["model"], trained["folded"], images,
             {name: pushed / name for name in OUTPUT_NAMES}, {**config, "requested_guidance": 4.0})
    guided = pd.read_csv(pushed / "table", sep="\t").set_index("id")
    same = table.set_index("id").loc[guided.index, "raw_sequence"] == guided["raw_sequence"]
    plain = (guided["condition"] == "pre-miRNA").to_numpy()
    assert same[plain].all() and not same[~plain & (guided["set"] == "posterior")].all()
    assert outputs["fasta"].read_text().count(">") == len(table)
    traversal = pd.read_csv(outputs["traversals"], sep="\t")
    assert len(traversal) == 4 * 3 * 2  # latent dimensions x steps x samples
    assert sorted(traversal["value"].unique()) == [-3.0, 0.0, 3.0]
    assert {"dimension", "value", "mfe_per_nt", "stem_length", "loop_size"} <= set(traversal)
    again = tmp_path / "again"
    again.mkdir()
    generate(trained["model"], trained["folded"], images,
               {name: again / name for name in OUTPUT_NAMES}, config)
    assert (again / "table").read_text() == outputs["table"].read_text()
    table = read_folded(trained["folded"])
    first_test = sorted(table.query("split == 'test' and label == 1")["id"])[:2]
    assert around_molecules(2, table) == first_test
    assert around_molecules(["x"], table) == ["x"]
    with pytest.raises(Exception, match="not encoded"):
        generate(trained["model"], trained["folded"], images, outputs,
                   {**config, "around": ["hsa-mir-nonexistent"]})


def test_the_gate_and_attribute_matching_in_the_stage(
    trained: dict[str, Path], tiny_cnn: Path, tmp_path: Path
) -> None:
    """With train_cnn's model as the gate: every pre-miRNA kept before its last round passes
    the gate on its drawn image; the run is seeded; without the model the stage says what is
    missing."""
    from premirna.classifier.predict import load_scorer

    gate = load_scorer(tiny_cnn)
    # the two-epoch CVAE draws molecules shorter than its training range, which would take every
    # round: a copy without that range
    checkpoint = torch.load(trained["model"], map_location="cpu", weights_only=True)
    checkpoint["lengths"] = {}
    model = tmp_path / "model.pt"
    torch.save(checkpoint, model)
    config = {"n_per_condition": 4, "around": 0, "traversal_steps": 2, "traversal_samples": 1,
              "seed": 5, "detector_gate": 0.5, "attribute_matching": 0.8}
    images = [trained[s] for s in ("train", "val", "test")]
    outputs = {name: tmp_path / name for name in OUTPUT_NAMES}
    generate(model, trained["folded"], images, outputs, config, gate=gate)
    table = pd.read_csv(outputs["table"], sep="\t")
    drawn, _ = encode_many(table["raw_sequence"].tolist(), table["structure"].tolist())
    passed = gate(drawn) >= 0.5
    early = (table["draws"] < 11).to_numpy()
    assert early.any() and passed[early].all()
    assert (table["draws"] > 1).any()  # the gate and the matching redrew some
    again = tmp_path / "again"
    again.mkdir()
    generate(model, trained["folded"], images, {name: again / name for name in OUTPUT_NAMES},
             config, gate=gate)
    assert (again / "table").read_text() == outputs["table"].read_text()
    with pytest.raises(ValueError, match="needs train_cnn's model"):
        generate(trained["model"], trained["folded"], images, outputs, config)


def test_drawn_attributes_are_those_of_the_drawing() -> None:
    import RNA

    sequence = "GGGCGCAAGCCUCGCAAAAGCGAGGCUUGCGCCC"
    structure, mfe = RNA.fold(sequence)
    values = drawn_attributes([sequence, sequence], [structure, "." * len(sequence)],
                                ["gc", "stem_length", "loop_size", "mfe_per_nt"])
    assert values.loc[0, "mfe_per_nt"] == pytest.approx(mfe / len(sequence), abs=1e-4)
    assert values.loc[0, "stem_length"] == structure.count("(")
    assert values.loc[0, "loop_size"] == 4
    assert values.loc[0, "gc"] == pytest.approx(sum(b in "GC" for b in sequence) / len(sequence))
    assert values.loc[1, "mfe_per_nt"] == 0 and values.loc[1, "stem_length"] == 0


def test_match_request_redraws_misses_and_keeps_first_draws() -> None:
    """Drawn GC of round 0 is high, round 1 gives mid for half the redrawn rows, later rounds
    low: the mid ones replace misses, the others keep their first draw."""
    high, mid, low = "GGGCAACCC", "GAGAAACUC", "AAAAAAUUU"

    def hairpins(sequences: list[str]) -> Decoded:
        n = len(sequences)
        return Decoded(np.arange(n)[:, None].repeat(100, 1), np.zeros((n, 25, 100, 3), np.uint8),
                         list(sequences), ["(((...)))"] * n)

    calls = []

    def draw(m: int, round_: int):
        calls.append((m, round_))
        if round_ == 0:
            sequences = [high] * m
        elif round_ == 1:
            sequences = [mid if i % 2 == 0 else low for i in range(m)]
        else:
            sequences = [low] * m
        return hairpins(sequences), np.full((m, 2), round_), np.full((m, 3), float(round_))

    checkpoint = {"bins": {"gc": [0.4, 0.6]}}
    wanted = Condition("pre-miRNA, gc=mid", 1, {"gc": 1})
    matched = match_request(draw, wanted, 4, 3, checkpoint)
    assert calls == [(4, 0), (4, 1), (2, 2), (2, 3)]
    assert matched.decoded.sequences == [mid, high, mid, high]
    assert matched.hit.tolist() == [True, False, True, False]
    assert not matched.first_hit.any()
    assert matched.draws.tolist() == [2, 4, 2, 4]
    assert matched.conditions[:, 0].tolist() == [1, 0, 1, 0]
    assert matched.z[:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]
    # no redraw when nothing is requested, or with 0 rounds
    calls.clear()
    assert match_request(draw, Condition("pre-miRNA", 1, {}), 3, 3, checkpoint).draws.sum() == 3
    assert match_request(draw, wanted, 3, 0, checkpoint).draws.tolist() == [1, 1, 1]
    assert calls == [(3, 0), (3, 0)]


def test_a_misspelt_setting_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown generate settings: \['guidence'\]"):
        GenerateConfig.from_dict({"guidance": 2.0, "guidence": 2.0})
    assert GenerateConfig.from_dict({"latent": "posterior"}).latent == "posterior"


def test_molecules_outside_the_training_lengths_are_redrawn() -> None:
    """A checkpoint's per-class length range (1st-99th percentiles of its training molecules):
    a 9-nt first draw is redrawn, even with no bin requested; the bin control of the first draw
    is still the decoder's own."""
    short, long = "GGGAAACCC", "GGGGGAAAAAAAACCCCC"

    def draw(m: int, round_: int):
        sequences = [short if round_ == 0 else long] * m
        structures = ["(((...)))" if s == short else "(((((........)))))" for s in sequences]
        decoded = Decoded(np.zeros((m, 100), np.int64), np.zeros((m, 25, 100, 3), np.uint8),
                          sequences, structures)
        return decoded, np.zeros((m, 2), np.int64), np.zeros((m, 3))

    checkpoint = {"bins": {"gc": [0.4, 0.6]}, "lengths": {1: [12.0, 30.0], 0: [5.0, 10.0]}}
    matched = match_request(draw, Condition("pre-miRNA", 1, {}), 3, 2, checkpoint)
    assert matched.decoded.sequences == [long] * 3 and matched.draws.tolist() == [2, 2, 2]
    negatives = match_request(draw, Condition("not", 0, {}), 3, 2, checkpoint)
    assert negatives.decoded.sequences == [short] * 3 and negatives.draws.tolist() == [1, 1, 1]
    old = match_request(draw, Condition("pre-miRNA", 1, {}), 3, 2, {"bins": {}})
    assert old.draws.tolist() == [1, 1, 1]  # a checkpoint without lengths: no length redraws

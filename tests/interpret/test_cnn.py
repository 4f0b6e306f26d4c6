"""Attributions, the sanity check, method agreement and the mapping of pixels to hairpin regions.

A small classifier is trained here, in a few seconds, on real hairpin images: the authors' own
encoder output for human miRBase hairpins and CDS pseudo-hairpins
(tests/fixtures/cordero_encoding_oracle, drawn from the ViennaRNA structures). Region mapping is
checked on a hand-made hairpin whose columns, mature miRNAs and cut sites are known by
construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DATA, REPO

from premirna.classifier.network import CNNConfig, build_model
from premirna.interpret.attribution import (
    CONTROL,
    METHODS,
    InterpretConfig,
    attribute,
    baseline_image,
)
from premirna.interpret.cnn import OUTPUT_KEYS, interpret_cnn
from premirna.interpret.regions import (
    REGIONS,
    ColumnMap,
    MatureSites,
    column_map,
    cut_windows,
    infer_other_arm,
    mature_sites,
    pixel_positions,
    position_attribution,
    position_regions,
    proxy_sites,
    region_sums,
    typical_columns,
)
from premirna.interpret.sanity import (
    method_agreement,
    randomised_copy,
    rowwise_spearman,
    sanity_check,
)
from premirna.interpret.tables import (
    load_reference_map,
    outcomes,
    reference_comparison,
    select_molecules,
)
from premirna.rna.structure import pair_table
from premirna.training.checkpoints import save_checkpoint
from premirna.training.tensors import images_to_tensor

ORACLE = DATA / "cordero_encoding_oracle" / "oracle.npz"
REFERENCE = REPO / "resources" / "cordero_deepmir2019" / "hsapseudo_tp_avg_map.npz"
FAST = InterpretConfig(
    smoothgrad_samples=4,
    ig_steps=8,
    gradient_shap_samples=4,
    occlusion_window=[13, 10],
    occlusion_stride=[12, 10],
    sanity_molecules=16,
    batch_size=16,
)


@pytest.fixture(scope="module")
def oracle() -> dict[str, np.ndarray]:
    """Human miRBase hairpins (label 1) and CDS pseudo-hairpins (label 0) drawn by the authors'
    encoder from their ViennaRNA 2.7 structures."""
    with np.load(ORACLE) as data:
        keep = (data["status_vienna_2_7"] == "ok") & np.isin(
            data["kinds"], ["mirbase_hsa", "coding_negative"]
        )
        return {
            "ids": data["ids"][keep],
            "sequences": data["sequences"][keep],
            "structures": data["structures_vienna_2_7"][keep],
            "images": data["images_vienna_2_7"][keep],
            "labels": (data["kinds"][keep] == "mirbase_hsa").astype(np.int64),
        }


@pytest.fixture(scope="module")
def trained(oracle) -> tuple[torch.nn.Module, np.ndarray]:
    """A small `hairpin` CNN trained for a few epochs on 600 images; returns it and the indices of
    50 + 50 held-out molecules (it gets about three in four right).

    One thread, so the weights do not depend on how a busy machine splits the work; the check
    is only that it learnt something (chance is 0.5, it gets 0.72 here), with a wide margin."""
    torch.set_num_threads(1)
    labels = oracle["labels"]
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    train = np.concatenate([pos[:300], neg[:300]])
    held_out = np.concatenate([pos[400:450], neg[400:450]])
    x = images_to_tensor(oracle["images"][train])
    y = torch.from_numpy(labels[train])
    torch.manual_seed(7)
    model = build_model(CNNConfig(channels=[16, 24], dense_units=32, pooled_columns=4,
                                  conv_dropout=0.0))
    optimiser = torch.optim.Adam(model.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(7)
    for _ in range(4):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        for first in range(0, len(y), 50):
            batch = order[first : first + 50]
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    # Exact batch-norm statistics over the training images (few steps leave the running
    # averages far from them).
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        model(x)
    model.eval()
    with torch.no_grad():
        predicted = model(images_to_tensor(oracle["images"][held_out])).argmax(1).numpy()
    assert (predicted == labels[held_out]).mean() > 0.6
    torch.set_num_threads(2)
    return model, held_out


def test_every_method_gives_finite_maps_of_the_input_shape(oracle, trained):
    model, held_out = trained
    inputs = images_to_tensor(oracle["images"][held_out[::10]])
    targets = torch.from_numpy(oracle["labels"][held_out[::10]])
    for method in METHODS:
        result, delta = attribute(method, model, inputs, targets, baseline_image("white"), FAST)
        assert result.shape == inputs.shape, method
        assert torch.isfinite(result).all(), method
        assert result.abs().sum() > 0, method
        if method in ("integrated_gradients", "gradient_shap"):
            assert delta is not None and delta.shape == (len(inputs),)


def test_random_methods_repeat_exactly_whatever_the_global_random_state(oracle, trained):
    """SmoothGrad and GradientSHAP draw noise (captum uses torch's and NumPy's global
    generators); the same config must give the same maps on every run."""
    model, held_out = trained
    inputs = images_to_tensor(oracle["images"][held_out[:4]])
    targets = torch.from_numpy(oracle["labels"][held_out[:4]])
    for method in ("smoothgrad", "gradient_shap"):
        np.random.seed(1)
        torch.manual_seed(1)
        first, _ = attribute(method, model, inputs, targets, baseline_image("white"), FAST)
        np.random.seed(2)
        torch.manual_seed(2)
        again, _ = attribute(method, model, inputs, targets, baseline_image("white"), FAST)
        assert torch.equal(first, again), method


def test_grad_cam_map_is_spread_over_the_three_channels(oracle, trained):
    model, held_out = trained
    inputs = images_to_tensor(oracle["images"][held_out[:4]])
    result, _ = attribute("grad_cam", model, inputs, torch.ones(4, dtype=torch.int64),
                          baseline_image("white"), FAST)
    assert torch.allclose(result[:, 0], result[:, 1]) and torch.allclose(result[:, 0], result[:, 2])
    assert (result >= 0).all()  # ReLU'd, as in Selvaraju et al.


def test_randomised_copy_changes_every_weight_and_leaves_the_model_alone(trained):
    model, _ = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clone = randomised_copy(model, seed=1)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])  # the trained model is untouched
    for name, param in clone.named_parameters():
        if param.numel() > 8:  # weights and biases of real size (not a 1-element scale)
            assert not torch.equal(param, dict(model.named_parameters())[name]), name


def test_sanity_check_passes_gradients_and_flags_a_map_that_ignores_the_weights(oracle, trained):
    model, held_out = trained
    rows = held_out[::6]
    inputs = images_to_tensor(oracle["images"][rows])
    targets = torch.from_numpy(oracle["labels"][rows])

    def rigged(method, net, batch, target, baseline, config):
        if method == "rigged_input":  # an "attribution" that is the input, whatever the weights
            return batch.clone(), None
        if method == "rigged_constant_model":  # same map for any model: a fixed random pattern
            generator = torch.Generator().manual_seed(3)
            return torch.rand(batch.shape, generator=generator), None
        return attribute(method, net, batch, target, baseline, config)

    table, per_molecule = sanity_check(
        model, inputs, targets, ["smoothgrad", "guided_backprop", "rigged_input",
                                 "rigged_constant_model", CONTROL],
        FAST, attribute_fn=rigged,
    )
    verdict = table.set_index("method")
    # Gradients of a trained network change when its weights are randomised.
    for method in ("smoothgrad", "guided_backprop"):
        assert verdict.loc[method, "spearman_median"] < 0.5, method
        assert verdict.loc[method, "verdict"] == "passes"
    for method in ("rigged_input", "rigged_constant_model", CONTROL):
        assert verdict.loc[method, "spearman_median"] > 0.99, method
        assert verdict.loc[method, "verdict"].startswith("FAILS"), method
    assert (per_molecule["method"] == "smoothgrad").sum() == len(rows)
    assert per_molecule["spearman_drawn"].between(-1, 1).all()


def test_rowwise_spearman_matches_scipy_and_calls_a_constant_map_changed():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 50)), rng.normal(size=(3, 50))
    b[1] = a[1] * 2 + 1
    rho = rowwise_spearman(a, b)
    for k in range(3):
        assert rho[k] == pytest.approx(spearmanr(a[k], b[k])[0])
    assert rho[1] == pytest.approx(1.0)
    assert rowwise_spearman(a[:1], np.zeros((1, 50)))[0] == 0.0


def test_method_agreement_is_a_symmetric_matrix_with_unit_diagonal():
    rng = np.random.default_rng(1)
    first = rng.random((5, 25, 100))
    maps = {"a": first, "b": first * 3, "c": rng.random((5, 25, 100))}
    table = method_agreement(maps)
    assert np.allclose(table.to_numpy(), table.to_numpy().T)
    assert np.allclose(np.diag(table.to_numpy()), 1)
    assert table.loc["a", "b"] == pytest.approx(1.0)
    assert abs(table.loc["a", "c"]) < 0.1


# ---- a hand-made hairpin: 2-nt tails, an 18-bp perfect stem, a 6-nt loop -------------------
#   positions  0-1 tail | 2-19 5' arm | 20-25 loop | 26-43 3' arm | 44-45 tail  (0-based)
#   miRBase-style 5p miRNA at 4..15 (1-based) = 3..14; its 3p partner is inferred.
STEM = "GCAUGCAUGCAUGCAUGC"
COMPLEMENT = {"A": "U", "U": "A", "G": "C", "C": "G"}
SEQUENCE = "GA" + STEM + "GAAAUA" + "".join(COMPLEMENT[b] for b in reversed(STEM)) + "UC"
STRUCTURE = ".." + "(" * 18 + "." * 6 + ")" * 18 + ".."


def hand_made_columns() -> ColumnMap:
    """The columns as the image lays them out: the loop from column 0 (5' half reversed), then
    the closing pair and the stem outwards, then the tails."""
    top = [25 - c for c in range(6)] + list(range(19, 1, -1)) + [1, 0]
    bottom = [20 + c for c in range(6)] + list(range(26, 44)) + [44, 45]
    return ColumnMap(np.array(top), np.array(bottom))


def test_the_other_arm_is_inferred_with_two_nucleotide_overhangs():
    table = pair_table(STRUCTURE)
    assert table[3] == 42 and table[14] == 31
    assert infer_other_arm(table, 3, 14) == (33, 44)
    sites = mature_sites(STRUCTURE, (4, 15), None)
    assert sites.five_p == (3, 14) and sites.three_p == (33, 44)
    assert (sites.source_5p, sites.source_3p) == ("mirbase", "inferred")
    assert mature_sites(STRUCTURE, (float("nan"), float("nan")), None) is None


def test_position_regions_of_the_hand_made_hairpin():
    regions = position_regions(STRUCTURE, mature_sites(STRUCTURE, (4, 15), None))
    names = [REGIONS[k] for k in regions]
    expected = (
        ["tails"] * 2
        + ["basal_stem"]
        + ["mature_5p"] * 12
        + ["upper_stem"] * 5
        + ["terminal_loop"] * 6
        + ["upper_stem"] * 7
        + ["mature_3p"] * 12
        + ["tails"]
    )
    assert names == expected


@pytest.mark.parametrize(
    ("row", "column", "region"),
    [
        (5, 2, "terminal_loop"),  # 5' half of a loop column
        (20, 2, "terminal_loop"),  # 3' half of the same column
        (12, 14, "mature_5p"),  # axis pixel of position 11 (0-based)
        (0, 14, "mature_5p"),  # white pixel above its bar: still that nucleotide's half-column
        (20, 14, "mature_3p"),  # position 34 on the 3' arm
        (3, 10, "upper_stem"),  # position 15
        (18, 10, "upper_stem"),  # position 30
        (8, 23, "basal_stem"),  # position 2
        (8, 25, "tails"),  # position 0
        (20, 25, "tails"),  # position 45
        (12, 60, "beyond_hairpin"),  # past the drawing
    ],
)
def test_a_single_hot_pixel_lands_in_its_region(row, column, region):
    owners = pixel_positions(hand_made_columns())
    regions = position_regions(STRUCTURE, mature_sites(STRUCTURE, (4, 15), None))
    pixel_map = np.zeros((25, 100))
    pixel_map[row, column] = 2.5
    sums = region_sums(pixel_map, owners, regions)
    assert sums[region] == pytest.approx(2.5)
    assert sum(sums.values()) == pytest.approx(2.5)


def test_region_sums_add_up_to_the_total_attribution():
    owners = pixel_positions(hand_made_columns())
    regions = position_regions(STRUCTURE, mature_sites(STRUCTURE, (4, 15), None))
    pixel_map = np.random.default_rng(2).random((25, 100))
    sums = region_sums(pixel_map, owners, regions)
    assert set(sums) == set(REGIONS)
    assert sum(sums.values()) == pytest.approx(pixel_map.sum())
    per_position = position_attribution(pixel_map, owners, len(SEQUENCE))
    assert per_position.sum() + sums["beyond_hairpin"] == pytest.approx(pixel_map.sum())


def test_a_gap_stub_belongs_to_the_bulged_nucleotide_opposite():
    columns = ColumnMap(np.array([3, -1, 1, 0]), np.array([4, 5, 6, 7]))
    owners = pixel_positions(columns)
    assert (owners[:13, 1] == 5).all() and (owners[13:, 1] == 5).all()
    assert (owners[:, 4:] == -1).all()


def test_pixels_of_real_images_belong_to_the_nucleotide_drawn_there(oracle):
    """Through the encoder's own columns: the axis pixel of each half-column (rows 12 and 13) has
    the colour of the nucleotide `pixel_positions` assigns it (black for a gap stub), and random
    maps split over regions without losing any mass."""
    colours = {"A": (255, 255, 0), "C": (0, 0, 255), "G": (255, 0, 0), "U": (0, 255, 0)}
    rng = np.random.default_rng(4)
    for k in range(0, len(oracle["ids"]), 97):
        sequence, structure = oracle["sequences"][k], oracle["structures"][k]
        columns = column_map(sequence, structure)
        owners = pixel_positions(columns)
        image = oracle["images"][k]
        for column in range(len(columns.top)):
            for row, own in ((12, columns.top[column]), (13, columns.bottom[column])):
                drawn = tuple(int(v) for v in image[row, column])
                if own >= 0:
                    assert owners[row, column] == own
                    assert drawn == colours[sequence[own].upper().replace("T", "U")], (k, column)
                elif owners[row, column] >= 0:  # a gap stub opposite a bulged nucleotide
                    assert drawn == (0, 0, 0)
        regions = position_regions(structure, mature_sites(structure, (5, 25), None))
        pixel_map = rng.random((25, 100))
        assert sum(region_sums(pixel_map, owners, regions).values()) == pytest.approx(
            pixel_map.sum())


def test_cut_site_windows():
    sites = MatureSites((3, 14), (33, 44))
    windows = cut_windows(sites, len(SEQUENCE), 2)
    assert np.flatnonzero(windows["drosha_5p"]).tolist() == [1, 2, 3, 4]
    assert np.flatnonzero(windows["dicer_5p"]).tolist() == [13, 14, 15, 16]
    assert np.flatnonzero(windows["dicer_3p"]).tolist() == [31, 32, 33, 34]
    assert np.flatnonzero(windows["drosha_3p"]).tolist() == [43, 44, 45]
    assert not any(m.any() for m in cut_windows(None, 10, 2).values())


def test_proxy_sites_take_the_typical_columns_of_annotated_hairpins():
    columns = hand_made_columns()
    annotated = mature_sites(STRUCTURE, (4, 15), (34, 45))
    spans = typical_columns([columns, columns], [annotated, None])
    # 5p 3..14 sits in columns 11..22 of the 5' half; 3p 33..44 in columns 13..24 of the 3' half.
    assert spans == {"5p": (11, 22), "3p": (13, 24)}
    proxy = proxy_sites(columns, spans)
    assert proxy.five_p == (3, 14) and proxy.three_p == (33, 44)
    assert proxy.source == "proxy"


def test_select_molecules_is_balanced_seeded_and_fills_from_other_outcomes():
    outcome = np.array(["TP"] * 40 + ["TN"] * 40 + ["FP"] * 3 + ["FN"] * 1)
    chosen = select_molecules(outcome, 20, seed=5)
    counts = pd.Series(outcome[chosen]).value_counts()
    assert len(chosen) == 20 and len(set(chosen)) == 20
    assert counts["FP"] == 3 and counts["FN"] == 1 and counts["TP"] + counts["TN"] == 16
    assert abs(counts["TP"] - counts["TN"]) <= 1
    assert np.array_equal(chosen, select_molecules(outcome, 20, seed=5))
    assert outcomes(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])).tolist() == [
        "TP", "FN", "FP", "TN"]


def test_reference_comparison_reproduces_the_authors_share():
    reference = load_reference_map(REFERENCE)
    table = reference_comparison({"same": reference, "flat": np.ones((25, 100))}, reference, "TP")
    rows = table.set_index("map")
    assert rows.loc["same", "pearson"] == pytest.approx(1.0)
    # SCIENCE.md section 4: 76 % of the mass in columns 10-39, 48 % on rows 11-14.
    assert rows.loc["same", "share_columns_10_39"] == pytest.approx(0.756, abs=0.001)
    assert rows.loc["same", "share_rows_11_14"] == pytest.approx(0.478, abs=0.001)
    assert rows.loc["flat", "share_columns_10_39"] == pytest.approx(0.30)
    assert np.isnan(rows.loc["flat", "pearson"])


def test_interpret_cnn_writes_every_output(tmp_path, oracle, trained):
    """The stage end to end on real molecules: a checkpoint, a test npz and a fold table with
    miRBase mature positions."""
    from premirna.data.mirbase import read_mirna_dat

    model, held_out = trained
    rows = held_out[::4]
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(
        {"model": model.state_dict(),
         "model_args": CNNConfig(channels=[16, 24], dense_units=32, pooled_columns=4,
                                 conv_dropout=0.0).to_dict()},
        checkpoint,
    )
    images = tmp_path / "test.npz"
    np.savez_compressed(images, ids=oracle["ids"][rows], images=oracle["images"][rows],
                        labels=oracle["labels"][rows].astype(np.int8),
                        encodable=np.ones(len(rows), bool))
    _, matures = read_mirna_dat(REPO / "resources" / "mirbase_v22" / "miRNA.dat.gz", ["hsa"])
    arms = {(m.hairpin_id, m.arm): (m.start, m.end) for m in matures}
    folded = pd.DataFrame(
        {
            "id": oracle["ids"][rows],
            "sequence": oracle["sequences"][rows],
            "structure": oracle["structures"][rows],
            "label": oracle["labels"][rows],
            **{
                f"mature_{arm}_{end}": [arms.get((i, arm), (None, None))[k]
                                        for i in oracle["ids"][rows]]
                for arm in ("5p", "3p")
                for k, end in enumerate(("start", "end"))
            },
        }
    )
    folded_path = tmp_path / "folded.tsv"
    folded.to_csv(folded_path, sep="\t", index=False)
    outputs = {
        key: tmp_path / "out" / (key + (".png" if key.endswith("figure") else
                                        ".npz" if key == "attributions" else ".tsv"))
        for key in OUTPUT_KEYS
    }
    config = {**FAST.to_dict(), "n_molecules": 12, "sanity_molecules": 8}
    summary = interpret_cnn(checkpoint, images, folded_path, REFERENCE, outputs, config)
    for path in outputs.values():
        assert path.stat().st_size > 0, path
    assert summary["n_molecules"] == 12

    with np.load(outputs["attributions"]) as data:
        assert data["maps"].shape == (12, len(METHODS), 25, 100)
        assert np.isfinite(data["maps"]).all()
    molecules = pd.read_csv(outputs["molecules"], sep="\t")
    assert len(molecules) == 12 and set(molecules["outcome"]) <= {"TP", "TN", "FP", "FN"}
    assert (molecules.loc[molecules["label"] == 1, "annotation"] != "proxy").any()
    for method in METHODS:
        shares = molecules[[f"{method}:{r}" for r in REGIONS]].sum(axis=1)
        assert np.allclose(shares, 1.0), method
    sanity = pd.read_csv(outputs["sanity"], sep="\t").set_index("method")
    assert set(sanity.index) == {*METHODS, CONTROL}
    assert sanity.loc[CONTROL, "verdict"].startswith("FAILS")
    agreement = pd.read_csv(outputs["agreement"], sep="\t", index_col="method")
    assert np.allclose(np.diag(agreement.to_numpy()), 1.0)
    regions = pd.read_csv(outputs["regions"], sep="\t")
    partition = regions[(regions["kind"] == "region") & (regions["group"] == "pre-miRNA")]
    for _, part in partition.groupby("method"):
        assert part["share_mean"].sum() == pytest.approx(1.0)
    reference = pd.read_csv(outputs["reference"], sep="\t")
    assert reference["share_columns_10_39"].between(0, 1).all()

    # The statistics cover every test molecule (25 here), not the 12 explained above.
    from premirna.interpret.statistics import AREAS

    statistics = pd.read_csv(outputs["statistics"], sep="\t")
    assert len(statistics) == len(METHODS) * len(AREAS)
    assert (statistics["n_pre"] + statistics["n_neg"]).max() == len(rows)
    assert statistics["verdict"].notna().all()
    assert statistics[["q_shift_pre", "q_class"]].dropna().le(1).all().all()
    assert statistics[["share_pre", "share_neg"]].stack().between(0, 1).all()
    assert (statistics["share_pre_low"] <= statistics["share_pre"]).all()

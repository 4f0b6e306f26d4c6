"""premirna.classifier.feature_model: the boosted trees beside the CNN, and their columns in
classify.

The trees are fitted on real molecules: the 48 human miRBase 22 hairpins and 30 CODING
pseudo-hairpins of tests/fixtures/mirbase, folded by ViennaRNA; the homology reference is the same
slice's 11 hairpins of other species. Few shuffles keep it fast; the tests check behaviour
(reference, determinism, errors, columns), not accuracy (benchmarks/README.md measures that).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from premirna.classifier.classify import OUTPUT_COLUMNS, classify_fasta
from premirna.classifier.config import TrainConfig
from premirna.classifier.evaluate import evaluate_cnn
from premirna.classifier.feature_model import (
    COLUMNS,
    FEATURES,
    FeatureSettings,
    load_feature_model,
    molecule_features,
    reference_hairpins,
    score_features,
    train_feature_model,
)
from premirna.classifier.features import reference_kmers
from premirna.core.errors import InputError
from premirna.encode.render import encode_many
from premirna.rna.folding import fold_sequences
from premirna.rna.seqio import read_records

SETTINGS = {"shuffles": 3, "max_iter": 30}
# hsa-mir-30a (miRBase 22 MI0000088)
MIR30A = "GCGACUGUAAACAUCCUCGACUGGAAGCUGUGAAGCCACAGAUGGGCUUUCAGUCGGAUGUUUGCAGCUGC"


@pytest.fixture(scope="module")
def molecules(data_dir) -> dict[str, list]:
    hairpins = read_records(data_dir / "mirbase" / "hairpin.fa.gz", iupac="keep").records
    coding = read_records(data_dir / "mirbase" / "coding_head30.txt.gz").records
    human = [r for r in hairpins if r.id.startswith("hsa-")]
    ids = [r.id for r in human] + [r.id for r in coding]
    sequences = [r.sequence for r in human] + [r.sequence for r in coding]
    structures = [s for s, _ in fold_sequences(sequences, processes=1)]
    labels = [1] * len(human) + [0] * len(coding)
    return {"id": ids, "sequence": sequences, "structure": structures, "label": labels}


@pytest.fixture(scope="module")
def folded(molecules, tmp_path_factory):
    table = pd.DataFrame(molecules).assign(species="hsa")  # CODING is human too
    # Every third molecule is held out, as the encode stage's test split would be.
    table["split"] = ["test" if k % 3 == 0 else "train" for k in range(len(table))]
    path = tmp_path_factory.mktemp("features") / "folded.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture(scope="module")
def trained(folded, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("features_model") / "features_model.npz"
    model = train_feature_model(
        folded, data_dir / "mirbase" / "hairpin.fa.gz", out, SETTINGS, ["hsa"], seed=5
    )
    return out, model


def test_settings_are_checked() -> None:
    assert FeatureSettings.from_dict(None) == FeatureSettings()
    with pytest.raises(ValueError, match=r"unknown train_cnn.features settings: \['shufles'\]"):
        FeatureSettings.from_dict({"shufles": 3})
    with pytest.raises(ValueError, match="shuffles must be at least 2"):
        FeatureSettings.from_dict({"shuffles": 1})
    with pytest.raises(ValueError, match="homology_k must be 1-32"):
        FeatureSettings.from_dict({"homology_k": 40})
    # the CNN's settings come from the same config section and leave `features:` to the trees
    assert TrainConfig.from_dict({"features": {"enabled": False}}) == TrainConfig()


def test_reference_leaves_out_the_classified_species_and_molecules(data_dir) -> None:
    fasta = data_dir / "mirbase" / "hairpin.fa.gz"
    records = read_records(fasta, iupac="keep").records
    other = [r for r in records if not r.id.startswith("hsa-")]
    assert reference_hairpins(fasta, ["hsa"]) == [r.sequence for r in other]
    assert len(reference_hairpins(fasta, ["hsa"], [other[0].sequence])) == len(other) - 1
    assert reference_hairpins(fasta, ["all"]) == []


def test_trained_model_describes_itself_and_scores_deterministically(
    trained, molecules, data_dir
) -> None:
    path, model = trained
    loaded = load_feature_model(path)
    assert loaded["features"] == list(FEATURES) and len(FEATURES) == 103
    assert loaded["settings"]["shuffles"] == 3 and loaded["seed"] == 5
    assert loaded["n_train"] == 52 and loaded["n_positive"] == 32  # 2 of every 3 molecules
    expected = reference_kmers(
        reference_hairpins(data_dir / "mirbase" / "hairpin.fa.gz", ["hsa"]), 20
    )
    assert np.array_equal(loaded["reference"], expected)
    sequences, structures = molecules["sequence"], molecules["structure"]
    h1, p1 = score_features(loaded, sequences, structures, processes=1)
    h2, p2 = score_features(loaded, sequences, structures, processes=2)
    assert np.array_equal(h1, h2) and np.array_equal(p1, p2)  # same numbers on 1 or 2 processes
    assert np.all((p1 >= 0) & (p1 <= 1))
    labels = np.array(molecules["label"])
    # real signal even on 52 molecules: pre-miRNAs score higher than CODING on average
    assert p1[labels == 1].mean() > p1[labels == 0].mean()
    # homology: hsa-mir-30a shares most of its 20-mers with its mouse ortholog mmu-mir-30a,
    # the let-7 paralogues a few with mmu-let-7g/i, and no CODING molecule any
    share = dict(zip(molecules["id"], h1, strict=True))
    assert share["hsa-mir-30a"] > 0.5
    assert 0 < share["hsa-let-7a-1"] < 0.2
    assert np.all(h1[labels == 0] == 0)


class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_pickled_model_is_refused_and_runs_nothing(tmp_path) -> None:
    marker = tmp_path / "code-ran"
    crafted = tmp_path / "features_model.pkl"
    crafted.write_bytes(pickle.dumps({"format": "premirna-feature-model/1", "x": _Payload(marker)}))
    assert not marker.exists()
    with pytest.raises(InputError, match=f"{crafted}: a pickle .*could run code.* not read"):
        load_feature_model(crafted)
    assert not marker.exists()  # nothing was unpickled
    # The same payload inside an npz (as an object array) is refused too.
    disguised = tmp_path / "disguised.npz"
    np.savez(disguised, meta=np.array(["{}"]), reference=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(InputError, match="not a feature-tree model"):
        load_feature_model(disguised)
    assert not marker.exists()


def test_the_model_file_holds_plain_arrays_only(trained) -> None:
    path, _ = trained
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
        assert "meta" in archive.files and "trees_value" in archive.files


def test_bad_models_and_molecules_are_named(trained, tmp_path) -> None:
    path, _ = trained
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, meta=np.array('{"format": "something-else"}'))
    with pytest.raises(InputError, match=f"{foreign}: not a feature-tree model"):
        load_feature_model(foreign)
    text = tmp_path / "text.npz"
    text.write_text("not a model")
    with pytest.raises(InputError, match=f"{text}: not a feature-tree model"):
        load_feature_model(text)
    with pytest.raises(InputError, match="a folder, not a file"):
        load_feature_model(tmp_path)  # a directory
    model = load_feature_model(path)
    with pytest.raises(ValueError, match="record hsa-x: structure has 3 characters"):
        score_features(model, ["ACGUACGU", "GGGAAACCC"], ["........", "..."], ids=["a", "hsa-x"])
    with pytest.raises(ValueError, match="2 sequences but 1 structures"):
        molecule_features(["ACGU", "ACGU"], ["...."], model["reference"], FeatureSettings(), 1)


def test_evaluate_cnn_reports_the_trees_and_the_fusion(trained, tiny_cnn, folded, tmp_path) -> None:
    path, _ = trained
    table = pd.read_csv(folded, sep="\t")
    test = table[table["split"] == "test"]
    images, encodable = encode_many(test["sequence"].tolist(), test["structure"].tolist())
    npz = tmp_path / "test.npz"
    np.savez(
        npz,
        ids=test["id"].to_numpy(dtype=str),
        images=np.asarray(images, np.uint8),
        labels=test["label"].to_numpy(dtype=np.int8),
        encodable=np.asarray(encodable, bool),
    )
    out = {name: tmp_path / name for name in ("m.tsv", "p.tsv", "s.tsv")}
    figures = [tmp_path / f"{name}.png" for name in ("roc", "pr", "confusion", "cal", "species")]
    paths = [npz, tiny_cnn, out["m.tsv"], out["p.tsv"], *figures[:4], out["s.tsv"], figures[4]]
    values = evaluate_cnn(*paths, molecules=folded, features_model=path)
    metrics = pd.read_csv(out["m.tsv"], sep="\t").set_index("metric")
    for model in ("features", "fused"):
        for name in ("accuracy", "roc_auc", "mcc"):
            assert metrics.loc[f"{model}_{name}", "value"] == pytest.approx(
                values[f"{model}_{name}"]
            )
    assert "mean of the CNN's and the trees'" in metrics.loc["fused_accuracy", "description"]
    predictions = pd.read_csv(out["p.tsv"], sep="\t")
    scored = predictions[predictions["encodable"]]
    assert scored["fused_probability"].to_numpy() == pytest.approx(
        (scored["probability"] + scored["features_probability"]).to_numpy() / 2
    )
    called = (scored["fused_probability"] >= 0.5).astype(int)
    assert values["fused_accuracy"] == pytest.approx((called == scored["label"]).mean())
    with pytest.raises(ValueError, match="need the molecule table"):
        evaluate_cnn(*paths, features_model=path)
    first = scored["id"].iloc[0]
    short = tmp_path / "short.tsv"
    table[table["id"] != first].to_csv(short, sep="\t", index=False)
    with pytest.raises(InputError, match=f"{short}, record {first}: 1 scored test ids missing"):
        evaluate_cnn(*paths, molecules=short, features_model=path)


def test_classify_adds_the_feature_columns(trained, tiny_cnn, tmp_path) -> None:
    path, _ = trained
    fasta = tmp_path / "candidates.fa"
    fasta.write_text(
        ">let7\nUGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAUACAAUCUACUGUCUUUCCUA\n"
        ">flat\nAAAAAAAAAAAAAAAAAAAA\n"
    )
    out = tmp_path / "scored.tsv"
    table = classify_fasta(fasta, out, tiny_cnn, features_model=path)
    written = pd.read_csv(out, sep="\t")
    at = OUTPUT_COLUMNS.index("probability") + 1
    assert list(written.columns) == [*OUTPUT_COLUMNS[:at], *COLUMNS, *OUTPUT_COLUMNS[at:]]
    assert list(written["status"]) == ["ok", "no_hairpin"]
    let7 = table.iloc[0]
    assert let7["fused_probability"] == pytest.approx(
        (let7["probability"] + let7["features_probability"]) / 2
    )
    assert 0 <= let7["homology"] <= 1
    assert written.loc[1, list(COLUMNS)].isna().all()  # no hairpin: no image, no features
    plain = classify_fasta(fasta, tmp_path / "plain.tsv", tiny_cnn)
    assert list(plain.columns) == OUTPUT_COLUMNS
    assert np.array_equal(plain["probability"], table["probability"], equal_nan=True)


def test_command_line_classify_takes_the_trees(trained, tiny_cnn, tmp_path) -> None:
    path, _ = trained
    fasta = tmp_path / "in.fa"
    fasta.write_text(">mir30a\n" + MIR30A + "\n")
    out = tmp_path / "out.tsv"
    args = [
        sys.executable,
        "-m",
        "premirna",
        "classify",
        str(fasta),
        str(out),
        "--model",
        str(tiny_cnn),
    ]
    proc = subprocess.run([*args, "--features", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    row = pd.read_csv(out, sep="\t").iloc[0]
    assert row["homology"] > 0.5  # mmu-mir-30a is in the reference
    # a file that is no feature model: a clear error naming it, exit status 2, nothing written
    out.unlink()
    proc = subprocess.run([*args, "--features", str(fasta)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"premirna classify: error: {fasta}: not a feature-tree model" in proc.stderr
    assert not out.exists()


def test_the_shuffles_report_their_progress(molecules, caplog) -> None:
    """The slow part of train_cnn_features (folding the shuffles) logs done / total, rate and
    time left, on one process and on two."""
    from premirna.classifier.feature_model import FeatureSettings

    reference = reference_kmers([MIR30A], 20)
    for processes in (1, 2):
        caplog.clear()
        with caplog.at_level("INFO", logger="premirna.classifier.feature_model"):
            molecule_features(molecules["sequence"][:12], molecules["structure"][:12], reference,
                              FeatureSettings.from_dict({"shuffles": 2}), 1, processes)
        lines = [m for m in (r.getMessage() for r in caplog.records) if "per molecule" in m]
        assert lines and lines[-1].startswith("features (2 shuffles per molecule): 12/12 done")
        assert "/s" in lines[-1] and "s left" in lines[-1]

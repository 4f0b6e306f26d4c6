"""Data summaries for the report's download and fold sections (premirna.data.summary)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from premirna.core.errors import InputError
from premirna.data.summary import download_summary
from premirna.fold.summary import fold_summary, write_fold_summary

MANIFEST = (
    "file\tsource\tbytes\tmd5\tcontent_md5\trelease\tdate\n"
    "hairpin.fa.gz\tx\t1\tabc123\tdef\t22.1\t2026-01-01\n"
    "mature.fa.gz\tx\t1\tzzz\tdef\t22.1\t2026-01-01\n"
)


def _molecules(tmp_path, rows):
    path = tmp_path / "molecules.tsv"
    pd.DataFrame(rows, columns=["id", "label", "species", "source", "split"]).to_csv(
        path, sep="\t", index=False
    )
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(MANIFEST)
    return path, manifest


def test_download_summary_counts_per_class_source_species_and_split(tmp_path):
    rows = [(f"p{i}", 1, "hsa", "mirbase_v22", "train") for i in range(150)]
    rows += [(f"q{i}", 1, "mmu", "mirbase_v22", "test") for i in range(49)]
    rows += [("rare", 1, "xyz", "mirbase_v22", "val")]  # 1 of 200 positives: pooled as "other"
    rows += [(f"n{i}", 0, "hsa", "coding_xue2005", "train") for i in range(120)]
    rows += [(f"s{i}", 0, "shuffle", "shuffle", "val") for i in range(80)]
    molecules, manifest = _molecules(tmp_path, rows)
    table = download_summary(molecules, manifest).set_index(["class", "species"])
    counts = table.loc[("pre-miRNA", "hsa"), ["train", "val", "test", "all"]]
    assert counts.tolist() == [150, 0, 0, 150]
    assert table.loc[("pre-miRNA", "mmu"), "test"] == 49
    assert table.loc[("pre-miRNA", "other"), "val"] == 1
    assert "xyz" not in table.index.get_level_values("species")
    assert table.loc[("negative", "shuffle"), "val"] == 80
    assert table["all"].sum() == len(rows)
    assert set(table["hairpin_md5"]) == {"abc123"} and set(table["mirbase_release"]) == {"22.1"}


def test_download_summary_names_file_and_record_for_a_bad_label(tmp_path):
    molecules, manifest = _molecules(
        tmp_path, [("a", 1, "hsa", "m", "train"), ("bad-one", 7, "hsa", "m", "train")]
    )
    with pytest.raises(InputError, match=r"molecules\.tsv, record bad-one: label must be 0 or 1"):
        download_summary(molecules, manifest)


def test_download_summary_needs_the_hairpin_row_of_the_manifest(tmp_path):
    molecules, manifest = _molecules(tmp_path, [("a", 1, "hsa", "m", "train")])
    manifest.write_text(MANIFEST.splitlines()[0] + "\n" + MANIFEST.splitlines()[2] + "\n")
    with pytest.raises(InputError, match="no row for hairpin.fa.gz"):
        download_summary(molecules, manifest)


def _folded(tmp_path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    label = np.repeat([1, 0], n // 2)
    table = pd.DataFrame(
        {
            "id": [f"m{i}" for i in range(n)],
            "label": label,
            "split": np.tile(["train", "val", "test"], n // 3),
            "hairpin_loops": np.where(np.arange(n) % 10 == 0, 2, 1),
            "length": rng.integers(60, 100, n),
            "gc": rng.uniform(0.3, 0.7, n),
            "mfe_per_nt": np.where(label == 1, -0.45, -0.28) + rng.normal(0, 0.01, n),
            "stem_length": rng.integers(18, 35, n),
            "loop_size": rng.integers(3, 12, n),
        }
    )
    path = tmp_path / "folded.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path, table


def test_fold_summary_medians_and_single_hairpin_share_per_class_and_split(tmp_path):
    path, folded = _folded(tmp_path)
    table = fold_summary(path).set_index(["class", "split"])
    assert len(table) == 8  # 2 classes x (3 splits + all)
    pos = folded[folded["label"] == 1]
    assert table.loc[("pre-miRNA", "all"), "molecules"] == len(pos)
    assert table.loc[("pre-miRNA", "all"), "length_median"] == pytest.approx(pos["length"].median())
    assert table.loc[("pre-miRNA", "all"), "single_hairpin"] == pytest.approx(
        (pos["hairpin_loops"] == 1).mean(), abs=1e-4
    )
    assert table.loc[("pre-miRNA", "test"), "mfe_per_nt_median"] < table.loc[
        ("negative", "test"), "mfe_per_nt_median"
    ]
    q1, q3 = np.percentile(pos["gc"], [25, 75])
    assert table.loc[("pre-miRNA", "all"), "gc_iqr"] == f"{q1:.4g} to {q3:.4g}"


def test_write_fold_summary_writes_table_and_png(tmp_path):
    path, _ = _folded(tmp_path)
    write_fold_summary(path, tmp_path / "s.tsv", tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_csv(tmp_path / "s.tsv", sep="\t")) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "folded.tsv", "s.tsv"]


def test_fold_summary_names_a_missing_column(tmp_path):
    path, folded = _folded(tmp_path)
    folded.drop(columns=["loop_size"]).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"folded\.tsv: missing column\(s\) loop_size"):
        fold_summary(path)

"""The report's page of key results, from small tables written the way the stages write them."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest

from premirna.core.errors import InputError
from premirna.report.summary import headline, write_summary


def _tables(folder: Path) -> dict[str, Path]:
    paths = {k: folder / f"{k}.tsv" for k in ("metrics", "targets", "judge", "sanity", "latent")}
    metrics = {"n": 576, "accuracy": 0.8976, "sensitivity": 0.86, "specificity": 0.93,
               "mcc": 0.8, "roc_auc": 0.957, "pr_auc": 0.965, "fused_accuracy": 0.95,
               "fused_sensitivity": 0.93, "fused_specificity": 0.97, "fused_mcc": 0.9,
               "fused_roc_auc": 0.98, "fused_pr_auc": 0.98}
    pd.DataFrame({"metric": list(metrics), "value": list(metrics.values()),
                  "description": ""}).to_csv(paths["metrics"], sep="\t", index=False)
    pd.DataFrame({
        "metric": ["independent_judge", "two_sample_auc", "judged_premirna"],
        "target": [">= 0.8", "<= 0.7", ">= 0.9"], "generated": [0.66, 0.58, 0.2],
        "real": [0.72, 0.53, 0.91], "met": [False, True, False],
        "meaning": ["judge <b>share</b>", "two-sample", "own CNN"],
    }).to_csv(paths["targets"], sep="\t", index=False)
    pd.DataFrame([{"pre_mirnas": 288, "negatives": 288, "called_premirna_of_premirnas": 0.653,
                   "called_premirna_of_negatives": 0.128, "accuracy": 0.76, "roc_auc": 0.88,
                   "median_score_premirnas": 0.73}]).to_csv(paths["judge"], sep="\t", index=False)
    pd.DataFrame({"method": ["smoothgrad", "occlusion", "input_control"],
                  "spearman_median": [0.36, 0.94, 1.0],
                  "verdict": ["passes", "FAILS (map hardly changes)", "FAILS"],
                  "is_control": [False, False, True]}).to_csv(paths["sanity"], sep="\t",
                                                              index=False)
    pd.DataFrame({"subject": ["z0", "z4", "probe"], "kind": ["dimension", "dimension", "probe"],
                  "attribute": ["gc", "loop_size", "gc"], "spearman": [0.3, -0.82, 0.99],
                  "statement": ["z0 weakly tracks GC", "z4 strongly tracks loop size", "x"]}
                 ).to_csv(paths["latent"], sep="\t", index=False)
    return paths


def test_summary_page_leads_with_the_answers(tmp_path):
    paths = _tables(tmp_path)
    tables = write_summary(paths, tmp_path / "s.html", tmp_path / "s.tsv", tmp_path / "s.png")

    assert list(tables["classifier"]["model"]) == ["CNN (image)", "fused"]  # no trees in the run
    lines = headline(tables)
    assert lines[0].startswith("Classifier: test accuracy 0.898")
    assert "best fused 0.950 on 576 test molecules" in lines[0]
    # The own CNN's row is shown but not counted among the targets.
    assert "1 of 2 targets met; not met: independent_judge." in lines[1]
    assert "1 of 2 methods pass" in lines[3] and "occlusion" in lines[3]  # control left out
    assert lines[4] == "Latent factors: z4 strongly tracks loop size"  # strongest |rho| first

    page = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert page.count("<table") == 5 and "data:image/png;base64," in page
    assert "<b>share</b>" not in page and html.escape("<b>share</b>") in page  # text, not markup
    assert "0.898" in page and "0.8976" not in page  # three decimals
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    long = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert set(long["section"]) == {"classifier", "generation", "judge", "sanity", "latent"}


def test_summary_names_the_yardstick_of_new_molecules(tmp_path):
    """With the judge's recall split by family, the headline says which share generated
    molecules compare with, and the targets show the new-family reference beside `real`."""
    paths = _tables(tmp_path)
    judge = pd.read_csv(paths["judge"], sep="\t").assign(
        premirnas_family_known=105, called_premirna_family_known=0.781,
        premirnas_family_new=183, called_premirna_family_new=0.579)
    judge.to_csv(paths["judge"], sep="\t", index=False)
    targets = pd.read_csv(paths["targets"], sep="\t").assign(real_new_families=[0.62, None, None])
    targets.to_csv(paths["targets"], sep="\t", index=False)
    tables = write_summary(paths, tmp_path / "s.html", tmp_path / "s.tsv", tmp_path / "s.png")
    lines = headline(tables)
    assert any("learnt from other species it calls 0.781" in line
               and "new to it 0.579" in line for line in lines)
    columns = list(tables["generation"].columns)
    assert columns.index("real_new_families") == columns.index("real") + 1


def test_a_missing_stage_table_is_named(tmp_path):
    paths = _tables(tmp_path)
    paths["targets"].unlink()
    with pytest.raises(InputError, match="targets.tsv"):
        write_summary(paths, tmp_path / "s.html", tmp_path / "s.tsv", tmp_path / "s.png")
    assert not (tmp_path / "s.html").exists()


def test_summary_names_what_still_gives_generated_molecules_away(tmp_path):
    """Each condition's leading feature gap is named only where its q-value is small."""
    paths = _tables(tmp_path)
    paths["gaps"] = tmp_path / "gaps.tsv"
    pd.DataFrame({
        "group": ["pre-miRNA, gc=high", "pre-miRNA, gc=high", "pre-miRNA, loop_size=low",
                  "pre-miRNA, mfe_per_nt=low", "generated"],
        "rank": [1, 2, 1, 1, 1], "feature": ["C paired", "gc", "UUA", "mfe_per_nt", "CG"],
        "roc_auc": [0.70, 0.68, 0.42, 0.30, 0.56], "q_value": [0.0001, 0.0003, 0.97, 0.0001, 0.03],
        "generated": [0.25, 0.69, 0.009, -0.66, 0.025], "real": [0.22, 0.65, 0.013, -0.60, 0.022],
        "n_generated": 100, "n_real": 96, "roc_auc_training": [0.66, 0.6, 0.5, 0.33, 0.51],
        "training": [0.23, 0.66, 0.01, -0.61, 0.024], "n_training": 440,
    }).to_csv(paths["gaps"], sep="\t", index=False)
    tables = write_summary(paths, tmp_path / "s.html", tmp_path / "s.tsv", tmp_path / "s.png")
    gaps = tables["gaps"]
    assert list(gaps["feature"]) == ["C paired", "mfe_per_nt", "CG"]  # rank 1, q < 0.05
    # beside each gap, the same feature against the training split: CpG is the split's
    assert list(gaps["roc_auc_training"]) == [0.66, 0.33, 0.51]
    assert list(gaps["generated values"]) == ["higher", "lower", "higher"]
    assert ("(q < 0.05): gc=high: C paired higher; mfe_per_nt=low: mfe_per_nt lower; all: CG "
            "higher." in " ".join(headline(tables)))
    assert "What still tells generated molecules" in (tmp_path / "s.html").read_text()
    pd.read_csv(paths["gaps"], sep="\t").assign(q_value=0.5).to_csv(paths["gaps"], sep="\t",
                                                                    index=False)
    tables = write_summary(paths, tmp_path / "s.html", tmp_path / "s.tsv", tmp_path / "s.png")
    assert tables["gaps"].empty
    assert "No single feature tells generated molecules" in " ".join(headline(tables))
    pd.read_csv(paths["gaps"], sep="\t").iloc[:0].to_csv(paths["gaps"], sep="\t", index=False)
    tables = write_summary(paths, tmp_path / "s.html", tmp_path / "s.tsv", tmp_path / "s.png")
    assert not any("tell generated molecules" in line for line in headline(tables))  # none compared


def test_summary_sets_each_judge_against_the_real_molecules(tmp_path):
    """From validate's against_real table: the whole set and its raw draws for each judge, and
    only the conditions that differ from their real molecules at 95 %."""
    paths = _tables(tmp_path)
    paths["against_real"] = tmp_path / "against_real.tsv"
    rows = [("network judge", "generated", 0.629, 0.603, 0.655, 0.634, -0.005, -0.065, 0.058,
             "alike"),
            ("network judge", "generated, raw draws", 0.597, 0.57, 0.623, 0.634, -0.037, -0.097,
             0.026, "alike"),
            ("network judge", "pre-miRNA, loop_size=mid", 0.48, 0.385, 0.577, 0.679, -0.199,
             -0.331, -0.054, "below real"),
            ("network judge", "pre-miRNA, gc=low", 0.76, 0.668, 0.833, 0.725, 0.035, -0.086,
             0.153, "alike"),
            ("network judge", "shuffled", 0.073, 0.048, 0.109, 0.634, -0.561, -0.62, -0.493,
             "below real"),
            ("trees judge", "generated", 0.789, 0.766, 0.811, 0.819, -0.03, -0.076, 0.024,
             "alike")]
    columns = ["judge", "set", "share", "share_low", "share_high", "real_share", "difference",
               "difference_low", "difference_high", "verdict"]
    pd.DataFrame(rows, columns=columns).assign(n=100, real_n=96, called=1).to_csv(
        paths["against_real"], sep="\t", index=False)
    tables = write_summary(paths, tmp_path / "s.html", tmp_path / "s.tsv", tmp_path / "s.png")
    shown = tables["against_real"]
    assert list(shown["set"]) == ["generated", "generated, raw draws", "loop_size=mid",
                                  "generated"]
    assert shown["its 95 % interval"].iloc[2] == "-0.331 to -0.054"
    lines = [line for line in headline(tables) if line.startswith("Against real")]
    assert len(lines) == 2
    assert ("network judge calls 0.629 of generated molecules pre-miRNA (0.603 to 0.655) and "
            "0.634 of real ones: difference -0.005 (-0.065 to 0.058, alike)" in lines[0])
    assert lines[0].endswith("in their bins: loop_size=mid below real.")
    assert lines[1].endswith("in their bins: none.")
    assert "with 95 % intervals" in (tmp_path / "s.html").read_text()

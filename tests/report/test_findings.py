"""The findings table, from tables written by the stages' own code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from premirna.interpret.statistics import AREAS, Shares, statistics_table
from premirna.report.findings import COLUMNS, findings_table
from premirna.report.summary import write_summary


def _statistics(folder: Path) -> Path:
    """Two trusted methods that both see class-specific attribution on the mature 5p, one that
    fails the randomisation check (its rows must not count), no signal anywhere else."""
    rng = np.random.default_rng(0)
    labels = np.repeat([1, 0], 60)
    outcome = np.where(labels == 1, "TP", "TN")
    base = rng.uniform(0.05, 0.15, (120, len(AREAS)))
    observed = base.copy()
    observed[labels == 1, AREAS.index("mature_5p")] += 0.1
    shares = Shares(observed, base.copy())
    table = statistics_table({"smoothgrad": shares, "integrated_gradients": shares,
                              "occlusion": Shares(base.copy() + 0.2, base.copy())},
                             labels, outcome, failing=["occlusion"], seed=1, n_boot=200,
                             n_perm=300)
    path = folder / "statistics.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


def test_regions_are_supported_only_when_they_beat_their_nulls(tmp_path):
    findings = findings_table({"statistics": _statistics(tmp_path)})
    assert list(findings.columns) == list(COLUMNS)
    assert len(findings) == len(AREAS)  # negative results stay in the table
    supported = findings[findings["supported"] == "yes"]
    assert list(supported["claim"]) == ["The CNN uses the mature 5p miRNA to call a pre-miRNA."]
    assert supported.iloc[0]["strength"].startswith("2 of 2 trusted methods")  # occlusion left out
    assert findings.iloc[0]["supported"] == "yes"  # supported claims first
    assert (findings["evidence"].str.contains("statistics.png")).all()


def test_the_summary_page_carries_the_findings(tmp_path):
    from report.test_summary import _tables

    paths = {**_tables(tmp_path), "statistics": _statistics(tmp_path)}
    out = tmp_path / "findings.tsv"
    tables = write_summary(paths, tmp_path / "s.html", tmp_path / "s.tsv", tmp_path / "s.png",
                           out)
    written = pd.read_csv(out, sep="\t")
    assert len(written) == len(AREAS) and set(written["supported"]) == {"yes", "not supported"}
    page = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert "Findings: each claim" in page and page.count("<table") == 6
    assert "findings" in tables


def test_determinants_and_latent_factors_become_claims_negative_ones_included(tmp_path):
    determinants = tmp_path / "determinants.tsv"
    pd.DataFrame({
        "determinant": ["apical_ugu", "basal_segment", "mismatched_ghg"],
        "scorer": ["cnn", "trees", "cnn"], "score": ["probability", "log-odds", "probability"],
        "n_molecules": [36, 60, 2], "mean_delta_determinant": [-0.03, -3.1, 0.0],
        "mean_delta_control": [0.0, -10.9, 0.0], "effect": [-0.036, 7.75, 0.002],
        "ci_low": [-0.069, 6.2, np.nan], "ci_high": [-0.009, 9.4, np.nan],
        "p": [0.029, 0.0002, np.nan], "q": [0.0497, 0.0006, np.nan],
        "verdict": ["relies on it", "opposite", "not testable (2 < 10)"],
        "matches_biology": ["yes", "no", ""], "fold_kept_determinant": [0.92, 0.77, 1.0],
        "fold_kept_control": [0.74, 0.09, 0.88], "citation": ["Auyeung et al. 2013"] * 3,
    }).to_csv(determinants, sep="\t", index=False)
    latent = tmp_path / "disentanglement.tsv"
    pd.DataFrame({
        "kind": ["attribute", "attribute", "overall"], "subject": ["loop_size", "gc", "mean"],
        "attribute": ["loop_size", "gc", ""], "n": [576, 576, np.nan], "mig": [0.38, 0.05, 0.2],
        "mig_low": [0.34, 0.01, np.nan], "mig_high": [0.40, 0.07, np.nan],
        "top_dimension": [1, 7, np.nan], "second_dimension": [4, 3, np.nan],
        "completeness": [0.95, 0.3, np.nan], "informativeness_r2": [0.98, 0.85, np.nan],
        "tied_dimension": [1, -1, np.nan],
    }).to_csv(latent, sep="\t", index=False)
    findings = findings_table({"determinants": determinants, "disentanglement": latent})
    by_claim = findings.set_index("claim")["supported"]
    assert by_claim[next(c for c in by_claim.index if "UGU" in c)] == "yes"
    assert by_claim[next(c for c in by_claim.index if "basal segment" in c)] == "no: the opposite"
    assert by_claim[next(c for c in by_claim.index if "GHG" in c)] == "not testable"
    assert by_claim["One latent factor carries loop size (tied to z1 in training)."] == "yes"
    assert by_claim["One latent factor carries gc."] == "not supported"  # untied, MIG < 0.3
    assert len(findings) == 5 and (findings["citation"] != "").all()


def test_tied_traversals_become_claims(tmp_path):
    from premirna.interpret.disentangle import traversal_monotonicity

    rng = np.random.default_rng(2)
    rows = [{"dimension": d, "value": v, "sample": k, "sequence": "GGGAAACCC",
             "refolded": "(((...)))",
             "gc": 0.5 + (0.02 * v if d == 0 else 0) + rng.normal(0, 0.03),
             "loop_size": 6 + rng.normal(0, 1)}
            for d in range(2) for v in np.linspace(-2, 2, 7) for k in range(8)]
    path = tmp_path / "traversal_monotonicity.tsv"
    traversal_monotonicity(pd.DataFrame(rows), ["gc", "loop_size"],
                           tied={"gc": 0, "loop_size": 1, "mature_3p_start": 2},
                           judge=lambda seqs, structs: np.full(len(seqs), 0.8)).to_csv(
        path, sep="\t", index=False)
    findings = findings_table({"monotonicity": path}).set_index("claim")
    assert len(findings) == 2  # the tied pairs the traversals hold; untied pairs make no claim
    gc = findings.loc["Moving z0 changes gc monotonically (traversal, refolded)."]
    assert gc["supported"] == "yes" and "judge calls 1.00" in gc["strength"]
    loop = findings.loc["Moving z1 changes loop size monotonically (traversal, refolded)."]
    assert loop["supported"] == "not supported"  # z1 does not move it
    # a predicted attribute says so, and how well the prediction does
    for row in rows:
        row["mature_3p_start"] = 30 + 3 * row["value"] * (row["dimension"] == 1)
    traversal_monotonicity(pd.DataFrame(rows), ["gc"], tied={"mature_3p_start": 1},
                           measured_as={"mature_3p_start": "predicted (MAE 2.7 nt)"}).to_csv(
        path, sep="\t", index=False)
    start = findings_table({"monotonicity": path}).set_index("claim").loc[
        "Moving z1 changes mature 3p start monotonically (traversal, refolded, predicted)."]
    assert start["supported"] == "yes"
    assert start["strength"].endswith("mature 3p start predicted (MAE 2.7 nt)")

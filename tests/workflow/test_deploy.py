"""Deployed the Snakemake way: the workflow as a `module` of a user's own Snakefile in another
folder, and set up by `snakedeploy deploy-workflow`, finds its package, resources and schema
relative to itself, not through the working directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def snakemake(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "snakemake"), "--cores", "1", *args], cwd=folder,
                          capture_output=True, text=True, timeout=600)


def module_snakefile(workflow: Path) -> str:
    return (f'configfile: "config/config.yaml"\n\n\nmodule premirna:\n    snakefile:\n'
            f'        "{workflow}"\n    config:\n        config\n\n\n'
            f"use rule * from premirna as premirna_*\n")


def test_the_workflow_runs_as_a_module_from_another_folder(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config")
    (tmp_path / "Snakefile").write_text(module_snakefile(REPO / "workflow" / "Snakefile"))

    plan = snakemake(tmp_path, "-n", "premirna_all")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "premirna_validate_judge" in plan.stdout and "premirna_report_summary" in plan.stdout

    # For real, the first stage: the bundled miRBase copy and the CODING file are found beside
    # the workflow, the package is imported from it, results land in the user's folder.
    run = snakemake(tmp_path, "premirna_download_summary")
    assert run.returncode == 0, run.stdout + run.stderr
    summary = tmp_path / "results" / "download" / "summary.tsv"
    assert summary.is_file() and "mirbase_v22" in summary.read_text()
    assert not (tmp_path / "resources").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="snakedeploy clones with git")
def test_snakedeploy_sets_up_a_folder_that_plans_the_whole_workflow(tmp_path):
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.strip()
    dest = tmp_path / "deployed"
    deploy = subprocess.run([str(BIN / "snakedeploy"), "deploy-workflow", str(REPO), str(dest),
                             "--commit", commit], capture_output=True, text=True, timeout=300)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert (dest / "config" / "config.yaml").is_file()
    assert (dest / "profiles" / "slurm" / "config.yaml").is_file()
    snakefile = dest / "workflow" / "Snakefile"
    text = snakefile.read_text()
    assert '"workflow/Snakefile"' in text  # the module points at the repository's entry point
    # From GitHub snakedeploy writes github("owner/repo", path="workflow/Snakefile", ...); from a
    # local clone it writes that path as it is, relative: point it at the clone.
    snakefile.write_text(text.replace('"workflow/Snakefile"',
                                      f'"{REPO / "workflow" / "Snakefile"}"'))
    plan = snakemake(dest, "-n", "all")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "validate_judge" in plan.stdout and "report_summary" in plan.stdout

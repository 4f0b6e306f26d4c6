"""OpenMP threads wait passively in every stage that runs torch, set in one place: importing
`premirna` (benchmarks/bench_threads.py measures why: 1.06x slower with the second core busy,
against 3x with active waiting)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))


def policy_seen_by_torch(imports: str, env: dict[str, str]) -> str:
    code = f"{imports}\nimport os, torch\nprint(os.environ.get('OMP_WAIT_POLICY'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


@pytest.mark.parametrize("module", ["premirna.generator.train", "premirna.classifier.classify",
                                    "premirna.interpret.cvae", "premirna.validate.stage"])
def test_importing_a_stage_sets_passive_waiting_unless_the_user_chose(module):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert policy_seen_by_torch(f"import {module}", env) == "PASSIVE"
    chosen = {**env, "OMP_WAIT_POLICY": "ACTIVE"}
    assert policy_seen_by_torch(f"import {module}", chosen) == "ACTIVE"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_workflow_scripts_import_the_package_before_anything_else(script):
    """A script imports premirna before any library outside the standard one, so the policy is
    set before torch (or anything that loads it) starts OpenMP."""
    modules = [line.split()[1].split(".")[0] for line in script.read_text().splitlines()
               if line.startswith(("import ", "from "))]
    outside = [m for m in modules if m not in sys.stdlib_module_names and m != "__future__"]
    assert outside and outside[0] == "premirna", (script.name, outside)

"""Release hygiene: one version everywhere, a licence and a citation file that parse."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

import premirna

REPO = Path(__file__).resolve().parents[1]


def test_one_version_in_package_pyproject_citation_and_changelog():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = re.search(r"^## (\d+\.\d+\.\d+)", changelog, re.MULTILINE)
    assert newest is not None, "CHANGELOG.md has no '## X.Y.Z' section"
    assert {premirna.__version__, project["version"], str(citation["version"]),
            newest.group(1)} == {premirna.__version__}


def test_licence_is_the_one_pyproject_and_citation_name():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert project["license"] == citation["license"] == "MIT"
    assert licence.startswith("MIT License")
    assert "LICENSE" in project["license-files"]


def test_citation_file_holds_what_the_format_requires():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors"):
        assert citation.get(key), key
    for reference in citation["references"]:
        assert reference["title"] and reference["authors"] and reference["year"], reference
        assert reference.get("doi", "10.").startswith("10."), reference["title"]

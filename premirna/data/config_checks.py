"""Checks of the workflow's config that its JSON schema cannot express.

The schema bounds each value alone; these look across values and at the data: the split shares
must sum to 1 and every species asked for must have hairpins in the miRBase release. The workflow
runs them when it starts (workflow/rules/common.smk), so a bad value stops the run before any
stage, naming its key. Light imports only: the Snakemake process imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from premirna.core.config_file import read_yaml, schema_problems
from premirna.core.errors import InputError
from premirna.core.splits import check_fractions
from premirna.data.mirbase import missing_species, resolve_species

# The workflow beside the package (a checkout): its schema and the bundled release.
WORKFLOW = Path(__file__).resolve().parents[2]
SCHEMA = WORKFLOW / "workflow" / "schemas" / "config.schema.yaml"
BUNDLED_HAIRPINS = WORKFLOW / "resources" / "mirbase_v22" / "hairpin.fa.gz"


def cross_field_problems(
    config: Mapping[str, Any], hairpin_fa: str | os.PathLike[str] | None = None
) -> list[str]:
    """``key: problem`` lines for a config the schema accepted (defaults filled in).

    `hairpin_fa` is the release's hairpin file when it is already on disk (the bundled copy, or
    a finished download); without it the species are checked by the download stage instead.
    """
    download = config["download"]
    problems = []
    try:
        check_fractions(download["split"])
    except ValueError as err:
        problems.append(f"download.split: {err}")
    problems += user_set_problems(download.get("user_sets", []))
    if hairpin_fa is not None and Path(hairpin_fa).exists():
        try:
            missing = missing_species(resolve_species(download["species"], hairpin_fa), hairpin_fa)
        except ValueError as err:
            problems.append(f"download.{err}")
        else:
            if missing:
                problems.append(
                    f"download.species: no hairpins of {', '.join(missing)} in miRBase "
                    f"{download['release']} ({hairpin_fa}); species are miRBase prefixes such "
                    "as hsa (human) or mmu (mouse), or organism names such as Mus musculus"
                )
    return problems


#: Sources the workflow itself writes into the molecule table; a user set may not take their name.
RESERVED_SOURCES = ("coding_xue2005", "shuffle")


def user_set_problems(user_sets: list[Mapping[str, Any]]) -> list[str]:
    """``key: problem`` lines for `download.user_sets`: names unique and not the workflow's own
    sources, files present (relative paths are relative to the working directory)."""
    problems = []
    seen: set[str] = set()
    for k, entry in enumerate(user_sets):
        key = f"download.user_sets.{k}"
        name = entry["name"]
        if name in seen:
            problems.append(f"{key}.name: {name!r} names two sets; each set needs its own name")
        if name in RESERVED_SOURCES or name.startswith("mirbase_v"):
            problems.append(f"{key}.name: {name!r} is a source the workflow writes itself")
        seen.add(name)
        if not Path(entry["path"]).is_file():
            problems.append(f"{key}.path: no such file {entry['path']!r} (relative to "
                            f"{Path.cwd()})")
    return problems


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`, section by section (as Snakemake merges config files)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_config_files(paths: list[str | os.PathLike[str]]) -> dict[str, Any]:
    """Read and merge config files, then check them as the workflow does; the merged config.

    Raises InputError naming the files and, one ``key: problem`` after another, what is wrong.
    """
    if not SCHEMA.exists():
        raise InputError(SCHEMA, "the workflow's schema is missing (run from a checkout)")
    config: dict[str, Any] = {}
    for path in paths:
        config = merge(config, read_yaml(path))
    problems = schema_problems(config, read_yaml(SCHEMA))
    if not problems:
        bundled = config["download"]["source"] == "bundled"
        problems = cross_field_problems(config, BUNDLED_HAIRPINS if bundled else None)
    if problems:
        raise InputError(", ".join(map(str, paths)), "; ".join(problems))
    return config

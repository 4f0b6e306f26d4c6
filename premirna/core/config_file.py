"""The workflow's config file: read with the line of any syntax error, checked against its schema.

Snakemake's own reader says only "Config file is not valid JSON or YAML", and its schema check
prints the failing schema; these say, one line per problem, which file, line or key is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from premirna.core.errors import InputError

_LONGEST_MESSAGE = 160


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML mapping from `path`; InputError with the line and column of a syntax error."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start})") from err
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror or err})") from err
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        raise InputError(path, f"not valid YAML: {_yaml_problem(err)}") from err
    except yaml.YAMLError as err:
        raise InputError(path, f"not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise InputError(path, "must be a mapping of config sections (key: value lines)")
    return data


def _yaml_problem(err: Any) -> str:
    """"line 39, column 3: expected ',' or ']' (while parsing a flow sequence at line 36)"."""

    def at(mark: Any) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}"

    mark, context = err.problem_mark, err.context_mark
    text = f"{at(mark)}: {err.problem}" if mark else str(err.problem or err.context)
    if err.context and context and (mark is None or context.line != mark.line):
        text += f" ({err.context} at {at(context)})"
    return text


def key_name(path: Iterable[Any]) -> str:
    """``train_cnn.batch_size`` for the path ["train_cnn", "batch_size"]."""
    return ".".join(str(part) for part in path) or "(top level)"


def schema_problems(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """One ``key: problem`` line per place where `config` breaks the JSON schema, sorted by key."""
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = []
    for error in validator.iter_errors(config):
        message = error.message
        if len(message) > _LONGEST_MESSAGE:
            message = message[: _LONGEST_MESSAGE - 3] + "..."
        problems.append((list(map(str, error.absolute_path)), message))
    return [f"{key_name(key)}: {message}" for key, message in sorted(problems)]

"""The schema is the single source of defaults: every stage's settings agree with it, and so does
the shipped config/config.yaml; the settings base class builds, checks and round-trips sections."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from conftest import REPO

from premirna.classifier.classify import classify_fasta
from premirna.classifier.config import PRETRAIN_KEYS, TrainConfig
from premirna.classifier.evaluate import evaluate_cnn
from premirna.classifier.feature_model import FeatureSettings
from premirna.classifier.network import CNNConfig
from premirna.core.settings import Settings
from premirna.data.molecules import build_molecules
from premirna.data.release import fetch_mirbase
from premirna.encode.stage import encode_splits
from premirna.generator.config import CVAETrainConfig
from premirna.generator.generate import GenerateConfig
from premirna.generator.network import CVAEConfig
from premirna.interpret.attribution import InterpretConfig
from premirna.interpret.latent import LatentConfig
from premirna.interpret.mutagenesis import DeterminantsConfig
from premirna.rna.folding import FoldSettings
from premirna.validate.judge import JudgeSettings
from premirna.validate.stage import validate

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

#: Config section -> the settings dataclass that reads it.
DATACLASSES: dict[str, type] = {
    "fold": FoldSettings,
    "train_cnn": TrainConfig,
    "train_cnn.features": FeatureSettings,
    "train_cvae": CVAETrainConfig,
    "train_cvae.model": CVAEConfig,
    "generate": GenerateConfig,
    "interpret_cnn": InterpretConfig,
    "interpret_cvae": LatentConfig,
    "interpret_determinants": DeterminantsConfig,
    "validate.judge": JudgeSettings,
}
#: Fields set by the rule rather than by config (the stage seed may be set, but has no default).
RUNTIME_FIELDS = {"seed", "threads"}
#: Keys of a section that the rules read themselves, and fields that follow from the data.
ELSEWHERE = {"fold": {"chunk_size"}, "train_cvae.model": {"condition_sizes"}}
#: Sections without a dataclass: each key's default is that of a stage function's parameter.
FUNCTIONS: dict[str, tuple[Any, dict[str, str]]] = {
    "download": (build_molecules, {
        "species": "species", "iupac": "iupac", "coding_ratio": "coding_ratio",
        "shuffle_ratio": "shuffle_ratio", "max_per_class": "max_per_class", "release": "release",
    }),
    "download ": (fetch_mirbase, {"source": "source", "retries": "retries",
                                   "timeout_s": "timeout_s"}),
    "encode": (encode_splits, {"n_examples": "n_examples"}),
    "evaluate_cnn": (evaluate_cnn, {"threshold": "threshold", "batch_size": "batch_size"}),
    "classify": (classify_fasta, {key: key for key in (
        "threshold", "min_length", "max_length", "min_pairs")}),
    "validate": (validate, {"diversity_sample": "diversity_sample"}),
}


def section(path: str, tree: dict = SCHEMA) -> dict:
    node = tree
    for key in path.split("."):
        node = node["properties"][key]
    return node


def defaults(cls: type) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def schema_defaults(node: dict, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> schema default, for every key below `node` that has one."""
    out = {}
    for key, sub in node.get("properties", {}).items():
        if "default" in sub and "properties" not in sub:
            out[prefix + key] = sub["default"]
        if sub.get("type") == "object":
            out.update(schema_defaults(sub, f"{prefix}{key}."))
    return out


def config_values(node: Any, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict) and value and key != "candidates":
            out.update(config_values(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_the_shipped_config_holds_the_schema_defaults():
    wanted = schema_defaults(SCHEMA)
    shipped = config_values(CONFIG)
    assert {k: v for k, v in shipped.items() if k in wanted and wanted[k] != v} == {}
    assert [k for k in shipped if k not in wanted] == []  # every shipped key has a default


@pytest.mark.parametrize("name", list(DATACLASSES))
def test_settings_dataclasses_hold_the_schema_defaults(name):
    cls = DATACLASSES[name]
    node = section(name)
    skip = ELSEWHERE.get(name, set())
    wanted = {k: v for k, v in schema_defaults(node).items() if "." not in k and k not in skip}
    code = {k: v for k, v in defaults(cls).items()
            if not isinstance(v, Settings) and k not in skip}
    if cls is TrainConfig:  # the config nests the pre-training settings, and names the network
        nested = schema_defaults(section("train_cnn.pretrain"))
        wanted.update({field: nested[key] for key, field in PRETRAIN_KEYS.items()})
        wanted["pretrain"] = nested["enabled"]
        assert wanted.pop("architecture") == TrainConfig().model.architecture
    described = set(node["properties"]) - {"model", "pretrain", "features", "architecture"} - skip
    assert {k: (code.get(k), v) for k, v in wanted.items() if code.get(k) != v} == {}
    assert described - RUNTIME_FIELDS <= set(code)  # every config key is a field
    assert set(code) - RUNTIME_FIELDS <= set(wanted) | {"pretrain", *PRETRAIN_KEYS.values()}


def test_derived_sizes_and_the_architecture_are_set_in_one_place():
    assert set(section("train_cvae.model")["properties"]) == set(defaults(CVAEConfig)) - {
        "condition_sizes"
    }
    assert "architecture" not in section("train_cnn.model")["properties"]
    cnn = {k: v for k, v in defaults(CNNConfig).items() if k != "architecture"}
    assert set(section("train_cnn.model")["properties"]) == set(cnn)
    with pytest.raises(ValueError, match="follow from the data"):
        CVAETrainConfig.from_dict({"model": {"condition_sizes": [3, 4]}})
    with pytest.raises(ValueError, match="unknown train_cvae.model settings"):
        CVAETrainConfig.from_dict({"model": {"vocabulary": 12}})


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_stage_functions_default_to_the_schema(name):
    function, keys = FUNCTIONS[name]
    wanted = schema_defaults(section(name.strip()))
    parameters = inspect.signature(function).parameters
    got = {key: parameters[param].default for key, param in keys.items()}
    expected = {key: wanted[key] for key in keys}
    if "species" in got:
        got["species"] = list(got["species"])
    assert got == expected


def test_enums_name_every_choice():
    """A setting whose value is one of a few names is an enum in the schema."""
    for path in ("train_cnn.architecture", "train_cnn.lr_schedule", "train_cnn.monitor",
                 "train_cnn.class_balance", "train_cnn.device", "train_cvae.lr_schedule",
                 "train_cvae.device", "generate.latent", "generate.device", "download.source",
                 "download.iupac", "fold.dangles", "interpret_cnn.target",
                 "interpret_cnn.baseline", "interpret_cvae.conditions"):
        assert "enum" in section(path), path


@dataclass
class _Example(Settings):
    SECTION = "example"

    size: int = 3
    name: str = "a"

    def check(self) -> None:
        if self.size < 1:
            raise ValueError(f"example.size must be at least 1, not {self.size}")


def test_settings_base_rejects_unknown_keys_checks_and_round_trips():
    assert _Example.from_dict(None) == _Example()
    built = _Example.from_dict({"size": 5})
    assert _Example.from_dict(built.to_dict()) == built
    with pytest.raises(ValueError, match=r"unknown example settings: \['sise'\]"):
        _Example.from_dict({"sise": 5})
    with pytest.raises(ValueError, match="at least 1"):
        _Example.from_dict({"size": 0})
    # A checkpoint's dict may hold keys of another version: they are ignored when read back.
    assert _Example.from_saved({"size": 4, "gone": True}) == _Example(size=4)


def schema_bounds(node: dict) -> list[tuple[str, Any]]:
    """(key, a value just outside a bound) for every bounded number directly below `node`."""
    out = []
    for key, sub in node.get("properties", {}).items():
        step = 1 if sub.get("type") == "integer" else 0.5
        for bound, outside in (("minimum", -step), ("maximum", step),
                               ("exclusiveMinimum", 0), ("exclusiveMaximum", 0)):
            if bound in sub:
                out.append((key, sub[bound] + outside))
    return out


BOUNDED = [
    (name, key, value)
    for name in ("fold", "train_cnn", "train_cvae", "validate.judge")
    for key, value in schema_bounds(section(name))
    if key != "chunk_size"  # read by the rules, not by a dataclass
] + [("train_cnn", f"pretrain.{key}", value)
     for key, value in schema_bounds(section("train_cnn.pretrain")) if key in PRETRAIN_KEYS]


@pytest.mark.parametrize("name, key, value", BOUNDED, ids=[f"{n}.{k}={v}" for n, k, v in BOUNDED])
def test_settings_refuse_what_the_schema_refuses(name, key, value):
    """The package's settings hold the schema's bounds, so a stage run without Snakemake (the CLI,
    a notebook) refuses the same values, naming the setting."""
    values: dict[str, Any] = {}
    if key.startswith("pretrain."):
        values["pretrain"] = {key.split(".")[1]: value}
        field_name = PRETRAIN_KEYS[key.split(".")[1]]
    else:
        values[key] = value
        field_name = key
    with pytest.raises(ValueError, match=rf"{name}\.{field_name} must be"):
        DATACLASSES[name].from_dict(values)

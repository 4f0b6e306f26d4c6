"""Every rule's conda env has what the rule's code imports, at the versions requirements.txt pins.

Conda cannot run here (no channel is reachable), so the envs in envs/ are checked statically: each
rule in workflow/rules/*.smk that runs something needs a `conda:` file that exists, listing every
third-party package its script imports, following imports of premirna modules into the package,
pinned to the version in requirements.txt. Rule files still being written are checked as they are.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# Import name -> conda package name where they differ; otherwise the lower-cased import name.
CONDA_NAME = {
    "RNA": "viennarna",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "torch": "pytorch",
    "PIL": "pillow",
    "Bio": "biopython",
    "mpl_toolkits": "matplotlib",
}
# pip name -> conda name where they differ (requirements.txt and `pip:` sections use pip names).
PIP_TO_CONDA = {"torch": "pytorch"}
# Imported by scripts but not from the env: Snakemake puts itself on a script's path, and
# workflow/rules/common.smk puts the repository (hence premirna) on PYTHONPATH.
PROVIDED = {"snakemake", "premirna"}
RUNS_SOMETHING = re.compile(r"^\s+(?:script|shell|notebook|wrapper|cwl)\s*:", re.M)
# `conda: torch_env("cnn")` (workflow/rules/common.smk): envs/cnn.yaml or envs/cnn-cuda.yaml.
TORCH_ENV = re.compile(r"^\s+conda\s*:\s*(?:\n\s*)?torch_env\(([\"'])(\w+)\1\)", re.M)
TORCH_BUILDS = ("", "-cuda")


def rules(rule_file: Path) -> dict[str, str]:
    """Rule name -> text of its block, for each `rule` or `checkpoint` in a Snakemake file."""
    blocks: dict[str, str] = {}
    name = None
    for line in rule_file.read_text().splitlines():
        start = re.match(r"(?:rule|checkpoint)\s+(\w+)\s*:", line)
        if start:
            name = start.group(1)
            blocks[name] = ""
        elif line.strip() and not line[0].isspace() and not line.startswith("#"):
            name = None  # any other top-level statement ends the block
        elif name:
            blocks[name] += line + "\n"
    return blocks


def directive(block: str, key: str) -> str | None:
    """The string literal given to directive `key` in a rule block, on its line or the next."""
    match = re.search(rf"^\s+{key}\s*:\s*(?:\n\s*)?([\"'])(.+?)\1", block, re.M)
    return match.group(2) if match else None


def split_spec(spec: str) -> tuple[str, str]:
    """('numpy', '2.4.6') from 'numpy=2.4.6', 'numpy ==2.4.6' or 'conda-forge::numpy=2.4.6=py*'."""
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", spec.split("::")[-1])
    name, rest = match.group(1).lower().replace("_", "-"), match.group(2).strip()
    if re.match(r"==?[^=<>]", rest):  # exact pin, possibly followed by a build string
        rest = rest.lstrip("=").split("=")[0].strip()
    return name, rest


def env_packages(env_file: Path) -> dict[str, str]:
    """Conda package name -> version (or other spec, '' when unpinned) listed in an env file."""
    packages: dict[str, str] = {}
    for dep in yaml.safe_load(env_file.read_text()).get("dependencies") or []:
        if isinstance(dep, dict):  # a `pip:` sub-list, in pip names
            for name, version in map(split_spec, dep.get("pip", [])):
                packages[PIP_TO_CONDA.get(name, name)] = version
        else:
            name, version = split_spec(str(dep))
            packages[name] = version
    return packages


def pinned_versions(repo: Path) -> dict[str, str]:
    """Conda package name -> version pinned with == in requirements.txt."""
    pins = {}
    for line in (repo / "requirements.txt").read_text().splitlines():
        name, sep, version = line.split("#")[0].partition("==")
        if sep:
            name = name.strip().lower().replace("_", "-")
            pins[PIP_TO_CONDA.get(name, name)] = version.strip()
    return pins


def module_files(repo: Path, module: str) -> list[Path]:
    """The files executed by importing `module` from the repository (packages' __init__ too)."""
    parts = module.split(".")
    candidates = [repo.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts) + 1)]
    candidates.append(repo.joinpath(*parts).with_suffix(".py"))
    return [path for path in candidates if path.is_file()]


def imported_modules(node: ast.AST, path: Path, repo: Path) -> list[str]:
    """Dotted names of the modules an import statement loads (relative ones made absolute)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative import inside premirna
        package = path.relative_to(repo).with_suffix("").parts[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    # `from premirna import fold` loads premirna.fold when that is a module.
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def third_party_imports(script: Path, repo: Path) -> dict[str, Path]:
    """Top-level third-party module -> first file importing it, following premirna's modules."""
    found: dict[str, Path] = {}
    todo, seen = [script], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for module in imported_modules(node, path, repo):
                top = module.split(".")[0]
                if top == "premirna":
                    todo.extend(module_files(repo, module))
                elif top and top not in sys.stdlib_module_names and top not in PROVIDED:
                    found.setdefault(top, path)
    return found


def env_problems(repo: Path) -> list[str]:
    """One line per rule whose env is missing, lacks an imported package or disagrees on a pin."""
    pins = pinned_versions(repo)
    problems = []
    for rule_file in sorted((repo / "workflow" / "rules").glob("*.smk")):
        for name, block in rules(rule_file).items():
            where = f"{rule_file.relative_to(repo)}: rule {name}"
            if not RUNS_SOMETHING.search(block):
                continue  # target rules such as `all` run nothing
            envs = rule_envs(block)
            if not envs:
                problems.append(f"{where}: no `conda:` env file (as a plain string or torch_env)")
                continue
            script = directive(block, "script")
            if script is None and re.search(r"^\s+script\s*:", block, re.M):
                problems.append(f"{where}: `script:` is not a plain string; cannot check imports")
            imports = third_party_imports(rule_file.parent / script, repo) if script else {}
            for env in envs:
                problems += _env_gaps(where, rule_file.parent / env, env, imports, pins, repo)
    return problems


def rule_envs(block: str) -> list[str]:
    """The env file(s) a rule block names: its plain `conda:` string, or both builds of a
    `torch_env(NAME)`."""
    env = directive(block, "conda")
    if env is not None:
        return [env]
    torch = TORCH_ENV.search(block)
    return [f"../../envs/{torch.group(2)}{build}.yaml" for build in TORCH_BUILDS] if torch else []


def _env_gaps(
    where: str, env_path: Path, env: str, imports: dict[str, Path], pins: dict[str, str],
    repo: Path,
) -> list[str]:
    """What an env lacks of the imports, or where it disagrees with requirements.txt."""
    env_file = env_path.resolve()
    if not env_file.is_file():
        return [f"{where}: env {env} does not exist"]
    listed = env_packages(env_file)
    problems = []
    for module, importer in sorted(imports.items()):
        package = CONDA_NAME.get(module, module.lower())
        by = f"imported as {module} by {importer.relative_to(repo)}"
        if package not in listed:
            problems.append(f"{where}: env {env_file.name} lacks {package} ({by})")
        elif package not in pins:
            problems.append(f"{where}: {package} is not pinned in requirements.txt ({by})")
        elif listed[package] != pins[package]:
            problems.append(
                f"{where}: env {env_file.name} has {package} "
                f"{listed[package] or 'unpinned'}, requirements.txt pins {pins[package]}"
            )
    return problems


def test_every_rule_env_has_what_its_code_imports():
    if not any(rules(path) for path in (REPO / "workflow" / "rules").glob("*.smk")):
        pytest.skip("no rules in workflow/rules/*.smk yet")
    problems = env_problems(REPO)
    assert not problems, "conda envs out of step with the code:\n" + "\n".join(problems)


def test_envs_pin_what_requirements_pin():
    pins = pinned_versions(REPO)
    mismatches = [
        f"envs/{env_file.name}: {package} {version or 'unpinned'}, requirements.txt pins "
        f"{pins[package]}"
        for env_file in sorted((REPO / "envs").glob("*.yaml"))
        for package, version in env_packages(env_file).items()
        if package in pins and version != pins[package]
    ]
    assert not mismatches, "\n".join(mismatches)


def test_checker_follows_premirna_imports_and_reports_each_gap(tmp_path):
    # A miniature repository: the rule's script imports RNA and premirna.model, which imports
    # torch and, relatively, premirna.data, which imports sklearn.
    (tmp_path / "requirements.txt").write_text("ViennaRNA==2.8.0\ntorch==2.13.0\n")
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "train.yaml").write_text(
        "channels: [conda-forge, bioconda]\n"
        "dependencies:\n  - python =3.11\n  - bioconda::viennarna =2.8.0\n  - pytorch =2.0.0\n"
    )
    (tmp_path / "premirna").mkdir()
    (tmp_path / "premirna" / "__init__.py").write_text("")
    (tmp_path / "premirna" / "model.py").write_text("import torch\nfrom .data import load\n")
    (tmp_path / "premirna" / "data.py").write_text("import json\nfrom sklearn import svm\n")
    (tmp_path / "workflow" / "scripts").mkdir(parents=True)
    (tmp_path / "workflow" / "scripts" / "train.py").write_text(
        "import RNA\nfrom premirna.model import fit\n"
    )
    (tmp_path / "workflow" / "rules").mkdir()
    (tmp_path / "workflow" / "rules" / "train.smk").write_text(
        "rule all:\n    input:\n        'model.pt',\n\n\n"
        "rule train:\n    output:\n        'model.pt',\n"
        "    conda:\n        '../../envs/train.yaml'\n"
        "    script:\n        '../scripts/train.py'\n\n\n"
        "rule plot:\n    output:\n        'plot.png',\n    shell:\n        'touch {output}'\n"
    )

    problems = env_problems(tmp_path)

    assert problems == [
        "workflow/rules/train.smk: rule train: env train.yaml lacks scikit-learn "
        "(imported as sklearn by premirna/data.py)",
        "workflow/rules/train.smk: rule train: env train.yaml has pytorch 2.0.0, "
        "requirements.txt pins 2.13.0",
        "workflow/rules/train.smk: rule plot: no `conda:` env file "
        "(as a plain string or torch_env)",
    ]


def channel_list(repo: Path) -> list[dict[str, str]]:
    """envs/channels.tsv: where each pinned package and version is published, and when that was
    checked (the channels cannot be reached from the development machine)."""
    lines = (repo / "envs" / "channels.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line]


def test_every_pinned_package_is_published_where_its_env_looks():
    published = channel_list(REPO)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["checked"]) for row in published)
    problems = []
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        env = yaml.safe_load(env_file.read_text())
        channels = set(env.get("channels", [])) - {"nodefaults", "defaults"}
        for dep in env.get("dependencies") or []:
            entries = ([("pypi", spec) for spec in dep.get("pip", [])] if isinstance(dep, dict)
                       else [("conda", str(dep))])
            for kind, spec in entries:
                name, version = split_spec(spec)
                triple = re.fullmatch(r"[^=]+=[^=]+=(.+)", spec)  # name=version=build
                build = triple.group(1) if triple else ""
                rows = [r for r in published if r["package"] == name
                        and r["version"] == version and r["build"] == build]
                where = f"envs/{env_file.name}: {spec}"
                if not rows:
                    problems.append(f"{where}: not in envs/channels.tsv")
                elif kind == "pypi" and rows[0]["channel"] != "pypi":
                    problems.append(f"{where}: in the pip section but published on "
                                    f"{rows[0]['channel']}; list it as a conda package")
                elif kind == "conda" and rows[0]["channel"] not in channels:
                    hint = " (use its pip section)" if rows[0]["channel"] == "pypi" else ""
                    problems.append(f"{where}: published on {rows[0]['channel']}, which the env "
                                    f"does not name{hint}")
    assert not problems, "\n".join(problems)


def test_torch_envs_come_in_a_cpu_and_a_cuda_build():
    for name in ("cnn", "train_cvae", "interpret"):
        cpu = env_packages(REPO / "envs" / f"{name}.yaml")
        cuda = env_packages(REPO / "envs" / f"{name}-cuda.yaml")
        assert cpu == cuda, name  # the same packages and versions, only the build differs
        specs = {
            build: [str(d) for d in yaml.safe_load((REPO / "envs" / f"{name}{build}.yaml")
                                                    .read_text())["dependencies"]
                    if str(d).startswith("pytorch")]
            for build in TORCH_BUILDS
        }
        assert specs == {"": ["pytorch=2.13.0=cpu*"], "-cuda": ["pytorch=2.13.0=cuda*"]}, name


@pytest.mark.parametrize(("build", "suffix"), [("cpu", ""), ("cuda", "-cuda")])
def test_torch_build_selects_the_env_file(build, suffix):
    # torch_env as workflow/rules/common.smk defines it, run under each value of the config key.
    source = (REPO / "workflow" / "rules" / "common.smk").read_text()
    start = source.index("def torch_env")
    end = source.index("\ndef ", start + 1)
    namespace = {"config": {"torch_build": build}}
    exec(source[start:end], namespace)
    for name in ("cnn", "train_cvae", "interpret"):
        path = namespace["torch_env"](name)
        assert path == f"../../envs/{name}{suffix}.yaml"
        assert (REPO / "workflow" / "rules" / path).resolve().is_file()

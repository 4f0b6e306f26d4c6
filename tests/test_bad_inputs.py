"""The catalogue of bad inputs, tried as a new user would: the command line and the workflow.

Every case asserts the contract: exit status 2 (Snakemake's own 1 for the workflow), one line on
stderr that names the file, the record or line where there is one, and the problem, no
traceback, and nothing left behind (no output, no temporary file). Cases that need a model use
the tiny CNN of tests/conftest.py. Files without read or write permission are made real: as root,
the command runs without the capabilities that let root ignore permissions (setpriv).

The same catalogue at unit level, beside the code it tests: the feature-tree format
(tests/classifier/test_feature_model.py), file modes under the umask (tests/core/test_atomic.py),
stale and untrained models and diverging losses (tests/classifier/test_train.py,
tests/generator/test_train.py), the classifier's domain (tests/classifier/test_classify.py),
settings bounds (tests/core/test_settings.py) and encodings (tests/rna/test_seqio.py).
"""

from __future__ import annotations

import gzip
import os
import pickle
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import BIN, REPO
from workflow_run import small_config, snakemake, write_config

from premirna.training.checkpoints import save_checkpoint

MIR21 = "UGUCGGGUAGCUUAUCAGACUGAUGUUGACUGUUGAAUCUCAUGGCAACACCAGUCGAUGGGCUGUCUGACA"
#: As root, drop the capabilities that bypass file permissions, so a mode-000 file is unreadable.
NO_OVERRIDE = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
)


class Evil:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def premirna(*args: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "premirna", *map(str, args)],
        capture_output=True, text=True, timeout=300,
    )


class Case:
    """What one bad-input case needs: a folder of inputs, an empty output folder, the models."""

    def __init__(self, tmp_path: Path, tiny_cnn: Path) -> None:
        self.dir = tmp_path / "in"
        self.dir.mkdir()
        self.out = tmp_path / "out"
        self.out.mkdir()
        self.model = tiny_cnn
        self.marker = tmp_path / "code-ran"

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.dir / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    def fasta(self, *records: tuple[str, str]) -> Path:
        return self.file("in.fa", "".join(f">{name}\n{seq}\n" for name, seq in records))

    def checkpoint(self, name: str, content: object) -> Path:
        path = self.dir / name
        torch.save(content, path)
        return path


def _features_pickle(c: Case):
    path = c.dir / "features_model.pkl"
    path.write_bytes(pickle.dumps(Evil(c.marker), protocol=4))
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", c.model,
            "--features", path], ["features_model.pkl", "pickle", "could run code"]


def _features_pickle_protocol_0(c: Case):
    path = c.dir / "old.npz"
    path.write_bytes(pickle.dumps(Evil(c.marker), protocol=0))
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", c.model,
            "--features", path], ["old.npz", "not a feature-tree model"]


def _model_malicious(c: Case):
    path = c.checkpoint("evil.pt", {"model": Evil(c.marker), "model_args": {}})
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", path], [
        "evil.pt", "not loaded", "could run code"]


def _model_text(c: Case):
    path = c.file("model.pt", "these are not weights\n")
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", path], [
        "model.pt", "not a PyTorch checkpoint"]


def _model_without_model_args(c: Case):
    path = c.checkpoint("weights.pt", {"model": {}})
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", path], [
        "weights.pt", "not a premirna checkpoint"]


def _model_wrong_shapes(c: Case):
    checkpoint = torch.load(c.model, weights_only=True)
    checkpoint["model_args"]["dense_units"] = 32
    path = c.dir / "reshaped.pt"
    save_checkpoint(checkpoint, path)
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", path], [
        "reshaped.pt", "weights do not fit"]


def _model_is_a_generator(c: Case):
    path = c.checkpoint("cvae.pt", {"model": {}, "model_args": {}, "vocabulary": ["x"],
                                    "bins": {}})
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", path], [
        "cvae.pt", "a generator checkpoint", "not a pre-miRNA classifier"]


def _model_directory(c: Case):
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", c.dir], [
        str(c.dir), "a folder"]


def _features_missing_without_hairpins(c: Case):
    return ["classify", c.fasta(("polyA", "A" * 80)), c.out / "o.tsv", "--model", c.model,
            "--features", c.dir / "nowhere.npz"], ["nowhere.npz", "no such file"]


def _features_without_trees(c: Case):
    path = c.dir / "features_model.npz"
    np.savez(path, meta=np.array('{"format": "premirna-feature-model/2"}'))
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", c.model,
            "--features", path], ["features_model.npz", "not a feature-tree model"]


def _encode_duplicate_ids(c: Case):
    table = c.file("in.tsv", f"id\tsequence\nm1\t{MIR21}\nm2\t{MIR21}\nm1\t{MIR21}\n")
    return ["encode", table, c.out / "o.npz"], ["in.tsv", "record m1", "duplicate id"]


def _fold_temperature(c: Case):
    return ["fold", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--temperature", "-500"], [
        "--temperature", "-500", "between 0 and 100"]


def _processes_zero(c: Case):
    return ["fold", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--processes", "0"], [
        "--processes", "at least 1"]


def _threshold_above_one(c: Case):
    return ["classify", c.fasta(("mir21", MIR21)), c.out / "o.tsv", "--model", c.model,
            "--threshold", "2"], ["--threshold", "between 0 and 1"]


def _input_directory(command: str, suffix: str) -> Callable[[Case], tuple]:
    def case(c: Case):
        folder = c.dir / f"folder{suffix}"
        folder.mkdir()
        extra = ["--model", c.model] if command == "classify" else []
        out = ".npz" if command == "encode" else ".tsv"
        return [command, folder, c.out / f"o{out}", *extra], [f"folder{suffix}", "a folder"]

    return case


def _output_directory(c: Case):
    target = c.out / "results"
    target.mkdir()
    return ["fold", c.fasta(("mir21", MIR21)), target], ["results", "a folder; name the output"]


def _output_read_only(c: Case):
    c.out.chmod(0o555)
    records = [(f"m{i}", MIR21) for i in range(200)]
    return ["fold", c.fasta(*records), c.out / "o.tsv"], ["o.tsv", "cannot write in",
                                                          "permission denied"]


def _input_unreadable(c: Case):
    path = c.fasta(("mir21", MIR21))
    path.chmod(0)
    return ["fold", path, c.out / "o.tsv"], ["in.fa", "permission denied"]


def _header_windows_1252(c: Case):
    path = c.file("in.fa", ">m1\nACGUACGU\n>m2 café\nACGUACGU\n".encode("cp1252"))
    return ["fold", path, c.out / "o.tsv"], ["in.fa", "line 3, column 8", "byte 0xe9",
                                             "not UTF-8"]


def _ragged_row(c: Case):
    table = c.file("in.tsv", f"id\tsequence\tstructure\nm1\t{MIR21}\t{'.' * len(MIR21)}\n"
                             f"m2\t{MIR21}\n")
    return ["encode", table, c.out / "o.npz"], ["in.tsv", "line 3 has 2 tab-separated fields",
                                                "header has 3"]


def _encode_names_the_row_by_id(c: Case):
    table = c.file("in.tsv", "id\tsequence\tstructure\nfirst\tGGGAAACCC\t(((...)))\n"
                             "second\tGGGAAACCC\t((....))\n")
    return ["encode", table, c.out / "o.npz"], ["in.tsv", "second"]


def _text_as_npz(c: Case):
    path = c.file("images.npz", "id\tsequence\n")
    return ["decode", path, c.out / "o.tsv"], ["images.npz", "not a numpy .npz archive", "text"]


def _fold_very_long(c: Case):
    rng = np.random.default_rng(0)
    long = "".join(rng.choice(list("ACGU"), 10_000))
    return ["fold", c.fasta(("chr_piece", long)), c.out / "o.tsv"], [
        "in.fa", "record chr_piece", "10000 nt", "windows", "--max-length"]


def _gzip_truncated(c: Case):
    data = gzip.compress(("".join(f">m{i}\n{MIR21}\n" for i in range(100))).encode())
    path = c.file("in.fa.gz", data[: len(data) // 2])
    return ["fold", path, c.out / "o.tsv"], ["in.fa.gz", "gzip"]


def _check_config_yaml(c: Case):
    text = (REPO / "config" / "config.yaml").read_text().replace("species: [hsa]", "species: [hsa")
    path = c.file("config.yaml", text)
    line = text.splitlines().index("  species: [hsa") + 1
    return ["check-config", path], ["config.yaml", "not valid YAML", f"at line {line}"]


def _check_config_species(c: Case):
    path = c.file("mine.yaml", "download:\n  species: [hsa, xyz]\n")
    return ["check-config", REPO / "config" / "config.yaml", path], [
        "mine.yaml", "download.species", "no hairpins of xyz"]


CLI_CASES: dict[str, Callable[[Case], tuple]] = {
    "features file is a pickle": _features_pickle,
    "features file is a protocol-0 pickle": _features_pickle_protocol_0,
    "model runs code when unpickled": _model_malicious,
    "model is a text file": _model_text,
    "model dict without model_args": _model_without_model_args,
    "model weights of other shapes": _model_wrong_shapes,
    "model is a generator checkpoint": _model_is_a_generator,
    "model is a folder": _model_directory,
    "features missing, no hairpin to score": _features_missing_without_hairpins,
    "features dict without its trees": _features_without_trees,
    "encode duplicate ids": _encode_duplicate_ids,
    "fold --temperature -500": _fold_temperature,
    "--processes 0": _processes_zero,
    "classify --threshold 2": _threshold_above_one,
    "fold input is a folder": _input_directory("fold", ".fa"),
    "encode input is a folder": _input_directory("encode", ".tsv"),
    "decode input is a folder": _input_directory("decode", ".npz"),
    "classify input is a folder": _input_directory("classify", ".fa"),
    "output is a folder": _output_directory,
    "output folder read-only": _output_read_only,
    "input unreadable": _input_unreadable,
    "Windows-1252 header": _header_windows_1252,
    "ragged TSV row": _ragged_row,
    "encode bad row named by id": _encode_names_the_row_by_id,
    "text file as .npz": _text_as_npz,
    "10,000-nt sequence to fold": _fold_very_long,
    "truncated gzip": _gzip_truncated,
    "check-config YAML syntax error": _check_config_yaml,
    "check-config unknown species": _check_config_species,
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_bad_input_is_one_line_exit_2_and_nothing_left(name, tmp_path, tiny_cnn):
    case = Case(tmp_path, tiny_cnn)
    args, words = CLI_CASES[name](case)
    try:
        proc = premirna(*args, prefix=NO_OVERRIDE)
    finally:
        for path in (case.out, *case.dir.iterdir()):
            path.chmod(stat.S_IRWXU)
    message = proc.stderr.strip()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(message.splitlines()) == 1, message
    assert message.startswith(("premirna ", "python -m premirna")), message
    for word in words:
        assert word in message, (word, message)
    assert [p.name for p in case.out.rglob("*") if p.name != "results"] == []
    assert not case.marker.exists()  # no code ran from a file


def test_cli_accepts_utf8_headers_and_writes_files_the_umask_allows(tmp_path):
    fasta = tmp_path / "in.fa"
    fasta.write_text(">m1 Müller’s hairpin\n" + MIR21 + "\n", encoding="utf-8")
    out = tmp_path / "out" / "folded.tsv"
    proc = subprocess.run([sys.executable, "-m", "premirna", "fold", fasta, out],
                          capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert pd.read_csv(out, sep="\t")["id"].tolist() == ["m1"]


def test_classify_gives_no_call_outside_its_domain(tmp_path, tiny_cnn):
    """A 12-nt hairpin and a 2,000-nt sequence: a status, no probability, and the long one is
    not folded (it would take minutes)."""
    checkpoint = torch.load(tiny_cnn, weights_only=True)
    checkpoint["domain"] = {"min_length": 41, "max_length": 180}
    model = tmp_path / "model.pt"
    save_checkpoint(checkpoint, model)
    rng = np.random.default_rng(1)
    fasta = tmp_path / "in.fa"
    fasta.write_text(f">tiny\nGGGGAAAACCCC\n>long\n{''.join(rng.choice(list('ACGU'), 2000))}\n"
                     f">mir21\n{MIR21}\n")
    out = tmp_path / "out.tsv"
    proc = premirna("classify", fasta, out, "--model", model)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=[""])
    assert table["status"].tolist() == ["too_short", "too_long", "ok"]
    assert table["probability"].isna().tolist() == [True, True, False]
    assert pd.isna(table.loc[1, "structure"])


# --- the workflow: config that fails at start, naming the file and the key ------------------

CONFIG_CASES = {
    "misspelt section": ({"downlaod": {}}, ["(top level)", "('downlaod' was unexpected)"]),
    "a word for a number": ({"fold": {"temperature": "hot"}},
                            ["fold.temperature", "'hot' is not of type 'number'"]),
    "a choice not offered": ({"download": {"iupac": "ignore"}},
                             ["download.iupac", "'ignore' is not one of ['drop', 'keep', "]),
    "split does not sum to 1": ({"download": {"split": {"train": 0.8, "val": 0.15,
                                                       "test": 0.15}}},
                                ["download.split", "sum to 1, not 1.1"]),
    "unknown species": ({"download": {"species": ["hsa", "xyz"]}},
                        ["download.species", "no hairpins of xyz"]),
    "batch_size 0": ({"train_cnn": {"batch_size": 0}},
                     ["train_cnn.batch_size", "less than the minimum of 1"]),
    "negative learning rate": ({"train_cnn": {"learning_rate": -1}},
                               ["train_cnn.learning_rate", "minimum of 0"]),
    "train_cnn epochs 0": ({"train_cnn": {"epochs": 0}}, ["train_cnn.epochs", "minimum of 1"]),
    "train_cvae epochs -5": ({"train_cvae": {"epochs": -5}},
                             ["train_cvae.epochs", "minimum of 1"]),
    "fold temperature -500": ({"fold": {"temperature": -500}},
                              ["fold.temperature", "minimum of 0"]),
    "user set file missing": ({"download": {"user_sets": [
        {"name": "mine", "path": "nowhere.fa", "label": "pre-miRNA"}]}},
        ["download.user_sets.0.path", "no such file 'nowhere.fa'"]),
    "user set label not offered": ({"download": {"user_sets": [
        {"name": "mine", "path": "nowhere.fa", "label": "yes"}]}},
        ["download.user_sets.0.label", "'yes' is not one of ['pre-miRNA', 'not']"]),
    "two user sets, one name": ({"download": {"user_sets": [
        {"name": "mine", "path": str(REPO / "README.md"), "label": "not"},
        {"name": "mine", "path": str(REPO / "README.md"), "label": "not"}]}},
        ["download.user_sets.1.name", "'mine' names two sets"]),
    "user set named as miRBase": ({"download": {"user_sets": [
        {"name": "mirbase_v22", "path": str(REPO / "README.md"), "label": "not"}]}},
        ["download.user_sets.0.name", "a source the workflow writes itself"]),
}


@pytest.mark.parametrize("name", list(CONFIG_CASES))
def test_workflow_config_fails_at_start_naming_the_key(name, tmp_path):
    extra, words = CONFIG_CASES[name]
    config = write_config(tmp_path, small_config(extra))
    proc = snakemake(tmp_path, "--dry-run", "--cores", "1", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    line = next(line for line in output.splitlines() if words[0] in line)
    assert line.startswith(f"{config}: {words[0]}: ")
    for word in words:
        assert word in line, (word, line)
    assert not (tmp_path / "results").exists()


def test_workflow_yaml_syntax_error_names_the_line(tmp_path):
    """The default config file (no --configfile) is read before Snakemake's reader, which would
    name no line."""
    text = (REPO / "config" / "config.yaml").read_text().replace("species: [hsa]", "species: [hsa")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(text)
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--dry-run", "--cores", "1", "--snakefile",
         str(REPO / "Snakefile")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    line = text.splitlines().index("  species: [hsa") + 1
    output = proc.stdout + proc.stderr  # Snakemake prints its errors on stdout
    assert proc.returncode != 0
    assert "config/config.yaml: not valid YAML: line" in output
    assert f"at line {line}" in output
    assert not (tmp_path / "results").exists()

"""The SLURM profile end to end, on a real one-node cluster (tests/slurm/cluster.sh).

A tiny self-contained workflow goes through `snakemake --profile profiles/slurm`: every job must be
submitted with sbatch, and the job that asks for a GPU must get one from SLURM. A GPU request on a
partition without GPUs must fail at submission with SLURM's own message. Without root or apt-get
the fixture skips these tests and says why.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

# Each rule records the SLURM job it ran in; gpu_step also what SLURM says it was given.
# make_input and gpu_step run side by side: each round of jobs costs about 12 s here (two Snakemake
# start-ups per job, and the plugin's next status check comes 10 s after one that found none done).
TINY_SNAKEFILE = """
rule all:
    input:
        "results/summary.txt",


rule make_input:
    output:
        "results/input.txt",
    shell:
        "echo slurm_job=$SLURM_JOB_ID > {output}"


rule gpu_step:
    output:
        "results/gpu.txt",
    resources:
        gpu=1,
    shell:
        "(echo slurm_job=$SLURM_JOB_ID; echo cuda_visible_devices=$CUDA_VISIBLE_DEVICES;"
        " scontrol show job $SLURM_JOB_ID) > {output}"


rule summary:
    input:
        "results/input.txt",
        "results/gpu.txt",
    output:
        "results/summary.txt",
    shell:
        "(echo slurm_job=$SLURM_JOB_ID; cat {input}) > {output}"
"""

GPU_ON_CPU_PARTITION_SNAKEFILE = """
rule train:
    output:
        "model.txt",
    resources:
        gpu=1,
        slurm_partition="cpu",
    shell:
        "echo trained > {output}"
"""


def slurm_job_id(path: Path) -> str:
    """The SLURM job id a rule wrote as the first line `slurm_job=<id>` of its output."""
    match = re.match(r"slurm_job=(\d+)\n", path.read_text())
    assert match, f"{path} was not written inside a SLURM job:\n{path.read_text()}"
    return match.group(1)


def test_tiny_workflow_runs_through_sbatch_and_gets_its_gpu(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)

    start = time.monotonic()
    result = slurm_cluster.run_snakemake(tmp_path, timeout=240)
    elapsed = time.monotonic() - start
    print(f"tiny workflow through SLURM: {elapsed:.1f} s")  # shown with pytest -s or on failure

    assert result.returncode == 0, result.stderr[-5000:]
    results = tmp_path / "results"
    jobs = {rule: slurm_job_id(results / f"{name}.txt") for rule, name in
            [("make_input", "input"), ("gpu_step", "gpu"), ("summary", "summary")]}  # fmt: skip
    assert len(set(jobs.values())) == 3, f"each rule needs its own SLURM job: {jobs}"

    # sbatch --output put each job's log under the plugin's log folder, named by its job id; the
    # profile's slurm-keep-successful-logs keeps them.
    for rule, job_id in jobs.items():
        log = tmp_path / ".snakemake" / "slurm_logs" / f"rule_{rule}" / f"{job_id}.log"
        assert log.is_file(), f"no SLURM log {log} for rule {rule}"

    # SLURM allocated the fake GPU to gpu_step's job (TresPerJob=gres:gpu:1) and exported it.
    gpu_report = (results / "gpu.txt").read_text()
    assert re.search(r"TresPerJob=\S*gres[:/]gpu[:=]1", gpu_report), gpu_report
    assert "cuda_visible_devices=0\n" in gpu_report, gpu_report


def test_gpu_request_on_partition_without_gpus_fails_clearly(slurm_cluster, tmp_path):
    # Partition cpu takes ordinary jobs (held here, then cancelled): it is the GPU it refuses.
    held = subprocess.run(
        ["sbatch", "--hold", "--parsable", "-p", "cpu", "--wrap", "true"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    subprocess.run(["scancel", held.stdout.strip()], check=True)

    (tmp_path / "Snakefile").write_text(GPU_ON_CPU_PARTITION_SNAKEFILE)
    result = slurm_cluster.run_snakemake(tmp_path, timeout=120)

    assert result.returncode != 0
    assert "SLURM sbatch failed" in result.stderr, result.stderr[-5000:]
    assert "Requested node configuration is not available" in result.stderr
    assert "--gpus=1" in result.stderr  # the failing sbatch call is shown in full
    assert not (tmp_path / "model.txt").exists()


@pytest.mark.slow
def test_real_workflow_through_slurm_puts_training_on_the_gpu(slurm_cluster, tmp_path):
    """The literal `snakemake --profile slurm` on a small real configuration, up to training."""
    from conftest import REPO
    from workflow_run import small_config, write_config

    write_config(tmp_path, small_config())
    start = time.monotonic()
    result = slurm_cluster.run_snakemake(
        tmp_path,
        ["train", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(tmp_path / "config" / "config.yaml")],
        timeout=1500,
    )  # fmt: skip
    print(f"small workflow up to training through SLURM: {time.monotonic() - start:.1f} s")
    assert result.returncode == 0, result.stderr[-6000:]
    assert (tmp_path / "results/train_cnn/model.pt").is_file()
    assert (tmp_path / "results/train_cvae/model.pt").is_file()

    logs = tmp_path / ".snakemake" / "slurm_logs"
    # Logs sit at rule_<name>/[<wildcards>/]<jobid>.log.
    ran = {path.relative_to(logs).parts[0].removeprefix("rule_") for path in logs.rglob("*.log")}
    assert {"make_molecules", "fold_chunk", "fold", "encode", "train_cnn", "train_cvae"} <= ran
    # Each training job was given the GPU gres by SLURM (the workflow profile's gpu=1);
    # SLURM keeps finished jobs visible for MinJobAge seconds.
    for rule in ("train_cnn", "train_cvae"):
        (log,) = (logs / f"rule_{rule}").rglob("*.log")
        job = subprocess.run(
            ["scontrol", "show", "job", log.stem], capture_output=True, text=True, check=True
        ).stdout
        assert re.search(r"TresPerJob=\S*gres[:/]gpu[:=]1", job), job

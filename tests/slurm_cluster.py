"""A one-node SLURM cluster for tests, and a helper that runs Snakemake through it.

The session-scoped fixture `slurm_cluster` starts the cluster of tests/slurm/cluster.sh, or skips
the test with the reason when this machine cannot host one (not root, no apt-get, daemons that do
not come up), and stops the daemons by PID afterwards, also when tests fail. Pytest sessions that
run side by side share the cluster: each holds a shared lock while it uses it; the last one out
stops it.
tests/conftest.py registers this module with `pytest_plugins = ["slurm_cluster"]`. Use:

    @pytest.mark.slurm
    def test_on_slurm(slurm_cluster, tmp_path):
        result = slurm_cluster.run_snakemake(tmp_path, ["--configfile", "config.yaml"], timeout=900)
        assert result.returncode == 0, result.stderr
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
# Sessions using the cluster hold this shared; the one that gets it exclusively stops the cluster.
USERS_LOCK = Path("/run/premirna-slurm-users.lock")
# The profile waits 20 s before the first status check, right for a real queue; here jobs start
# at once. MinJobAge (600 s) stays far above 3x this, as squeue needs.
FAST_STATUS_CHECKS = ("--slurm-init-seconds-before-status-checks", "1")


@dataclass(frozen=True)
class SlurmCluster:
    """Handle on the running test cluster."""

    profile: Path = PROFILE

    def run_snakemake(
        self, workdir: str | os.PathLike[str], args: Sequence[str] = (), timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run `snakemake --profile profiles/slurm ARGS` in `workdir`; never raise on failure.

        The workflow profile beside the Snakefile (profiles/default/) is loaded as in any run, also
        for `--snakefile /work/main/Snakefile --directory ...`.
        After `timeout` seconds Snakemake gets SIGINT (it ignores SIGTERM while it cancels its
        SLURM jobs) and SIGKILL 30 s later; the return code is then 124.
        """
        command = [
            "timeout", "-s", "INT", "-k", "30", str(timeout),
            # The plugin re-runs this same interpreter inside each job, so it must be the venv's.
            sys.executable, "-m", "snakemake",
            "--profile", str(self.profile), *FAST_STATUS_CHECKS, *args,
        ]  # fmt: skip
        # sbatch exports this environment to the jobs: shell rules find the venv's tools there too.
        venv_bin = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
        return subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, check=False
        )


def cluster_sh(action: str) -> subprocess.CompletedProcess[str]:
    """Run tests/slurm/cluster.sh start|stop|status; a hung apt-get counts as a failure."""
    try:
        return subprocess.run(
            [str(CLUSTER_SH), action], capture_output=True, text=True, check=False, timeout=300
        )
    except subprocess.TimeoutExpired as error:
        return subprocess.CompletedProcess(error.cmd, 124, "", f"{action} took over 300 s")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A running one-node SLURM cluster (partition main with one fake GPU, cpu without)."""
    if os.geteuid() != 0:
        pytest.skip("SLURM tests need root: they install SLURM and start its daemons")
    with open(USERS_LOCK, "a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)
        try:
            started = cluster_sh("start")
            if started.returncode != 0:
                # Joined on one line, as pytest's short summary (-rs) prints it.
                reason = " | ".join((started.stderr or started.stdout).split("\n")[-12:])
                pytest.skip(f"no SLURM cluster on this machine: {reason.strip(' |')}")
            yield SlurmCluster()
        finally:
            fcntl.flock(users, fcntl.LOCK_UN)
            _stop_unless_in_use()


def _stop_unless_in_use() -> None:
    with open(USERS_LOCK, "a") as users:
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another session still uses the cluster; it stops it when done
        stopped = cluster_sh("stop")
        if stopped.returncode != 0:
            print(f"stopping the SLURM test cluster failed: {stopped.stderr}", file=sys.stderr)

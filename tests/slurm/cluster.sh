#!/usr/bin/env bash
# A throw-away one-node SLURM cluster on this machine, for tests/test_slurm.py.
#
#   tests/slurm/cluster.sh start    install if needed, write the config, start the daemons, wait for idle
#   tests/slurm/cluster.sh stop     cancel our jobs, stop the daemons by the PIDs in their pid files
#   tests/slurm/cluster.sh status   daemons alive or not, and sinfo
#
# Node `localhost` carries one fake GPU (gres backed by /dev/null) and forms partition `main` (the
# default). Partition `cpu` holds node `nogpu`, which has no GPU and never starts: it exists so that a
# GPU request there is rejected at submission, as on a real cluster. Slurm is Debian bookworm's
# 22.05; docs/HPC.md ("Testing the profile") says what the tests do with it.
#
# Exit status: 0 ok; 2 this machine cannot host the cluster (not root, no apt-get, a site's own
# slurm.conf present), 1 the daemons did not come up. The pytest fixture turns both into a skip.
set -Eeuo pipefail

readonly MARKER="# Written by premirna tests/slurm/cluster.sh"
readonly CONF=/etc/slurm/slurm.conf
readonly GRES_CONF=/etc/slurm/gres.conf
readonly LOCK=/run/premirna-slurm-cluster.lock
readonly CTLD_PID=/run/slurmctld.pid
readonly SLURMD_PID=/run/slurmd.pid
readonly MUNGE_PID=/run/munge/munged.pid
readonly LOG_DIR=/var/log/slurm
readonly STATE_DIR=/var/lib/slurm

cannot() { echo "cluster.sh: cannot host a test cluster here: $*" >&2; exit 2; }
failed() { echo "cluster.sh: $*" >&2; exit 1; }
# Whatever else fails says what it was, rather than ending the script in silence.
trap 'failed "line $LINENO: \`$BASH_COMMAND\` failed"' ERR

# True when the pid file names a live process running the expected program (a stale file whose
# PID was reused by something else must never be killed).
alive() {
    local pidfile=$1 program=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$program" ]]
}

install_if_needed() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null && return 0
    command -v apt-get >/dev/null || cannot "SLURM is not installed and there is no apt-get"
    local packages=(munge slurmctld slurmd slurm-client)
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" \
        >/tmp/premirna-slurm-apt.log 2>&1; then
        # A fresh machine may have empty package lists; refresh once and retry.
        apt-get update >>/tmp/premirna-slurm-apt.log 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" \
            >>/tmp/premirna-slurm-apt.log 2>&1 \
            || cannot "apt-get install ${packages[*]} failed (see /tmp/premirna-slurm-apt.log)"
    fi
}

write_config() {
    # Never overwrite a configuration that a site or a person wrote.
    if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        cannot "$CONF exists and was not written by this script; refusing to overwrite it"
    fi
    local cpus mem_mb
    cpus=$(nproc)
    # What slurmd itself detects: configuring more memory than that drains the node.
    mem_mb=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mkdir -p /etc/slurm "$LOG_DIR" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd"
    cat >"$CONF" <<CONF
$MARKER; it is rewritten on every start and is safe to delete.
ClusterName=premirna-test
# Jobs find this file only at /etc/slurm/slurm.conf: the plugin clears SLURM_CONF inside jobs.
SlurmctldHost=localhost
AuthType=auth/munge
# Root everywhere: a test cluster on a single machine, no permission juggling.
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No systemd, no cgroups in a container: track processes by /proc and leave tasks unbound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
# cons_tres is what understands --gpus.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
# No accounting database, so sacct cannot see finished jobs; Snakemake asks squeue, which must
# remember finished jobs for at least 3x slurm-init-seconds-before-status-checks (the plugin checks).
AccountingStorageType=accounting_storage/none
MinJobAge=600
# Without it a job that gives no memory takes the whole node's.
DefMemPerCPU=256
# A node that was marked down comes back as soon as its slurmd registers again.
ReturnToService=2
# Never started: only there so that partition cpu has a node, and that node no GPU. It must come
# before localhost: in the other order Slurm 22.05 stops with "Duplicated NodeHostName nogpu".
NodeName=nogpu NodeAddr=127.0.0.1 CPUs=1 RealMemory=1000 State=FUTURE
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=nogpu MaxTime=INFINITE State=UP
CONF
    cat >"$GRES_CONF" <<CONF
$MARKER.
# A fake GPU: jobs are allocated it and see CUDA_VISIBLE_DEVICES=0, nothing more.
NodeName=localhost Name=gpu File=/dev/null
CONF
}

start_munge() {
    alive "$MUNGE_PID" munged && return 0
    install -d -o munge -g munge -m 0755 /run/munge
    # munged refuses to run as root.
    runuser -u munge -- /usr/sbin/munged 9>&- || failed "munged did not start"
}

wait_for_idle() {
    local state
    for _ in $(seq 1 60); do
        state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
        [[ $state == idle || $state == mix || $state == alloc ]] && return 0
        sleep 0.5
    done
    echo "sinfo never showed node localhost idle (last state: '${state:-none}'). Log tails:" >&2
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    return 1
}

start() {
    install_if_needed
    write_config
    start_munge
    # -c: discard saved state; a node that once went DRAIN would otherwise stay drained.
    alive "$CTLD_PID" slurmctld || slurmctld -c 9>&- || failed "slurmctld did not start"
    alive "$SLURMD_PID" slurmd || slurmd -N localhost 9>&- || failed "slurmd did not start"
    wait_for_idle || failed "the cluster did not become idle"
    sinfo
}

# Stop one daemon by the PID in its pid file: TERM, then KILL after 10 s.
stop_daemon() {
    local pidfile=$1 program=$2 pid
    alive "$pidfile" "$program" || { rm -f "$pidfile"; return 0; }
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true  # it may have just ended by itself
    for _ in $(seq 1 20); do
        [[ -d /proc/$pid ]] || { rm -f "$pidfile"; return 0; }
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

stop() {
    # Daemons of a site's own cluster are not ours to stop.
    if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        echo "cluster.sh: $CONF is not ours; leaving its daemons alone" >&2
        return 0
    fi
    if alive "$CTLD_PID" slurmctld && alive "$SLURMD_PID" slurmd; then
        # Job steps run under slurmstepd, which outlives slurmd: cancel our cluster's jobs first
        # and give slurmd a moment to end their steps.
        local jobs
        jobs=$(squeue -h -o %i 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            # shellcheck disable=SC2086  # one argument per job id
            scancel $jobs || true
            for _ in $(seq 1 20); do
                [[ -z $(squeue -h -t running,completing -o %i 2>/dev/null) ]] && break
                sleep 0.5
            done
        fi
    fi
    stop_daemon "$SLURMD_PID" slurmd
    stop_daemon "$CTLD_PID" slurmctld
    stop_daemon "$MUNGE_PID" munged
}

status() {
    local daemon pidfile
    for daemon in munged:$MUNGE_PID slurmctld:$CTLD_PID slurmd:$SLURMD_PID; do
        pidfile=${daemon#*:}
        if alive "$pidfile" "${daemon%%:*}"; then
            echo "${daemon%%:*}: running (pid $(<"$pidfile"))"
        else
            echo "${daemon%%:*}: stopped"
        fi
    done
    if alive "$CTLD_PID" slurmctld; then sinfo || true; fi
    return 0
}

case ${1:-} in
    start | stop)
        [[ $(id -u) == 0 ]] || cannot "not root (the daemons and /etc/slurm need root)"
        # Two test sessions may call start and stop at the same time; one at a time. The daemons
        # are started with fd 9 closed (9>&-): one that inherited it would hold the lock forever.
        exec 9>"$LOCK"
        flock 9
        "$1"
        ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 64
        ;;
esac

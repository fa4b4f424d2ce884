#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, from Debian's packages (slurm-wlm, munge): the controller
# (slurmctld) and the node daemon (slurmd) both run here, the machine's CPUs and memory as the node's.
# It is what tests/slurm.rs submits `remix run --executor slurm` to; on a real cluster, skip this script.
#
#   scripts/slurm-local.sh start    # install nothing; start munged, slurmctld, slurmd; wait for the node
#   scripts/slurm-local.sh stop     # stop the daemons this script started
#   scripts/slurm-local.sh status   # sinfo
#
# Its config and state live under ${REMIX_SLURM_DIR:-/tmp/remix-slurm}, never in /etc/slurm: Slurm's
# commands find the cluster through SLURM_CONF="$REMIX_SLURM_DIR/slurm.conf" (`start` prints the line to
# export). It refuses to start beside a Slurm controller it did not start, and `stop` stops only what it
# started. Needs root (the daemons run as root here; munge's key and socket live in /etc/munge, /run/munge).
set -euo pipefail

dir="${REMIX_SLURM_DIR:-/tmp/remix-slurm}"
conf="$dir/slurm.conf"

# The pid of a daemon this script started, if it still runs.
ours() {
  local pid
  pid="$(cat "$dir/$1.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

need() {
  for cmd in munged slurmctld slurmd sinfo; do
    command -v "$cmd" >/dev/null || {
      echo "slurm-local: $cmd is missing: apt-get install -y slurm-wlm munge" >&2
      exit 1
    }
  done
}

start() {
  need
  if pgrep -x slurmctld >/dev/null && [ -z "$(ours slurmctld)" ]; then
    echo "slurm-local: a Slurm controller this script did not start runs here: use that cluster" >&2
    exit 1
  fi
  mkdir -p "$dir"/{ctld,d,log} /run/munge /var/log/munge /var/lib/munge /etc/munge
  # munge: one key, a daemon running as root (--force: this is a throwaway single-node cluster).
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R root:root /etc/munge /run/munge /var/log/munge /var/lib/munge
  chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  chmod 0400 /etc/munge/munge.key
  chmod 0755 /run/munge
  if ! pgrep -x munged >/dev/null; then
    munged --force
    pgrep -x munged | head -n 1 > "$dir/munged.pid"
  fi
  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  cat >"$conf" <<CONF
# Written by remix's scripts/slurm-local.sh: a one-node cluster for tests.
ClusterName=remix-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  export SLURM_CONF="$conf"
  [ -n "$(ours slurmctld)" ] || slurmctld -f "$conf"
  [ -n "$(ours slurmd)" ] || slurmd -f "$conf"
  for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      sinfo >&2
      echo "export SLURM_CONF=$conf"
      return 0
    fi
    sleep 1
  done
  echo "slurm-local: the node did not come up; see $dir/log/" >&2
  tail -n 20 "$dir"/log/*.log >&2 || true
  exit 1
}

stop() {
  local pid
  for daemon in slurmd slurmctld munged; do
    pid="$(ours "$daemon" || true)"
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      # Gone before its pid file is: a start right after must not find it still running.
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    rm -f "$dir/$daemon.pid"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) SLURM_CONF="$conf" sinfo ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, from Debian's packages (slurm-wlm, munge): the controller
# (slurmctld) and the node daemon (slurmd) both run here, the machine's CPUs and memory as the node's.
# It is what tests/slurm.rs submits `remix run --executor slurm` to; on a real cluster, skip this script.
#
#   scripts/slurm-local.sh start    # install nothing; start munged, slurmctld, slurmd; wait for the node
#   scripts/slurm-local.sh stop     # stop the three daemons
#   scripts/slurm-local.sh status   # sinfo
#
# State lives under ${REMIX_SLURM_DIR:-/tmp/remix-slurm}. Needs root (the daemons run as root here, and
# munge's key and socket live under /etc/munge and /run/munge).
set -euo pipefail

dir="${REMIX_SLURM_DIR:-/tmp/remix-slurm}"
conf=/etc/slurm/slurm.conf

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
  mkdir -p "$dir"/{ctld,d,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge
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
  if ! pgrep -x slurmctld >/dev/null; then
    slurmctld
  fi
  if ! pgrep -x slurmd >/dev/null; then
    slurmd
  fi
  for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      sinfo
      return 0
    fi
    sleep 1
  done
  echo "slurm-local: the node did not come up; see $dir/log/" >&2
  tail -n 20 "$dir"/log/*.log >&2 || true
  exit 1
}

stop() {
  for daemon in slurmd slurmctld munged; do
    pkill -x "$daemon" 2>/dev/null || true
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac

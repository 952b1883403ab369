#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine: installs slurmctld, slurmd and munge from Debian
# when missing, starts them with a private config, runs a small sweep through `sbatch` (coordinator
# on the batch host, workers via `srun`), and checks the merged file with h5py. Needs root; stops
# every daemon it started. Part of tools/test.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
xlsweep=${XLSWEEP:-$root/.build/debug/xlsweep}
[[ -x "$xlsweep" ]] || { echo "slurm test: $xlsweep not built" >&2; exit 1; }

missing=()
for p in slurmctld slurmd slurm-client munge; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "slurm test: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/xlsweep-slurm.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    scancel --quiet --user=root 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# munge: its own key and socket directory, run as the munge user.
mkdir -p "$work/munge"
chown munge:munge "$work/munge"
[[ -s /etc/munge/munge.key ]] || { mungekey --create --force >/dev/null 2>&1 || dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key; }
socket="$work/munge/munge.socket"
runuser -u munge -- /usr/sbin/munged --socket="$socket" --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed"
for _ in $(seq 1 50); do [[ -S "$socket" ]] && break; sleep 0.1; done
pids+=("$(cat "$work/munge/munged.pid")")

host=$(hostname -s)
cpus=$(nproc)
memory=$(awk '/MemTotal/ {print int($2 / 1024) - 512}' /proc/meminfo)
mkdir -p "$work/ctld" "$work/d" "$work/logs"
cat > "$work/slurm.conf" <<CONF
ClusterName=xlsweep-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CryptoType=crypto/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$work/ctld
SlurmdSpoolDir=$work/d
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/logs/slurmctld.log
SlurmdLogFile=$work/logs/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmctldPort=16817
SlurmdPort=16818
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 100); do
    [[ -s "$work/slurmctld.pid" && -s "$work/slurmd.pid" ]] && break; sleep 0.1
done
pids+=("$(cat "$work/slurmctld.pid")" "$(cat "$work/slurmd.pid")")
for _ in $(seq 1 100); do
    sinfo -h -o %T 2>/dev/null | grep -qE '^idle' && break; sleep 0.2
done
sinfo -h -o "%P %T %D" | grep -q idle || { echo "slurm test: the node never became idle" >&2; cat "$work/logs/"*; exit 1; }

fixtures="$root/Tests/Fixtures"
cat > "$work/sweep.yaml" <<YAML
name: slurm-ci
output: out
data: $fixtures/sweep-data
languages: [en, es, fr, de]
checkpoints:
  - {name: step1, path: $fixtures/bloom-tiny}
  - {name: step2, path: $fixtures/bloom-tiny-fp16}
  - {name: step3, path: $fixtures/bloom-tiny-bf16}
probe: {tokens_per_language: 40, seeds: 2}
expertise: {k: 20, min_positives: 3}
alignment: {permutations: 3}
generation: {samples: 3, new_tokens: 6}
YAML

echo "slurm test: submitting through sbatch on node $host"
if ! XLSWEEP="$xlsweep" sbatch --wait --quiet --ntasks=2 --chdir="$work" "$root/cluster/slurm/sweep.sbatch" "$work/sweep.yaml"; then
    echo "slurm test: the job failed" >&2
    cat "$work"/xlsweep_*.log "$work/logs/"* >&2 || true
    exit 1
fi
ls "$work"/xlsweep_*_0.log "$work"/xlsweep_*_1.log >/dev/null   # one log per srun worker task
python3 - "$work/out/sweep.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
acc = f["probe_accuracy"]
assert acc.shape == (3, 4, 2), acc.shape
assert [d[0].name for d in acc.dims] == ["/checkpoint", "/layer", "/seed"], [d.keys() for d in acc.dims]
assert f.attrs["complete"] == "true"
assert list(f["checkpoint"].asstr()[:]) == ["step1", "step2", "step3"]
print("slurm test: merged file ok:", sys.argv[1])
PY
echo "slurm: 1 passed, 0 failed"

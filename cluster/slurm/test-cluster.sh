#!/usr/bin/env bash
# The sweep under a real Slurm cluster on this machine (netns-cluster.sh: a controller and three
# compute nodes, each in its own network namespace with its own address and host name). Part of
# tools/test.sh; needs root. Every case compares the cluster's sweep.h5 with a local `run` of the
# same config, dataset for dataset (tools/compare_sweeps.py):
#
#   two-nodes   sbatch --nodes=2 with CURVE: workers on both nodes, the node of each task recorded.
#   requeue     `scontrol requeue` mid-sweep: the workers give their tasks back, the coordinator exits
#               75, Slurm starts the job again and it resumes from the fragments; no attempt is spent.
#   bad-node    one node whose data directory is missing: its workers are refused with its host
#               name, `status` shows it and the node is cut off; the healthy node does the sweep.
#   dead-node   a node's slurmd and workers are killed mid-sweep: their tasks go to the other node.
#
# The last line is `slurm: N passed, M failed`; the exit status is non-zero when any case failed.
# Daemons, namespaces and links are removed at the end, also on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
xlsweep=${XLSWEEP:-$root/.build/debug/xlsweep}
[[ -x "$xlsweep" ]] || { echo "slurm test: $xlsweep not built" >&2; exit 1; }
source "$root/cluster/slurm/netns-cluster.sh"

work=$(mktemp -d /tmp/xlsweep-cluster.XXXXXX)
finish() { cluster_down; [[ -n "${XL_KEEP:-}" ]] || rm -rf "$work"; }
trap finish EXIT
fixtures="$root/Tests/Fixtures"
cp -r "$fixtures/sweep-data" "$work/data"
chmod -R a+rX "$work"
# xln3 is the broken node: its copy of the data is missing.
XL_BROKEN_NODE=3 XL_BROKEN_PATH="$work/data" cluster_up "$work/cluster" 3 2
echo "slurm test: cluster up: controller xlctl, nodes xln1 xln2 xln3 ($xl_subnet.0/24, in their own network namespaces)"

passed=0 failed=0
case_started=$SECONDS
pass() { echo "slurm test $1: ok ($((SECONDS - case_started)) s)"; passed=$((passed + 1)); }
fail() { echo "slurm test $1: FAILED: $2" >&2; failed=$((failed + 1)); }

# The same text in every directory, so sweep.h5 can be compared byte for byte.
write_config() {
    mkdir -p "$1"
    cat > "$1/sweep.yaml" <<YAML
name: slurm-ci
output: out
data: $work/data
languages: [en, es, fr, de]
checkpoints:
  - {name: step1, path: $fixtures/bloom-tiny}
  - {name: step2, path: $fixtures/bloom-tiny-fp16}
  - {name: step3, path: $fixtures/bloom-tiny-bf16}
probe: {tokens_per_language: 40, seeds: 2}
expertise: {k: 20, min_positives: 3}
alignment: {permutations: 3}
# Long enough generations (about 0.7 s a task) that a requeue lands mid-task.
generation: {samples: 32, new_tokens: 160}
lease_seconds: 10
max_node_failures: 2
YAML
}
write_config "$work/local"
(cd "$work/local" && "$xlsweep" run sweep.yaml --workers 2 >run.log 2>&1) || { cat "$work/local/run.log" >&2; echo "slurm test: the local reference run failed" >&2; exit 1; }
reference="$work/local/out/sweep.h5"
tasks=$(ls "$work/local/out/fragments" | grep -c '\.h5$')
echo "slurm test: local reference: $tasks tasks"

"$xlsweep" keys --out "$work/keys" --name coordinator >/dev/null
"$xlsweep" keys --out "$work/keys" --name worker >/dev/null
mkdir -p "$work/keys/authorized" && cp "$work/keys/worker.pub" "$work/keys/authorized/"

# submit DIR SBATCH-OPTIONS...: prints the job id. GRACE: seconds a stopped task gets (default 4).
submit() {
    local dir=$1; shift
    on_ctl env XLSWEEP="$xlsweep" XLSWEEP_KEYS="$work/keys" XLSWEEP_GRACE="${GRACE:-4}" XLSWEEP_PATIENCE=20 \
        sbatch --parsable --chdir="$dir" "$@" "$root/cluster/slurm/sweep.sbatch" "$dir/sweep.yaml"
}
# job_field ID FIELD: one field of `scontrol show job`.
job_field() { on_ctl scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
# wait_job ID SECONDS: until the job has ended for good (a requeued job passes through PENDING again).
wait_job() {
    local state
    for _ in $(seq 1 $(( $2 * 5 ))); do
        state=$(job_field "$1" JobState)
        case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) echo "$state"; return 0;; esac
        sleep 0.2
    done
    echo "TIMEOUT-WAITING($state)"
}
# `status` from the controller's node, as from a login node: it asks the coordinator on xln1.
status_of() { on_ctl "$xlsweep" status "$1/out" --key "$work/keys/worker.key" --server-key "$work/keys/coordinator.pub" 2>&1 || true; }
fragments() { ls "$1/out/fragments" 2>/dev/null | grep -c '\.h5$' || true; }
same_as_reference() { python3 "$root/tools/compare_sweeps.py" "$reference" "$1/out/sweep.h5" 2>&1; }
logs() { cat "$1"/xlsweep_*.log "$work/cluster/logs/"*.log 2>/dev/null | tail -80 >&2 || true; }
hosts() {
    python3 - "$1/out/sweep.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
print(",".join(sorted(set(f["task_host"].asstr()[:]))), int(f["task_attempt"][:].max()), len(f["task"]))
PY
}

case_two_nodes() {
    local dir="$work/two" job state
    write_config "$dir"
    job=$(submit "$dir" --nodes=2 --ntasks-per-node=1 --nodelist=xln1,xln2)
    state=$(wait_job "$job" 240)
    [[ "$state" == COMPLETED ]] || { logs "$dir"; fail two-nodes "job $job ended $state"; return; }
    local same; same=$(same_as_reference "$dir")
    [[ "$same" == same ]] || { fail two-nodes "sweep.h5 differs from the local run: $same"; return; }
    read -r ran attempts count < <(hosts "$dir")
    [[ "$ran" == "xln1,xln2" ]] || { fail two-nodes "tasks ran on '$ran', not on both nodes"; return; }
    [[ "$count" == "$tasks" ]] || { fail two-nodes "sweep.h5 records $count tasks, not $tasks"; return; }
    pass two-nodes
}

# stopped NAME HOW SIGNAL GRACE: a sweep stopped mid-way (HOW: a command given the job id), which
# must end with the coordinator's exit 75, a restart of the job, and the same sweep.h5.
stopped() {
    local name=$1 how=$2 signal=$3 dir="$work/$1" job state
    write_config "$dir"
    job=$(GRACE=$4 submit "$dir" --nodes=2 --ntasks-per-node=1 --nodelist=xln1,xln2)
    # Mid-sweep, with a generation (0.7 s) running, as `status` shows it.
    for _ in $(seq 1 600); do
        [[ $(fragments "$dir") -ge 10 ]] && status_of "$dir" | grep -q "running generate/" && break
        sleep 0.1
    done
    local before; before=$(fragments "$dir")
    $how "$job"
    echo "slurm test $name: job $job stopped ($how) with $before of $tasks fragments written"
    # Slurm holds a requeued job back for about two minutes; the test lets it start sooner (not at
    # once: a job credential issued in the second its predecessor's was revoked is refused).
    for _ in $(seq 1 300); do [[ $(job_field "$job" JobState) == PENDING ]] && break; sleep 0.2; done
    sleep 2
    on_ctl scontrol update JobId="$job" StartTime=now
    state=$(wait_job "$job" 300)
    [[ "$state" == COMPLETED ]] || { logs "$dir"; fail "$name" "job $job ended $state"; return; }
    local restarts; restarts=$(job_field "$job" Restarts)
    [[ "$restarts" -ge 1 ]] || { logs "$dir"; fail "$name" "job $job was not restarted (Restarts=$restarts)"; return; }
    local log="$dir/xlsweep_$job.log"
    grep -q "coordinator: stopped by $signal" "$log" || { logs "$dir"; fail "$name" "the coordinator did not say it was stopped by $signal"; return; }
    grep -q "(restart 1)" "$log" || { logs "$dir"; fail "$name" "the log shows no second start"; return; }
    local same; same=$(same_as_reference "$dir")
    [[ "$same" == same ]] || { fail "$name" "sweep.h5 differs from the local run: $same"; return; }
    read -r _ attempts count < <(hosts "$dir")
    [[ "$attempts" == 1 ]] || { logs "$dir"; fail "$name" "a task took $attempts attempts: the stop spent one"; return; }
    grep -qE "$5" "$log" "$dir"/xlsweep_"$job"_*.log || { logs "$dir"; fail "$name" "no log line says '$5'"; return; }
    pass "$name"
}
requeue_job() { on_ctl scontrol requeue "$1"; }
warn_job() { on_ctl scancel --batch --signal=USR1 "$1"; }
# `scontrol requeue` (as a preemption): SIGTERM everywhere; no grace, so running tasks are given back.
case_requeue() { stopped requeue requeue_job SIGTERM 0 "given back unfinished by .*the attempt not counted"; }
# The time-limit warning (--signal=B:USR1@LEAD) to the batch script: the sweep drains, the running
# tasks finish within their grace, and the script requeues the job itself.
case_time_limit() { stopped time-limit warn_job SIGUSR1 10 "requeueing job"; }

case_bad_node() {
    local dir="$work/bad" job state
    write_config "$dir"
    # xln3 sees an empty directory where the data should be (its own mount namespace).
    job=$(submit "$dir" --nodes=2 --ntasks=4 --ntasks-per-node=2 --nodelist=xln1,xln3)
    local seen=""
    for _ in $(seq 1 600); do
        if [[ -s "$dir/out/run.json" ]]; then
            seen=$(status_of "$dir")
            grep -q "nodes cut off" <<<"$seen" && break
        fi
        case $(job_field "$job" JobState) in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL) break;; esac
        sleep 0.2
    done
    state=$(wait_job "$job" 240)
    [[ "$state" == COMPLETED ]] || { logs "$dir"; fail bad-node "job $job ended $state"; return; }
    grep -q "xln3" <<<"$seen" && grep -q "nodes cut off" <<<"$seen" || { echo "last status: $seen" >&2; logs "$dir"; fail bad-node "status never showed xln3 cut off"; return; }
    grep -q "on xln3.*$work/data" <<<"$seen" || { echo "$seen" >&2; fail bad-node "status did not name xln3's missing data"; return; }
    local same; same=$(same_as_reference "$dir")
    [[ "$same" == same ]] || { fail bad-node "sweep.h5 differs from the local run: $same"; return; }
    read -r ran _ _ < <(hosts "$dir")
    [[ "$ran" == xln1 ]] || { fail bad-node "tasks ran on '$ran', not on xln1 alone"; return; }
    pass bad-node
}

case_dead_node() {
    local dir="$work/dead" job state
    write_config "$dir"
    job=$(submit "$dir" --nodes=2 --ntasks-per-node=1 --nodelist=xln1,xln2)
    for _ in $(seq 1 600); do
        [[ $(fragments "$dir") -ge 10 ]] && status_of "$dir" | grep -q "on xln2.*running generate/" && break
        sleep 0.1
    done
    kill_node 2
    echo "slurm test dead-node: xln2 killed with $(fragments "$dir") of $tasks fragments written"
    state=$(wait_job "$job" 240)
    [[ -s "$dir/out/sweep.h5" ]] || { logs "$dir"; fail dead-node "job $job ended $state without sweep.h5"; return; }
    local same; same=$(same_as_reference "$dir")
    [[ "$same" == same ]] || { fail dead-node "sweep.h5 differs from the local run: $same"; return; }
    grep -q "lease of .* on xln2:[0-9]* expired" "$dir/xlsweep_$job.log" || { logs "$dir"; fail dead-node "the coordinator never said xln2's lease expired"; return; }
    echo "slurm test dead-node: the job ended $state"
    pass dead-node
}

# dead-node kills a node: it comes last.
for c in ${XL_CASES:-two_nodes requeue time_limit bad_node dead_node}; do
    case_started=$SECONDS
    "case_$c" || fail "${c//_/-}" "the case itself errored"
done
echo "slurm: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

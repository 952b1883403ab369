#!/usr/bin/env bash
# Reads an XCTest log (swift test's output) and prints the honest count of its final summary:
#   tests: N passed, M failed, K skipped
# plus, with --extra-passed/--extra-failed/--extra-skipped, tests run outside XCTest (the Slurm test).
# XCTest's last "Executed N tests, with [K tests skipped and] F failures (U unexpected) in …" line is
# the one after "Test Suite 'All tests'". Its F counts assertion failures, not tests, so failed tests
# are counted from their "Test Case '…' failed (…)" lines. Exits 1 when anything failed or the log
# has no summary (the test process crashed or never started), else 0.
# Usage: tools/test-summary.sh LOG [--xctest-status S] [--extra-passed N] [--extra-failed N] [--extra-skipped N]
set -euo pipefail
log=$1; shift
extra_passed=0; extra_failed=0; extra_skipped=0; xctest_status=0
while [ $# -gt 0 ]; do
    case "$1" in
        --extra-passed) extra_passed=$2; shift 2 ;;
        --extra-failed) extra_failed=$2; shift 2 ;;
        --extra-skipped) extra_skipped=$2; shift 2 ;;
        --xctest-status) xctest_status=$2; shift 2 ;;
        *) echo "test-summary.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with " "$log" | tail -1 || true)
if [ -z "$summary" ]; then
    echo "tests: no XCTest summary found (the test process crashed or did not start)" >&2
    echo "tests: $extra_passed passed, $((extra_failed + 1)) failed, $extra_skipped skipped"
    exit 1
fi
total=$(echo "$summary" | sed -E 's/^[[:space:]]*Executed ([0-9]+) tests?.*/\1/')
skipped=$(echo "$summary" | sed -nE 's/.* ([0-9]+) tests? skipped.*/\1/p')
skipped=${skipped:-0}
failed=$(grep -cE "^Test Case '.*' failed \(" "$log" || true)
assertions=$(echo "$summary" | sed -nE 's/.* ([0-9]+) failures?.*/\1/p')
# A failure XCTest counted outside any test case still fails the run.
if [ "${assertions:-0}" -gt 0 ] && [ "$failed" -eq 0 ]; then failed=1; total=$((total + 1)); fi
# So does a test process that exited non-zero after its summary (a crash in teardown).
if [ "$xctest_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "tests: the test process exited with status $xctest_status" >&2
    failed=1; total=$((total + 1))
fi
passed=$((total - failed - skipped + extra_passed))
failed=$((failed + extra_failed))
skipped=$((skipped + extra_skipped))
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# The main job: a local sweep (coordinator + 2 worker processes) over the bundled tiny models —
# language-ID probes on every layer, concept experts, cross-lingual alignment, forced generation —
# merged into out/tiny/sweep.h5, with out/tiny/report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
swift build -c release --product xlsweep
bin=.build/release/xlsweep
$bin run configs/tiny.yaml --workers 2
$bin status out/tiny
h5ls out/tiny/sweep.h5
echo "open out/tiny/report.html in a browser"

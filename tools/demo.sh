#!/usr/bin/env bash
# The main job: the default sweep (configs/demo.yaml) over the bundled checkpoint series —
# language-ID probes on every layer, concept experts, cross-lingual alignment, forced generation —
# with a coordinator and 2 worker processes, leaving out/demo/sweep.h5 and out/demo/report.html.
# The data set is built from the offline Bible on first use (tools/build_data.py; cached in data/).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
if [ ! -s data/demo/manifest.json ]; then
    python3 tools/build_data.py --out data/demo
fi
swift build -c release --product xlsweep
bin=.build/release/xlsweep
$bin run configs/demo.yaml --workers 2
$bin status out/demo
echo "open out/demo/report.html in a browser"

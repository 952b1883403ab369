#!/usr/bin/env bash
# The main job until the sweep lands: extract every hidden state and MLP activation of the bundled
# tiny BLOOM model for multilingual sentences into one HDF5 file, then show what was written.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
swift build -c release --product xlsweep
bin=.build/release/xlsweep
mkdir -p out
model=Tests/Fixtures/bloom-tiny
$bin inspect "$model"
$bin extract --model "$model" --input configs/demo-sentences.txt --sites 'hidden.*,blocks.*.mlp_post' --out out/demo.h5
h5ls -r out/demo.h5
$bin generate --model "$model" --seed 1 --temperature 0.8 --top-p 0.9 --max-new-tokens 12
echo "wrote out/demo.h5"

#!/usr/bin/env bash
# Installs what xlsweep needs when it is missing: Debian's C libraries (ZeroMQ, HDF5, OpenBLAS)
# and, with --python, the pinned Python reference stack the tests compare against.
# Usage: tools/setup.sh [--python] [--torch]
set -euo pipefail
cd "$(dirname "$0")/.."

python=0; torch=0
for arg in "$@"; do
    case "$arg" in
        --python) python=1 ;;
        --torch) python=1; torch=1 ;;
        *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

debs=(libzmq3-dev libhdf5-dev hdf5-tools libopenblas-dev pkg-config)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$python" = 1 ]; then
    # The report test renders the page in headless Chromium.
    if ! command -v chromium >/dev/null 2>&1; then
        echo "setup: installing chromium"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    # Only ask pip when a pinned package is absent or at another version.
    pinned() {
        python3 - "$1" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
    }
    install() {
        pinned "$1" && return 0
        echo "setup: installing Python packages from $1"
        python3 -m pip install -q --disable-pip-version-check -r "$1"
    }
    if [ "$torch" = 1 ]; then
        install tools/requirements.txt
    else
        install tools/requirements-test.txt
        install tools/requirements-test-torch.txt ||
            echo "setup: note: the torch stack could not be installed; the tests that compare with transformers at run time will skip" >&2
    fi
fi

#!/usr/bin/env bash
# Installs the pinned OpenMMLab stack and mmkd-green into a virtualenv.
#
#   bash .ci/install.sh            # venv at ./.venv (override: MMKD_VENV=/path)
#
# mmcv 2.1.0 exists only as an sdist. It is built once (MMCV_WITH_OPS=1, C++20 because torch 2.14's
# headers reject mmcv's -std=c++17), which takes 25-40 min on 2 cores, and the wheel is cached
# outside the repo in $MMKD_WHEEL_CACHE (default ~/.cache/mmkd-green/wheels), keyed by the mmcv,
# torch, Python and machine versions. Every later install reuses the wheel and takes seconds.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MMKD_VENV:-$REPO/.venv}
CACHE=${MMKD_WHEEL_CACHE:-$HOME/.cache/mmkd-green/wheels}
PY=${PYTHON:-python3.11}
CONS=$REPO/requirements/constraints.txt
log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=(pip_quiet)
pip_quiet() {  # pip, minus the warnings about this machine's absent local package mirrors
  "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v '^WARNING: Location' >&2)
}
export PIP_CONSTRAINT=$CONS   # every pip call, also nested ones, keeps setuptools < 82

log "base tools + torch (from local disk when available)"
"${PIP[@]}" install -U "pip<26.2" wheel ninja "setuptools>=77,<82"
"${PIP[@]}" install torch==2.14.1 torchvision==0.29.1
log "OpenMMLab + test requirements"
"${PIP[@]}" install -r "$REPO/requirements/runtime.txt" -r "$REPO/requirements/tests.txt"

TORCH_V=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
PY_V=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
KEY="mmcv-2.1.0-torch${TORCH_V}-${PY_V}-$(uname -m)"
WHEEL_DIR="$CACHE/$KEY"
if ! "$VENV/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  if ! ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "no cached mmcv wheel in $WHEEL_DIR: building from the sdist (25-40 min on 2 cores)"
    BUILD=$(mktemp -d)
    "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation mmcv==2.1.0 -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-2.1.0.tar.gz -C "$BUILD"
    # torch >= 2.6 headers need C++20; mmcv 2.1.0 forces C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-2.1.0/setup.py"
    grep -q 'std=c++20' "$BUILD/mmcv-2.1.0/setup.py" || { echo "mmcv setup.py patch failed" >&2; exit 1; }
    ( cd "$BUILD/mmcv-2.1.0" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        PATH="$VENV/bin:$PATH" "${PIP[@]}" wheel --no-build-isolation --no-deps . -w "$BUILD/dist" )
    mkdir -p "$WHEEL_DIR.tmp.$$"
    cp "$BUILD"/dist/mmcv-2.1.0-*.whl "$WHEEL_DIR.tmp.$$/"
    rm -rf "$WHEEL_DIR"; mv "$WHEEL_DIR.tmp.$$" "$WHEEL_DIR"   # atomic publish into the cache
    rm -rf "$BUILD"
  else
    log "reusing cached mmcv wheel from $WHEEL_DIR"
  fi
  "${PIP[@]}" install "$WHEEL_DIR"/mmcv-2.1.0-*.whl
fi
"$VENV/bin/python" - <<'PY'
import torch
from mmcv.ops import nms
boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
scores = torch.tensor([0.9, 0.8, 0.7])
_, keep = nms(boxes, scores, iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
print('mmcv ops compiled: nms OK')
PY
log "mmkd-green (editable)"
"${PIP[@]}" install --no-deps --no-build-isolation -e "$REPO"
log "done: $VENV"

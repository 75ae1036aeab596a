#!/usr/bin/env bash
# Installs the pinned OpenMMLab stack and mmkd-green into a virtualenv.
#
#   bash .ci/install.sh            # venv at ./.venv (override: MMKD_VENV=/path)
#
# mmcv 2.1.0 exists only as an sdist. It is built once (MMCV_WITH_OPS=1, C++20 because torch 2.14's
# headers reject mmcv's -std=c++17), which takes 18-40 min on 2 cores (CPU ops; a line a minute
# says how many sources are compiled), and the wheel is cached outside the repo in
# $MMKD_WHEEL_CACHE (default ~/.cache/mmkd-green/wheels), keyed by the mmcv, torch, ops kind
# (cpu, or cuXY when built with CUDA ops), Python and machine versions. Every later install reuses
# the wheel and takes seconds.
#
# CUDA ops are built when torch sees a GPU and nvcc exists (or MMKD_MMCV_CUDA=1 forces it), for
# the GPUs present (TORCH_CUDA_ARCH_LIST, default: their compute capabilities); MMKD_MMCV_CUDA=0
# forces CPU-only ops. The final check runs mmcv.ops.nms on CPU tensors and, with a GPU, on CUDA.
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
# ops kind: cuXY (CUDA ops for torch's CUDA XY) where a GPU and nvcc are present, else cpu
read -r TORCH_CUDA GPU_ARCHS < <("$VENV/bin/python" -c '
import torch
cuda = torch.version.cuda or ""
archs = sorted({"%d.%d" % torch.cuda.get_device_capability(i)
                for i in range(torch.cuda.device_count())}) if cuda and torch.cuda.is_available() else []
print(cuda.replace(".", "") or "-", ";".join(archs) or "-")')
NVCC=$(command -v nvcc || { [ -n "${CUDA_HOME:-}" ] && ls "$CUDA_HOME/bin/nvcc"; } 2>/dev/null || true)
WITH_CUDA=0
if [ "${MMKD_MMCV_CUDA:-auto}" = 1 ]; then
  WITH_CUDA=1
elif [ "${MMKD_MMCV_CUDA:-auto}" = auto ] && [ "$GPU_ARCHS" != - ]; then
  if [ -n "$NVCC" ]; then WITH_CUDA=1; else
    log "WARNING: torch sees a GPU but there is no nvcc (CUDA toolkit): building mmcv with CPU ops only;"
    log "         mmcv.ops.nms on CUDA tensors (detection validation) will fail. Install the CUDA toolkit"
    log "         of torch's CUDA ${TORCH_CUDA} and rerun, or set MMKD_MMCV_CUDA=0 to accept CPU ops."
  fi
fi
if [ "$WITH_CUDA" = 1 ]; then
  [ "$TORCH_CUDA" != - ] || { echo "MMKD_MMCV_CUDA=1 but torch has no CUDA build" >&2; exit 1; }
  OPS="cu${TORCH_CUDA}"
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$([ "$GPU_ARCHS" != - ] && echo "$GPU_ARCHS" || echo "8.0;9.0+PTX")}
else
  OPS=cpu
fi
KEY="mmcv-2.1.0-torch${TORCH_V}-${OPS}-${PY_V}-$(uname -m)"
WHEEL_DIR="$CACHE/$KEY"
# the ops check: nms on CPU tensors, and on CUDA tensors when torch sees a GPU and CUDA ops are wanted
NMS_CHECK='
import sys, torch, mmcv
from mmcv.ops import nms
assert mmcv.__version__ == "2.1.0", mmcv.__version__
devices = ["cpu"] + (["cuda"] if sys.argv[1] == "1" else [])
for dev in devices:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32,
                         device=dev)
    scores = torch.tensor([0.9, 0.8, 0.7], device=dev)
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2], (dev, keep)
print("mmcv ops compiled: nms OK on " + ", ".join(devices))
'
if ! "$VENV/bin/python" -c "$NMS_CHECK" "$WITH_CUDA" >/dev/null 2>&1; then
  if ! ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "no cached mmcv wheel in $WHEEL_DIR: building from the sdist with $OPS ops (18-40 min on 2 cores for cpu ops; CUDA ops take longer)"
    BUILD=$(mktemp -d)
    "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation mmcv==2.1.0 -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-2.1.0.tar.gz -C "$BUILD"
    # torch >= 2.6 headers need C++20; mmcv 2.1.0 forces C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-2.1.0/setup.py"
    grep -q 'std=c++20' "$BUILD/mmcv-2.1.0/setup.py" || { echo "mmcv setup.py patch failed" >&2; exit 1; }
    SRC=$BUILD/mmcv-2.1.0
    OPS_SRC=$SRC/mmcv/ops/csrc/pytorch   # what mmcv's setup.py compiles (cuda/ only with CUDA)
    TOTAL=$(ls "$OPS_SRC"/*.cpp "$OPS_SRC"/cpu/*.cpp | wc -l)
    if [ "$WITH_CUDA" = 1 ]; then TOTAL=$((TOTAL + $(ls "$OPS_SRC"/cuda/*.cu "$OPS_SRC"/cuda/*.cpp | wc -l))); fi
    # progress: one line a minute with the number of compiled sources (object files so far)
    ( start=$(date +%s); while sleep 60; do
        n=$(find "$SRC" -name '*.o' 2>/dev/null | wc -l)
        log "mmcv build: $n of ~$TOTAL sources compiled after $(( ($(date +%s) - start) / 60 )) min"
      done ) &
    PROGRESS=$!
    trap 'kill $PROGRESS 2>/dev/null || true' EXIT
    ( cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=$WITH_CUDA MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        PATH="$VENV/bin:$PATH" "${PIP[@]}" wheel --no-build-isolation --no-deps . -w "$BUILD/dist" )
    kill "$PROGRESS" 2>/dev/null || true
    log "mmcv build: done ($TOTAL sources)"
    mkdir -p "$WHEEL_DIR.tmp.$$"
    cp "$BUILD"/dist/mmcv-2.1.0-*.whl "$WHEEL_DIR.tmp.$$/"
    rm -rf "$WHEEL_DIR"; mv "$WHEEL_DIR.tmp.$$" "$WHEEL_DIR"   # atomic publish into the cache
    rm -rf "$BUILD"
  else
    log "reusing cached mmcv wheel from $WHEEL_DIR"
  fi
  "${PIP[@]}" install --force-reinstall --no-deps "$WHEEL_DIR"/mmcv-2.1.0-*.whl
fi
"$VENV/bin/python" -c "$NMS_CHECK" "$WITH_CUDA"
log "mmkd-green (editable)"
"${PIP[@]}" install --no-deps --no-build-isolation -e "$REPO"
log "done: $VENV"

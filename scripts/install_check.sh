#!/usr/bin/env bash
# The README's pip installation, checked from outside the checkout: a clean clone installed into a
# fresh virtual environment (torch's CPU build first, then vaegan, then each extra), with the time
# and the environment's size after each step. Usage: bash scripts/install_check.sh [WORKDIR]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
venv=$work/venv
clone=$work/vaegan
size() { du -sm "$venv" | cut -f1; }
timed() {  # timed LABEL COMMAND...: run it, print its seconds and the MB it added
  local before start
  before=$(size); start=$(date +%s.%N)
  "${@:2}" 2>&1 | grep -v -E "^(WARNING|\[notice\])" || true
  printf '%-14s %6.1f s  +%d MB\n' "$1" "$(echo "$(date +%s.%N) - $start" | bc)" $(( $(size) - before ))
}
git clone -q "$repo" "$clone"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
echo "empty venv: $(size) MB ($("$venv/bin/pip" --version | cut -d' ' -f1-2))"
# TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU build where pip's own index would
# give the CUDA one (Linux); unset, pip's configured index (or a local one) is used.
timed torch "$venv/bin/pip" install -q "torch==2.13.0" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
timed vaegan "$venv/bin/pip" install -q "$clone"
for extra in serve tensorboard hub onnx fid; do
  timed "[$extra]" "$venv/bin/pip" install -q "$clone[$extra]"
done
cd "$work"  # away from the checkout: the installed package, not the source tree
"$venv/bin/vaegan" --version
"$venv/bin/python" -c "import torch, vaegan; print('torch', torch.__version__, '| vaegan from', vaegan.__file__)"
echo "total: $(size) MB"

#!/usr/bin/env bash
# The GPU measurements for docs/PERFORMANCE.md, in at most 8 minutes on one H100/H200-class GPU:
# the VAE/GAN step at batch 64/128/256 in fp32 and bf16, with torch.compile (and CUDA graphs through
# its reduce-overhead mode) at a small and a large batch, model FLOPs utilisation against the GPU's
# peak, and the quality recipe's images/s end to end (`vaegan train --preset quality`).
#
#   bash benchmarks/gpu.sh [OUT]      # from the repository root; OUT (default gpu-results) gets the logs
#
# It needs a CUDA build of torch and vaegan's dependencies (numpy, pillow, safetensors, tqdm,
# torchmetrics; plotly for report.html, else training only warns); it runs vaegan from src/ without
# installing it. Each part has its own time limit (480 s in all), so one slow part cannot eat the
# others'.
set -uo pipefail
out=${1:-gpu-results}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
log() { echo "== $* ($(date +%T))" | tee -a "$out/summary.md"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/summary.md"
$py -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)" | tee -a "$out/summary.md"

step() {  # step LIMIT_S NAME ARGS...: one benchmarks/step.py table, appended to the summary
  local limit=$1 name=$2
  shift 2
  timeout "$limit" $py benchmarks/step.py --device cuda --variants vaegan --steps 20 --repeats 3 \
    --warmup 5 --markdown "$@" >"$out/$name.md" 2>"$out/$name.log"
  echo "exit $? after $SECONDS s" >>"$out/$name.log"
  cat "$out/$name.md" "$out/$name.log" >>"$out/summary.md"
}

# 1. eager fp32 and bf16 at three batch sizes, both image shapes, channels_last (the default); and
#    fp32 in NCHW once, to see whether cuDNN prefers a layout (about 4 minutes)
for precision in fp32 bf16; do
  for batch in 64 128 256; do
    log "step $precision batch $batch"
    step 35 "step_${precision}_b$batch" --shapes 32x1,64x3 --precision "$precision" --batch-size "$batch"
  done
done
log "step fp32 batch 128, NCHW"
step 30 step_fp32_b128_nchw --shapes 64x3 --batch-size 128 --no-channels-last

# 2. torch.compile: inductor at batch 256, and CUDA graphs (reduce-overhead) at batch 64, where
#    launch overhead dominates (about 3 minutes, most of it compiling)
log "compile default, 64x64x3, batch 256"
step 70 compile_default_b256 --shapes 64x3 --batch-size 256 --compile default
log "compile reduce-overhead (CUDA graphs), 32x32x1, batch 64"
step 70 compile_graphs_b64 --shapes 32x1 --batch-size 64 --compile reduce-overhead

# 3. the quality recipe end to end (data, step, moving average, prior refits, grids), on random
#    Fashion-MNIST-shaped images: speed does not depend on what the images show (about 1 minute)
data=$(mktemp -d)
$py - "$data" <<'PY'
import gzip, struct, sys
import numpy as np
root, rng = sys.argv[1], np.random.default_rng(0)
for prefix, n in (("train", 60000), ("t10k", 10000)):
    for kind, shape in (("images-idx3", (n, 28, 28)), ("labels-idx1", (n,))):
        a = rng.integers(0, 10 if kind.startswith("labels") else 256, shape).astype(np.uint8)
        header = bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
        with gzip.open(f"{root}/{prefix}-{kind}-ubyte.gz", "wb", compresslevel=1) as f:
            f.write(header + a.tobytes())
PY
for batch in 32 256; do
  log "quality recipe, batch $batch, 2000 steps"
  timeout 50 $py -m vaegan --log-level warning train --preset quality --data-dir "$data" \
    --device cuda --steps 2000 --batch-size "$batch" --out "$data/q$batch" \
    --set train.log_every=250 --set train.sample_every=1000 --set train.checkpoint_every=2000 \
    --cache-dir "$data/cache" >"$out/quality_b$batch.log" 2>&1
  echo "exit $?" >>"$out/quality_b$batch.log"
  $py - "$data/q$batch/metrics.jsonl" <<'PY' | tee -a "$out/summary.md"
import json, statistics, sys
try:
    lines = [json.loads(line) for line in open(sys.argv[1])]
except OSError as err:
    sys.exit(f"no metrics: {err}")
speeds = [line["images_per_s"] for line in lines if "images_per_s" in line][1:]  # skip warm-up
print(f"images/s median {statistics.median(speeds):.0f} (min {min(speeds):.0f}, max {max(speeds):.0f})"
      f" over {len(speeds)} logging intervals" if speeds else "no speed logged")
PY
done
rm -rf "$data"
log "done in $SECONDS s"

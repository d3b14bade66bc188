#!/usr/bin/env bash
# Training half of docs/REPRODUCTION.md: every model of the comparison on Fashion-MNIST 32x32,
# the same config, steps and batch (equal images seen), one after the other, on THREADS threads.
# A run that exists is resumed (or left alone when finished), so this can be re-run after a stop;
# a run another invocation is training is skipped (lock file), so two can share the list.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/repro}
THREADS=${THREADS:-1}
MODELS=${MODELS:-"vae vae_disl gan vaegan cvae cgan cvaegan"}
mkdir -p "$OUT"
for model in $MODELS; do
    run="$OUT/$model"
    exec 9>"$run.lock"
    if ! flock -n 9; then
        echo "$run: being trained by another invocation; skipped"
        continue
    fi
    if [ -f "$run/checkpoint/trainer.json" ]; then resume=(--resume); else resume=(); fi
    OMP_NUM_THREADS=$THREADS .venv/bin/vaegan train --config configs/fashion32.json \
        --model "$model" --out "$run" --quiet "${resume[@]}"
    exec 9>&-
done

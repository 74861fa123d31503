#!/usr/bin/env bash
# The whole GPU check in one command, for a lent GPU machine that has torch, numpy, scipy,
# scikit-learn, pandas and Pillow but no network: installs the staged wheels (cleanlab and its
# pure-Python deps, from benchmarks/stage_gpu_data.sh), runs the CPU-sized smoke on the GPU
# (stops there if it fails), then all 50k CIFAR-10N images for `worse` and `aggre`:
# CE + trusted vs cleanlab OOF -> decision policy -> retrain vs VRI vs RST. Output goes to $OUT/<noise>.txt.
# Usage (device tool, carrying .bench_data and .whl): bash benchmarks/run_gpu_cifar10n.sh
set -uo pipefail
OUT=${OUT:-/tmp/sieve-gpu-out}
mkdir -p "$OUT"
PY=${PY:-python3}
$PY -m pip install -q --no-index --no-deps --target /tmp/sieve-site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/sieve-site:. PYTHONUNBUFFERED=1 SIEVE_SHARED_DATA=$PWD/.bench_data
(nvidia-smi -L; $PY -c "import torch; print('torch', torch.__version__)") | tee "$OUT/device.txt"
$PY -m benchmarks.labels_gpu_cifar10n --smoke --device "${DEVICE:-cuda}" 2>&1 | tee "$OUT/smoke.txt" \
    || exit 1
for noise in ${NOISES:-worse aggre}; do
    $PY -m benchmarks.labels_gpu_cifar10n --noise "$noise" --device "${DEVICE:-cuda}" \
        --methods "${METHODS:-ce,cleanlab_oof,vri,rst}" 2>&1 | tee "$OUT/$noise.txt"
done

#!/usr/bin/env bash
# Copy what benchmarks/labels_gpu_cifar10n.py reads into the git-ignored .bench_data/ (about
# 58 MB: five CIFAR-10N train zips, the label file, the test zip and labels), so that it can
# travel to a GPU machine as a carried path. Source: $SIEVE_SHARED_DATA or ../shared/data.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
src="${SIEVE_SHARED_DATA:-$repo/../shared/data}/images"
dst="$repo/.bench_data/images"
mkdir -p "$dst/cifar10n" "$dst/cifar10_test"
cp -u "$src"/cifar10n/cifar10_train_*_jpg.zip "$src"/cifar10n/cifar10n_labels_50000.npz "$dst/cifar10n/"
cp -u "$src"/cifar10_test/cifar10_test_00000-09999_jpg.zip "$src"/cifar10_test/cifar10_test_original_labels.npy \
    "$dst/cifar10_test/"
du -sh "$repo/.bench_data"
# The GPU image has torch, numpy, scipy, scikit-learn, pandas, Pillow and h5py but not cleanlab:
# bring it (pure Python) and its one missing dependency as wheels in the git-ignored .whl/.
mkdir -p "$repo/.whl"
"$repo/.venv/bin/python" -m pip download -q --no-deps --only-binary=:all: -d "$repo/.whl" \
    cleanlab==2.9.0 termcolor==3.3.0
ls "$repo/.whl"

#!/usr/bin/env bash
# One exact score-matching training step (loss, backward, Adam) from
# PyTorch: ebm's loss against PyTorch autograd's variants, in one process
# (see torch_step.py's docstring).
#
#   ebm-bench/peers/torch_step.sh [--repeats 11] [--warmup 2] [--dim 64]
#                                 [--hidden 256,256] [--batch 1024]
#                                 [--no-compile] [--out DIR]
#
# Uses ebm-bench/peers/.venv (run.sh's venv; created here with torch and
# numpy from requirements.txt if it has no torch) and installs the Python
# package from ./ebm-py into it on every run (maturin; cargo reuses
# CARGO_TARGET_DIR). Thread count: nproc for torch and ebm alike (override
# with PEERS_THREADS).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
threads="${PEERS_THREADS:-$(nproc)}"
export PEERS_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" RAYON_NUM_THREADS="$threads"
vpy="$here/.venv/bin/python"
if ! [ -x "$vpy" ] || ! "$vpy" -c 'import torch, numpy' 2>/dev/null; then
    reqs=$(grep -E '^(torch|numpy)==' "$here/requirements.txt" | xargs)
    echo "torch_step: creating $here/.venv and installing $reqs" >&2
    "${PYTHON:-python3}" -m venv "$here/.venv"
    # shellcheck disable=SC2086
    "$vpy" -m pip install --quiet $reqs
fi
"$vpy" -m pip install --quiet "$here/../../ebm-py"
cd "$here"
exec "$vpy" "$here/torch_step.py" --out "${CARGO_TARGET_DIR:-$here/../../target}/peers" "$@"

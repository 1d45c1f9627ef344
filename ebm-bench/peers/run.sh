#!/usr/bin/env bash
# ebm against PyTorch and JAX on the same MLP energy (see run.py's docstring).
#
#   ebm-bench/peers/run.sh [--repeats 21] [--warmup 2] [--configs d64,d16,d2]
#                          [--ops energy,...] [--no-compile] [--out DIR]
#
# First use: creates ebm-bench/peers/.venv and installs requirements.txt from
# PyPI (torch's Linux wheel brings its CUDA libraries: a few GB). Every run
# builds peer_ebm (release), then runs the ebm side and the peers in one go.
# Thread count: nproc, for every framework (override with PEERS_THREADS).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
py="${PYTHON:-python3}"

if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, jax, numpy' 2>/dev/null; then
    echo "peers: creating $venv and installing $(grep -v '^#' "$here/requirements.txt" | xargs)" >&2
    "$py" -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi

threads="${PEERS_THREADS:-$(nproc)}"
export PEERS_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" RAYON_NUM_THREADS="$threads"
export XLA_FLAGS="${XLA_FLAGS:---xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=$threads}"

tdir="${CARGO_TARGET_DIR:-$root/target}"
# PEER_EBM_BIN: a peer_ebm already built (the main job's bench target `peers`
# passes the one cargo built with it, so no cargo runs inside cargo).
bin="${PEER_EBM_BIN:-}"
if [ -z "$bin" ]; then
    (cd "$root" && cargo build --release --quiet -p ebm-bench --bin peer_ebm)
    bin="$tdir/release/peer_ebm"
fi
cd "$root"
exec "$venv/bin/python" "$here/run.py" --ebm-bin "$bin" --out "$tdir/peers" "$@"

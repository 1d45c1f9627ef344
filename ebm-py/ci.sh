#!/usr/bin/env bash
# Builds and tests the Python package `ebm` from this checkout, as a user
# would install it: a fresh virtual environment, `pip install ./ebm-py`,
# then pytest against PyTorch float64 autograd.
#
# Needs python3 (>= 3.9, with venv) and the Rust toolchain; everything else
# comes from the package registry. Run from anywhere: `bash ebm-py/ci.sh`.
#
# Environment (all optional):
#   EBM_PY_VENV        where to create the venv (default: a temporary
#                      directory, removed at exit)
#   EBM_PY_TORCH       the torch requirement (default: torch==2.15.0)
#   EBM_PY_TORCH_INDEX a pip index for torch, e.g.
#                      https://download.pytorch.org/whl/cpu (a CPU-only
#                      wheel: about 1 GB less disk than PyPI's CUDA build)
#   CARGO_TARGET_DIR   honoured by the build (share compiled dependencies)
#
# Fails (non-zero exit) on any missing tool, build error, failing test or
# skipped test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

die() { echo "ebm-py/ci.sh: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 not found"
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "python3 >= 3.9 required, found $(python3 --version)"
python3 -c 'import venv, ensurepip' 2>/dev/null || die "python3 lacks venv/ensurepip (Debian: apt-get install python3-venv)"

if [[ -n "${EBM_PY_VENV:-}" ]]; then
    venv="$EBM_PY_VENV"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    venv="$tmp/venv"
fi

start=$SECONDS
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip

torch_args=("${EBM_PY_TORCH:-torch==2.15.0}")
[[ -n "${EBM_PY_TORCH_INDEX:-}" ]] && torch_args+=(--index-url "$EBM_PY_TORCH_INDEX" --extra-index-url https://pypi.org/simple)
"$py" -m pip install --quiet pytest numpy safetensors "${torch_args[@]}"

# The package itself, built by maturin from the clean tree.
"$py" -m pip install "$repo/ebm-py"
echo "ebm-py/ci.sh: installed in $((SECONDS - start)) s"

# Run from the tests directory so that `import ebm` is the installed
# package, never the source tree.
cd "$here/tests"
"$py" -m pytest -p no:cacheprovider -q .
echo "ebm-py/ci.sh: passed in $((SECONDS - start)) s (venv: $(du -sh "$venv" | cut -f1))"

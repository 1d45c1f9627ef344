#!/usr/bin/env bash
# Data-parallel scaling on this machine: `ebm train --distributed` on 1 and
# 2 ranks (and more with RANKS="1 2 4"), same seed and global batch, and the
# plain single-process run. Prints steps/s and the seconds each run's rank 0
# spent in the per-step all-gather of the partial sums (metrics.json's
# steps_per_second and collective_seconds). See docs/scale.md.
#
#   cargo build --release -p ebm-cli --features mpi
#   bash ebm-dist/bench/ranks.sh [path/to/ebm]
#
# Settings: MODEL (mlp:128,128:softplus), EST (dsm), BATCH (512), STEPS (100),
# RANKS ("1 2"), THREADS (rayon threads per rank, default: rayon's choice,
# all cores; THREADS=1 gives each rank one core).
set -euo pipefail
ebm="${1:-${CARGO_TARGET_DIR:-target}/release/ebm}"
model="${MODEL:-mlp:128,128:softplus}"
est="${EST:-dsm}"
batch="${BATCH:-512}"
steps="${STEPS:-100}"
ranks="${RANKS:-1 2}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
printf 'n_data = 4096\nplot_samples = 0\neval_every = 0\ncheckpoint_every = %s\n' "$steps" >"$dir/c.toml"
args=(train -q --config "$dir/c.toml" --model "$model" --estimator "$est" --batch "$batch" --steps "$steps")
report() {
    python3 - "$1" "$2" <<'PY'
import json, sys
m = json.load(open(sys.argv[2] + "/metrics.json"))
sps, coll = m.get("steps_per_second"), m.get("collective_seconds")
steps = m["steps_done"]
line = f"{sys.argv[1]:>12}  {sps:9.1f} steps/s  {1e3 / sps:8.3f} ms/step"
if coll is not None:
    line += f"  all-gather {1e3 * coll / steps:7.3f} ms/step ({100 * coll * sps / steps:4.1f} %)"
print(line)
PY
}
echo "model $model, estimator $est, global batch $batch, $steps steps, $(nproc) cores"
"$ebm" "${args[@]}" --out "$dir/plain"
report "plain" "$dir/plain"
for n in $ranks; do
    env=()
    [ -z "${THREADS:-}" ] || env=(-x "RAYON_NUM_THREADS=$THREADS")
    mpirun --oversubscribe --allow-run-as-root --mca btl self,vader "${env[@]}" -np "$n" "$ebm" "${args[@]}" --distributed --out "$dir/r$n"
    report "$n rank(s)" "$dir/r$n"
done

#!/usr/bin/env bash
# Regenerates docs/gallery.md and docs/gallery/*.png: the density of the
# default fit (`ebm train --data SET`, no other flag) of every built-in 2-D
# set, and pinwheel under each estimator family (the defaults plus
# `--estimator E`, 3000 steps). Anyone can rerun it from a clone:
#   bash docs/gallery/make.sh
# It builds the `ebm` binary, trains in a temporary directory and replaces
# the PNGs and the page (about 3 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p ebm-cli
ebm="${CARGO_TARGET_DIR:-target}/release/ebm"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dir=docs/gallery
page=docs/gallery.md

# "NLL (mixture)" of a run, from its metrics.json.
nll() {
    python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["heldout"]; print("%.3f | %.3f | %.1f" % (h["nll"], h["reference_nll"], json.load(open(sys.argv[1]))["steps_per_second"]))' "$1/metrics.json"
}

{
    echo "# Gallery"
    echo
    echo "Made by \`bash docs/gallery/make.sh\` ($(git rev-parse --short HEAD), $(date -u +%Y-%m-%d))."
    echo "Each picture is a run's \`density.png\`: the model density p ∝ exp(−E) over the data's"
    echo "frame, the training data in white. NLL is the held-out exact NLL (nats, data units;"
    echo "lower is better); *mixture* is that of a 32-component full-covariance Gaussian mixture"
    echo "fitted by EM to the same training split (\`heldout.reference_nll\`)."
    echo
    echo "## The defaults on every built-in 2-D set"
    echo
    echo "\`ebm train --data SET --out run\`: standardised data, DSM (σ = 0.05, antithetic), MLP 64-64-64,"
    echo "Adam 3e-3 with a cosine decay, 10 000 steps."
    echo
    echo "| set | held-out NLL | mixture | steps/s | density |"
    echo "| --- | --- | --- | --- | --- |"
} > "$page"
for set in 8gaussians 2spirals checkerboard circles moons pinwheel rings swissroll gmm-2d; do
    "$ebm" train -q --data "$set" --out "$tmp/$set"
    cp "$tmp/$set/density.png" "$dir/$set.png"
    echo "| $set | $(nll "$tmp/$set") | ![$set]($set.png) |" | sed "s|($set.png)|(gallery/$set.png)|" >> "$page"
done
{
    echo
    echo "## One set, every estimator family"
    echo
    echo "\`ebm train --data pinwheel --estimator E --steps 3000\` (other settings at their defaults)."
    echo
    echo "| estimator | held-out NLL | mixture | steps/s | density |"
    echo "| --- | --- | --- | --- | --- |"
} >> "$page"
for est in dsm esm ssm-vr nce cd pcd icd lsd; do
    "$ebm" train -q --data pinwheel --estimator "$est" --steps 3000 --out "$tmp/e-$est"
    cp "$tmp/e-$est/density.png" "$dir/pinwheel-$est.png"
    echo "| $est | $(nll "$tmp/e-$est") | ![$est](gallery/pinwheel-$est.png) |" >> "$page"
done
echo "wrote $page and $(ls "$dir"/*.png | wc -l) pictures in $dir"

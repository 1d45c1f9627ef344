#!/usr/bin/env bash
# Prepares the one-shot device run (README "Device run"): builds what
# ebm-bench/device/run.sh needs on a machine without a Rust toolchain, and
# puts everything that must travel into the git-ignored folder .device/:
#
#   .device/bin.tar.xz   stripped release binaries: gpu_roofline, gpu_check,
#                        peer_ebm, the adapters example and every ebm-kernels
#                        test binary (kt-<test name>), one solid xz archive
#                        (the binaries share most of their code, so one
#                        archive with a large dictionary is ~5x smaller than
#                        each compressed alone)
#   .device/debs/*.deb   the Vulkan / GL loader packages for amd64 (Debian's
#                        libvulkan1 and companions), unpacked there when the
#                        machine has no Vulkan loader
#   .device/MANIFEST     what was built, from which commit, and the sizes
#
#   bash ebm-bench/device/prepare.sh           # for the device: ≤ 48 MiB
#   bash ebm-bench/device/prepare.sh --local   # for run.sh --local (CI):
#                                              # bin.tar uncompressed, no .debs
#
# The build is `cargo test --workspace --release --no-run`, the README's test
# command without running it, so after `cargo test --workspace --release`
# (CI) nothing is rebuilt. Exit status: 0 when .device/ is ready; non-zero
# on a build failure, a missing binary, a failed download or a folder over
# 48 MiB.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
local=0
case "${1:-}" in
    --local) local=1 ;;
    "") ;;
    *) echo "prepare: unknown argument $1 (only --local)" >&2; exit 64 ;;
esac
out="$root/.device"
limit_mib=48
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
stage="$CARGO_TARGET_DIR/device-stage"
rm -rf "$out" "$stage"
mkdir -p "$out" "$stage/bin"

echo "prepare: building (cargo test --workspace --release --no-run)"
cargo test --workspace --release --no-run --message-format=json-render-diagnostics >"$stage/artifacts.json"

# "src_path profile.test executable" of every artifact with an executable.
# A bin target is built twice by `cargo test`: the program itself
# (profile.test false) and its unit-test harness (true), in an order that
# varies; pick takes the one it is asked for, never the last one listed.
sed -n 's/.*"src_path":"\([^"]*\)".*"profile":{[^}]*"test":\(true\|false\)}.*"executable":"\([^"]*\)".*/\1 \2 \3/p' \
    "$stage/artifacts.json" >"$stage/executables"
pick() { # pick SRC_PATH NAME [true|false]: copy the executable built from SRC_PATH (a test harness: true, the default; the program itself: false), stripped, as NAME
    local exe
    exe="$(awk -v s="$1" -v t="${3:-true}" '$1 == s && $2 == t { print $3 }' "$stage/executables" | tail -n 1)"
    if [ -z "$exe" ] || [ ! -x "$exe" ]; then
        echo "prepare: no executable built from $1" >&2
        exit 1
    fi
    strip -o "$stage/bin/$2" "$exe"
    echo "$2 $(basename "$exe")" >>"$stage/bin/INDEX"
}
for b in gpu_roofline gpu_check peer_ebm; do
    pick "$root/ebm-bench/src/bin/$b.rs" "$b" false
done
pick "$root/ebm-kernels/examples/adapters.rs" adapters false
pick "$root/ebm-kernels/src/lib.rs" kt-lib
n_tests=0
for t in "$root"/ebm-kernels/tests/*.rs; do
    pick "$t" "kt-$(basename "$t" .rs)"
    n_tests=$((n_tests + 1))
done
echo "prepare: $n_tests ebm-kernels test binaries, the lib's unit tests, 3 bench binaries and the adapters example, stripped"

if [ "$local" = 1 ]; then
    tar -C "$stage/bin" -cf "$out/bin.tar" .
else
    echo "prepare: compressing (xz, 384 MiB dictionary: about a minute)"
    tar -C "$stage/bin" -cf - . | xz -T1 --lzma2=preset=1,dict=384MiB >"$out/bin.tar.xz"
    echo "prepare: downloading the Vulkan / GL loader packages (amd64)"
    lists=/tmp/ebm-device-amd64
    mkdir -p "$lists/partial" "$out/debs"
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists" -oAPT::Sandbox::User=root)
    apt-get "${o[@]}" update -qq
    (cd "$out/debs" && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version 2>&1 | sed -n 1p)"
    echo "rustc $(rustc --version)"
    echo "binaries (name, cargo artifact):"
    sed 's/^/  /' "$stage/bin/INDEX"
    echo "files:"
    (cd "$out" && find . -type f ! -name MANIFEST -printf '  %p %s\n' | sort)
} >"$out/MANIFEST"

bytes="$(du -sb "$out" | cut -f1)"
mib="$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
echo "prepare: .device/ is $mib MiB ($bytes bytes)"
if [ "$local" = 0 ] && [ "$bytes" -gt $((limit_mib * 1048576)) ]; then
    echo "prepare: .device/ exceeds $limit_mib MiB" >&2
    exit 1
fi

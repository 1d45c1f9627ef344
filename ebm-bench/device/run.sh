#!/usr/bin/env bash
# The one-shot device run (README "Device run"), in the repository's root,
# from what ebm-bench/device/prepare.sh put into .device/:
#
#   bash ebm-bench/device/run.sh            # on the device machine (H200):
#                                           # a hardware adapter or nothing
#   bash ebm-bench/device/run.sh --local    # here / CI: whatever adapter wgpu
#                                           # finds, tiny sizes (needs
#                                           # prepare.sh --local first)
#
# Steps, most important first, each under its share of one overall budget
# (DEVICE_BUDGET_S, default 450 s on the device, so that the run ends well
# inside an 8-minute command):
#   1. unpack the binaries; on the device, the Vulkan loaders when the
#      machine has none; print the adapter and fail unless it is a hardware
#      GPU (--local: any adapter);
#   2. the ebm-kernels test binaries (kernel against CPU, small shapes),
#      with the exact pass / fail counts of each;
#   3. gpu_check: every GpuEnergy primitive against the CPU at the bench
#      shapes (d = 64, 256 with 256-256 hidden, d = 16 with 1024-1024);
#   4. the bars with their PyTorch CUDA peers (device_peers.py): Hessian
#      diagonal, 20 Langevin steps, exact-SM step at B = 65536;
#   5. gpu_roofline: every primitive and estimator step, d in {2, 16, 64,
#      256}, B in {1024, 16384, 65536};
#   6. the other PyTorch peers (DSM, CD, NCE, energy, score; d = 16, 2).
# The PyTorch parts run when python3 can import torch and numpy (on the
# device always; --local says when it skips them, PYTHON picks another
# interpreter). Outputs, under $OUT (--local with OUT unset:
# target/device-local): device.md and device.json (report.py), log.txt
# (everything printed), and the parts' JSON (roofline.json,
# peers-bars.json, peers-rest.json).
#
# Exit status: 0 when every step ran and passed; 1 when a test, a check, a
# peer agreement or a step failed (the report is written all the same);
# 2 when .device/ is missing; 3 when there is no adapter, or (device) it is
# not a hardware GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
here="$root/ebm-bench/device"
local=0
case "${1:-}" in
    --local) local=1 ;;
    "") ;;
    *) echo "run: unknown argument $1 (only --local)" >&2; exit 64 ;;
esac
if [ "$local" = 1 ]; then
    out="${OUT:-$root/target/device-local}"
    budget="${DEVICE_BUDGET_S:-300}"
else
    out="${OUT:-$root/target/device-run}"
    budget="${DEVICE_BUDGET_S:-450}"
fi
mkdir -p "$out"
work="$(mktemp -d /tmp/ebm-device.XXXXXX)"
bin="$work/bin"
mkdir -p "$bin"
exec > >(tee "$out/log.txt") 2>&1
start=$SECONDS
left() { echo $((budget - (SECONDS - start))); }
until_frac() { echo $((budget * $1 / 100 - (SECONDS - start))); } # seconds until $1 % of the budget
# Phase ends, in % of the budget: kernel tests 25, gpu_check 42, bars 70,
# roofline 90, the rest of the peers until 15 s before the end.
say() { echo "run[$((SECONDS - start))s]: $*"; }
status=0
fail() { say "FAILED: $*"; status=1; }
checks="$work/checks.tsv" # step, passed, failed, exit status, seconds
: >"$checks"
py="${PYTHON:-python3}"
say "mode $([ "$local" = 1 ] && echo local || echo device), budget ${budget}s, outputs in $out, work in $work"
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(uname -srm); $(ldd --version 2>&1 | sed -n 1p)"

# 1. Binaries, loaders, adapter.
if [ -f .device/bin.tar.xz ]; then
    if command -v xz >/dev/null; then
        xz -dc .device/bin.tar.xz | tar -C "$bin" -xf -
    else
        "$py" -c 'import lzma, sys, tarfile; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])' .device/bin.tar.xz "$bin"
    fi
elif [ -f .device/bin.tar ]; then
    tar -C "$bin" -xf .device/bin.tar
else
    echo "run: no .device/bin.tar.xz or .device/bin.tar: run ebm-bench/device/prepare.sh$([ "$local" = 1 ] && echo ' --local') first (on the device, carry .device)" >&2
    exit 2
fi
say "binaries: $(cd "$bin" && ls | grep -v INDEX | tr '\n' ' ')"
[ -f .device/MANIFEST ] && sed -n 1,3p .device/MANIFEST

has_vulkan_loader() { [ "$(ldconfig -p | grep -c 'libvulkan\.so\.1')" -gt 0 ]; }
if [ "$local" = 0 ]; then
    if has_vulkan_loader; then
        say "Vulkan loader present: $(ldconfig -p | grep 'libvulkan\.so\.1' | sed -n 1p)"
    elif compgen -G '.device/debs/*.deb' >/dev/null; then
        say "no Vulkan loader: unpacking $(ls .device/debs | tr '\n' ' ')"
        for f in .device/debs/*.deb; do dpkg -x "$f" /; done
        ldconfig
    else
        say "no Vulkan loader and no .device/debs"
    fi
    if ! compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null && ! compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null; then
        for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
            if [ -f "$f" ]; then
                export VK_DRIVER_FILES="$f" VK_ICD_FILENAMES="$f"
                say "Vulkan driver: VK_DRIVER_FILES=$f"
                break
            fi
        done
        egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
        [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"
        if [ -z "${VK_DRIVER_FILES:-}" ] && [ "$(ldconfig -p | grep -c 'libGLX_nvidia\.so\.0')" -gt 0 ]; then
            # No manifest anywhere, but the driver's library is there: the
            # NVIDIA Vulkan driver lives in libGLX_nvidia.so.0.
            icd="$work/nvidia_icd.json"
            printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libGLX_nvidia.so.0", "api_version": "1.3.0"}}\n' >"$icd"
            export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
            say "Vulkan driver: no manifest found, wrote $icd for libGLX_nvidia.so.0"
        fi
    fi
    command -v nvidia-smi >/dev/null && { nvidia-smi -L || true; }
fi
if ! "$bin/adapters" >"$work/adapters.txt" 2>&1; then
    cat "$work/adapters.txt"
    say "no adapter: see the message above"
    [ "$local" = 0 ] && ls /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1 || true
    exit 3
fi
cat "$work/adapters.txt"
selected="$(grep '^selected' "$work/adapters.txt" || true)"
hardware=1
case "$selected" in "" | *"[cpu on"*) hardware=0 ;; esac
if [ "$local" = 0 ] && [ "$hardware" = 0 ]; then
    say "the selected adapter is not a hardware GPU: refusing to measure (set EBM_ADAPTER, or bring the NVIDIA Vulkan driver)"
    exit 3
fi

# 2. The ebm-kernels test binaries. libtest prints one "test result:" line per
# binary; its counts are summed exactly. They read ebm-kernels/cubecl.toml
# (bounds-checked launches) from their working directory, as under cargo.
# --local runs the quick binaries only (CI runs all of them in `cargo test
# --workspace` just before); each skipped one gets a line.
quick=" kt-lib kt-device kt-every_adapter kt-philox kt-grad kt-nce kt-langevin "
kt_pass=0 kt_fail=0
for t in "$bin"/kt-*; do
    name="$(basename "$t")"
    if [ "$local" = 1 ] && [ "${quick#* $name }" = "$quick" ]; then
        say "$name: not run: --local runs the quick test binaries only (cargo test --workspace runs it)"
        continue
    fi
    cap=$(until_frac 25)
    if [ "$cap" -lt 10 ]; then
        fail "$name: not run: budget spent"
        printf '%s\t0\t0\tnot run: budget\t0\n' "$name" >>"$checks"
        continue
    fi
    [ "$cap" -gt 120 ] && cap=120
    t0=$SECONDS
    rc=0
    (cd ebm-kernels && timeout "$cap" "$t" --test-threads 4) >"$work/$name.log" 2>&1 || rc=$?
    line="$(grep 'test result:' "$work/$name.log" | tail -n 1 || true)"
    p="$(printf '%s' "$line" | sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p')"
    f="$(printf '%s' "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')"
    p="${p:-0}" f="${f:-0}"
    kt_pass=$((kt_pass + p)) kt_fail=$((kt_fail + f))
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$p" "$f" "$rc" $((SECONDS - t0)) >>"$checks"
    say "$name: $p passed, $f failed, exit $rc, $((SECONDS - t0)) s${line:+ ($line)}"
    if [ "$rc" != 0 ] || [ -z "$line" ]; then
        grep -E '^(test .* FAILED|---- |thread .* panicked)' "$work/$name.log" | head -n 20 || true
        tail -n 15 "$work/$name.log"
        fail "$name (exit $rc$([ "$rc" = 124 ] && echo ': timed out'))"
    fi
done
say "ebm-kernels tests: $kt_pass passed, $kt_fail failed"

# 3. gpu_check at the bench shapes.
if [ "$local" = 1 ]; then
    gc_args=(--case 5x12-9:1,7,200 --case 16x32-32:130 --rows 64 --steps 6)
else
    gc_args=()
fi
cap=$(until_frac 42)
t0=$SECONDS
rc=0
if [ "$cap" -ge 20 ]; then
    timeout "$cap" "$bin/gpu_check" "${gc_args[@]}" 2>&1 | tee "$work/gpu_check.log" || rc=$?
else
    echo "gpu_check: not run: budget spent" | tee "$work/gpu_check.log"
    rc=125
fi
line="$(grep '^gpu_check: [0-9]* passed' "$work/gpu_check.log" || true)"
p="$(printf '%s' "$line" | sed -n 's/^gpu_check: \([0-9]*\) passed.*/\1/p')"
f="$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')"
printf 'gpu_check\t%s\t%s\t%s\t%s\n' "${p:-0}" "${f:-0}" "$rc" $((SECONDS - t0)) >>"$checks"
[ "$rc" = 0 ] || fail "gpu_check (exit $rc$([ "$rc" = 124 ] && echo ': timed out'))"

# 4 and 6. The PyTorch peers.
have_torch=0
if "$py" -c 'import torch, numpy' 2>/dev/null; then
    have_torch=1
    say "PyTorch: $("$py" -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "no cuda")')"
else
    say "PyTorch part skipped: $py cannot import torch and numpy$([ "$local" = 0 ] && echo ' (unexpected on the device)')"
    [ "$local" = 0 ] && fail "no PyTorch on the device"
fi
peers() { # peers NAME DEADLINE ARGS...: one device_peers.py run, its JSON in $out/peers-NAME.json
    local name="$1" deadline="$2"
    shift 2
    if [ "$have_torch" = 0 ]; then return; fi
    if [ "$deadline" -lt 10 ]; then
        say "peers $name: not run: budget spent"
        printf '{"rows": [], "failures": [], "not_run": "budget spent"}\n' >"$out/peers-$name.json"
        return
    fi
    local rc=0
    mkdir -p "$work/peers"
    PYTHONUNBUFFERED=1 timeout $((deadline + 60)) "$py" ebm-bench/peers/device_peers.py --ebm-bin "$bin/peer_ebm" \
        --out "$work/peers" --deadline-s "$deadline" --json "$out/peers-$name.json" --md "$work/peers-$name.md" "$@" || rc=$?
    [ "$rc" = 0 ] || fail "peers $name (exit $rc)"
}
if [ "$local" = 1 ]; then
    peers bars $(until_frac 70) --device cpu --configs d2 --batch 100 --ops hess_diag,langevin,exact_sm \
        --compile '' --case-s 0.05 --check-rows 32
else
    peers bars $(until_frac 70) --configs d64,d256 --batch 65536 \
        --ops hess_diag,langevin,exact_sm
fi

# 5. The roofline.
if [ "$local" = 1 ]; then
    rf_args=(--allow-software --shapes 2x8-8,16x8-8 --batches 37,100 --case-s 0.02 --roof-s 0.02)
else
    rf_args=()
fi
rd=$(until_frac 90)
[ "$rd" -ge 1 ] || rd=1 # gpu_roofline then reports every case as not run: deadline
rc=0
timeout $(($(left) > 0 ? $(left) + 30 : 30)) "$bin/gpu_roofline" --deadline-s "$rd" "${rf_args[@]}" --json "$out/roofline.json" --md "$work/roofline.md" || rc=$?
[ "$rc" = 0 ] || fail "gpu_roofline (exit $rc)"

if [ "$local" = 1 ]; then
    peers rest $(($(left) - 15)) --device cpu --configs d2 --batch 100 --ops dsm,cd,nce,energy,energy_score \
        --compile '' --case-s 0.05 --check-rows 32
else
    peers rest $(($(left) - 15)) --configs d64,d256,d16,d2 --batch 65536 --compile '' \
        --ops dsm,cd,nce,energy,energy_score
fi

# The report.
rc=0
"$py" "$here/report.py" --checks "$checks" --adapters "$work/adapters.txt" --gpu-check "$work/gpu_check.log" \
    --roofline "$out/roofline.json" --peers "$out/peers-bars.json" --peers "$out/peers-rest.json" \
    --mode "$([ "$local" = 1 ] && echo local || echo device)" --wall-s $((SECONDS - start)) --status "$status" \
    --json "$out/device.json" --md "$out/device.md" || rc=$?
[ "$rc" = 0 ] || fail "report.py (exit $rc)"
say "ebm-kernels tests $kt_pass passed, $kt_fail failed; gpu_check ${p:-0} passed, ${f:-0} failed; $(ls "$out" | tr '\n' ' ')"
if [ "$status" = 0 ]; then
    say "done: every step ran and passed"
else
    say "done: FAILED (see the FAILED lines above)"
fi
exit "$status"

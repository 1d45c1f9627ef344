#!/usr/bin/env python3
"""The report of ebm-bench/device/run.sh: merges its parts into device.json
and device.md (Python's standard library only, so it runs without torch).

Parts: the test counts (a TSV written by run.sh: step, passed, failed, exit
status, seconds), the adapters example's output, gpu_check's log, the
roofline's JSON (gpu_roofline --json) and the PyTorch peers' JSON
(device_peers.py --json), any of which may be missing: a missing part is
said to be missing in the report, never left out silently.
"""

import argparse
import datetime
import json
import os
import sys


def read_json(path):
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"error": f"{path}: {e}"}


def fmt(v):
    if v is None:
        return "—"
    return f"{v:.3g}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def checks_table(rows):
    out = ["| step | passed | failed | exit status | seconds |", "|---|---:|---:|---|---:|"]
    for r in rows:
        out.append(f"| {r['step']} | {r['passed']} | {r['failed']} | {r['exit']} | {r['seconds']} |")
    return out


def roofline_table(rf):
    out = [
        f"Adapter: {rf.get('adapter', '?')}",
        "",
    ]
    fma, copy = rf.get("measured_fma", {}), rf.get("measured_copy", {})
    out.append(
        f"Roof: nominal fp32 peak {rf.get('nominal_peak_tflops')} TFLOP/s; measured multiply-add kernel "
        + (f"{fma['flops_per_s'] * 1e-9:.1f} GFLOP/s" if "flops_per_s" in fma else f"not measured ({fma.get('error')})")
        + "; measured copy kernel "
        + (f"{copy['bytes_per_s'] * 1e-9:.1f} GB/s" if "bytes_per_s" in copy else f"not measured ({copy.get('error')})")
        + " (read + write)."
    )
    out += ["", "| op | shape | B | median ms | GFLOP/s | % nominal peak | % measured FMA | where | calls per op |",
            "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for c in rf.get("cases", []):
        head = f"| {c['op']} | {c['shape']} | {c['batch']} "
        if "not_run" in c:
            out.append(head + f"| not run: {c['not_run'].replace('|', '/')} | | | | | |")
        else:
            meas = c.get("pct_measured_fma")
            out.append(head + f"| {c['median_ms']:.3f} | {c['gflops']:.1f} | {c['pct_nominal_peak']:.2f} | "
                       + (f"{meas:.2f}" if meas is not None else "—") + f" | {c['where']} | {c['methods']} |")
    out += ["", "GFLOP/s: modelled FLOPs (ebm-bench/src/flops.rs, a multiply-add counts 2) over the median time of a call, "
            "upload and read-back included. where: as GpuEnergy::placement says (device; a refused case is not run, "
            "with its reason)."]
    return out


def peers_table(pj):
    out = ["| config | op | ebm ms | PyTorch ms (variant) | hand-derived ms (variant) | ebm/PyTorch | ebm/hand | worst error |",
           "|---|---|---:|---|---|---:|---:|---:|"]
    for row in pj.get("rows", []):
        if "not_run" in row:
            out.append(f"| {row['config']} | {row['op']} | not run: {row['not_run']} | | | | | |")
            continue
        cells, ratios = [], []
        for col in ["torch", "hand"]:
            b = row.get("best", {}).get(col)
            cells.append(f"{fmt(b['median_ms'])} ({b['variant']})" if b else "—")
            ratios.append(f"{row['ebm_ms'] / b['median_ms']:.2f}" if b else "—")
        errs = [v["max_err"] for v in row.get("variants", []) if "max_err" in v]
        worst = f"{max(errs):.1e}" if errs else "—"
        out.append(f"| {row['config']} | {row['op']} | {fmt(row['ebm_ms'])} | " + " | ".join(cells + ratios) + f" | {worst} |")
    failed = [f"{row['config']} {row['op']} {v['variant']}: {v['error']}" for row in pj.get("rows", [])
              for v in row.get("variants", []) if "error" in v]
    if failed:
        out += ["", "Variants that did not run:", ""] + [f"- {f}" for f in failed]
    if pj.get("failures"):
        out += ["", "**Agreement failures:**", ""] + [f"- {f}" for f in pj["failures"]]
    if pj.get("env"):
        out += ["", pj["env"]]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checks", required=True)
    ap.add_argument("--adapters")
    ap.add_argument("--gpu-check")
    ap.add_argument("--roofline")
    ap.add_argument("--peers", action="append", default=[])
    ap.add_argument("--mode", choices=["device", "local"], required=True)
    ap.add_argument("--wall-s", type=float)
    ap.add_argument("--status", type=int, default=0)
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()

    checks = []
    with open(a.checks) as f:
        for line in f:
            step, p, fl, rc, s = line.rstrip("\n").split("\t")
            checks.append({"step": step, "passed": int(p), "failed": int(fl), "exit": rc, "seconds": int(s)})
    adapters = "\n".join(line for line in open(a.adapters).read().strip().splitlines() if "XDG_RUNTIME_DIR" not in line) \
        if a.adapters and os.path.exists(a.adapters) else "missing"
    gc_lines = open(a.gpu_check).read().splitlines() if a.gpu_check and os.path.exists(a.gpu_check) else []
    rf = read_json(a.roofline)
    peers = {os.path.basename(p): read_json(p) for p in a.peers}
    software = a.mode == "local" or (rf or {}).get("software", False)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    md = [f"# ebm device run ({a.mode}), {now}", ""]
    if software:
        md += ["**Local / software-adapter run: a correctness smoke run. No figure below is a GPU speed figure.**", ""]
    md += [f"Status: {'every step ran and passed' if a.status == 0 else 'FAILED (see log.txt)'}; "
           f"wall time {fmt(a.wall_s)} s.", "", "## Adapter", "", "```", adapters, "```", "",
           "## Kernel against CPU", "", f"Totals (test binaries and gpu_check): {sum(c['passed'] for c in checks)} passed, "
           f"{sum(c['failed'] for c in checks)} failed.", ""]
    md += checks_table(checks)
    bad = [line for line in gc_lines if line.startswith("FAIL")]
    md += ["", f"gpu_check: {len([line for line in gc_lines if line.startswith('PASS')])} PASS lines, {len(bad)} FAIL lines."]
    md += [f"- {line}" for line in bad]
    order = [("peers-bars.json", "The bars with their PyTorch peers (side by side)"),
             ("peers-rest.json", "The other PyTorch peers")]
    for name, title in order[:1]:
        md += ["", f"## {title}", ""]
        pj = peers.get(name)
        md += peers_table(pj) if pj and "error" not in pj else [f"Missing: {pj.get('error') if pj else 'no ' + name + ' (PyTorch not run)'}"]
    md += ["", "## Roofline", ""]
    md += roofline_table(rf) if rf and "error" not in rf else [f"Missing: {rf.get('error') if rf else 'no roofline.json'}"]
    for name, title in order[1:]:
        md += ["", f"## {title}", ""]
        pj = peers.get(name)
        md += peers_table(pj) if pj and "error" not in pj else [f"Missing: {pj.get('error') if pj else 'no ' + name + ' (PyTorch not run)'}"]
    md += ["", "How to read: README, section \"Device run\". Ratios are ebm / PyTorch (< 1: ebm faster); ebm's times "
           "include the upload of the batch and the read-back of its results, PyTorch's tensors stay on the GPU."]
    with open(a.md, "w") as f:
        f.write("\n".join(md) + "\n")
    with open(a.json, "w") as f:
        json.dump({"mode": a.mode, "date": now, "status": a.status, "wall_s": a.wall_s, "software": software,
                   "adapters": adapters, "checks": checks, "gpu_check": gc_lines, "roofline": rf, "peers": peers}, f, indent=1)
    print(f"report: wrote {a.md} and {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

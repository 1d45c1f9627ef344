#!/usr/bin/env python3
"""ebm on a GPU against PyTorch on CUDA, side by side, in one run.

Called by ``ebm-bench/device/run.sh``. For every configuration (an MLP
shape of ``peer_ebm``: d64 = 64, 256-256; d256 = 256, 256-256; d16 and d2 =
128-128) at batch ``--batch``:

1. runs ``peer_ebm --backend gpu`` once for all the operations asked: it
   writes the weights, the inputs and every frozen random draw, times each
   operation on ``GpuEnergy`` (the adapter wgpu picks) and writes its
   outputs;
2. loads the same weights and inputs onto ``--device`` (cuda) and, for each
   operation and each PyTorch variant: one call checked against ebm's
   outputs (``run.check``'s normalised error, passing at ``--rtol``), then
   warm-up calls and timed calls until ``--case-s`` seconds are spent (at
   least 3, at most ``--repeats``), each ended by ``torch.cuda.synchronize()``
   inside the timed region.

Variants (PyTorch eager unless named; ``compile`` is ``torch.compile``,
``dynamic=False``, only for the ``config:op`` pairs of ``--compile``, since
each compilation costs tens of seconds on a fresh machine):

- hess_diag: ``autograd-loop`` (double backward per coordinate),
  ``func-vmap-jvp-grad`` (torch.func), and the hand-derived closed form on
  cuBLAS (``hand-eager``, ``hand-compile``);
- exact_sm (loss + parameter gradient): the same four;
- langevin (``--langevin-steps`` ULA steps, own normals): ``autograd``,
  ``func``, ``compile`` (the score function compiled);
- dsm, cd (k = ``--cd-k``), nce: ``autograd`` (and ``func`` for dsm);
- energy, energy_score: ``eager`` / ``autograd``.

What is compared: E, score and Hessian diagonal on the whole batch; the
losses and gradients; Langevin and CD chains on the first ``--check-rows``
chains (``peer_ebm --check-rows``: chains do not interact); CD's loss and
gradient at ebm's negatives. Time ratios are ebm / PyTorch (< 1: ebm
faster). ebm's times include uploading the batch and reading the results
back (its ``Energy`` interface takes host slices); PyTorch's tensors stay
on the GPU.

A case not started before ``--deadline-s`` is recorded as ``not run:
deadline``; a variant that fails (out of memory, say) is recorded with its
error. The JSON (``--json``) and markdown (``--md``) are rewritten after
every operation, so a run stopped from outside leaves what it measured.
Exit status: 0 when every variant that ran agrees; 1 otherwise; 2 for a
failure of ``peer_ebm``.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np
import torch

import torch_peers as T

# Plain fp32 everywhere, as ebm computes: no TF32 in cuBLAS matrix products
# (PyTorch's default, set here so the comparison does not hang on it).
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")

OPS = ["hess_diag", "langevin", "exact_sm", "dsm", "cd", "nce", "energy", "energy_score"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def check(got, want, scale=0.0):
    """run.py's normalised error: max |got - want| / (|want| + max(rms(want), scale))."""
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    if got.shape != want.shape or not np.all(np.isfinite(got)):
        return math.inf
    rms = max(math.sqrt(float(np.mean(want * want))), scale) or 1e-30
    return float(np.max(np.abs(got - want) / (np.abs(want) + rms)))


class Runner:
    def __init__(self, args):
        self.args = args
        self.t0 = time.monotonic()
        self.dev = torch.device(args.device)
        self.rows = []
        self.failures = []

    def left(self):
        return self.args.deadline_s - (time.monotonic() - self.t0)

    def sync(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize()

    def bench(self, fn):
        """Warm-up calls, then timed calls (each synced) for about --case-s."""
        for _ in range(self.args.warmup):
            fn()
            self.sync()
        ts, spent = [], time.monotonic()
        while len(ts) < self.args.repeats:
            t = time.perf_counter()
            fn()
            self.sync()
            ts.append((time.perf_counter() - t) * 1e3)
            if len(ts) >= 3 and time.monotonic() - spent >= min(self.args.case_s, max(self.left(), 0)):
                break
        return ts

    def tensor(self, a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.dev)


def np_(t):
    return t.detach().float().cpu().numpy()


def variants(op, r, cfg, meta, dims, data, compile_ok):
    """[(column, name, check_fn -> {key: array}, timed_fn)] for one operation."""
    eps, steps, k = float(meta["eps"]), int(meta["langevin_steps"]), int(meta["cd_k"])
    tx = r.tensor(data["x"])
    tp = [(r.tensor(w), r.tensor(b)) for w, b in T.split_params(data["params"], dims)]
    rows = int(cfg["check_rows"])

    def tp_grad():
        return [(w.clone().requires_grad_(True), b.clone().requires_grad_(True)) for w, b in tp]

    def comp(fn):
        return torch.compile(fn, dynamic=False)

    def lg(o):
        return {"loss": np.array([float(o[0])]), "grad": np_(o[1])}

    out = []
    if op == "energy":

        def te():
            with torch.inference_mode():
                return T.t_energy(tp, tx)

        out.append(("torch", "eager", lambda: {"energy": np_(te())}, te))
    elif op == "energy_score":

        def ts():
            return T.t_score_autograd(tp, tx)

        out.append(("torch", "autograd", lambda: (lambda o: {"energy": np_(o[0]), "score": np_(o[1])})(ts()), ts))
    elif op in ("hess_diag", "exact_sm"):
        if op == "hess_diag":

            def hd(o):
                return {"energy": np_(o[0]), "score": -np_(o[1]), "hess": np_(o[2])}

            def func():
                with torch.no_grad():
                    return T.t_hess_func(tp, tx)

            def hand():
                with torch.inference_mode():
                    return T.t_hand(tp, tx)

            out.append(("torch", "autograd-loop", lambda: hd(T.t_hess_autograd(tp, tx)), lambda: T.t_hess_autograd(tp, tx)))
            out.append(("torch", "func-vmap-jvp-grad", lambda: {"hess": np_(func())}, func))
            out.append(("hand", "hand-eager", lambda: hd(hand()), hand))
            if compile_ok:
                ch = comp(T.t_hand)

                def handc():
                    with torch.inference_mode():
                        return ch(tp, tx)

                out.append(("hand", "hand-compile", lambda: hd(handc()), handc))
        else:
            auto = lambda: T.t_sm_autograd(tp_grad(), tx)  # noqa: E731
            func = lambda: T.t_loss_and_grad(T.t_sm_loss_func, tp_grad(), tx)  # noqa: E731
            hand = lambda: T.t_loss_and_grad(T.t_sm_loss_hand, tp_grad(), tx)  # noqa: E731
            out.append(("torch", "autograd-loop", lambda: lg(auto()), auto))
            out.append(("torch", "func-vmap-jvp-grad", lambda: lg(func()), func))
            out.append(("hand", "hand-eager", lambda: lg(hand()), hand))
            if compile_ok:
                cl = comp(T.t_sm_loss_hand)
                handc = lambda: T.t_loss_and_grad(cl, tp_grad(), tx)  # noqa: E731
                out.append(("hand", "hand-compile", lambda: lg(handc()), handc))
    elif op == "dsm":
        nz, tg = r.tensor(data["dsm_noisy"]), r.tensor(data["dsm_target"])
        for name, fn in [("autograd", T.t_dsm_loss), ("func", T.t_dsm_loss_func)]:
            run = lambda fn=fn: T.t_loss_and_grad(fn, tp_grad(), nz, tg)  # noqa: E731
            out.append(("torch", name, lambda run=run: lg(run()), run))
    elif op == "langevin":
        # ebm's normals for the first `rows` chains, zeros for the others:
        # the check runs at the timed shape (one compilation), and compares
        # the first `rows` chains, which do not depend on the others.
        tz = torch.zeros((steps,) + tuple(tx.shape), dtype=tx.dtype, device=r.dev)
        tz[:, :rows] = r.tensor(data["langevin_z"])
        hows = ["autograd", "func"] + (["compile"] if compile_ok else [])
        for how in hows:

            def chk(how=how):
                with torch.no_grad() if how != "autograd" else torch.enable_grad():
                    return {"x": np_(T.t_langevin(tp, tx, eps, steps, tz, how)[:rows])}

            def timed(how=how):
                with torch.no_grad() if how != "autograd" else torch.enable_grad():
                    return T.t_langevin(tp, tx, eps, steps, None, how)

            out.append(("torch", how, chk, timed))
    elif op == "cd":
        tz = r.tensor(data["cd_z"])
        neg = r.tensor(data["out_cd_neg"])

        def chk():
            with torch.enable_grad():
                negr = T.t_langevin([(w.detach(), b.detach()) for w, b in tp], tx[:rows], eps, k, tz, "autograd")
            p = tp_grad()
            e = T.t_energy(p, torch.cat([tx, neg]))
            b = tx.shape[0]
            loss = e[:b].mean() - e[b:].mean()
            g = T.t_grad_params(loss, [t for wb in p for t in wb])
            return {"loss": np.array([loss.item()]), "grad": np_(g), "neg": np_(negr)}

        out.append(("torch", "autograd", chk, lambda: T.t_cd(tp_grad(), tx, eps, k, None, "autograd")))
    elif op == "nce":
        tn = r.tensor(data["nce_noise"])
        la = r.tensor(data["nce_lpn_data"].astype(np.float32))
        ln = r.tensor(data["nce_lpn_noise"].astype(np.float32))
        c0 = float(cfg["scalars"]["nce_c"])

        def run():
            c = torch.tensor(c0, device=r.dev, requires_grad=True)
            return T.t_nce(tp_grad(), c, tx, tn, la, ln)

        out.append(("torch", "autograd", lambda: lg(run()), run))
    return out


def reference(op, cfg, data):
    s = cfg["scalars"]
    rows = int(cfg["check_rows"])
    refs = {
        "energy": lambda: {"energy": data["out_energy"]},
        "energy_score": lambda: {"energy": data["out_es_energy"], "score": data["out_es_score"]},
        "hess_diag": lambda: {"energy": data["out_hd_energy"], "score": data["out_hd_score"], "hess": data["out_hd_hess"]},
        "exact_sm": lambda: {"loss": np.array([s["exact_sm_loss"]]), "grad": data["out_sm_grad"]},
        "dsm": lambda: {"loss": np.array([s["dsm_loss"]]), "grad": data["out_dsm_grad"]},
        "langevin": lambda: {"x": data["out_langevin"][:rows]},
        "cd": lambda: {"loss": np.array([s["cd_loss"]]), "grad": data["out_cd_grad"], "neg": data["out_cd_neg"][:rows]},
        "nce": lambda: {"loss": np.array([s["nce_loss"]]), "grad": data["out_nce_grad"]},
    }
    return refs[op]()


def cd_scales(dims, data):
    """CD's gradient is the data phase minus the model phase: its rounding is
    relative to the data phase (run.py's check_scales), computed in f64."""
    p = [(w.double().requires_grad_(True), b.double().requires_grad_(True))
         for w, b in T.split_params(torch.from_numpy(data["params"]), dims)]
    e = T.t_energy(p, torch.from_numpy(data["x"]).double())
    g = T.t_grad_params(e.mean(), [t for wb in p for t in wb]).numpy()
    return {"loss": float(e.detach().abs().mean()), "grad": math.sqrt(float(np.mean(g * g)))}


def load(outdir, cfg):
    base = os.path.join(outdir, cfg["dir"])

    def arr(name):
        dtype = np.float64 if cfg["files"][name].endswith(".f64") else np.float32
        return np.fromfile(os.path.join(base, cfg["files"][name]), dtype=dtype).reshape(cfg["shapes"][name])

    return [cfg["dim"]] + list(cfg["hidden"]) + [1], {k: arr(k) for k in cfg["files"]}


def fmt(v):
    return "—" if v is None else f"{v:.3g}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def write(r, env):
    a = r.args
    lines = [
        "| config | op | ebm ms | PyTorch ms (variant) | hand-derived ms (variant) | ebm/PyTorch | ebm/hand | worst error |",
        "|---|---|---:|---|---|---:|---:|---:|",
    ]
    for row in r.rows:
        if "not_run" in row:
            lines.append(f"| {row['config']} | {row['op']} | not run: {row['not_run']} | | | | | |")
            continue
        cells, ratios = [], []
        for col in ["torch", "hand"]:
            b = row["best"].get(col)
            cells.append(f"{fmt(b['median_ms'])} ({b['variant']})" if b else "—")
            ratios.append(f"{row['ebm_ms'] / b['median_ms']:.2f}" if b else "—")
        errs = [v["max_err"] for v in row["variants"] if "max_err" in v]
        worst = f"{max(errs):.1e}" if errs else "—"
        lines.append(f"| {row['config']} | {row['op']} | {fmt(row['ebm_ms'])} | " + " | ".join(cells + ratios) + f" | {worst} |")
    notes = [
        "",
        "Every variant of every row:",
        "",
        "| config | op | column | variant | median ms | min ms | calls | first call ms | error | agrees |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in r.rows:
        for v in row.get("variants", []):
            if "error" in v:
                notes.append(f"| {row['config']} | {row['op']} | {v['column']} | {v['variant']} | failed: {v['error'][:120].replace('|', '/')} | | | | | |")
            else:
                notes.append(
                    f"| {row['config']} | {row['op']} | {v['column']} | {v['variant']} | {fmt(v['median_ms'])} | {fmt(v['min_ms'])} | "
                    f"{v['calls']} | {v['first_call_ms']:.0f} | {v['max_err']:.1e} | {'yes' if v['agrees'] else 'NO'} |"
                )
    text = "\n".join(lines + notes) + "\n\n" + env + "\n"
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"env": env, "rtol": a.rtol, "rows": r.rows, "failures": r.failures,
                       "wall_s": time.monotonic() - r.t0}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ebm-bin", required=True, help="path of the peer_ebm binary")
    ap.add_argument("--out", required=True, help="working folder (weights, inputs, outputs)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--configs", default="d64,d256")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--batch", type=int, default=65536)
    ap.add_argument("--deadline-s", type=float, default=150.0)
    ap.add_argument("--case-s", type=float, default=1.0, help="seconds of timed calls per variant")
    ap.add_argument("--repeats", type=int, default=30, help="most timed calls per variant")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--ebm-repeats", type=int, default=5)
    ap.add_argument("--compile", default="d64:hess_diag,d64:exact_sm,d256:langevin",
                    help="config:op pairs that get torch.compile variants ('' for none)")
    ap.add_argument("--check-rows", type=int, default=512)
    ap.add_argument("--cd-k", type=int, default=10)
    ap.add_argument("--langevin-steps", type=int, default=20)
    ap.add_argument("--rtol", type=float, default=1e-4,
                    help="agreement bound of the normalised error (default 1e-4, whatever B: a bound that grew "
                         "with the batch could not catch a batch sum that drifts; a mismatch at large B is a finding)")
    ap.add_argument("--json")
    ap.add_argument("--md")
    a = ap.parse_args()
    ops = [o for o in a.ops.split(",") if o]
    bad = [o for o in ops if o not in OPS]
    if bad:
        ap.error(f"unknown ops {bad} (of {OPS})")
    r = Runner(a)
    if r.dev.type == "cuda" and not torch.cuda.is_available():
        log("device_peers: torch sees no CUDA device")
        return 2
    gpu = torch.cuda.get_device_name(0) if r.dev.type == "cuda" else platform.processor() or platform.machine()
    env = (f"PyTorch {torch.__version__} on {a.device} ({gpu}), numpy {np.__version__}, Python {platform.python_version()}; "
           f"B = {a.batch}; ebm: median of {a.ebm_repeats} calls after 2 warm-ups (peer_ebm --backend gpu); PyTorch: "
           f"{a.warmup} warm-up call(s), then timed calls for {a.case_s} s (3 to {a.repeats}), each ended by a device sync; "
           f"agreement: normalised error <= {a.rtol:.1e}; torch.compile for {a.compile or 'none'}; fp32 matmuls without TF32")
    log(f"device_peers: {env}")
    compiled = {c for c in a.compile.split(",") if c}
    for name in [c for c in a.configs.split(",") if c]:
        if r.left() <= 0:
            r.rows += [{"config": name, "op": op, "not_run": "deadline"} for op in ops]
            write(r, env)
            continue
        cmd = [a.ebm_bin, "--backend", "gpu", "--out", a.out, "--configs", name, "--ops", ",".join(ops), "--batch", str(a.batch),
               "--repeats", str(a.ebm_repeats), "--warmup", "2", "--cd-k", str(a.cd_k),
               "--langevin-steps", str(a.langevin_steps), "--check-rows", str(a.check_rows)]
        log("device_peers: " + " ".join(cmd))
        t = time.monotonic()
        try:
            subprocess.run(cmd, check=True, timeout=max(r.left(), 1))
        except subprocess.TimeoutExpired:
            r.rows += [{"config": name, "op": op, "not_run": "deadline (peer_ebm did not finish)"} for op in ops]
            write(r, env)
            continue
        except subprocess.CalledProcessError as e:
            log(f"device_peers: peer_ebm failed with status {e.returncode}")
            r.failures.append(f"{name}: peer_ebm failed with status {e.returncode}")
            write(r, env)
            return 2
        log(f"device_peers: ebm side of {name} in {time.monotonic() - t:.1f} s")
        with open(os.path.join(a.out, "ebm.json")) as f:
            meta = json.load(f)
        cfg = meta["configs"][0]
        dims, data = load(a.out, cfg)
        label = f"d={cfg['dim']} {'-'.join(map(str, cfg['hidden']))} B={cfg['batch']}"
        for op in ops:
            row = {"config": label, "name": name, "op": op, "ebm_ms": cfg["times"][op]["median_ms"], "best": {}, "variants": []}
            if r.left() <= 0:
                r.rows.append({"config": label, "name": name, "op": op, "ebm_ms": row["ebm_ms"], "not_run": "deadline"})
                write(r, env)
                continue
            ref = reference(op, cfg, data)
            scales = cd_scales(dims, data) if op == "cd" else {}
            try:
                vs = variants(op, r, cfg, meta, dims, data, f"{name}:{op}" in compiled)
            except Exception as e:  # noqa: BLE001 (reported, not fatal)
                vs = []
                row["variants"].append({"column": "torch", "variant": "setup", "error": f"{type(e).__name__}: {e}"})
            for col, vname, chk, timed in vs:
                tag = f"{name} {op} {vname}"
                if r.left() <= 0:
                    row["variants"].append({"column": col, "variant": vname, "error": "not run: deadline"})
                    continue
                try:
                    t = time.perf_counter()
                    got = chk()
                    r.sync()
                    first = (time.perf_counter() - t) * 1e3
                    errs = {key: check(v, ref[key], scales.get(key, 0.0)) for key, v in got.items()}
                    ts = r.bench(timed)
                except Exception as e:  # noqa: BLE001 (out of memory, compile errors: reported)
                    log(f"device_peers: {tag}: FAILED: {type(e).__name__}: {e}")
                    log(traceback.format_exc(limit=2))
                    row["variants"].append({"column": col, "variant": vname, "error": f"{type(e).__name__}: {e}"})
                    if r.dev.type == "cuda":
                        torch.cuda.empty_cache()
                    continue
                err = max(errs.values())
                med = statistics.median(ts)
                ok = err <= a.rtol
                if not ok:
                    r.failures.append(f"{tag}: normalised error {err:.2e} > {a.rtol:.1e} ({errs})")
                log(f"device_peers: {tag:<40} median {med:9.3f} ms  first call {first:9.1f} ms  err {err:.1e} {'ok' if ok else 'MISMATCH'}")
                row["variants"].append({"column": col, "variant": vname, "median_ms": med, "min_ms": min(ts), "calls": len(ts),
                                        "first_call_ms": first, "max_err": err, "errs": errs, "agrees": ok})
                if ok and (col not in row["best"] or med < row["best"][col]["median_ms"]):
                    row["best"][col] = {"median_ms": med, "variant": vname}
            r.rows.append(row)
            write(r, env)
            log(f"device_peers: {label} {op}: ebm {row['ebm_ms']:.3f} ms; best " +
                ", ".join(f"{c} {b['median_ms']:.3f} ms ({b['variant']})" for c, b in row["best"].items()))
        if r.dev.type == "cuda":
            torch.cuda.empty_cache()
    write(r, env)
    for f in r.failures:
        log(f"device_peers: AGREEMENT FAILURE: {f}")
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())

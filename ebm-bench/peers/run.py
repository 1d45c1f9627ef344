#!/usr/bin/env python3
"""ebm against PyTorch and JAX on the same MLP energy, in one run.

Called by ``run.sh`` (which makes the venv and builds ``peer_ebm``). Steps:

For every configuration and operation, in turn:

1. runs ``peer_ebm`` (the ebm side, a Rust binary) as a subprocess for that
   one operation: it writes the MLP weights, the inputs and every frozen
   random draw, times the ebm operation (warm-up calls, then ``--repeats``
   calls each timed on its own) and writes its outputs;
2. loads the same weights and inputs into PyTorch and JAX, and for every
   peer variant: runs it once on the inputs (JIT compilation happens there)
   and checks the outputs against ebm's (relative 1e-4, see ``check``), then
   warms up and times ``--repeats`` calls, each on its own.

ebm and its peers thus run back to back on each operation and see the same
machine state. At the end it prints one table of medians and ratios (ebm /
peer time, so < 1 means ebm is faster; the "speed-up" column is the
inverse, peer / ebm, with the 1-min load average when the row finished) and
writes ``<out>/results.json`` (every variant, every sample) and
``<out>/table.md``.

Operations, all f32, softplus MLP, batch B, no optimizer update anywhere:

- energy; energy+score (score = -grad_x E);
- hess_diag: the diagonal of the Hessian of E in x (ebm returns E, score and
  the diagonal in one call; the peers' autodiff variants compute only the
  diagonal, plus E and the score where they come for free);
- exact_sm: loss (1/B) sum_b sum_i 1/2 (d_i E)^2 - d_ii E and its gradient in
  the parameters;
- dsm: the denoising score-matching loss at frozen noisy inputs (sigma 0.1)
  and its parameter gradient;
- langevin: S unadjusted Langevin steps x <- x - eps^2/2 grad E + eps z,
  eps = 0.1, every framework drawing its own normals inside the timed region
  (the agreement check reruns the same code on ebm's normals);
- cd: CD-k, k ULA steps from the data (own normals, as above) then the loss
  mean E(x+) - mean E(x-) and its parameter gradient;
- nce: the NCE loss with a learned log-normaliser c at frozen noise samples
  (nu = 1, N(0, I) noise) and its gradient in the parameters and c.

Peer variants (the table shows the fastest of each column):

- torch: ``autograd`` (eager, the double-backward loop over the d
  coordinates for second derivatives), ``func`` (torch.func vmap(jvp(grad))),
  ``compile`` (torch.compile where it applies);
- jax: ``jit`` of the autodiff formulation; for second derivatives
  ``jit-vmap`` (vmap over the basis of jvp(grad)) and ``jit-map`` (lax.map);
- hand: the hand-derived Hessian-diagonal decomposition that ebm uses
  (forward Jacobian propagation, E'' = sum_l J_l^T diag(c_l) J_l), written
  in PyTorch (eager, torch.compile) and in JAX (jit), with autodiff for the
  parameter gradient of the score-matching loss.
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

# Thread counts must be fixed before torch / jax are imported.
THREADS = int(os.environ.get("PEERS_THREADS", os.cpu_count() or 1))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))
os.environ.setdefault("RAYON_NUM_THREADS", str(THREADS))
os.environ.setdefault(
    "XLA_FLAGS",
    f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={THREADS}",
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

torch.set_num_threads(THREADS)
jax.config.update("jax_platforms", "cpu")

RTOL = 1e-4
OPS = ["energy", "energy_score", "hess_diag", "exact_sm", "dsm", "langevin", "cd", "nce"]


# ---------------------------------------------------------------- utilities


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def check(got, want, scale=0.0):
    """Normalised error max_i |got_i - want_i| / (|want_i| + max(rms(want), scale)).

    A combined relative + absolute tolerance: relative for entries of the
    array's own size, absolute at the array's rms level for entries near 0
    (parameter gradients have many). ``scale`` raises the absolute floor to
    the size of the terms when the result is a difference of much larger
    terms (CD's gradient is the data phase minus the model phase, about 10³
    times smaller than either here, so its f32 rounding is relative to the
    phases). Passes at <= RTOL.
    """
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    if got.shape != want.shape:
        return math.inf
    if not np.all(np.isfinite(got)):
        return math.inf
    rms = max(math.sqrt(float(np.mean(want * want))), scale) or 1e-30
    return float(np.max(np.abs(got - want) / (np.abs(want) + rms)))


def bench(fn, warmup, repeats, sync):
    for _ in range(warmup):
        sync(fn())
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        sync(fn())
        ts.append((time.perf_counter() - t) * 1e3)
    return ts


def torch_sync(out):
    return out


def jax_sync(out):
    return jax.block_until_ready(out)


# ------------------------------------------------------------------ PyTorch


from torch_peers import (  # noqa: E402
    split_params, t_cd, t_dsm_loss, t_dsm_loss_func, t_energy, t_grad_params, t_hand, t_hess_autograd,
    t_hess_func, t_langevin, t_loss_and_grad, t_nce, t_score_autograd, t_sm_autograd, t_sm_loss_func,
    t_sm_loss_hand,
)
import mlp_math  # noqa: E402


# ---------------------------------------------------------------------- JAX


def j_energy(p, x):
    return mlp_math.energy(p, x, jax.nn.softplus)


def j_flat(tree):
    return jnp.concatenate([jnp.ravel(t) for t in jax.tree_util.tree_leaves(tree)])


def j_grad_x(p, x):
    return jax.grad(lambda y: j_energy(p, y).sum())(x)


def j_hess(p, x, how):
    """Hessian diagonal by jvp(grad) over the basis: vmap or lax.map."""
    d = x.shape[1]
    gfun = lambda y: j_grad_x(p, y)  # noqa: E731

    if how == "vmap":
        basis = jnp.broadcast_to(jnp.eye(d, dtype=x.dtype)[:, None, :], (d,) + x.shape)
        hv = jax.vmap(lambda t: jax.jvp(gfun, (x,), (t,))[1])(basis)
        return jnp.diagonal(hv, axis1=0, axis2=2)

    def col(i):
        t = jnp.broadcast_to(jax.nn.one_hot(i, d, dtype=x.dtype), x.shape)
        return jax.jvp(gfun, (x,), (t,))[1][:, i]

    return jax.lax.map(col, jnp.arange(d)).T


def j_hand(p, x):
    return mlp_math.hand(p, x, jax.nn.softplus, jax.nn.sigmoid, jnp)


def j_sm_loss(p, x, how):
    if how == "hand":
        _, g, h = j_hand(p, x)
    else:
        g, h = j_grad_x(p, x), j_hess(p, x, how)
    return jnp.mean(0.5 * jnp.sum(g * g, 1) - jnp.sum(h, 1))


def j_dsm_loss(p, noisy, target):
    r = target - j_grad_x(p, noisy)
    return 0.5 * jnp.sum(r * r) / noisy.shape[0]


def j_ula_step(p, x, z, eps):
    return x - 0.5 * eps * eps * j_grad_x(p, x) + eps * z


def j_langevin_z(p, x, zs, eps):
    return jax.lax.fori_loop(0, zs.shape[0], lambda k, y: j_ula_step(p, y, zs[k], eps), x)


def j_langevin_rng(p, x, key, eps, steps):
    def body(k, y):
        z = jax.random.normal(jax.random.fold_in(key, k), y.shape, y.dtype)
        return j_ula_step(p, y, z, eps)

    return jax.lax.fori_loop(0, steps, body, x)


def j_cd_loss(p, x, neg):
    e = j_energy(p, jnp.concatenate([x, neg]))
    bsz = x.shape[0]
    return jnp.mean(e[:bsz]) - jnp.mean(e[bsz:])


def j_nce_loss(pc, x, noise, lpn_x, lpn_n, nu=1):
    p, c = pc
    e = j_energy(p, jnp.concatenate([x, noise]))
    bsz = x.shape[0]
    gx = -e[:bsz] - c - lpn_x - math.log(nu)
    gn = -e[bsz:] - c - lpn_n - math.log(nu)
    return (jnp.sum(jax.nn.softplus(-gx)) + jnp.sum(jax.nn.softplus(gn))) / e.shape[0]


# ------------------------------------------------------------------ driving


class Variant:
    def __init__(self, column, name, run, outputs, sync, timed=None):
        self.column = column  # "torch", "jax" or "hand"
        self.name = name
        self.run = run  # () -> outputs for the check
        self.outputs = outputs  # outputs -> {key: array}
        self.sync = sync
        self.timed = timed or run  # () -> anything, the timed call


def load_config(outdir, meta, cfg):
    d, b = cfg["dim"], cfg["batch"]
    base = os.path.join(outdir, cfg["dir"])

    def arr(name):
        dtype = np.float64 if cfg["files"][name].endswith(".f64") else np.float32
        return np.fromfile(os.path.join(base, cfg["files"][name]), dtype=dtype).reshape(
            cfg["shapes"][name]
        )

    data = {k: arr(k) for k in cfg["files"]}
    dims = [d] + list(cfg["hidden"]) + [1]
    return dims, data


def variants_for(op, cfg, meta, dims, data, compile_ok):
    """Every peer variant of one operation, as Variant objects."""
    eps, steps, k = float(meta["eps"]), int(meta["langevin_steps"]), int(meta["cd_k"])
    tx = torch.from_numpy(data["x"])
    tp = [(w, b) for w, b in split_params(torch.from_numpy(data["params"]), dims)]
    jp = [(jnp.asarray(w), jnp.asarray(b)) for w, b in split_params(data["params"], dims)]
    jx = jnp.asarray(data["x"])
    ts = torch_sync
    js = jax_sync
    out = []

    def tp_grad():
        return [(w.clone().requires_grad_(True), b.clone().requires_grad_(True)) for w, b in tp]

    def tcomp(fn, **kw):
        return torch.compile(fn, dynamic=False, **kw)

    def eager_and_compiled(group, eager, compiled, fn, to_out, guard=torch.inference_mode):
        """fn(tp, tx) under `guard` as variant `eager`, and torch.compile'd as `compiled` when compiling works."""

        def under_guard(f):
            def call():
                with guard():
                    return f(tp, tx)

            return call

        out.append(Variant(group, eager, under_guard(fn), to_out, ts))
        if compile_ok:
            out.append(Variant(group, compiled, under_guard(tcomp(fn)), to_out, ts))

    if op == "energy":
        eager_and_compiled("torch", "eager", "compile", t_energy, lambda o: {"energy": o.numpy()})
        je = jax.jit(j_energy)
        out.append(Variant("jax", "jit", lambda: je(jp, jx), lambda o: {"energy": np.asarray(o)}, js))

    elif op == "energy_score":
        out.append(
            Variant(
                "torch",
                "autograd",
                lambda: t_score_autograd(tp, tx),
                lambda o: {"energy": o[0].numpy(), "score": o[1].numpy()},
                ts,
            )
        )
        fs = lambda: torch.func.grad_and_value(lambda y: t_energy(tp, y).sum())(tx)  # noqa: E731
        out.append(
            Variant("torch", "func", fs, lambda o: {"score": -o[0].numpy()}, ts)
        )

        @jax.jit
        def jes(p, x):
            e, vjp = jax.vjp(lambda y: j_energy(p, y), x)
            return e, -vjp(jnp.ones_like(e))[0]

        out.append(
            Variant(
                "jax",
                "jit-vjp",
                lambda: jes(jp, jx),
                lambda o: {"energy": np.asarray(o[0]), "score": np.asarray(o[1])},
                js,
            )
        )

    elif op == "hess_diag":

        def hd_out(o):
            return {"energy": o[0].detach().numpy(), "score": -o[1].detach().numpy(), "hess": o[2].detach().numpy()}

        out.append(Variant("torch", "autograd-loop", lambda: t_hess_autograd(tp, tx), hd_out, ts))

        eager_and_compiled(
            "torch",
            "func-vmap-jvp-grad",
            "func-vmap-jvp-grad+compile",
            t_hess_func,
            lambda o: {"hess": o.numpy()},
            torch.no_grad,
        )
        for how in ["vmap", "map"]:
            f = jax.jit(lambda p, x, how=how: j_hess(p, x, how))
            out.append(
                Variant("jax", f"jit-{how}-jvp-grad", lambda f=f: f(jp, jx), lambda o: {"hess": np.asarray(o)}, js)
            )

        eager_and_compiled("hand", "torch-eager", "torch-compile", t_hand, hd_out)
        jh = jax.jit(j_hand)
        out.append(
            Variant(
                "hand",
                "jax-jit",
                lambda: jh(jp, jx),
                lambda o: {"energy": np.asarray(o[0]), "score": -np.asarray(o[1]), "hess": np.asarray(o[2])},
                js,
            )
        )

    elif op == "exact_sm":

        def lg(o):
            return {"loss": np.array([float(o[0])]), "grad": np.asarray(o[1])}

        out.append(Variant("torch", "autograd-loop", lambda: t_sm_autograd(tp_grad(), tx), lg, ts))
        out.append(
            Variant("torch", "func-vmap-jvp-grad", lambda: t_loss_and_grad(t_sm_loss_func, tp_grad(), tx), lg, ts)
        )
        for how in ["vmap", "map"]:
            f = jax.jit(jax.value_and_grad(lambda p, x, how=how: j_sm_loss(p, x, how)))
            out.append(
                Variant("jax", f"jit-{how}-jvp-grad", lambda f=f: f(jp, jx), lambda o: {"loss": np.array([float(o[0])]), "grad": np.asarray(j_flat(o[1]))}, js)
            )
        out.append(Variant("hand", "torch-eager", lambda: t_loss_and_grad(t_sm_loss_hand, tp_grad(), tx), lg, ts))
        if compile_ok:
            cl = tcomp(t_sm_loss_hand)
            out.append(Variant("hand", "torch-compile", lambda: t_loss_and_grad(cl, tp_grad(), tx), lg, ts))
        f = jax.jit(jax.value_and_grad(lambda p, x: j_sm_loss(p, x, "hand")))
        out.append(
            Variant("hand", "jax-jit", lambda: f(jp, jx), lambda o: {"loss": np.array([float(o[0])]), "grad": np.asarray(j_flat(o[1]))}, js)
        )

    elif op == "dsm":
        nz, tg = torch.from_numpy(data["dsm_noisy"]), torch.from_numpy(data["dsm_target"])
        jn, jt = jnp.asarray(data["dsm_noisy"]), jnp.asarray(data["dsm_target"])

        def lg(o):
            return {"loss": np.array([float(o[0])]), "grad": np.asarray(o[1])}

        out.append(Variant("torch", "autograd", lambda: t_loss_and_grad(t_dsm_loss, tp_grad(), nz, tg), lg, ts))
        out.append(Variant("torch", "func", lambda: t_loss_and_grad(t_dsm_loss_func, tp_grad(), nz, tg), lg, ts))
        f = jax.jit(jax.value_and_grad(j_dsm_loss))
        out.append(
            Variant("jax", "jit", lambda: f(jp, jn, jt), lambda o: {"loss": np.array([float(o[0])]), "grad": np.asarray(j_flat(o[1]))}, js)
        )

    elif op == "langevin":
        tz = torch.from_numpy(data["langevin_z"])
        jz = jnp.asarray(data["langevin_z"])
        for how in ["autograd", "func"] + (["compile"] if compile_ok else []):

            def chk(how=how):
                with torch.no_grad() if how != "autograd" else torch.enable_grad():
                    return t_langevin(tp, tx, eps, steps, tz, how)

            def timed(how=how):
                with torch.no_grad() if how != "autograd" else torch.enable_grad():
                    return t_langevin(tp, tx, eps, steps, None, how)

            out.append(Variant("torch", how, chk, lambda o: {"x": o.numpy()}, ts, timed))
        fz = jax.jit(j_langevin_z)
        fr = jax.jit(j_langevin_rng, static_argnums=(4,))
        key = jax.random.key(0)
        out.append(
            Variant(
                "jax",
                "jit-fori",
                lambda: fz(jp, jx, jz, eps),
                lambda o: {"x": np.asarray(o)},
                js,
                lambda: fr(jp, jx, key, eps, steps),
            )
        )

    elif op == "cd":
        tz = torch.from_numpy(data["cd_z"])
        jz = jnp.asarray(data["cd_z"])

        def cd_out(o):
            return {"loss": np.array([float(o[0])]), "grad": np.asarray(o[1]), "neg": np.asarray(o[2])}

        for how in ["autograd", "func"]:
            out.append(
                Variant(
                    "torch",
                    how,
                    lambda how=how: t_cd(tp_grad(), tx, eps, k, tz, how),
                    cd_out,
                    ts,
                    lambda how=how: t_cd(tp_grad(), tx, eps, k, None, how),
                )
            )

        def jcd_z(p, x, zs):
            neg = jax.lax.stop_gradient(j_langevin_z(p, x, zs, eps))
            loss, g = jax.value_and_grad(j_cd_loss)(p, x, neg)
            return loss, j_flat(g), neg

        def jcd_rng(p, x, key):
            neg = jax.lax.stop_gradient(j_langevin_rng(p, x, key, eps, k))
            loss, g = jax.value_and_grad(j_cd_loss)(p, x, neg)
            return loss, j_flat(g), neg

        fz, fr = jax.jit(jcd_z), jax.jit(jcd_rng)
        key = jax.random.key(1)
        out.append(Variant("jax", "jit", lambda: fz(jp, jx, jz), cd_out, js, lambda: fr(jp, jx, key)))

    elif op == "nce":
        tn = torch.from_numpy(data["nce_noise"])
        la = torch.from_numpy(data["nce_lpn_data"].astype(np.float32))
        ln = torch.from_numpy(data["nce_lpn_noise"].astype(np.float32))
        jn, jla, jln = jnp.asarray(data["nce_noise"]), jnp.asarray(la.numpy()), jnp.asarray(ln.numpy())
        c0 = float(cfg["scalars"]["nce_c"])

        def lg(o):
            return {"loss": np.array([float(o[0])]), "grad": np.asarray(o[1])}

        out.append(
            Variant(
                "torch",
                "autograd",
                lambda: t_nce(tp_grad(), torch.tensor(c0, requires_grad=True), tx, tn, la, ln),
                lg,
                ts,
            )
        )
        f = jax.jit(jax.value_and_grad(j_nce_loss))
        jc = jnp.asarray(c0, dtype=jnp.float32)
        out.append(
            Variant(
                "jax",
                "jit",
                lambda: f((jp, jc), jx, jn, jla, jln),
                lambda o: {"loss": np.array([float(o[0])]), "grad": np.asarray(j_flat(o[1]))},
                js,
            )
        )
    return out


def ebm_reference(op, cfg, data):
    s = cfg["scalars"]
    if op == "energy":
        return {"energy": data["out_energy"]}
    if op == "energy_score":
        return {"energy": data["out_es_energy"], "score": data["out_es_score"]}
    if op == "hess_diag":
        return {"energy": data["out_hd_energy"], "score": data["out_hd_score"], "hess": data["out_hd_hess"]}
    if op == "exact_sm":
        return {"loss": np.array([s["exact_sm_loss"]]), "grad": data["out_sm_grad"]}
    if op == "dsm":
        return {"loss": np.array([s["dsm_loss"]]), "grad": data["out_dsm_grad"]}
    if op == "langevin":
        return {"x": data["out_langevin"]}
    if op == "cd":
        return {"loss": np.array([s["cd_loss"]]), "grad": data["out_cd_grad"], "neg": data["out_cd_neg"]}
    if op == "nce":
        return {"loss": np.array([s["nce_loss"]]), "grad": data["out_nce_grad"]}
    raise ValueError(op)


def check_scales(op, dims, data):
    """Absolute floors of the check for results that are differences of
    larger terms: for CD, the data phase alone (mean E(x+) and its gradient),
    computed in f64."""
    if op != "cd":
        return {}
    p = [(w.double().requires_grad_(True), b.double().requires_grad_(True))
         for w, b in split_params(torch.from_numpy(data["params"]), dims)]
    e = t_energy(p, torch.from_numpy(data["x"]).double())
    g = t_grad_params(e.mean(), [t for wb in p for t in wb]).numpy()
    return {"loss": float(e.detach().abs().mean()), "grad": math.sqrt(float(np.mean(g * g)))}


def fmt_ms(v):
    if v is None:
        return "—"
    return f"{v:.3g}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ebm-bin", required=True, help="path of the peer_ebm binary")
    ap.add_argument("--out", default="target/peers", help="working folder (weights, inputs, outputs, results)")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--configs", default="d64,d16,d2")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--cd-k", type=int, default=5)
    ap.add_argument("--langevin-steps", type=int, default=20)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    ops = [o for o in args.ops.split(",") if o]
    for o in ops:
        if o not in OPS:
            ap.error(f"unknown op {o} (one of {', '.join(OPS)})")

    load0 = os.getloadavg()
    log(f"peers: load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; {THREADS} threads everywhere")
    compile_ok = not args.no_compile
    rows, failures, details, loads = [], [], [], []
    for name in [c for c in args.configs.split(",") if c]:
        loads.append((name, os.getloadavg()[0]))
        for op in ops:
            # ebm's side of this (configuration, operation) runs right before
            # its peers, so both see the same machine state.
            cmd = [
                args.ebm_bin, "--out", args.out, "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                "--configs", name, "--ops", op, "--cd-k", str(args.cd_k), "--langevin-steps", str(args.langevin_steps),
            ]
            subprocess.run(cmd, check=True)
            with open(os.path.join(args.out, "ebm.json")) as f:
                meta = json.load(f)
            cfg = meta["configs"][0]
            dims, data = load_config(args.out, meta, cfg)
            label = f"d={cfg['dim']} {'-'.join(map(str, cfg['hidden']))} B={cfg['batch']}"
            log(f"peers: {name} {op}: ebm median {cfg['times'][op]['median_ms']:.3f} ms (load {os.getloadavg()[0]:.2f})")
            ebm_ms = cfg["times"][op]["median_ms"]
            ref = ebm_reference(op, cfg, data)
            scales = check_scales(op, dims, data)
            best = {}
            for v in variants_for(op, cfg, meta, dims, data, compile_ok):
                tag = f"{cfg['name']} {op} {v.column}/{v.name}"
                try:
                    t0 = time.perf_counter()
                    got = v.outputs(v.sync(v.run()))
                    first_s = time.perf_counter() - t0
                    errs = {key: check(val, ref[key], scales.get(key, 0.0)) for key, val in got.items()}
                    err = max(errs.values())
                    ts = bench(v.timed, args.warmup, args.repeats, v.sync)
                except Exception as e:  # a variant that does not run is reported, not fatal
                    log(f"peers: {tag}: FAILED: {type(e).__name__}: {e}")
                    log(traceback.format_exc(limit=3))
                    details.append({"config": cfg["name"], "op": op, "column": v.column, "variant": v.name, "error": f"{type(e).__name__}: {e}"})
                    continue
                med = statistics.median(ts)
                ok = err <= RTOL
                if not ok:
                    failures.append(f"{tag}: max normalised error {err:.2e} > {RTOL:g} ({errs})")
                log(
                    f"peers: {tag:<46} median {med:9.3f} ms  min {min(ts):9.3f}  first call {first_s * 1e3:9.1f} ms  "
                    f"err {err:.1e} {'ok' if ok else 'MISMATCH'}"
                )
                details.append({
                    "config": cfg["name"], "op": op, "column": v.column, "variant": v.name,
                    "median_ms": med, "min_ms": min(ts), "samples_ms": ts, "max_err": err, "errs": errs,
                    "agrees": ok, "first_call_ms": first_s * 1e3,
                })
                if ok and (v.column not in best or med < best[v.column][0]):
                    best[v.column] = (med, v.name, err)
            rows.append({"config": label, "name": cfg["name"], "op": op, "ebm_ms": ebm_ms, "best": best,
                         "load": os.getloadavg()[0]})

    load1 = os.getloadavg()
    # ---- the table
    head = "| config | op | ebm ms | torch ms (variant) | jax ms (variant) | hand-derived ms (variant) | ebm/torch | ebm/jax | ebm/hand | speed-up vs torch / jax / hand | load |"
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        cells = [r["config"], r["op"], fmt_ms(r["ebm_ms"])]
        ratios, speed = [], []
        for col in ["torch", "jax", "hand"]:
            if col in r["best"]:
                med, name, _ = r["best"][col]
                cells.append(f"{fmt_ms(med)} ({name})")
                ratios.append(f"{r['ebm_ms'] / med:.2f}")
                speed.append(f"{med / r['ebm_ms']:.1f}×")
            else:
                cells.append("—")
                ratios.append("—")
                speed.append("—")
        lines.append("| " + " | ".join(cells + ratios + [" / ".join(speed), f"{r['load']:.1f}"]) + " |")
    table = "\n".join(lines)
    env = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {THREADS} threads for every framework "
        f"(torch.set_num_threads({THREADS}), OMP/MKL_NUM_THREADS={THREADS}, XLA_FLAGS='{os.environ['XLA_FLAGS']}', "
        f"RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}); torch {torch.__version__}, jax {jax.__version__}, "
        f"numpy {np.__version__}, Python {platform.python_version()}; medians of {args.repeats} timed calls after "
        f"{args.warmup} warm-up calls; 1-min load average {load0[0]:.2f} at start, "
        + ", ".join(f"{n} {l:.2f}" for n, l in loads) + f" when each configuration started, {load1[0]:.2f} at end"
    )
    print(table)
    print()
    print(env)
    if failures:
        print("\nAGREEMENT FAILURES:")
        for f_ in failures:
            print("  " + f_)
    else:
        print(f"\nEvery timed peer variant agrees with ebm within {RTOL:g} (normalised error, see run.py check()).")
    worst = max((d_["max_err"] for d_ in details if "max_err" in d_), default=float("nan"))
    print(f"Largest normalised error over all variants: {worst:.2e}")
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table + "\n\n" + env + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"env": env, "load_start": load0, "load_per_config": loads, "load_end": load1, "rows": rows, "variants": details, "failures": failures}, f, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

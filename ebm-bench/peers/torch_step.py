#!/usr/bin/env python3
"""One exact score-matching training step from PyTorch: ebm's loss
(``ebm.torch.exact_score_matching_loss``) against PyTorch autograd's ways of
computing the same loss, in one process and one run.

Called by ``torch_step.sh`` (which makes the venv and installs ``ebm-py``).

The step, for every variant, on its own copy of the same module:
``opt.zero_grad(); loss = L(net, x); loss.backward(); opt.step()`` with
``torch.optim.Adam(lr=1e-4)``, where L is the exact score-matching loss
(eq 12)

    J(θ) = (1/B) Σ_b Σ_i ½ (∂_i E(x_b))² − ∂²_ii E(x_b),

E(x) = net(x)[:, 0], net an ``nn.Sequential`` MLP d → 256 → 256 → 1 with
Softplus, float32, d = 64, B = 1024, x standard normal (fixed).

Variants:

- ``ebm``: ``ebm.torch.exact_score_matching_loss`` (value and θ-gradient
  from ebm in one pass; backward scales the stored gradient);
- ``autograd-loop``: ∇ₓE by autograd with create_graph, then d
  double-backward passes for the diagonal, then backward to θ;
- ``autograd-batched``: the d double-backward passes as one batched call
  (``torch.autograd.grad(..., is_grads_batched=True)``, vmap inside);
- ``func-jvp-grad``: torch.func vmap over the basis of jvp(grad)
  (forward-over-reverse), then backward to θ; ``+compile``: the same loss
  under torch.compile;
- ``func-hessian``: torch.func vmap(hessian) per sample, its diagonal;
- reference, not autograd: ``hand-derived`` is ebm's own decomposition
  ∂²E/∂xᵢ² = Σₗ Σᵤ cₗᵤ (Jₗ)ᵤᵢ² (forward Jacobian propagation) written in
  PyTorch, eager and under torch.compile, θ-gradient by autograd.

Before timing, every variant's loss and θ-gradient at the same parameters
must match ebm's (normalised error ≤ 1e-4, as ``run.py``'s ``check``); a
variant that fails to run (torch.compile of double backward, say) is
reported as such, not dropped silently. Then ``--warmup`` steps each
(torch.compile compiles there), then ``--repeats`` rounds; each round runs
one step of every variant in a rotating order, each step timed alone, so
that a change in machine load hits all variants alike. Reported: the
median step time of each variant and its ratio to ebm's.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import time
import traceback

THREADS = int(os.environ.get("PEERS_THREADS", os.cpu_count() or 1))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))
os.environ.setdefault("RAYON_NUM_THREADS", str(THREADS))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ebm  # noqa: E402
import ebm.torch as et  # noqa: E402
from torch_peers import t_sm_loss_func, t_sm_loss_hand  # noqa: E402

torch.set_num_threads(THREADS)
RTOL = 1e-4


def layers(net):
    """The module's parameters as torch_peers' [(W, b), ...]."""
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    return [(m.weight, m.bias) for m in lin]


def sm_from_grad_and_trace(g, tr):
    return (0.5 * (g * g).sum(1) - tr).mean()


def loss_autograd_loop(net, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(net(x)[:, 0].sum(), x, create_graph=True)
    tr = 0
    for i in range(x.shape[1]):
        (hi,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=True)
        tr = tr + hi[:, i]
    return sm_from_grad_and_trace(g, tr)


def loss_autograd_batched(net, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(net(x)[:, 0].sum(), x, create_graph=True)
    d = x.shape[1]
    basis = torch.eye(d, dtype=x.dtype).unsqueeze(1).expand(d, x.shape[0], d)
    (h,) = torch.autograd.grad(g, x, grad_outputs=basis, is_grads_batched=True, create_graph=True)
    tr = torch.diagonal(h, dim1=0, dim2=2).sum(1)  # h[i, b, i]
    return sm_from_grad_and_trace(g, tr)


def loss_func_hessian(net, x):
    p = layers(net)
    from torch_peers import t_energy

    def e1(y):
        return t_energy(p, y.unsqueeze(0))[0]

    g = torch.func.vmap(torch.func.grad(e1))(x)
    h = torch.func.vmap(torch.func.hessian(e1))(x)
    return sm_from_grad_and_trace(g, torch.diagonal(h, dim1=1, dim2=2).sum(1))


def check(got, want):
    """max_i |got_i − want_i| / (|want_i| + rms(want)), as run.py's check."""
    got, want = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (got, want))
    return float(np.max(np.abs(got - want) / (np.abs(want) + np.sqrt(np.mean(want * want)))))


class Variant:
    def __init__(self, name, loss, net, lr):
        self.name, self.loss, self.net = name, loss, copy.deepcopy(net)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.times, self.error = [], None

    def loss_and_grad(self, x):
        self.net.zero_grad(set_to_none=True)
        loss = self.loss(self.net, x)
        loss.backward()
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.net.parameters()]
        return float(loss.detach()), torch.cat([g.reshape(-1) for g in grads]).numpy().copy()

    def step(self, x):
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.net, x)
        loss.backward()
        self.opt.step()
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--hidden", default="256,256")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", default=None, help="write results.json here")
    args = ap.parse_args()

    torch.manual_seed(0)
    d, hidden = args.dim, [int(h) for h in args.hidden.split(",")]
    mods, width = [], d
    for h in hidden:
        mods += [torch.nn.Linear(width, h), torch.nn.Softplus()]
        width = h
    net = torch.nn.Sequential(*mods, torch.nn.Linear(width, 1))
    x = torch.randn(args.batch, d)

    losses = [
        ("ebm", et.exact_score_matching_loss),
        ("autograd-loop", loss_autograd_loop),
        ("autograd-batched", loss_autograd_batched),
        ("func-jvp-grad", lambda n, y: t_sm_loss_func(layers(n), y)),
        ("func-hessian", loss_func_hessian),
        ("hand-derived (reference)", lambda n, y: t_sm_loss_hand(layers(n), y)),
    ]
    if not args.no_compile:
        jvp_c, hand_c = torch.compile(t_sm_loss_func, dynamic=False), torch.compile(t_sm_loss_hand, dynamic=False)
        losses += [
            ("func-jvp-grad+compile", lambda n, y: jvp_c(layers(n), y)),
            ("hand-derived+compile (reference)", lambda n, y: hand_c(layers(n), y)),
        ]
    variants = [Variant(name, f, net, lr=1e-4) for name, f in losses]

    # Agreement at the same parameters, and warm-up (compilation).
    want_loss, want_grad = variants[0].loss_and_grad(x)
    for v in variants:
        try:
            t0 = time.perf_counter()
            loss, grad = v.loss_and_grad(x)
            v.first_call_s = time.perf_counter() - t0
            v.err = max(check([loss], [want_loss]), check(grad, want_grad))
            if v.err > RTOL:
                v.error = f"disagrees with ebm: normalised error {v.err:.2e} > {RTOL}"
            for _ in range(args.warmup):
                v.step(x)
        except Exception as e:  # reported below, never silently dropped
            v.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            traceback.print_exc()
    ok = [v for v in variants if v.error is None]
    start_load = os.getloadavg()[0]
    t_start = time.time()
    for r in range(args.repeats):
        for v in ok[r % len(ok) :] + ok[: r % len(ok)]:
            v.times.append(v.step(x))
    end_load = os.getloadavg()[0]

    ebm_ms = statistics.median(variants[0].times) * 1e3
    print(f"\nexact-SM training step (loss, backward, Adam), d={d} {args.hidden} B={args.batch}, f32, "
          f"{THREADS} threads, median of {args.repeats} interleaved rounds; torch {torch.__version__}, ebm {ebm.__version__}")
    print(f"1-min load average {start_load:.2f} at the start, {end_load:.2f} at the end; {time.time() - t_start:.0f} s\n")
    print("| variant | median ms | min–max ms | variant / ebm | check |")
    print("|---|---|---|---|---|")
    rows = []
    for v in variants:
        if v.error is not None:
            print(f"| {v.name} | — | — | — | failed: {v.error} |")
            rows.append({"variant": v.name, "error": v.error})
            continue
        med = statistics.median(v.times) * 1e3
        print(f"| {v.name} | {med:.3g} | {min(v.times) * 1e3:.3g}–{max(v.times) * 1e3:.3g} | "
              f"{med / ebm_ms:.2f} | {v.err:.1e} |")
        rows.append({"variant": v.name, "median_ms": med, "times_s": v.times, "ratio_to_ebm": med / ebm_ms,
                     "check": v.err, "first_call_s": v.first_call_s})
    autograd = [r for r in rows if "median_ms" in r and r["variant"] != "ebm" and "reference" not in r["variant"]]
    if autograd:
        best = min(autograd, key=lambda r: r["median_ms"])
        print(f"\nfastest PyTorch autograd variant: {best['variant']}, {best['ratio_to_ebm']:.2f}× ebm's step time")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        meta = {"dim": d, "hidden": hidden, "batch": args.batch, "repeats": args.repeats, "threads": THREADS,
                "torch": torch.__version__, "ebm": ebm.__version__, "python": platform.python_version(),
                "load": [start_load, end_load]}
        with open(os.path.join(args.out, "torch_step.json"), "w") as f:
            json.dump({"meta": meta, "variants": rows}, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The table of docs/scale.md: per-step compute of one H200 from the
roofline, ring all-reduce time at N = 8 and the largest power-of-two N whose
parallel efficiency S(N)/N is still >= 50 %, for each link."""
PEAK = 67e12  # FP32 flop/s (no tensor cores)
MEMBW = 4.8e12  # HBM bytes/s
FLOOR = 2e-4  # s per step: ~20 wgpu dispatches
LINKS = [("NVLink 4", 450e9, 2e-6), ("IB NDR", 50e9, 3e-6), ("100 GbE", 12.5e9, 5e-6), ("10 GbE", 1.25e9, 30e-6)]


def compute(p, b):
    """12PB flops; weights read ~3 times, activations ~1000 bytes a sample."""
    return max(12 * p * b / PEAK, (12 * p + 4000 * b) / MEMBW, FLOOR)


def ring(p, n, bw, alpha):
    return 0.0 if n == 1 else 2 * (n - 1) / n * 4 * p / bw + 2 * (n - 1) * alpha


def gather(p, n, bw, alpha):
    """ebm's deterministic sum: all-gather of P + 2 f64 per rank."""
    return 0.0 if n == 1 else (n - 1) * 8 * p / bw + (n - 1) * alpha


def n_star(p, b, bw, alpha):
    best = 1
    for k in range(11):
        n = 2**k
        if b // n < 1:
            break
        if compute(p, b) / (compute(p, b / n) + ring(p, n, bw, alpha)) / n >= 0.5:
            best = n
    return best


if __name__ == "__main__":
    for p in (4417, 1e6, 1e8):
        for b in (512, 8192):
            cells = [f"{ring(p, 8, bw, a) * 1e3:.2g} ms / {n_star(p, b, bw, a)}" for _, bw, a in LINKS]
            print(f"| {p:.3g} | {b} | {compute(p, b) * 1e3:.2g} ms | " + " | ".join(cells) + " |")
    for p in (1e6, 1e8):
        print(f"P = {p:.0e}, 8 ranks, IB NDR: gather {gather(p, 8, 50e9, 3e-6) * 1e3:.3g} ms, ring {ring(p, 8, 50e9, 3e-6) * 1e3:.3g} ms")

"""The GIL is released while ebm computes: another Python thread runs
during the call."""

import threading
import time

import numpy as np

import ebm
from reference import batch, make_mlp


def test_other_threads_run_during_a_computation():
    model = ebm.Mlp.from_torch(make_mlp(32, [256, 256], "softplus", seed=51))
    x = batch(4096, 32, seed=52)
    window = []

    def compute():
        t0 = time.perf_counter()
        model.energy_score_hess_diag(x)
        window.extend([t0, time.perf_counter()])

    worker = threading.Thread(target=compute)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    t0, t1 = window
    inside = [t0] + [t for t in ticks if t0 < t < t1] + [t1]
    longest_gap = max(b - a for a, b in zip(inside, inside[1:]))
    # Holding the GIL, the call would stop this loop for all its duration.
    assert t1 - t0 > 0.05, "the computation is too short to tell"
    assert longest_gap < 0.5 * (t1 - t0), (longest_gap, t1 - t0)

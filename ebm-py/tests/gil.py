"""A check that a call releases the GIL: another Python thread keeps
running while it computes."""

import threading
import time


def assert_releases_the_gil(compute):
    """Runs ``compute()`` on a worker thread while this thread ticks; fails
    unless the ticks kept coming during the call (holding the GIL, it would
    stop this loop for all its duration)."""
    window, ticks = [], []

    def run():
        t0 = time.perf_counter()
        compute()
        window.extend([t0, time.perf_counter()])

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    t0, t1 = window
    inside = [t0] + [t for t in ticks if t0 < t < t1] + [t1]
    longest_gap = max(b - a for a, b in zip(inside, inside[1:]))
    assert t1 - t0 > 0.05, "the computation is too short to tell"
    assert longest_gap < 0.5 * (t1 - t0), (longest_gap, t1 - t0)

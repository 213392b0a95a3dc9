"""Helpers shared by the two load benchmarks (load_learners.py in one process, load_server.py
against a server): a process's resident memory, a thread that keeps its peak, percentiles."""

from __future__ import annotations

import math
import threading


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (NaN when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class RssMonitor(threading.Thread):
    """Samples a process's RSS every ``every`` seconds until ``stop`` is set; keeps the peak."""

    def __init__(self, pid: int | str = "self", every: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.every, self.stop = pid, every, threading.Event()
        self.peak = rss_mb(pid)

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.peak = max(self.peak, rss_mb(self.pid))


def percentile(xs: list[float], q: float) -> float:
    """Linear-interpolation percentile (q in 0…1); NaN for no data."""
    if not xs:
        return float("nan")
    ys = sorted(xs)
    k = (len(ys) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ys[lo] + (ys[hi] - ys[lo]) * (k - lo)

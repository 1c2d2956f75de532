"""Peak resident memory of a block of code, sampled from /proc (counts native allocations too)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@contextmanager
def peak_rss(result: dict[str, int], interval: float = 0.005) -> Iterator[None]:
    """Fills result['peak'] with the highest RSS above the starting RSS while the block ran."""
    start = rss_bytes()
    peak = start
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_bytes())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        result["peak"] = max(peak, rss_bytes()) - start

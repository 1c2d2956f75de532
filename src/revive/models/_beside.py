"""Run a native call on a worker thread, so Ctrl-C reaches the caller at once.

Native runtimes (ncnn, onnxruntime) hold the calling thread for a whole tile and Python only
sees a signal when they return, which can take minutes (or never, for a hostile graph). Joining
a worker instead keeps the caller's thread in Python, where KeyboardInterrupt is raised at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_beside(work: Callable[[], T], *, name: str, stop: Callable[[], None] | None = None,
               grace: float = 5.0) -> T:
    """``work()`` on a daemon thread; its result or its exception comes back here.

    On an interrupt, ``stop`` (if given) asks the native call to end and the worker gets
    ``grace`` seconds to do so before the interrupt goes on up.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["out"] = work()
        except BaseException as err:  # handed to the caller's thread
            box["err"] = err

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    try:
        while worker.is_alive():  # short joins: a signal that landed on another thread (or Windows'
            worker.join(0.1)      # Ctrl-C, which never wakes a blocked join) is seen within 0.1 s
    except BaseException:
        if stop is not None:
            stop()
            worker.join(grace)
        raise
    if "err" in box:
        raise box["err"]  # type: ignore[misc]
    return box["out"]  # type: ignore[return-value]

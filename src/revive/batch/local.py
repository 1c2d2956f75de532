"""The local engine: items in this process (one worker) or in a pool of worker processes.

Each pool worker builds its own :class:`~.worker.Worker` once (models load once per worker) and
dies with the batch (on Linux, a parent killed with ``kill -9`` takes its workers with it, so no
orphan writes into the output folder while a rerun works there). A worker that dies mid-photo
(out of memory, a crash in a native library) costs its items a retry on a fresh pool; a photo that
keeps killing workers fails with that reason after ``retries`` tries.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from .worker import ItemResult, Worker, WorkerConfig, WorkItem, failed

ResultFn = Callable[[ItemResult], None]
RetryFn = Callable[[WorkItem, str], None]


@dataclass(frozen=True)
class Pool:
    """How many workers run a batch, how often a lost item is retried, and where (Ray's address)."""

    workers: int = 1
    retries: int = 2
    address: str | None = None


def lost(item: WorkItem, tries: int, why: str) -> ItemResult:
    return failed(item, f"{why} while processing this file ({tries} tries); it may need more memory than a "
                        "worker has — try fewer --workers or a --memory budget")


def run_local(config: WorkerConfig, items: Iterator[WorkItem], on_result: ResultFn, on_retry: RetryFn,
              pool: Pool) -> None:
    if pool.workers <= 1:
        global _worker
        # Held by the module, not this frame: on Ctrl-C a model's native thread may still be inside a
        # tile, and freeing the model under it would abort the process instead of leaving cleanly.
        _worker = worker = Worker(config)
        for item in items:
            on_result(worker(item))
        return
    _run_pool(config, items, on_result, on_retry, pool)


def _run_pool(config: WorkerConfig, items: Iterator[WorkItem], on_result: ResultFn, on_retry: RetryFn,
              pool: Pool) -> None:
    def start() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(pool.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(config, os.getpid()))

    executor = start()
    pending: dict[Future[ItemResult], tuple[WorkItem, int]] = {}
    again: deque[tuple[WorkItem, int]] = deque()

    def retry_or_fail(item: WorkItem, tries: int) -> None:
        if tries <= pool.retries:
            on_retry(item, "a worker process died")
            again.append((item, tries))
        else:
            on_result(lost(item, tries, "a worker process died"))

    try:
        while True:
            broken = False
            while len(pending) < 2 * pool.workers:  # two each: a worker never waits for its next photo
                nxt = again.popleft() if again else _next(items)
                if nxt is None:
                    break
                try:
                    pending[executor.submit(_run_item, nxt[0])] = nxt
                except BrokenProcessPool:  # a worker died since the last look
                    again.appendleft(nxt)
                    broken = True
                    break
            if not pending and not broken:
                return
            if not broken:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                broken = any(_lost(f) for f in finished)
            for future in [f for f in pending if f.done() and not _lost(f)]:
                item, _tries = pending.pop(future)
                error = future.exception()
                on_result(future.result() if error is None else failed(item, f"internal error in a worker: {error!r}"))
            if broken:  # every photo still in the pool is lost with it: a fresh pool takes them again
                for item, tries in pending.values():
                    retry_or_fail(item, tries + 1)
                pending.clear()
                executor.shutdown(wait=False, cancel_futures=True)
                executor = start()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _lost(future: Future[ItemResult]) -> bool:
    return future.done() and isinstance(future.exception(), BrokenProcessPool)


def _next(items: Iterator[WorkItem]) -> tuple[WorkItem, int] | None:
    item = next(items, None)
    return None if item is None else (item, 0)


_worker: Worker | None = None


def _start_worker(config: WorkerConfig, parent: int) -> None:
    global _worker
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch's to handle; workers die with it
    _worker = Worker(config)


def _run_item(item: WorkItem) -> ItemResult:
    if _worker is None:
        raise RuntimeError("the worker was not started")
    return _worker(item)


def _die_with(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies (however it dies)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            return
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(1)

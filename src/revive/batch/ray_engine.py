"""The Ray engine: the same items on Ray actors, each holding one :class:`~.worker.Worker`.

An actor loads its models once and takes photos one after another (two queued each, so it never
waits). A lost actor (its process or node died) is restarted by Ray and its photo retried, up to
``retries`` times; after that the photo fails with that reason and a fresh actor takes its place.
A bad photo is not an exception here: the worker returns it as a failed result, so Ray never
retries it. Ray is imported only when this engine runs (``pip install "revive-photo[ray]"``).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ..errors import InvalidParameter, RuntimeUnavailable
from .local import Pool, ResultFn, RetryFn, lost
from .worker import ItemResult, Worker, WorkerConfig, WorkItem

_QUEUED_PER_ACTOR = 2


class RayWorker:
    """The actor's body: a Worker built once, then one call per photo."""

    def __init__(self, config: WorkerConfig, cpus: int) -> None:
        share = min(1.0, cpus / (os.cpu_count() or 1))  # of this node's memory, as of its CPUs
        self.worker = Worker(replace(config, memory_share=share))

    def run(self, item: WorkItem) -> ItemResult:
        return self.worker(item)


def run_ray(config: WorkerConfig, items: Iterator[WorkItem], on_result: ResultFn, on_retry: RetryFn,
            pool: Pool) -> None:
    ray = _import_ray()
    started_here = not ray.is_initialized()
    cpus = config.threads or max(1, (os.cpu_count() or 1) // pool.workers)
    if started_here:
        if pool.address:
            try:
                ray.init(address=pool.address, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise RuntimeUnavailable(
                    f"cannot join the Ray cluster at {pool.address} ({str(err).splitlines()[0]}); is 'ray start "
                    "--head' running there, with the same Ray version as here?") from None
        else:  # a private local Ray, gone when the batch ends
            ray.init(num_cpus=max(os.cpu_count() or 1, cpus * pool.workers), include_dashboard=False,
                     logging_level=logging.ERROR, log_to_driver=False)
    try:
        options: dict[str, Any] = {"num_cpus": cpus, "max_restarts": pool.retries,
                                   "max_task_retries": pool.retries}
        if config.device not in ("auto", "cpu"):
            options["num_gpus"] = 1  # one GPU per actor when the user asks for a GPU
        actor_class = ray.remote(RayWorker).options(**options)
        config = _with_threads(config, cpus)
        _dispatch(ray, lambda: actor_class.remote(config, cpus), items, on_result, on_retry, pool)
    finally:
        if started_here:
            ray.shutdown()


def _dispatch(ray: Any, new_actor: Any, items: Iterator[WorkItem], on_result: ResultFn, on_retry: RetryFn,
              pool: Pool) -> None:
    from ray.exceptions import RayActorError, RayError, RayTaskError

    actors = [new_actor() for _ in range(pool.workers)]
    pending: dict[Any, tuple[int, Any, WorkItem, int]] = {}  # object ref → (slot, actor, item, tries so far)
    again: deque[tuple[WorkItem, int]] = deque()
    load = [0] * len(actors)

    def feed(slot: int) -> None:
        while load[slot] < _QUEUED_PER_ACTOR:
            if again:
                item, tries = again.popleft()
            else:
                fresh = next(items, None)
                if fresh is None:
                    return
                item, tries = fresh, 0
            pending[actors[slot].run.remote(item)] = (slot, actors[slot], item, tries)
            load[slot] += 1

    for slot in range(len(actors)):
        feed(slot)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        slot, actor, item, tries = pending.pop(ref)
        load[slot] -= 1
        try:
            on_result(ray.get(ref))
        except RayTaskError as err:  # the worker's own code raised: a bug, reported as the item's failure
            on_result(lost(item, tries + 1, f"internal error in a Ray worker: {err.cause!r}"))
        except (RayActorError, RayError) as err:  # the actor is gone for good (Ray's own retries are spent)
            if tries < pool.retries:
                on_retry(item, f"a Ray worker was lost ({type(err).__name__})")
                again.append((item, tries + 1))
            else:
                on_result(lost(item, tries + 1, "a Ray worker was lost"))
            if actors[slot] is actor:  # its other queued photo may have failed first and replaced it
                ray.kill(actor, no_restart=True)
                actors[slot] = new_actor()
        feed(slot)
        for other in range(len(actors)):  # retries queued by one slot may go to any idle one
            feed(other)


def _with_threads(config: WorkerConfig, cpus: int) -> WorkerConfig:
    return config if config.threads is not None else replace(config, threads=cpus)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeUnavailable('the Ray engine needs Ray: pip install "revive-photo[ray]" '
                                 "(or use --engine local)") from None
    return ray


def check_address(address: str | None) -> None:
    if address is not None and address != "auto" and ":" not in address and not address.startswith("ray://"):
        raise InvalidParameter(f"--ray-address takes auto, HOST:PORT or ray://HOST:PORT, got {address!r}")

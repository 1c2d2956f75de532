"""The server's job queue: a few worker threads over the library's job runner, events kept for streaming.

Uploads are checked and spooled to a private folder before a job is queued; a worker runs it with
:func:`revive.api.run_job` (one at a time per device, so many uploads never hold more than one
model run's memory), keeps its events for the status and SSE endpoints, and writes the result to
the job's folder. The input is removed as soon as a job ends; the result ``result_ttl`` seconds
later, on cancel, or when the server stops (the whole folder goes then).
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import api

Status = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: tuple[Status, ...] = ("done", "failed", "cancelled")
_PRIVATE = ("input", "output", "report")  # server paths in a job's details: never shown


class QueueFull(api.ReviveError):
    pass


@dataclass
class ServerJob:
    id: str
    operation: str
    job: api.Job
    folder: Path
    download_name: str
    media_type: str
    input_size: tuple[int, int]
    quality: int | None = None  # JPEG/WebP quality of the result
    rebuild: Callable[[], Any] | None = None  # makes the request when it runs (it holds decoded files)
    status: Status = "queued"
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    details: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def result_path(self) -> Path | None:
        sink = self.job.sink
        return sink.path if self.status == "done" and sink is not None and sink.path is not None else None

    def last(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in reversed(self.events) if e["kind"] == kind), None)

    def snapshot(self, position: int | None, ttl: float) -> dict[str, Any]:
        progress = self.last("progress")
        phase = self.last("phase")
        out: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "status": self.status, "name": self.job.source.name,
            "input_size": list(self.input_size), "phase": (phase or {}).get("phase"), "created": self.created,
        }
        if position is not None:
            out["position"] = position
        if progress is not None and progress["phase"] == out["phase"]:
            out.update(done=progress["done"], of=progress["of"], eta=progress["eta"])
        if self.error is not None:
            out["error"] = self.error
        if self.details is not None:
            out["result"] = self.details
        if self.finished is not None:
            out.update(finished=self.finished, expires=self.finished + ttl)
        if self.status == "done" and self.job.sink is not None:
            out["download"] = f"/api/jobs/{self.id}/result"
        return out


class JobQueue:
    """Jobs waiting and running (at most ``limit``), run by ``workers`` threads; finished ones kept ``ttl`` s."""

    def __init__(self, engine: api.Engine, operations: api.OperationRegistry, *, workers: int = 1, limit: int = 32,
                 ttl: float = 3600.0, max_pixels: int | None = None, sweep_interval: float = 30.0) -> None:
        self.engine, self.operations = engine, operations
        self.limit, self.ttl, self.max_pixels = limit, ttl, max_pixels
        self.root: Path | None = None  # the private folder for uploads and results, made on start
        self._jobs: dict[str, ServerJob] = {}
        self._waiting: queue.Queue[ServerJob | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"revive-worker-{i}", daemon=True)
                         for i in range(workers)]
        self._threads.append(threading.Thread(target=self._sweeper, args=(min(sweep_interval, ttl),),
                                              name="revive-sweeper", daemon=True))
        self._started = False

    # --- the front: folders, submit, look-ups -----------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._started or self.closed:
                return
            self._started = True
            self.root = Path(tempfile.mkdtemp(prefix="revive-serve-"))
        for t in self._threads:
            t.start()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def new_folder(self) -> Path:
        self.start()
        if self.closed or self.root is None:
            raise QueueFull("the server is stopping")
        folder = self.root / secrets.token_hex(8)
        folder.mkdir(mode=0o700)
        return folder

    def check_room(self) -> None:
        with self._lock:
            active = sum(j.status in ("queued", "running") for j in self._jobs.values())
        if active >= self.limit:
            raise QueueFull(f"the server is busy: {active} jobs are waiting or running (the limit is {self.limit}); "
                            "try again when some have finished")

    def submit(self, job: ServerJob) -> ServerJob:
        self.start()
        self.check_room()
        with self._lock:
            if self.closed:
                raise QueueFull("the server is stopping")
            self._jobs[job.id] = job
        self._record(job, {"kind": "queued", "name": job.job.source.name})
        self._waiting.put(job)
        return job

    def get(self, job_id: str) -> ServerJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job: ServerJob) -> int | None:
        """How many jobs run or wait before this one (0: it runs next or now)."""
        if job.status != "queued":
            return None
        with self._lock:
            return sum(j.status in ("queued", "running") and j.created < job.created for j in self._jobs.values())

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts = {s: 0 for s in ("queued", "running", "done", "failed", "cancelled")}
            for j in self._jobs.values():
                counts[j.status] += 1
        return counts

    def cancel(self, job_id: str) -> bool:
        """Stop a job (between tiles when running) and remove it with its files."""
        job = self.get(job_id)
        if job is None:
            return False
        job.cancel.set()
        with self._lock:
            self._jobs.pop(job_id, None)
            if job.status == "queued":
                job.status = "cancelled"
        if job.status != "running":  # a running job's worker removes its folder when it stops
            shutil.rmtree(job.folder, ignore_errors=True)
        return True

    # --- the workers -------------------------------------------------------------------------------------

    def _record(self, job: ServerJob, event: dict[str, Any]) -> None:
        with self._lock:
            # tile progress replaces the previous tile progress: the list stays as short as the phases
            if event["kind"] == "progress" and job.events and job.events[-1]["kind"] == "progress":
                event["seq"] = job.events[-1]["seq"] + 1
                job.events[-1] = event
            else:
                event["seq"] = job.events[-1]["seq"] + 1 if job.events else 1
                job.events.append(event)

    def _work(self) -> None:
        while True:
            job = self._waiting.get()
            if job is None:
                return
            if job.cancel.is_set() or self.closed:
                continue
            job.status = "running"
            try:
                self._run(job)
            finally:
                _tidy(job)
                if job.id not in self._jobs:  # cancelled while running
                    shutil.rmtree(job.folder, ignore_errors=True)

    def _run(self, job: ServerJob) -> None:
        def on_event(event: api.JobEvent) -> None:
            if event.kind not in ("done", "failed"):  # the job's last event comes once its status is final
                self._record(job, {k: v for k, v in dataclasses.asdict(event).items() if k not in ("index", "total")})

        try:
            ready = job.job if job.rebuild is None else dataclasses.replace(job.job, request=job.rebuild())
            result = api.run_job(ready, engine=self.engine, operations=self.operations,
                                 output=api.OutputOptions(job.quality, max_pixels=self.max_pixels),
                                 on_event=on_event, cancel=lambda: job.cancel.is_set() or self.closed)
            error = result.error
            details = {k: v for k, v in result.to_dict().items() if k not in _PRIVATE} if result.ok else None
        except api.ReviveError as err:  # its files, decoded again
            error, details = str(err), None
        except Exception as err:  # the runner reports a job's own failures; this is the server's last line
            error, details = f"internal error: {type(err).__name__}: {err}", None
        job.error = scrub(error, job) if error is not None else None
        job.details = details
        job.finished = time.time()
        job.status = "cancelled" if job.cancel.is_set() or (error and self.closed) else "failed" if error else "done"
        self._record(job, {"kind": job.status, "name": job.job.source.name, "message": job.error})

    # --- expiry and shutdown -------------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> int:
        """Remove finished jobs older than the TTL with their files; returns how many went."""
        now = time.time() if now is None else now
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished is not None and now - j.finished >= self.ttl]
            for j in old:
                del self._jobs[j.id]
        for j in old:
            shutil.rmtree(j.folder, ignore_errors=True)
        return len(old)

    def _sweeper(self, interval: float) -> None:
        while not self._closed.wait(interval):
            self.sweep()

    def close(self, timeout: float = 10.0) -> None:
        """Cancel everything, wait for the workers (a model stops between tiles) and remove every file."""
        self._closed.set()
        with self._lock:
            jobs = list(self._jobs.values())
        for j in jobs:
            j.cancel.set()
        for _ in self._threads:
            self._waiting.put(None)
        if self._started:
            deadline = time.monotonic() + timeout
            for t in self._threads:
                t.join(max(0.0, deadline - time.monotonic()))
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _tidy(job: ServerJob) -> None:
    """A finished job keeps only its result: the upload and any other files sent with it go now."""
    keep = job.result_path
    for path in list(job.folder.iterdir()) if job.folder.is_dir() else ():
        if path != keep:
            with contextlib.suppress(OSError):
                path.unlink()


def scrub(text: str, job: ServerJob) -> str:
    """A message without the server's private paths: the upload is called by its own name."""
    source = job.job.source
    if source.path is not None:
        text = text.replace(str(source.path), source.name)
    return text.replace(str(job.folder), "").replace(str(job.folder.parent), "")

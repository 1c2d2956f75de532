"""One item of a batch, in whichever process runs it: the batch's own, a pool worker or a Ray actor.

A :class:`Worker` holds its own :class:`~revive.engine.Engine` (so each model loads once per worker)
and runs each :class:`WorkItem` through the one job runner. Everything that crosses a process
boundary here is plain picklable data; a failed photo is an :class:`ItemResult` with its reason,
never an exception (so Ray retries lost workers, not bad inputs).
"""

from __future__ import annotations

import math
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import MIN_MEMORY_BUDGET, Engine
from ..imageio import DEFAULT_MAX_PIXELS
from ..jobs import Job, JobResult, OutputOptions, Sink, Source, run_job
from ..models.download import sha256_file
from ..models.loaders import LoadOptions
from ..operations import OperationRegistry, default_operations
from ..pipeline.fidelity import versus_input
from ..pipeline.report import thumbnail_jpeg

THUMB_SIDE = 160
# Details that are whole analyses of their own: kept out of the journal and the batch report
# (a per-file --report holds them); the short summary of each item stays.
_BULKY = ("diagnosis", "plan")


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker of one batch shares: the request and how to run and write it."""

    request: Any
    quality: int | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    device: str = "auto"
    threads: int | None = None
    memory: int | None = None  # bytes per worker; None: ``memory_share`` of the default budget, fixed at start
    memory_share: float = 1.0
    # A module-level function, pickled by name: each process builds its own registry with it.
    operations: Callable[[], OperationRegistry] = default_operations
    thumb_side: int = THUMB_SIDE


@dataclass(frozen=True)
class WorkItem:
    index: int
    input: str  # the path as the workers see it (shared storage on a cluster)
    name: str  # relative to the input folder: the journal's key
    target: str | None  # None: the operation writes no image
    format: str | None
    overwrite: bool = False


@dataclass(frozen=True)
class ItemResult:
    """What became of one item; plain data, JSON-ready apart from the thumbnails."""

    index: int
    name: str
    error: str | None = None
    internal: bool = False
    traceback: str | None = None
    seconds: float = 0.0
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None
    output: str | None = None
    output_bytes: int | None = None
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    psnr: float | None = None  # the output area-downscaled to the input's size, against the input
    ssim: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    before: bytes | None = None  # JPEG thumbnails for the report
    after: bytes | None = None
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def failed(item: WorkItem, error: str) -> ItemResult:
    """A result for an item whose worker never answered (it died, or its node went away)."""
    return ItemResult(item.index, item.name, error=error, worker="")


class Worker:
    """Runs items one after another with one engine (models stay loaded between photos)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        options = LoadOptions(device=config.device, threads=config.threads)
        self.engine = Engine(options=options, memory=config.memory)
        if config.memory is None:  # fixed once, so tiles (and so outputs) do not depend on the moment
            self.engine.memory = max(MIN_MEMORY_BUDGET, int(self.engine.memory_budget * config.memory_share))
        self.operations = config.operations()

    def __call__(self, item: WorkItem) -> ItemResult:
        config = self.config
        path = Path(item.input)
        before = _stat(path)
        sink = Sink(path=Path(item.target), format=item.format) if item.target is not None else None
        options = OutputOptions(quality=config.quality, overwrite=item.overwrite, max_pixels=config.max_pixels)
        result = run_job(Job(Source.of(path), config.request, sink), engine=self.engine,
                         operations=self.operations, output=options)
        if not result.ok:
            return ItemResult(item.index, item.name, error=result.error, internal=result.internal,
                              traceback=result.traceback, seconds=result.seconds, worker=worker_id())
        try:
            # Hashed after a successful read only: a refused file (a sparse terabyte, a FIFO) is never read whole.
            digest = sha256_file(path)
            if _stat(path) != before:
                raise OSError("changed")
            return self._success(item, result, before, digest)
        except OSError:
            return ItemResult(item.index, item.name, error=f"{path}: the file changed or went away while it was "
                              "processed; run the batch again", seconds=result.seconds, worker=worker_id())

    def _success(self, item: WorkItem, result: JobResult, stat_: tuple[int, int] | None,
                 digest: str) -> ItemResult:
        done = result.result
        photo_in, photo_out = result.input_photo, done.photo if done is not None else None
        details = _plain({k: v for k, v in (done.details if done is not None else {}).items() if k not in _BULKY})
        psnr = ssim = None
        if photo_in is not None and photo_out is not None:
            if "psnr_vs_input" in details:  # the operation measured it already (enhance)
                psnr, ssim = details.get("psnr_vs_input"), details.get("ssim_vs_input")
            else:
                psnr, ssim = versus_input(photo_in, photo_out)
        side = self.config.thumb_side
        output = result.output if isinstance(result.output, Path) else None
        return ItemResult(
            item.index, item.name, seconds=result.seconds,
            size=stat_[0] if stat_ else None, mtime_ns=stat_[1] if stat_ else None, sha256=digest,
            output=None if output is None else str(output),
            output_bytes=None if output is None else output.stat().st_size,
            input_size=result.input_size,
            output_size=None if photo_out is None else (photo_out.width, photo_out.height),
            psnr=_finite(psnr), ssim=_finite(ssim), details=details, notes=tuple(result.notes),
            before=None if photo_in is None else thumbnail_jpeg(photo_in, side),
            after=None if photo_out is None else thumbnail_jpeg(photo_out, side),
            worker=worker_id(),
        )


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def _finite(value: Any) -> float | None:
    """A number for JSON: NaN (not measurable) and infinity (identical) have no JSON spelling."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return round(float(value), 4) if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """``value`` with only JSON types (non-finite numbers as None, anything else as text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)

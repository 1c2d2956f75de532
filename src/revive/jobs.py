"""The one job runner: source → request → sink, for the CLI, the Python API, the server and batch.

A :class:`Job` reads a :class:`Source` (a path, bytes, a file object, a numpy array, a PIL image or a
Photo), runs one operation's request on it through an :class:`~revive.engine.Engine`, and writes the
result to a :class:`Sink` (a path — atomically —, bytes, or a stream such as stdout). Each job is
isolated: an expected failure is a :class:`~revive.errors.ReviveError` with its hint, anything else
is an internal error reported in one line (the traceback is kept for ``--debug``), and the other
jobs still run. Progress arrives as :class:`JobEvent`s: a phase as soon as each starts (reading,
diagnosing, loading a model, each stage by name) and tile progress with a moving ETA.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from . import imageio
from .engine import Engine
from .errors import Cancelled, ImageReadError, ImageWriteError, InvalidParameter, ReviveError
from .imageio import DEFAULT_MAX_PIXELS
from .operations import Operation, OperationRegistry, OperationResult, default_operations
from .outputs import check_target, expand_inputs, is_output_of, plan_outputs
from .stages.base import StageContext
from .tiling import CancelFn
from .types import Photo, ProcessingRecord

STDIO = "-"
MAX_STDIN_BYTES = 1 << 30  # what revive reads from a pipe before refusing it
_FORMAT_ALIASES = {"jpeg": "jpg", "tif": "tiff"}


def normalize_format(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.lower().lstrip(".")
    return _FORMAT_ALIASES.get(value, value)


@dataclass(frozen=True)
class Source:
    """Where a photo comes from. ``name`` is what messages call it."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    image: Any = None  # a numpy array, PIL image or Photo

    @classmethod
    def of(cls, value: Any) -> Source:
        """A source from whatever a caller holds: a path, ``"-"`` (stdin), bytes, a file object, an array…"""
        if isinstance(value, Source):
            return value
        if isinstance(value, str) and value == STDIO:
            return cls("<stdin>", data=_read_capped(sys.stdin.buffer))
        if isinstance(value, (str, os.PathLike)):
            return cls(os.fspath(value), path=Path(value))
        if isinstance(value, (bytes, bytearray, memoryview)):
            return cls("<bytes>", data=bytes(value))
        if hasattr(value, "read"):
            return cls(getattr(value, "name", "<stream>"), data=_read_capped(value))
        if isinstance(value, (np.ndarray, Photo)) or type(value).__module__.startswith("PIL."):
            return cls(f"<{type(value).__name__}>", image=value)
        raise InvalidParameter(f"cannot read a photo from a {type(value).__name__}")

    def read(self, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Photo:
        if self.path is not None:
            return imageio.read(self.path, max_pixels=max_pixels)
        if self.data is not None:
            if not self.data:
                raise ImageReadError(f"{self.name}: no data (an empty input)")
            with imageio.spooled(self.data) as path:
                return imageio.read(path, max_pixels=max_pixels)
        image = self.image
        if isinstance(image, Photo):
            return image
        if isinstance(image, np.ndarray):
            return Photo.from_array(image)
        return imageio.from_pil(image)


def _read_capped(stream: IO[bytes]) -> bytes:
    data = stream.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise InvalidParameter(f"the input stream is larger than {MAX_STDIN_BYTES >> 20} MiB; pass a file instead")
    return data


@dataclass(frozen=True)
class Sink:
    """Where a result goes: a path (written atomically), a stream (stdout), or nowhere (kept as bytes)."""

    path: Path | None = None
    stream: IO[bytes] | None = None
    format: str | None = None

    @classmethod
    def of(cls, value: Any, format: str | None = None) -> Sink:
        if isinstance(value, Sink):
            return value
        if value is None:
            return cls(format=normalize_format(format))
        if isinstance(value, str) and value == STDIO:
            return cls(stream=sys.stdout.buffer, format=normalize_format(format) or "png")
        return cls(path=Path(value), format=normalize_format(format))

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "<stdout>" if self.stream is not None else "<bytes>"


@dataclass(frozen=True)
class OutputOptions:
    quality: int | None = None  # JPEG/WebP quality
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise InvalidParameter(f"quality must be between 1 and 100, got {self.quality}")


@dataclass(frozen=True)
class Job:
    source: Source
    request: Any
    sink: Sink | None = None  # None: nothing is written (diagnose, dry runs, in-memory API calls)
    report: Path | None = None


EventKind = Literal["start", "phase", "estimate", "progress", "done", "failed"]


@dataclass(frozen=True)
class JobEvent:
    """What the runner tells a front end. ``index`` is 1-based; ``eta`` in seconds for the current phase."""

    kind: EventKind
    index: int
    total: int
    name: str
    phase: str | None = None
    done: int = 0
    of: int = 0
    eta: float | None = None
    message: str | None = None


EventFn = Callable[[JobEvent], None]


@dataclass
class JobResult:
    job: Job
    operation: str
    output: Path | bytes | None = None
    result: OperationResult | None = None
    error: str | None = None
    internal: bool = False
    traceback: str | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    input_size: tuple[int, int] | None = None
    started: datetime | None = None
    input_photo: Photo | None = None  # what was read: batch reports make thumbnails and fidelity figures from it

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input": self.job.source.name, "operation": self.operation}
        if isinstance(self.output, Path):
            out["output"] = str(self.output)
        if self.error is not None:
            return {**out, "error": self.error}
        r = self.result
        if self.input_size is not None:
            out["input_size"] = list(self.input_size)
        if r is not None and r.photo is not None:
            out["output_size"] = [r.photo.width, r.photo.height]
        if r is not None:
            out.update(r.details)
        out["seconds"] = round(self.seconds, 3)
        if self.job.report is not None:
            out["report"] = str(self.job.report)
        out["notes"] = list(self.notes)
        return out


class _Progress:
    """Turns stage callbacks into events: a phase event whenever a new phase starts, tile progress with ETA."""

    def __init__(self, emit: Callable[..., None]) -> None:
        self._emit = emit
        self._phase: str | None = None
        self._started = time.perf_counter()

    def announce(self, phase: str) -> None:
        self._phase, self._started = phase, time.perf_counter()
        self._emit("phase", phase=phase)

    def expect(self, seconds: float) -> None:
        self._emit("estimate", phase=self._phase, eta=seconds)

    def tiles(self, phase: str, done: int, of: int) -> None:
        if phase != self._phase:
            self.announce(phase)
        elapsed = time.perf_counter() - self._started
        eta = elapsed / done * (of - done) if done else None
        self._emit("progress", phase=phase, done=done, of=of, eta=eta)


def record_of(operation: Operation, result: OperationResult, engine: Engine, started: datetime | None = None,
              ) -> ProcessingRecord:
    """What revive did, for the output's XMP: stages with their models (version and sha256 from the
    registry), params and whether they invented pixels."""
    stages = []
    for s in result.stages:
        spec = next((m for m in engine.registry if m.name == s.model), None) if s.model else None
        if spec is not None:
            sha = ",".join(f.sha256 for f in spec.files if f.sha256) or None
            s = replace(s, model_sha256=s.model_sha256 or sha, model_version=s.model_version or spec.option("version"))
        stages.append(s)
    return ProcessingRecord(operation.name, tuple(stages), started=started)


def run_job(
    job: Job,
    *,
    engine: Engine,
    operations: OperationRegistry | None = None,
    output: OutputOptions = OutputOptions(),
    on_event: EventFn | None = None,
    cancel: CancelFn | None = None,
    index: int = 1,
    total: int = 1,
) -> JobResult:
    """Run one job; never raises for the job's own failures (they are in the result), only for Ctrl-C."""
    ops = operations or default_operations()
    started = time.perf_counter()
    name = job.source.name

    def emit(kind: EventKind, **fields: Any) -> None:
        if on_event is not None:
            on_event(JobEvent(kind, index, total, name, **fields))

    operation = ops.for_request(job.request)
    result = JobResult(job, operation.name)
    result.started = datetime.now(timezone.utc)
    emit("start")
    progress = _Progress(emit)
    try:
        _run(job, operation, engine, output, progress, cancel, result)
    except (KeyboardInterrupt, SystemExit):
        raise
    except ReviveError as err:
        result.error = str(err)
    except Exception as err:  # the job boundary: one line for the user, the traceback for --debug
        result.error = (f"internal error: {type(err).__name__}: {err} — this is a bug in revive, please report it "
                        "(run again with --debug for the traceback)")
        result.internal, result.traceback = True, traceback.format_exc()
    result.seconds = time.perf_counter() - started
    emit("failed" if result.error else "done", message=result.error)
    return result


def _run(job: Job, operation: Operation, engine: Engine, output: OutputOptions, progress: _Progress,
         cancel: CancelFn | None, result: JobResult) -> None:
    sink, source = job.sink, job.source
    protect = (source.path,) if source.path is not None else ()
    if sink is not None and sink.path is not None:  # fail before the slow part
        check_target(sink.path, overwrite=output.overwrite, protect=protect)
    if job.report is not None:
        from .pipeline.report import report_format

        report_format(job.report)
        check_target(job.report, overwrite=output.overwrite, protect=(*protect, *([sink.path] if sink and sink.path else [])))
    progress.announce("reading")
    photo = source.read(output.max_pixels)
    result.input_size, result.input_photo = (photo.width, photo.height), photo
    context = StageContext(engine, progress.tiles, cancel, announce=progress.announce, expect=progress.expect)
    if cancel is not None and cancel():
        raise Cancelled("cancelled")
    done = operation.run(photo, job.request, context)
    result.result = done
    result.notes = (*photo.meta.notes, *done.notes)
    if sink is not None and done.photo is not None:
        progress.announce("writing")
        record = record_of(operation, done, engine, result.started)
        result.output, notes = _write(done.photo, sink, protect, output, record)
        result.notes = (*result.notes, *notes)
    if job.report is not None and done.extra is not None:
        from .pipeline.report import write_report
        from .pipeline.runner import EnhanceResult

        if isinstance(done.extra, EnhanceResult):
            out = result.output if isinstance(result.output, Path) else None
            write_report(job.report, done.extra, photo, input=source.path, output=out)


def _write(photo: Photo, sink: Sink, protect: Sequence[Path], output: OutputOptions,
           record: ProcessingRecord) -> tuple[Path | bytes, list[str]]:
    if sink.path is not None:
        fmt = sink.format or imageio.format_for_path(sink.path)
        notes = imageio.write_notes(photo, fmt)
        written = imageio.write(photo, sink.path, format=fmt, quality=output.quality, overwrite=output.overwrite,
                                protect=protect, record=record)
        return written, notes
    fmt = sink.format or "png"
    notes = imageio.write_notes(photo, fmt)
    with tempfile.TemporaryDirectory(prefix="revive-") as folder:
        path = imageio.write(photo, Path(folder) / f"out.{fmt}", format=fmt, quality=output.quality, record=record)
        data = path.read_bytes()
    if sink.stream is not None:
        try:
            sink.stream.write(data)
            sink.stream.flush()
        except OSError as err:
            raise ImageWriteError(f"cannot write the result to {sink.name}: {err.strerror or err}") from err
    return data, notes


def run_jobs(
    jobs: Sequence[Job],
    *,
    engine: Engine,
    operations: OperationRegistry | None = None,
    output: OutputOptions = OutputOptions(),
    on_event: EventFn | None = None,
    on_result: Callable[[JobResult], None] | None = None,
    cancel: CancelFn | None = None,
) -> list[JobResult]:
    """Run jobs one after another; a failed job never stops the others."""
    results = []
    for i, job in enumerate(jobs, 1):
        result = run_job(job, engine=engine, operations=operations, output=output, on_event=on_event,
                         cancel=cancel, index=i, total=len(jobs))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def file_jobs(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None,
    request: Any,
    *,
    engine: Engine,
    operations: OperationRegistry | None = None,
    format: str | None = None,
    report: Path | None = None,
) -> list[Job]:
    """Jobs for files and folders (searched recursively) with their outputs.

    Outputs land beside their inputs as ``NAME_<tag>.EXT`` unless ``output`` names a file (one input)
    or a folder (several inputs, or a name ending in a slash: created, layout mirrored). ``"-"`` reads
    stdin or writes stdout. Several inputs with ``report`` get one report each, named after the input.
    """
    ops = operations or default_operations()
    operation = ops.for_request(request)
    fmt = normalize_format(format)
    if any(str(p) == STDIO for p in inputs):
        if len(inputs) > 1:
            raise InvalidParameter("'-' (stdin) cannot be mixed with other inputs")
        sink = Sink.of(output if output is not None else STDIO, fmt) if operation.produces_image else None
        return [Job(Source.of(STDIO), request, sink, report)]
    if output is not None and str(output) == STDIO:
        if len(inputs) != 1 or Path(inputs[0]).is_dir():
            raise InvalidParameter("-o - (stdout) takes exactly one input file")
        return [Job(Source.of(inputs[0]), request, Sink.of(STDIO, fmt), report)]
    tag = operation.output_tag(request, StageContext(engine))
    wants_folder = output is not None and str(output).endswith(("/", os.sep))
    out = Path(output) if output is not None else None
    sources, many = expand_inputs(inputs, recursive=True, exclude=out)
    if out is None:  # outputs land beside their inputs: a folder's earlier outputs are not inputs again
        given = {Path(p) for p in inputs}
        sources = [s for s in sources if s in given or not is_output_of(s, tag)]
    if not sources:
        raise InvalidParameter(f"no image files found in {', '.join(map(str, inputs))}")
    if many and out is not None and not wants_folder and not out.is_dir() and out.suffix:
        raise InvalidParameter(f"-o {out} names a file, but there are {len(sources)} inputs; "
                               "give a folder (it is created) or one input")
    output_is_dir = many or wants_folder or (out is not None and out.is_dir())
    roots = [Path(p) for p in inputs if Path(p).is_dir()]
    plans = plan_outputs(sources, out, output_is_dir=output_is_dir, format=fmt, tag=tag, roots=roots)
    taken: set[Path] = set()
    jobs = []
    for plan in plans:
        sink = Sink(path=plan.target, format=plan.format) if operation.produces_image else None
        jobs.append(Job(Source.of(plan.source), request, sink, _report_path(report, plan.source, many, taken)))
    return jobs


def _report_path(report: Path | None, source: Path, many: bool, taken: set[Path]) -> Path | None:
    """The report for one input: as given for one input, ``<stem>-<input stem><suffix>`` for several
    (``-1``, ``-2``… when inputs from different folders share a name, as their outputs do)."""
    if report is None or not many:
        return report
    path, n = report.with_name(f"{report.stem}-{source.stem}{report.suffix}"), 0
    while path in taken:
        n += 1
        path = report.with_name(f"{report.stem}-{source.stem}-{n}{report.suffix}")
    taken.add(path)
    return path


__all__ = ["Job", "JobEvent", "JobResult", "OutputOptions", "Sink", "Source", "file_jobs", "record_of", "run_job",
           "run_jobs"]

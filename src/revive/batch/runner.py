"""The batch driver: plan a folder, skip what the journal says is done, run the rest on an engine,
journal each result as it lands, and write the report.

The driver is the only writer of the journal, the thumbnails and the report; workers write only
the outputs (atomically, through the job runner), so the driver can be on any machine that sees
the same folders as the workers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._version import __version__
from ..engine import Engine, check_memory
from ..errors import InvalidParameter, ReviveError
from ..imageio import DEFAULT_MAX_PIXELS
from ..jobs import Job, file_jobs, normalize_format
from ..models.download import sha256_file
from ..models.loaders import LoadOptions
from ..operations import OperationRegistry, default_operations
from ..outputs import check_target, expand_inputs
from .journal import STATE_DIR, FolderLock, Journal, JournalState, sweep_temporaries
from .local import Pool
from .report import REPORT_NAME, ReportRow, thumbs_dir, write_reports
from .worker import ItemResult, WorkerConfig, WorkItem

Engines = Literal["local", "ray"]
# engine name → (module, function): the Ray engine is imported only when asked for.
EXECUTORS: dict[str, tuple[str, str]] = {
    "local": ("revive.batch.local", "run_local"),
    "ray": ("revive.batch.ray_engine", "run_ray"),
}


@dataclass(frozen=True)
class BatchOptions:
    recursive: bool = False
    format: str | None = None
    quality: int | None = None
    overwrite: bool = False  # replace files in the way that this batch did not write (its own it always may)
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    engine: str = "local"
    workers: int = 1
    ray_address: str | None = None
    device: str = "auto"
    threads: int | None = None  # per worker; None: the machine's cores shared among the workers
    memory: int | None = None  # per worker; None: half of what is free, shared among the workers
    retries: int = 2  # for items whose worker died, never for bad inputs
    report: bool = True
    operations: Callable[[], OperationRegistry] = default_operations  # module-level: workers call it too

    def __post_init__(self) -> None:
        if self.engine not in EXECUTORS:
            raise InvalidParameter(f"engine must be one of {', '.join(EXECUTORS)}, got {self.engine!r}")
        if self.workers < 1:
            raise InvalidParameter(f"workers must be at least 1, got {self.workers}")
        if self.retries < 0:
            raise InvalidParameter(f"retries must be 0 or more, got {self.retries}")
        # What each worker's engine is built from, refused here: inside a pool worker a refusal read
        # as "a worker process died" for every photo.
        LoadOptions(device=self.device, threads=self.threads)
        check_memory(self.memory)
        if self.ray_address is not None and self.engine != "ray":
            raise InvalidParameter("--ray-address needs --engine ray")
        from .ray_engine import check_address

        check_address(self.ray_address)


EventKind = Literal["planned", "skipped", "done", "failed", "retry"]


@dataclass(frozen=True)
class BatchEvent:
    """Progress for a front end: counts so far, throughput (photos a minute) and the ETA in seconds."""

    kind: EventKind
    name: str
    total: int
    done: int
    skipped: int
    failed: int
    elapsed: float
    per_minute: float | None = None
    eta: float | None = None
    message: str | None = None

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed


@dataclass
class BatchSummary:
    input: Path
    output: Path
    operation: str
    total: int = 0
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    seconds: float = 0.0
    report_json: Path | None = None
    report_html: Path | None = None
    journal: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def per_minute(self) -> float | None:
        return 60 * len(self.done) / self.seconds if self.done and self.seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        rate = self.per_minute
        return {"input": str(self.input), "output": str(self.output), "operation": self.operation,
                "total": self.total, "done": len(self.done), "skipped": len(self.skipped),
                "failed": len(self.failed), "seconds": round(self.seconds, 3),
                "images_per_minute": None if rate is None else round(rate, 2),
                "failures": [{"input": n, "error": e} for n, e in self.failed],
                "report": {"json": _str(self.report_json), "html": _str(self.report_html)},
                "journal": _str(self.journal)}


def run_batch(input: str | os.PathLike[str], output: str | os.PathLike[str], request: Any,
              options: BatchOptions = BatchOptions(), *,
              on_event: Callable[[BatchEvent], None] | None = None) -> BatchSummary:
    """Run ``request`` on every image in ``input`` into ``output`` (mirrored); resumable, one lock per output.

    Raises a ReviveError only for the batch as a whole (bad folders, another batch on ``output``);
    each photo's own failure is in the summary.
    """
    in_dir, out_dir = _folders(Path(input), Path(output))
    operations = options.operations()
    operation = operations.for_request(request)
    fmt = normalize_format(options.format)
    probe = Engine()
    _check_models(request, probe)
    sources = [str(in_dir)] if options.recursive else [str(p) for p in expand_inputs([in_dir])[0]]
    if not sources:
        raise InvalidParameter(f"no image files found in {in_dir}" + ("" if options.recursive else
                                                                      " (add --recursive for its subfolders)"))
    jobs = file_jobs(sources, str(out_dir) + os.sep, request, engine=probe, operations=operations, format=fmt)
    settings = settings_hash(operation.name, request, fmt, options.quality)
    # The cores are shared among the workers unless asked otherwise (N workers × all cores each would thrash).
    threads = options.threads or (None if options.workers == 1 else max(1, (os.cpu_count() or 1) // options.workers))
    config = WorkerConfig(request, options.quality, options.max_pixels, options.device, threads,
                          options.memory, 1.0 / options.workers, options.operations)
    summary = BatchSummary(in_dir, out_dir, operation.name, total=len(jobs))
    started = time.monotonic()
    with FolderLock(out_dir):
        journal = Journal(out_dir)
        state = journal.read()
        targets = [j.sink.path for j in jobs if j.sink is not None and j.sink.path is not None]
        sweep_temporaries({t.parent for t in targets}, {t.name for t in targets})
        sweep_temporaries([out_dir], {f"{REPORT_NAME}.json", f"{REPORT_NAME}.html"})
        sweep_temporaries([thumbs_dir(out_dir)], None)
        journal.open()
        try:
            summary.journal = journal.path
            rows = _Run(in_dir, out_dir, jobs, settings, state, journal, summary, options, on_event, started)
            journal.append({"event": "run", "time": _now(), "revive": __version__, "operation": operation.name,
                            "settings": settings, "request": plain(request), "engine": options.engine,
                            "workers": options.workers})
            todo = rows.plan()
            try:
                _executor(options.engine)(config, todo, rows.finished, rows.retrying,
                                          Pool(options.workers, options.retries, options.ray_address))
            finally:
                summary.seconds = time.monotonic() - started
                if options.report:
                    items = rows.report_rows()
                    summary.report_json, summary.report_html = write_reports(
                        out_dir, items, _run_info(summary, options, request, settings))
        finally:
            journal.close()
    return summary


class _Run:
    """One run's bookkeeping: what to skip, what to hand out, and what each result means."""

    def __init__(self, in_dir: Path, out_dir: Path, jobs: Sequence[Job], settings: str, state: JournalState,
                 journal: Journal, summary: BatchSummary, options: BatchOptions,
                 on_event: Callable[[BatchEvent], None] | None, started: float) -> None:
        self.in_dir, self.out_dir, self.jobs, self.settings = in_dir, out_dir, jobs, settings
        self.state, self.journal, self.summary, self.options = state, journal, summary, options
        self.on_event, self.started = on_event, started
        self.first_dispatch: float | None = None
        self.rows: dict[str, ReportRow] = {}
        self.names: list[str] = []

    def plan(self) -> Iterator[WorkItem]:
        """Skips what is done (events now), then yields the rest, journaling each ``begin`` first."""
        todo = []
        for index, job in enumerate(self.jobs):
            source = job.source.path
            assert source is not None
            name = _relative(source, self.in_dir)
            target = job.sink.path if job.sink is not None else None
            self.names.append(name)
            if self._is_done(name, source, target):
                self.summary.skipped.append(name)
                self.rows[name] = ReportRow.from_entry(self.state.done[name], "skipped")
                self._emit("skipped", name)
            else:
                todo.append((index, job, name, target))
        return self._hand_out(todo)

    def _hand_out(self, todo: list[tuple[int, Job, str, Path | None]]) -> Iterator[WorkItem]:
        for index, job, name, target in todo:
            rel = None if target is None else _relative(target, self.out_dir)
            if target is not None and rel not in self.state.owned and not self.options.overwrite:
                try:  # a file in the way that this batch did not write: kept, and the photo fails
                    check_target(target, overwrite=False)
                except ReviveError as err:
                    self.finished(ItemResult(index, name, error=str(err)))
                    continue
            if rel is not None and rel not in self.state.owned:
                self.journal.append({"event": "begin", "name": name, "target": rel, "time": _now()})
                self.state.owned.add(rel)
            if self.first_dispatch is None:
                self.first_dispatch = time.monotonic()
            # Ours from here on: a retry after a worker died may replace what that worker wrote.
            yield WorkItem(index, str(job.source.path), name, None if target is None else str(target),
                           job.sink.format if job.sink is not None else None, overwrite=True)

    def _is_done(self, name: str, source: Path, target: Path | None) -> bool:
        entry = self.state.done.get(name)
        if entry is None or entry.get("settings") != self.settings:
            return False
        rel = None if target is None else _relative(target, self.out_dir)
        if entry.get("target") != rel:
            return False
        if target is not None and _size(target) != entry.get("output_bytes"):
            return False  # deleted or replaced since: made again
        try:
            st = source.stat()
        except OSError:
            return False
        if (st.st_size, st.st_mtime_ns) == (entry.get("size"), entry.get("mtime_ns")):
            return True
        if st.st_size != entry.get("size") or sha256_file(source) != entry.get("sha256"):
            return False
        # Touched but unchanged (copied, restored from a backup): the same content, remembered as such.
        self.journal.append({**entry, "mtime_ns": st.st_mtime_ns, "time": _now()})
        return True

    def finished(self, result: ItemResult) -> None:
        """A result landed: thumbnails, then the journal line (the output is already in place)."""
        name = result.name
        if result.ok:
            key = _thumb_key(name)
            for which, data in (("before", result.before), ("after", result.after)):
                if data is not None:
                    from ..imageio import write_bytes

                    write_bytes(thumbs_dir(self.out_dir) / f"{key}-{which}.jpg", data, overwrite=True)
            entry = {"event": "done", "name": name, "time": _now(), "settings": self.settings,
                     "target": None if result.output is None else _relative(Path(result.output), self.out_dir),
                     "thumb": key if result.before is not None else None,
                     **{k: v for k, v in dataclasses.asdict(result).items()
                        if k in _JOURNALED and v is not None}}
            self.journal.append(entry)
            self.summary.done.append(name)
            self.rows[name] = ReportRow.from_entry(entry, "done")
            self._emit("done", name)
        else:
            error = result.error or "failed"
            self.journal.append({"event": "failed", "name": name, "time": _now(), "settings": self.settings,
                                 "error": error, "internal": result.internal})
            self.summary.failed.append((name, error))
            self.rows[name] = ReportRow(name, "failed", error=error, seconds=result.seconds, traceback=result.traceback)
            self._emit("failed", name, error)

    def retrying(self, item: WorkItem, why: str) -> None:
        self._emit("retry", item.name, why)

    def report_rows(self) -> list[ReportRow]:
        """Each photo's row; the journal has the last word (an interrupt may land between its line and
        the bookkeeping here)."""
        latest = self.journal.read().done
        rows = []
        for name in self.names:
            row, entry = self.rows.get(name), latest.get(name)
            if row is None and entry is not None and entry.get("settings") == self.settings:
                row = ReportRow.from_entry(entry, "done")
                self.summary.done.append(name)
            rows.append(row or ReportRow(name, "not run"))
        return rows

    def _emit(self, kind: EventKind, name: str, message: str | None = None) -> None:
        if self.on_event is None:
            return
        s = self.summary
        now = time.monotonic()
        processed = len(s.done) + len(s.failed)
        left = s.total - processed - len(s.skipped)
        busy = now - self.first_dispatch if self.first_dispatch is not None else 0.0
        rate = 60 * processed / busy if processed and busy > 0 else None
        eta = left / rate * 60 if rate else None
        self.on_event(BatchEvent(kind, name, s.total, len(s.done), len(s.skipped), len(s.failed),
                                 now - self.started, rate, eta, message))


_JOURNALED = ("size", "mtime_ns", "sha256", "output_bytes", "seconds", "input_size", "output_size", "psnr", "ssim",
              "details", "notes", "worker")


def settings_hash(operation: str, request: Any, format: str | None, quality: int | None) -> str:
    """What decides an output's pixels and file: the operation, its request, format and quality."""
    text = json.dumps({"operation": operation, "request": plain(request), "format": format, "quality": quality},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def plain(request: Any) -> Any:
    return dataclasses.asdict(request) if dataclasses.is_dataclass(request) and not isinstance(request, type) else request


def _check_models(request: Any, engine: Engine) -> None:
    """Every model a request names exists, checked once here rather than failing every photo alike."""
    if not dataclasses.is_dataclass(request) or isinstance(request, type):
        return
    for f in dataclasses.fields(request):
        value = getattr(request, f.name)
        if f.name == "model" and isinstance(value, str):
            engine.registry.get(value)
        else:
            _check_models(value, engine)


def _folders(in_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    if not in_dir.is_dir():
        raise InvalidParameter(f"{in_dir} is not a folder; batch takes an input folder and an output folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidParameter(f"{out_dir} is a file; give an output folder")
    if in_dir.resolve() == out_dir.resolve():
        raise InvalidParameter("the output folder must differ from the input folder (outputs are never written "
                               "over or beside the originals in a batch)")
    out_dir.mkdir(parents=True, exist_ok=True)
    return in_dir, out_dir


def _executor(name: str) -> Callable[..., None]:
    module, function = EXECUTORS[name]
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def _run_info(summary: BatchSummary, options: BatchOptions, request: Any, settings: str) -> dict[str, Any]:
    return {"revive": __version__, "finished": _now(), "request": plain(request), "settings": settings,
            "engine": options.engine, "workers": options.workers, **summary.to_dict()}


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _thumb_key(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


__all__ = ["STATE_DIR", "BatchEvent", "BatchOptions", "BatchSummary", "run_batch", "settings_hash"]

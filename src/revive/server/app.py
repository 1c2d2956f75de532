"""The FastAPI app: the page, and a REST API over the library's operations, job runner and events."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import api
from . import forms
from .jobqueue import FINISHED, JobQueue, QueueFull, ServerJob
from .security import BodyTooLarge, Gate
from .settings import ServerSettings

STATIC = resources.files("revive.server") / "static"
T = TypeVar("T")
_POLL = 0.1  # seconds between looks at a job's events in an SSE stream
_HEARTBEAT = 15.0


@dataclass
class ServerState:
    settings: ServerSettings
    engine: api.Engine
    operations: api.OperationRegistry
    queue: JobQueue
    analysis: threading.BoundedSemaphore
    diagnoses: OrderedDict[str, tuple[api.Diagnosis, tuple[int, int]]] = field(default_factory=OrderedDict)

    def remember(self, key: str, value: tuple[api.Diagnosis, tuple[int, int]]) -> None:
        self.diagnoses[key] = value
        while len(self.diagnoses) > 16:
            self.diagnoses.popitem(last=False)


def create_app(settings: ServerSettings | None = None, engine: api.Engine | None = None,
               operations: api.OperationRegistry | None = None) -> FastAPI:
    """The app for these settings; jobs run on ``engine`` (default: the library's) with ``operations``
    (default: every operation the library offers, :func:`revive.api.operations`)."""
    settings = settings or ServerSettings()
    engine = engine or api.default_engine()
    operations = operations or api.operations()
    queue = JobQueue(engine, operations, workers=settings.workers, limit=settings.queue_limit,
                     ttl=settings.result_ttl, max_pixels=settings.max_pixels, sweep_interval=settings.sweep_interval)
    state = ServerState(settings, engine, operations, queue, threading.BoundedSemaphore(settings.analysis_threads))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        queue.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(queue.close)

    app = FastAPI(title="revive", version=api.__version__, lifespan=lifespan,
                  description="Local, private photo enhancement. Every operation of the library, as jobs with "
                              "progress events. Requests that change state are accepted from this origin only.")
    app.state.revive = state
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _errors(app)
    _routes(app, state)
    app.add_middleware(Gate, max_body=settings.max_upload_bytes, allowed_hosts=settings.allowed_hosts)
    return app


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def status_of(err: Exception) -> int:
    if isinstance(err, forms.FormError):
        return err.status
    if isinstance(err, QueueFull):
        return 503
    if isinstance(err, (api.ImageTooLarge, BodyTooLarge)):
        return 413
    return 422


def _errors(app: FastAPI) -> None:
    async def revive_error(request: Request, err: Exception) -> Response:
        status = status_of(err)
        return _error(status, str(err), {"Retry-After": "10"} if status == 503 else None)

    async def http_error(request: Request, err: Exception) -> Response:
        assert isinstance(err, StarletteHTTPException)
        return _error(err.status_code, str(err.detail))

    async def validation_error(request: Request, err: Exception) -> Response:
        return _error(422, "; ".join(str(e.get("msg")) for e in getattr(err, "errors", list)()) or "invalid request")

    async def internal(request: Request, err: Exception) -> Response:
        return _error(500, f"internal error: {type(err).__name__}: {err} — this is a bug in revive, please report it")

    app.add_exception_handler(api.ReviveError, revive_error)
    app.add_exception_handler(BodyTooLarge, revive_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal)


async def _in_thread(state: ServerState, fn: Callable[[], T]) -> T:
    """CPU work (decoding, diagnosing) off the event loop, a few at a time."""
    def run() -> T:
        with state.analysis:
            return fn()

    return await anyio.to_thread.run_sync(run)


def _checked(fn: Callable[[], T], path: Path, name: str) -> T:
    """Run ``fn``; a library error comes back with the upload's own name instead of the private path."""
    try:
        return fn()
    except api.ReviveError as err:
        raise forms.FormError(status_of(err), str(err).replace(str(path), name).replace(str(path.parent), "")) from None


async def _diagnosed(state: ServerState, request: Request) -> tuple[Any, str, api.Diagnosis, tuple[int, int]]:
    """The form, and the diagnosis of its photo (kept by content hash: a page re-plans without re-measuring)."""
    form = await forms.read_form(request)
    upload = forms.image_upload(form)
    name = forms.display_name(upload)
    folder = state.queue.new_folder()
    try:
        path = await forms.spool(upload, folder / "input")

        def measure() -> tuple[api.Diagnosis, tuple[int, int]]:
            key = _sha256(path)
            if key in state.diagnoses:
                return state.diagnoses[key]
            photo = forms.read_photo(path, name, state.settings.max_pixels)
            found = (api.diagnose(photo), (photo.width, photo.height))
            state.remember(key, found)
            return found

        diagnosis, size = await _in_thread(state, lambda: _checked(measure, path, name))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return form, name, diagnosis, size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _routes(app: FastAPI, state: ServerState) -> None:
    settings, queue = state.settings, state.queue

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/api/health", summary="Is the server up; how many jobs wait, run and are kept")
    async def health() -> dict[str, Any]:
        return {"ok": not queue.closed, "version": api.__version__, "jobs": queue.stats()}

    @app.get("/api/operations", summary="Every operation with its options, as a form builds its controls")
    async def operations() -> dict[str, Any]:
        ops = [{"name": op.name, "summary": op.summary, "produces_image": op.produces_image,
                "fields": [f.to_dict() for f in api.describe_request(op.request_type, api.stages())]}
               for op in state.operations]
        limits = {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                  "queue_limit": settings.queue_limit, "result_ttl": settings.result_ttl}
        return {"default": forms.DEFAULT_OPERATION, "operations": ops, "formats": list(forms.WRITE_FORMATS),
                "limits": limits}

    @app.get("/api/models", summary="Models this server knows, with whether each is ready to run")
    async def models() -> dict[str, Any]:
        return {"models": [_model_row(spec, state.engine) for spec in state.engine.registry]}

    @app.post("/api/diagnose", summary="Measure a photo: noise, JPEG damage, blur, colour, exposure, content, faces",
              openapi_extra=_multipart({}))
    async def diagnose(request: Request) -> dict[str, Any]:
        _, name, diagnosis, size = await _diagnosed(state, request)
        return {"name": name, "input_size": list(size), "findings": diagnosis.findings(), "diagnosis": diagnosis.to_dict()}

    @app.post("/api/plan", summary="What enhance would do with these options, and why (nothing is run)",
              openapi_extra=_multipart(_option_schema([op for op in state.operations if op.name == "enhance"])))
    async def plan(request: Request) -> dict[str, Any]:
        form, name, diagnosis, size = await _diagnosed(state, request)
        enhance = state.operations.get(forms.DEFAULT_OPERATION)
        options = forms.text_options(form)
        chosen = api.request_from_fields(enhance.request_type, options, api.stages())
        planned = api.plan_diagnosed(diagnosis, chosen.options, engine=state.engine)
        return {"name": name, "input_size": list(size), "findings": diagnosis.findings(), "plan": planned.to_dict(),
                "explain": planned.explain()}

    @app.post("/api/jobs", status_code=202, summary="Queue a job: the photo in 'image', the operation and its options "
              "as form fields (none: enhance with the autopilot's choices)",
              openapi_extra=_multipart(_option_schema(list(state.operations)), with_operation=state.operations))
    async def submit(request: Request) -> JSONResponse:
        queue.check_room()  # before reading a large body for nothing
        form = await forms.read_form(request)
        upload = forms.image_upload(form)
        operation = forms.operation_of(form, state.operations)
        options, uploads = forms.text_options(form), forms.file_options(form)
        quality = forms.quality_of(form)
        folder = queue.new_folder()
        try:
            names = {forms.IMAGE_FIELD: forms.display_name(upload), **{k: forms.display_name(u) for k, u in uploads.items()}}
            path = await forms.spool(upload, folder / "input")
            files = {k: await forms.spool(u, folder / f"file-{i}") for i, (k, u) in enumerate(uploads.items())}

            def check() -> ServerJob:
                photo = forms.read_photo(path, names[forms.IMAGE_FIELD], settings.max_pixels)
                fmt = forms.output_format(form, photo.meta.source_format)
                size = (photo.width, photo.height)
                del photo  # checked: the worker decodes it again when its turn comes, so the queue holds only files
                return forms.build_job(operation, options, files, folder, names, engine=state.engine,
                                       max_pixels=settings.max_pixels, fmt=fmt, quality=quality, input_size=size)

            job = await _in_thread(state, lambda: _checked(check, path, names[forms.IMAGE_FIELD]))
            queue.submit(job)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        body = job.snapshot(queue.position(job), settings.result_ttl)
        body.update(status_url=f"/api/jobs/{job.id}", events=f"/api/jobs/{job.id}/events")
        return JSONResponse(body, status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    def find(job_id: str) -> ServerJob:
        job = queue.get(job_id)
        if job is None:
            raise forms.FormError(404, f"no job {job_id!r}: it never existed, was cancelled, or its result expired "
                                       f"({settings.result_ttl:g} s after it finished)")
        return job

    @app.get("/api/jobs/{job_id}", summary="A job's status, phase and tile progress; its result details when done")
    async def status(job_id: str) -> dict[str, Any]:
        job = find(job_id)
        return job.snapshot(queue.position(job), settings.result_ttl)

    @app.get("/api/jobs/{job_id}/events", summary="A job's events as a server-sent event stream (ends with the job)",
             response_class=StreamingResponse)
    async def events(job_id: str, request: Request) -> StreamingResponse:
        job = find(job_id)
        last = request.headers.get("last-event-id", "")
        start = int(last) if last.isdigit() else 0
        return StreamingResponse(_stream(job, start, queue, settings.result_ttl), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/api/jobs/{job_id}/result", summary="The finished job's image, as a download",
             response_class=FileResponse)
    async def result(job_id: str) -> Response:
        job = find(job_id)
        path = job.result_path
        if path is None:
            why = job.error if job.error else "it writes no image" if job.job.sink is None else f"it is {job.status}"
            raise forms.FormError(409, f"job {job_id} has no result: {why}")
        return FileResponse(path, media_type=job.media_type, filename=job.download_name,
                            headers={"Cache-Control": "private, max-age=3600"})

    @app.delete("/api/jobs/{job_id}", summary="Cancel a job, or delete its result now")
    async def cancel(job_id: str) -> dict[str, Any]:
        find(job_id)
        queue.cancel(job_id)
        return {"id": job_id, "status": "cancelled"}


async def _stream(job: ServerJob, after: int, queue: JobQueue, ttl: float) -> AsyncIterator[str]:
    """Every event after ``after`` (an ``id`` per event, so a reconnecting EventSource resumes), then new ones
    as they come, until the job ends; a comment line keeps idle connections open."""
    quiet = 0.0
    while True:
        fresh = [e for e in list(job.events) if e["seq"] > after]
        for event in fresh:
            after = event["seq"]
            if event["kind"] in FINISHED:
                event = {**event, **job.snapshot(None, ttl)}
            yield f"id: {event['seq']}\nevent: {event['kind']}\ndata: {json.dumps(event)}\n\n"
            if event["kind"] in FINISHED:
                return
        if queue.closed:
            yield "event: failed\ndata: {\"kind\": \"failed\", \"message\": \"the server stopped\"}\n\n"
            return
        quiet = 0.0 if fresh else quiet + _POLL
        if quiet >= _HEARTBEAT:
            quiet = 0.0
            yield ": still working\n\n"
        await asyncio.sleep(_POLL)


def _model_row(spec: api.ModelSpec, engine: api.Engine) -> dict[str, Any]:
    status: str
    try:
        status = engine.store.status(spec)
    except Exception:  # a damaged store entry must not break the list
        status = "unknown"
    return {"name": spec.name, "purpose": spec.purpose, "scale": spec.scale, "content": spec.content,
            "license": spec.license, "non_commercial": spec.non_commercial, "description": spec.description,
            "size_bytes": spec.size_bytes, "status": status,
            "ready": spec.embedded or status in ("embedded", "downloaded", "imported")}


def _option_schema(operations: list[api.Operation]) -> dict[str, Any]:
    """Form fields of these operations for the OpenAPI page (read from their requests, like the page's controls)."""
    props: dict[str, Any] = {}
    takers: dict[str, list[str]] = {}
    for op in operations:
        for f in api.describe_request(op.request_type, api.stages()):
            takers.setdefault(f.name, []).append(op.name)
            schema: dict[str, Any] = {"type": "string", "format": "binary"} if f.kind == "file" else {"type": "string"}
            if f.choices and f.kind == "choice":
                schema["enum"] = list(f.choices)
            schema["description"] = f"{f.help or f.name} — {', '.join(takers[f.name])}"
            props[f.name] = schema
    return props


def _multipart(options: dict[str, Any], with_operation: api.OperationRegistry | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {forms.IMAGE_FIELD: {"type": "string", "format": "binary", "description": "the photo"}}
    if with_operation is not None:
        props["operation"] = {"type": "string", "enum": with_operation.names(), "default": forms.DEFAULT_OPERATION}
        props["format"] = {"type": "string", "enum": list(forms.WRITE_FORMATS),
                           "description": "the result's format (default: the photo's own, else png)"}
        props["quality"] = {"type": "integer", "minimum": 1, "maximum": 100, "description": "JPEG/WebP quality"}
    props.update(options)
    schema = {"type": "object", "required": [forms.IMAGE_FIELD], "properties": props}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}

"""From a multipart request to a checked job: the photo spooled and decoded once, options as a typed request.

Every operation's options come from its request dataclass (:func:`revive.api.request_fields`), so a
new operation is offered by the page and the API without changes here. File options (a mask) come
only from uploaded files, turned into what the request field takes (a Photo, an array, bytes or a
private temporary file); text can never name a path on this machine.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from .. import api
from .jobqueue import ServerJob

IMAGE_FIELD = "image"
# form fields that are not request options: what to run and how to write its result
RESERVED = ("operation", "format", "quality")
DEFAULT_OPERATION = "enhance"
WRITE_FORMATS = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "tiff": "image/tiff"}
_FROM_SOURCE = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "TIFF": "tiff"}
_CHUNK = 1 << 20


class FormError(api.ReviveError):
    """A request the server cannot take as sent; ``status`` is its HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise FormError(415, f"send multipart/form-data with the photo in a file field named {IMAGE_FIELD!r} "
                             f"(got {content_type or 'no content type'})")
    return await request.form(max_files=8, max_fields=200, max_part_size=1 << 20)


def display_name(upload: UploadFile) -> str:
    """The uploaded file's own name, for messages and the download (never used as a path)."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", (upload.filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    return name.strip(". ")[:120] or "photo"


async def spool(upload: UploadFile, target: Path) -> Path:
    """Copy an upload into the job's private folder (the body cap has bounded its size)."""
    with open(target, "xb") as out:
        while chunk := await upload.read(_CHUNK):
            out.write(chunk)
    return target


def image_upload(form: FormData) -> UploadFile:
    image = form.get(IMAGE_FIELD)
    if not isinstance(image, UploadFile):
        raise FormError(422, f"send the photo as a file in a field named {IMAGE_FIELD!r}")
    return image


def operation_of(form: FormData, operations: api.OperationRegistry) -> api.Operation:
    name = form.get("operation") or DEFAULT_OPERATION
    if not isinstance(name, str):
        raise FormError(422, "operation must be text")
    try:
        return operations.get(name)
    except api.InvalidParameter as err:
        raise FormError(422, str(err)) from None


def text_options(form: FormData) -> dict[str, str]:
    """Request options as text: every text field but the reserved ones; empty means automatic."""
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key not in RESERVED and key != IMAGE_FIELD:
            if key in out:
                raise FormError(422, f"option {key!r} is given twice")
            if value.strip():
                out[key] = value
    return out


def file_options(form: FormData) -> dict[str, UploadFile]:
    return {k: v for k, v in form.multi_items() if isinstance(v, UploadFile) and k != IMAGE_FIELD}


def output_format(form: FormData, source_format: str | None) -> str:
    asked = form.get("format")
    if isinstance(asked, str) and asked.strip():
        fmt = api.normalize_format(asked.strip()) or ""
        if fmt not in WRITE_FORMATS:
            raise FormError(422, f"format must be one of {', '.join(WRITE_FORMATS)}, got {asked!r}")
        return fmt
    return _FROM_SOURCE.get(source_format or "", "png")


def quality_of(form: FormData) -> int | None:
    value = form.get("quality")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        quality = int(value)
    except ValueError:
        raise FormError(422, f"quality must be a whole number from 1 to 100, got {value!r}") from None
    if not 1 <= quality <= 100:
        raise FormError(422, f"quality must be between 1 and 100, got {quality}")
    return quality


def read_photo(path: Path, name: str, max_pixels: int) -> api.Photo:
    """Decode an upload (its content decides the format, never its name or content type)."""
    return api.Source(name, path=path).read(max_pixels)


def file_value(info: api.FieldInfo, path: Path, name: str, max_pixels: int) -> Any:
    """An uploaded file as the request field takes it."""
    if info.file == "path":
        return path  # a private copy the server made: the request never chose it
    if info.file == "bytes":
        return path.read_bytes()
    photo = read_photo(path, name, max_pixels)
    return photo if info.file == "photo" else photo.pixels


def build_job(operation: api.Operation, options: dict[str, str], files: dict[str, Path], folder: Path,
              names: dict[str, str], *, engine: api.Engine, max_pixels: int, fmt: str, quality: int | None,
              input_size: tuple[int, int]) -> ServerJob:
    """The typed request (refusing unknown options and paths given as text), then the job around it."""
    fields = {f.name: f for f in api.describe_request(operation.request_type, api.stages())}
    for name in files:
        if name not in fields or fields[name].kind != "file":
            raise FormError(422, f"{operation.name} takes no file named {name!r}"
                                 + (f" (its file options: {', '.join(f for f in fields if fields[f].kind == 'file')})"
                                    if any(f.kind == "file" for f in fields.values()) else ""))

    def make_request() -> Any:
        values = {k: file_value(fields[k], p, names[k], max_pixels) for k, p in files.items()}
        return api.request_from_fields(operation.request_type, options, api.stages(), files=values)

    request = make_request()  # everything is checked now, the files decoded once
    # a decoded mask is as large as the photo: queued jobs keep only files and decode again when they run
    heavy = any(fields[k].file != "path" for k in files)
    for name, value in options.items():
        info = fields.get(name)
        if info is not None and info.model is not None:
            engine.registry.get(value)  # an unknown model fails now, with suggestions, not in the queue
    if not operation.produces_image:
        sink = None
    else:
        sink = api.Sink(path=folder / f"result.{fmt}", format=fmt)
    source_name = names[IMAGE_FIELD]
    tag = operation.output_tag(request, api.StageContext(engine))
    stem = source_name.rsplit(".", 1)[0] if "." in source_name else source_name
    job = api.Job(api.Source(source_name, path=folder / "input"), None if heavy else request, sink)
    return ServerJob(secrets.token_urlsafe(16), operation.name, job, folder, f"{stem}_{tag}.{fmt}",
                     WRITE_FORMATS[fmt], input_size, quality=quality, rebuild=make_request if heavy else None)

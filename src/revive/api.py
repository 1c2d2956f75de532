"""The public facade of revive: everything the CLI, server and batch use, and what Python users call.

Plain functions over numpy arrays, PIL images, Photos and files (:func:`upscale`, :func:`enhance`,
:func:`plan`, :func:`diagnose`, :func:`compare`), typed requests run by the one job runner
(:func:`process`, :func:`run_jobs`), and the engine that owns models, device, threads and memory.
The plain functions use a process-wide default engine (:func:`default_engine`); pass ``engine=`` to
use another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import imageio
from ._version import __version__
from .analysis import Diagnosis
from .analysis import diagnose as _diagnose
from .engine import Engine, parse_memory
from .errors import ImageWriteError, InvalidParameter, ReviveError
from .imageio import DEFAULT_MAX_PIXELS
from .jobs import (
    Job,
    JobEvent,
    JobResult,
    OutputOptions,
    Sink,
    Source,
    file_jobs,
    normalize_format,
    record_of,
    run_job,
    run_jobs,
)
from .models import DEFAULT_UPSCALE_MODEL, ModelSpec, ModelStore, default_registry
from .models.download import Progress as DownloadProgress
from .models.importer import import_model
from .models.loaders import LoadOptions
from .operations import (
    DiagnoseRequest,
    EnhanceRequest,
    Operation,
    OperationRegistry,
    OperationResult,
    UpscaleRequest,
    default_operations,
    request_from_fields,
)
from .outputs import expand_inputs
from .pipeline.autopilot import EnhanceOptions, Plan, check_settings, plan_for
from .pipeline.metrics import Comparison, side_by_side
from .pipeline.metrics import compare as _compare
from .pipeline.report import report_format
from .pipeline.runner import EnhanceResult, enhance_photo
from .stages import StageRegistry, default_stages
from .stages.base import StageContext, StageInfo, StageOption, StageProgressFn
from .stages.planning import Capabilities, PrintSize, Step
from .stages.upscale import UpscaleParams, UpscaleStage
from .tiling import CancelFn
from .types import ImageMeta, Photo, ProcessingRecord, StageRecord

ImageT = TypeVar("ImageT")

__all__ = [
    "Capabilities", "Comparison", "DEFAULT_UPSCALE_MODEL", "DiagnoseRequest", "Diagnosis", "DownloadProgress", "Engine", "EnhanceOptions", "EnhanceRequest",
    "EnhanceResult", "ImageMeta", "ImageWriteError", "InvalidParameter", "Job", "JobEvent", "JobResult",
    "LoadOptions", "ModelSpec", "ModelStore", "Operation", "OperationRegistry", "OperationResult", "OutputOptions",
    "Photo", "Plan", "PrintSize", "ProcessingRecord", "ReviveError", "Sink", "Source", "StageContext", "StageInfo", "StageOption", "StageRecord",
    "StageRegistry", "Step", "UpscaleParams", "UpscaleRequest", "__version__", "check_options", "compare",
    "default_engine", "default_registry", "diagnose", "enhance", "expand_inputs", "file_jobs", "import_model",
    "normalize_format", "operations", "parse_memory", "plan", "process", "read", "record_of",
    "report_format", "request_from_fields", "run_job", "run_jobs", "side_by_side", "stages", "upscale", "write",
    # faces
    "DEFAULT_FACE_MODEL", "FaceParams", "FacesRequest", "face_model", "restore_faces",
]


def read(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Photo:
    """Read an image file into a Photo (EXIF orientation applied, metadata kept)."""
    return imageio.read(path, max_pixels=max_pixels)


def write(photo: Photo, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write a Photo atomically; see :func:`revive.imageio.write` for the options."""
    return imageio.write(photo, path, **options)


@dataclass
class _Defaults:
    """What the plain functions share in this process (created on first use)."""

    engine: Engine | None = None
    stages: StageRegistry | None = None
    operations: OperationRegistry | None = None


_defaults = _Defaults()


def default_engine() -> Engine:
    """A process-wide engine so repeated calls reuse loaded models."""
    if _defaults.engine is None:
        _defaults.engine = Engine()
    return _defaults.engine


def stages() -> StageRegistry:
    """The process-wide stage registry the autopilot plans with; ``stages().add(info)`` plugs a stage in."""
    if _defaults.stages is None:
        _defaults.stages = default_stages()
    return _defaults.stages


def operations() -> OperationRegistry:
    """The process-wide operations every front end offers (their ``enhance`` plans with :func:`stages`)."""
    if _defaults.operations is None:
        _defaults.operations = default_operations(stages())
    return _defaults.operations


def _context(engine: Engine | None, progress: StageProgressFn | None = None, cancel: CancelFn | None = None) -> StageContext:
    return StageContext(engine=engine or default_engine(), progress=progress, cancel=cancel)


def _to_photo(image: Any) -> Photo:
    if isinstance(image, (str, os.PathLike)):
        return imageio.read(image)
    try:
        source = Source.of(image)
    except InvalidParameter:
        raise TypeError(f"expected a numpy array, PIL image, Photo or path, got {type(image).__name__}") from None
    return source.read()


def _like(photo: Photo, original: Any) -> Any:
    """Return the result in the caller's own currency."""
    if isinstance(original, np.ndarray):
        out = photo.to_array(original.dtype.type if original.dtype in (np.uint8, np.uint16) else np.float32)
        if original.ndim == 3 and original.shape[2] == 1 and out.ndim == 2:
            out = out[:, :, None]
        return out
    if type(original).__module__.startswith("PIL."):
        return imageio.to_pil(photo)
    return photo


def upscale(
    image: ImageT,
    *,
    model: str | None = None,
    scale: float | None = None,
    tile: int | None = None,
    tile_overlap: int = 32,
    engine: Engine | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImageT:
    """Upscale a photo with a super-resolution model; returns the same kind of object it was given.

    ``scale`` None keeps the model's native factor; any other positive factor runs the model (as
    many passes as needed) and resamples to the exact size. A path argument returns a Photo.
    """
    params = UpscaleParams(model=model or DEFAULT_UPSCALE_MODEL, scale=scale, tile=tile, tile_overlap=tile_overlap)
    result = UpscaleStage(params).run(_to_photo(image), _context(engine, progress, cancel))
    return _like(result, image)  # type: ignore[no-any-return]


def check_options(options: EnhanceOptions) -> EnhanceOptions:
    """The options with stage settings parsed; refuses what no registered stage takes (before any work)."""
    return check_settings(options, stages())


def _options(options: EnhanceOptions | None, overrides: dict[str, Any]) -> EnhanceOptions:
    if options is not None and overrides:
        raise TypeError("pass either an EnhanceOptions or keyword overrides, not both")
    return check_options(options or EnhanceOptions.make(**overrides))


def plan(image: Any, options: EnhanceOptions | None = None, *, engine: Engine | None = None,
         **overrides: Any) -> Plan:
    """Diagnose a photo and return what ``enhance`` would do with these options, without doing it.

    ``overrides`` are :class:`EnhanceOptions` fields or stage settings (``scale=2``, ``denoise=0.5``).
    ``plan.explain()`` is the text ``revive enhance --dry-run`` prints, ``plan.to_dict()`` the JSON;
    ``plan.diagnosis`` holds the measurements behind it.
    """
    context = _context(engine)
    return plan_for(_diagnose(_to_photo(image)), _options(options, overrides),
                    Capabilities.from_engine(context.engine), stages())


def enhance(
    image: ImageT,
    options: EnhanceOptions | None = None,
    *,
    engine: Engine | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
    **overrides: Any,
) -> ImageT:
    """Enhance a photo with the autopilot; returns the same kind of object it was given.

    The photo is diagnosed, a plan is made (cleanup → faces → upscale → fidelity guard → colour)
    and run; ``overrides`` (:class:`EnhanceOptions` fields or stage settings such as ``scale=2``,
    ``denoise=0.5``, ``color="off"``) override the autopilot's choices. For the diagnosis, plan,
    timings and guard numbers use :func:`process` with an :class:`EnhanceRequest`.
    A path argument returns a Photo.
    """
    result = enhance_photo(_to_photo(image), _options(options, overrides), _context(engine, progress, cancel),
                           stages=stages())
    return _like(result.photo, image)  # type: ignore[no-any-return]


def process(
    source: Any,
    request: Any,
    target: Any = None,
    *,
    format: str | None = None,
    report: str | os.PathLike[str] | None = None,
    output: OutputOptions | None = None,
    engine: Engine | None = None,
    on_event: Any = None,
    cancel: CancelFn | None = None,
) -> JobResult:
    """Run one request on one source through the job runner; raises a ReviveError when it fails.

    ``source`` is a path, ``"-"``, bytes, a file object, an array, a PIL image or a Photo; ``target``
    a path, ``"-"`` (stdout) or None (the result stays in ``JobResult.result.photo``).
    """
    sink = None if target is None and format is None else Sink.of(target, format)
    job = Job(Source.of(source), request, sink, None if report is None else Path(report))
    result = run_job(job, engine=engine or default_engine(), operations=operations(), output=output or OutputOptions(),
                     on_event=on_event, cancel=cancel)
    if result.error is not None:
        raise ReviveError(result.error)
    return result


def diagnose(image: Any) -> Diagnosis:
    """Measure noise, JPEG damage, blur, colour cast, exposure, content type and faces."""
    return _diagnose(_to_photo(image))


def compare(reference: Any, other: Any, *, y_channel: bool = False, crop_border: int = 0) -> Comparison:
    """PSNR and SSIM of ``other`` against ``reference`` with the BasicSR conventions."""
    return _compare(_to_photo(reference), _to_photo(other), crop_border=crop_border, y_channel=y_channel)


# --- faces -----------------------------------------------------------------------------------------

from .models import DEFAULT_FACE_MODEL  # noqa: E402
from .operations import FacesRequest  # noqa: E402
from .stages.faces import DEFAULT_MIN_SIZE, DEFAULT_STRENGTH, FaceParams, face_spec  # noqa: E402


def face_model(name: str | None = None, engine: Engine | None = None) -> ModelSpec:
    """The face model of that name (default GFPGAN 1.4), refused with advice if it is no face model
    or is not on this computer yet."""
    return face_spec(name or DEFAULT_FACE_MODEL, engine or default_engine())


def restore_faces(
    image: ImageT,
    *,
    model: str | None = None,
    strength: float = DEFAULT_STRENGTH,
    fidelity: float | None = None,
    min_size: int = DEFAULT_MIN_SIZE,
    upscale: float = 1.0,
    upscale_model: str | None = None,
    engine: Engine | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImageT:
    """Restore the faces in a photo; returns the same kind of object it was given (a path: a Photo).

    Each face is aligned, restored at 512 px by ``model`` (default GFPGAN 1.4, from
    ``revive models pull gfpgan-1.4``), colour-matched, checked against the original and pasted
    back at ``strength``; ``fidelity`` is CodeFormer's w. With ``upscale`` above 1 the picture is
    enlarged by the upscale model and the faces pasted into it. Per-face results (boxes, strength
    used, identity checks, skipped faces and why): :func:`process` with a :class:`FacesRequest`.
    """
    params = FaceParams(model=model or DEFAULT_FACE_MODEL, strength=strength, fidelity=fidelity, min_size=min_size)
    request = FacesRequest(params, upscale=upscale, upscale_model=upscale_model or DEFAULT_UPSCALE_MODEL)
    result = operations().get("faces").run(_to_photo(image), request, _context(engine, progress, cancel))
    assert result.photo is not None  # the faces operation always returns a photo
    return _like(result.photo, image)  # type: ignore[no-any-return]

"""The public facade of revive: everything the CLI, server and batch use, and what Python users call.

Plain functions over numpy arrays, PIL images, Photos and files (:func:`upscale`, :func:`enhance`,
:func:`plan`, :func:`diagnose`, :func:`compare`), typed requests run by the one job runner
(:func:`process`, :func:`run_jobs`), and the engine that owns models, device, threads and memory.
The plain functions use a process-wide default engine (:func:`default_engine`); pass ``engine=`` to
use another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import imageio
from ._version import __version__
from .analysis import Diagnosis
from .analysis import diagnose as _diagnose
from .analysis.masks import SubjectMasks
from .batch import BatchEvent, BatchOptions, BatchSummary
from .batch import run_batch as _run_batch
from .engine import Engine, parse_memory
from .errors import (
    ImageReadError,
    ImageTooLarge,
    ImageWriteError,
    InvalidParameter,
    ModelNotFound,
    ReviveError,
    RuntimeUnavailable,
)
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
    ColorTransferRequest,
    DiagnoseRequest,
    EnhanceRequest,
    FieldInfo,
    MasksRequest,
    Operation,
    OperationRegistry,
    OperationResult,
    RelightRequest,
    UpscaleRequest,
    default_operations,
    describe_request,
    request_from_fields,
)
from .outputs import expand_inputs
from .pipeline.autopilot import EnhanceOptions, Plan, check_settings, plan_for
from .pipeline.estimate import WORTH_SAYING
from .pipeline.metrics import Comparison, side_by_side
from .pipeline.metrics import compare as _compare
from .pipeline.report import report_format
from .pipeline.runner import EnhanceResult, enhance_photo
from .stages import StageRegistry, default_stages
from .stages.base import StageContext, StageInfo, StageOption, StageProgressFn
from .stages.color_transfer import ColorTransferParams
from .stages.planning import Capabilities, PrintSize, Step
from .stages.relight import RelightParams
from .stages.upscale import UpscaleParams, UpscaleStage
from .tiling import CancelFn
from .types import ImageMeta, Photo, ProcessingRecord, StageRecord

ImageT = TypeVar("ImageT")

__all__ = [
    "Capabilities", "Comparison", "DEFAULT_UPSCALE_MODEL", "DiagnoseRequest", "Diagnosis", "DownloadProgress", "Engine", "EnhanceOptions", "EnhanceRequest",
    "EnhanceResult", "ImageMeta", "ImageWriteError", "InvalidParameter", "Job", "JobEvent", "JobResult",
    "LoadOptions", "ModelSpec", "ModelStore", "Operation", "OperationRegistry", "OperationResult", "OutputOptions",
    "Photo", "Plan", "PrintSize", "ProcessingRecord", "ReviveError", "Sink", "Source", "StageContext", "StageInfo", "StageOption", "StageRecord",
    "StageRegistry", "Step", "UpscaleParams", "WORTH_SAYING", "estimate_seconds", "UpscaleRequest", "__version__", "check_options", "compare",
    "default_engine", "default_registry", "diagnose", "enhance", "expand_inputs", "file_jobs", "import_model",
    "normalize_format", "operations", "parse_memory", "plan", "process", "read", "record_of",
    "report_format", "request_from_fields", "run_job", "run_jobs", "side_by_side", "stages", "upscale", "write",
    # the web app and REST API
    "FieldInfo", "ImageReadError", "ImageTooLarge", "ModelNotFound", "describe_request", "plan_diagnosed",
    "request_fields", "serve",
    # batch
    "BatchEvent", "BatchOptions", "BatchSummary", "request_for", "run_batch",
    # regions: masks, relight, colour transfer
    "ColorTransferParams", "ColorTransferRequest", "MasksRequest", "RelightParams", "RelightRequest", "SubjectMasks",
    "color_transfer", "masks", "relight",
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


def _apply(image: ImageT, request: Any, engine: Engine | None, progress: StageProgressFn | None = None,
           cancel: CancelFn | None = None) -> ImageT:
    """Run the operation that takes ``request`` on ``image``; the result in the caller's own currency."""
    result = operations().for_request(request).run(_to_photo(image), request, _context(engine, progress, cancel))
    assert result.photo is not None  # image operations always return a photo
    return _like(result.photo, image)  # type: ignore[no-any-return]


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


# --- the web app and REST API (`revive serve`; needs revive-photo[server]) -------------------------

def request_fields(operation: str) -> tuple[FieldInfo, ...]:
    """An operation's options as a form shows them (kind, default, choices, help), read from its request type."""
    return describe_request(operations().get(operation).request_type, stages())


def plan_diagnosed(diagnosis: Diagnosis, options: EnhanceOptions | None = None, *,
                   engine: Engine | None = None) -> Plan:
    """:func:`plan` for a photo already diagnosed (a page re-plans as its settings change)."""
    return plan_for(diagnosis, check_options(options or EnhanceOptions()),
                    Capabilities.from_engine(engine or default_engine()), stages())


def serve(host: str = "127.0.0.1", port: int = 7860, *, engine: Engine | None = None,
          on_ready: Callable[[str], None] | None = None, **settings: Any) -> None:
    """Run the local web app and REST API until interrupted; ``on_ready(url)`` once it listens.

    ``settings`` are :class:`revive.server.ServerSettings` fields (``max_pixels``, ``max_upload_bytes``,
    ``queue_limit``, ``result_ttl``, ``allowed_hosts``…). The server is an optional shell over this
    module, imported only here, on demand.
    """
    import importlib

    try:
        server = importlib.import_module("revive.server")
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] in ("fastapi", "starlette", "uvicorn", "multipart", "python_multipart"):
            raise RuntimeUnavailable(f"the web app needs {err.name}: pip install 'revive-photo[server]'") from None
        raise
    server.serve(server.ServerSettings(host=host, port=port, **settings), engine or default_engine(), on_ready=on_ready)
# --- batch: one operation over a folder, resumable, locally or on Ray (issue 14) ------------------------

def request_for(operation: str, fields: Mapping[str, str]) -> Any:
    """The request of the operation named ``operation`` from text fields (batch options, forms)."""
    return request_from_fields(operations().get(operation).request_type, fields, stages())


def run_batch(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    request: Any,
    options: BatchOptions | None = None,
    *,
    on_event: Callable[[BatchEvent], None] | None = None,
) -> BatchSummary:
    """Run ``request`` on every image in the folder ``input`` into the folder ``output``; resumable.

    See :mod:`revive.batch` for the journal, the report, workers and Ray. The operations come from
    :func:`operations` (each worker process calls it too).
    """
    return _run_batch(input, output, request, options or BatchOptions(operations=operations), on_event=on_event)

# --- regions: subject masks, relight, colour transfer ---------------------------------------------

def masks(image: Any, *, classes: str = "sky,skin,foliage,water,subject", model: str | None = None,
          engine: Engine | None = None) -> SubjectMasks:
    """Soft masks (HxW float32, 0–1, exactly 0 where absent) of sky, skin, foliage, water and the subject.

    ``model`` names a segmentation model from the store; None uses the embedded estimate.
    ``result["sky"]`` is a mask, ``result.shares()`` each class's share of the frame.
    """
    result = operations().get("masks").run(_to_photo(image), MasksRequest(classes=classes, model=model), _context(engine))
    extra = result.extra
    assert isinstance(extra, SubjectMasks)
    return extra


def relight(image: ImageT, *, light: str = "left", strength: float = 0.5, fill: float = 0.0,
            engine: Engine | None = None) -> ImageT:
    """A soft key light on the subject from ``light`` (left, right, top, bottom or "x,y" fractions of the
    frame) and an optional ``fill``; highlights are never clipped. Returns the kind of object it was given."""
    request = RelightRequest(RelightParams(light=light, strength=strength, fill=fill))
    return _apply(image, request, engine)


def color_transfer(image: ImageT, reference: str | os.PathLike[str], *, strength: float = 0.8,
                   engine: Engine | None = None) -> ImageT:
    """The colours of the photo at ``reference`` given to ``image`` (Lab histogram matching, scikit-image)."""
    request = ColorTransferRequest(ColorTransferParams(Path(reference), strength))
    return _apply(image, request, engine)


# --- erase and fill: mask-based removal and prompt-driven generative fill ---------------------------

from .masks import Box, Boxes, MaskError, MaskInput, read_mask  # noqa: E402
from .operations import EraseRequest, FillRequest  # noqa: E402
from .stages.erase import EMBEDDED_ERASE_MODEL, EraseParams, check_model, erase_photo  # noqa: E402
from .stages.fill import FillParams, check_ready  # noqa: E402
from .stages.fill import fill as _fill  # noqa: E402

__all__ += ["Box", "Boxes", "EMBEDDED_ERASE_MODEL", "EraseParams", "EraseRequest", "FillParams", "FillRequest",
            "MaskError", "check_erase_model", "check_fill_model", "erase", "fill", "read_mask"]


def erase(
    image: ImageT,
    mask: MaskInput | None = None,
    *,
    boxes: Any = (),
    model: str | None = None,
    grow: int | None = None,
    context: float = 0.5,
    engine: Engine | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImageT:
    """Remove what ``mask`` (white = remove: a path, bytes, an array or a Photo; any size with the photo's
    proportions) and/or ``boxes`` (``(x, y, w, h)`` or ``"x,y,w,h"``) mark, and fill the hole from its
    surroundings; returns the same kind of object it was given. ``model`` None takes the best
    inpainting model in the store (LaMa, MAT), else OpenCV's built-in fill. Pixels outside the
    slightly grown mask are returned unchanged."""
    params = EraseParams(mask=mask, boxes=Boxes(boxes), model=model, grow=grow, context=context)
    result = erase_photo(_to_photo(image), params, _context(engine, progress, cancel))
    return _like(result.photo, image)  # type: ignore[no-any-return]


def fill(
    image: ImageT,
    mask: MaskInput | None = None,
    *,
    prompt: str,
    negative_prompt: str = "",
    seed: int | None = None,
    steps: int = 30,
    guidance: float = 7.5,
    model: str | None = None,
    config: str | None = None,
    boxes: Any = (),
    grow: int | None = None,
    context: float = 0.5,
    engine: Engine | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImageT:
    """Replace what ``mask`` and/or ``boxes`` mark with what ``prompt`` describes (Stable Diffusion
    inpainting from local weights, the ``revive-photo[gen]`` extra); the same ``seed`` gives the same
    result. For the seed drawn when none is given, the model and the record use :func:`process`
    with a :class:`FillRequest`."""
    params = FillParams(prompt=prompt, mask=mask, boxes=Boxes(boxes), negative_prompt=negative_prompt, seed=seed,
                        steps=steps, guidance=guidance, model=model, config=config, grow=grow, context=context)
    result = _fill(_to_photo(image), params, _context(engine, progress, cancel))
    return _like(result.photo, image)  # type: ignore[no-any-return]


def check_erase_model(model: str, *, engine: Engine | None = None) -> None:
    """Refuse an erase model that is unknown, not an inpainting model, or not in the store (nothing is loaded)."""
    check_model(model, engine or default_engine())


def check_fill_model(model: str | None = None, config: str | None = None, *, engine: Engine | None = None) -> Path:
    """Where the fill model's files are; raises (saying how to get weights or the extra) when it cannot run."""
    return check_ready(FillParams(model=model, config=config), engine or default_engine())


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
    return _apply(image, request, engine, progress, cancel)


# --- generative upscaling --------------------------------------------------------------------------

from .operations import CreativeRequest  # noqa: E402
from .stages.creative import CreativeParams  # noqa: E402
from .stages.creative import check_ready as _check_creative  # noqa: E402
from .stages.planning import CreativeSettings  # noqa: E402

__all__ += ["CreativeRequest", "CreativeSettings", "check_creative_model", "creative_upscale"]


def creative_upscale(
    image: ImageT,
    *,
    scale: float | None = None,
    creativity: float | None = None,
    resemblance: float | None = None,
    hdr: float | None = None,
    prompt: str = "",
    negative_prompt: str = "",
    seed: int | None = None,
    steps: int = 20,
    model: str | None = None,
    controlnet: str | None = None,
    engine: Engine | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImageT:
    """Generative upscaling: the autopilot's faithful upscale, then Stable Diffusion (local weights, the
    ``revive-photo[gen]`` extra) adds plausible detail over seamless latent tiles. Sliders left at None
    take the preset for the photo's subject; the same ``seed`` gives the same pixels. The seed drawn
    when none is given, the plan and the record: :func:`process` with a :class:`CreativeRequest`."""
    settings = CreativeSettings(creativity=creativity, resemblance=resemblance, hdr=hdr, prompt=prompt,
                                negative_prompt=negative_prompt, seed=seed, steps=steps, diffusion_model=model,
                                controlnet=controlnet)
    request = CreativeRequest(scale=scale, generation=settings)
    return _apply(image, request, engine, progress, cancel)


def check_creative_model(settings: CreativeSettings | None = None, *, engine: Engine | None = None) -> None:
    """Refuse, before any slow work, a generative upscale that cannot run: no weights (the message says
    which to get and where to put them), no diffusers, a ControlNet folder that is not there."""
    s = settings or CreativeSettings()
    params = CreativeParams(diffusion_model=s.diffusion_model, config=s.config, controlnet=s.controlnet)
    _check_creative(params, StageContext(engine or default_engine()))


# --- time estimates --------------------------------------------------------------------------------

from .pipeline.estimate import plan_seconds as _plan_seconds  # noqa: E402


def estimate_seconds(plan: Plan, engine: Engine | None = None) -> float:
    """About how long ``plan`` (from :func:`plan`) takes on ``engine``'s CPU, from the costs its models
    and stages declare: nothing is loaded or run (a GPU is faster than this). A run measures its model
    on a sample tile instead, and says so before it starts when it will take over ``WORTH_SAYING`` s."""
    return _plan_seconds(plan, engine or default_engine(), stages())

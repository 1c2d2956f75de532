"""The public facade of revive: plain functions over numpy arrays, PIL images, Photos and files."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import imageio
from .analysis import Diagnosis
from .analysis import diagnose as _diagnose
from .engine import Engine
from .imageio import DEFAULT_MAX_PIXELS
from .models import DEFAULT_UPSCALE_MODEL
from .models.loaders import LoadOptions
from .outputs import check_target
from .pipeline.autopilot import EnhanceOptions, Plan, check_settings
from .pipeline.metrics import Comparison
from .pipeline.metrics import compare as _compare
from .pipeline.runner import EnhanceResult, EventFn, enhance_photo, make_plan
from .stages import default_stages
from .stages.base import StageContext, StageProgressFn
from .stages.upscale import UpscaleParams, UpscaleStage
from .tiling import CancelFn
from .types import Photo

ImageT = TypeVar("ImageT")


__all__ = [
    "Comparison", "Diagnosis", "EnhanceFileResult", "EnhanceOptions", "EnhanceResult", "Plan", "UpscaleResult",
    "compare", "default_engine", "diagnose", "enhance", "enhance_file", "plan", "read", "upscale", "upscale_file",
    "write",
]


def read(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Photo:
    """Read an image file into a Photo (EXIF orientation applied, metadata kept)."""
    return imageio.read(path, max_pixels=max_pixels)


def write(photo: Photo, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write a Photo atomically; see :func:`revive.imageio.write` for the options."""
    return imageio.write(photo, path, **options)

_engine: Engine | None = None


def default_engine() -> Engine:
    """A process-wide engine so repeated calls reuse loaded models."""
    global _engine
    if _engine is None:
        _engine = Engine()
    return _engine


def _engine_for(engine: Engine | None, load: LoadOptions | None) -> Engine:
    engine = engine or default_engine()
    if load is None or load == engine.options:
        return engine
    return Engine(engine.registry, engine.store, load, memory=engine.memory)


def _to_photo(image: Any) -> Photo:
    if isinstance(image, Photo):
        return image
    if isinstance(image, np.ndarray):
        return Photo.from_array(image)
    if isinstance(image, (str, os.PathLike)):
        return imageio.read(image)
    if type(image).__module__.startswith("PIL."):
        return imageio.from_pil(image)
    raise TypeError(f"expected a numpy array, PIL image, Photo or path, got {type(image).__name__}")


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


def _context(engine: Engine | None, progress: StageProgressFn | None, cancel: CancelFn | None) -> StageContext:
    return StageContext(engine=engine or default_engine(), progress=progress, cancel=cancel)


def upscale(
    image: ImageT,
    *,
    model: str | None = None,
    scale: float | None = None,
    tile: int | None = None,
    tile_overlap: int = 32,
    device: str = "auto",
    threads: int | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
    runtime: Engine | None = None,
) -> ImageT:
    """Upscale a photo with a super-resolution model; returns the same kind of object it was given.

    ``scale`` None keeps the model's native factor; any other positive factor runs the model (as
    many passes as needed) and resamples to the exact size. A path argument returns a Photo.
    """
    params = UpscaleParams(model=model or DEFAULT_UPSCALE_MODEL, scale=scale, tile=tile, tile_overlap=tile_overlap)
    engine = _engine_for(runtime, LoadOptions(device=device, threads=threads))
    result = UpscaleStage(params).run(_to_photo(image), _context(engine, progress, cancel))
    return _like(result, image)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class UpscaleResult:
    input: Path
    output: Path
    model: str
    scale: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": str(self.input), "output": str(self.output), "model": self.model, "scale": self.scale,
            "input_size": list(self.input_size), "output_size": list(self.output_size),
            "seconds": round(self.seconds, 3), "notes": list(self.notes),
        }


def upscale_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    params: UpscaleParams | None = None,
    load: LoadOptions | None = None,
    format: str | None = None,
    quality: int | None = None,
    overwrite: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    runtime: Engine | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> UpscaleResult:
    """Read, upscale and atomically write one file. Raises a ReviveError on any failure."""
    started = time.perf_counter()
    params, load = params or UpscaleParams(), load or LoadOptions()
    source, target = Path(source), Path(target)
    check_target(target, overwrite=overwrite, protect=(source,))  # fail before the slow part
    photo = imageio.read(source, max_pixels=max_pixels)
    result = UpscaleStage(params).run(photo, _context(_engine_for(runtime, load), progress, cancel))
    written, notes = _write_result(photo, result, source, target, format, quality, overwrite)
    spec = (runtime or default_engine()).registry.get(params.model)
    return UpscaleResult(
        input=source, output=written, model=params.model,
        scale=params.scale if params.scale is not None else float(spec.scale),
        input_size=(photo.width, photo.height), output_size=(result.width, result.height),
        seconds=time.perf_counter() - started, notes=tuple(notes),
    )


def _write_result(original: Photo, result: Photo, source: Path, target: Path, format: str | None,
                  quality: int | None, overwrite: bool) -> tuple[Path, tuple[str, ...]]:
    """Write atomically; the notes say what reading and the output format changed or lost."""
    fmt = format or imageio.format_for_path(target)
    notes = (*original.meta.notes, *imageio.write_notes(result, fmt))
    written = imageio.write(result, target, format=fmt, quality=quality, overwrite=overwrite, protect=(source,))
    return written, notes


# --- enhance: the autopilot (diagnose → plan → run → guard) -------------------------------------


def plan(image: Any, options: EnhanceOptions | None = None, *, engine: Engine | None = None,
         **overrides: Any) -> Plan:
    """Diagnose a photo and return what ``enhance`` would do with these options, without doing it.

    ``overrides`` are :class:`EnhanceOptions` fields or stage settings (``scale=2``, ``denoise=0.5``).
    ``plan.explain()`` is the text ``revive enhance --dry-run`` prints, ``plan.to_dict()`` the JSON;
    ``plan.diagnosis`` holds the measurements behind it.
    """
    options = _options(options, overrides)
    return make_plan(_to_photo(image), options, _context(engine, None, None), default_stages())


def check_options(options: EnhanceOptions) -> EnhanceOptions:
    """The options with stage settings parsed; refuses what no registered stage takes (before any work)."""
    return check_settings(options, default_stages())


def _options(options: EnhanceOptions | None, overrides: dict[str, Any]) -> EnhanceOptions:
    if options is not None and overrides:
        raise TypeError("pass either an EnhanceOptions or keyword overrides, not both")
    return options or EnhanceOptions.make(**overrides)


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
    timings and guard numbers use :func:`enhance_file` or :func:`revive.pipeline.runner.enhance_photo`.
    A path argument returns a Photo.
    """
    result = enhance_photo(_to_photo(image), _options(options, overrides), _context(engine, progress, cancel))
    return _like(result.photo, image)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class EnhanceFileResult:
    input: Path
    output: Path
    result: EnhanceResult
    report: Path | None
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "input": str(self.input), "output": str(self.output),
            "input_size": list(r.plan.input_size), "output_size": [r.photo.width, r.photo.height],
            "steps": [s.stage for s in r.plan.steps], "seconds": round(self.seconds, 3),
            "fidelity": None if r.fidelity is None else r.fidelity.to_dict(),
            "report": None if self.report is None else str(self.report), "notes": list(self.notes),
        }


def enhance_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    options: EnhanceOptions | None = None,
    load: LoadOptions | None = None,
    format: str | None = None,
    quality: int | None = None,
    overwrite: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    report: str | os.PathLike[str] | None = None,
    runtime: Engine | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_event: EventFn | None = None,
) -> EnhanceFileResult:
    """Read, enhance and atomically write one file; ``report`` (.json or .html) explains the result."""
    from .pipeline.report import report_format, write_report

    started = time.perf_counter()
    source, target = Path(source), Path(target)
    check_target(target, overwrite=overwrite, protect=(source,))  # fail before the slow part
    report_path = None if report is None else Path(report)
    if report_path is not None:
        report_format(report_path)
        check_target(report_path, overwrite=overwrite, protect=(source, target))
    photo = imageio.read(source, max_pixels=max_pixels)
    result = enhance_photo(photo, options or EnhanceOptions(), _context(_engine_for(runtime, load), progress, cancel),
                           on_event=on_event)
    written, notes = _write_result(photo, result.photo, source, target, format, quality, overwrite)
    notes = (*notes, *result.notes)
    if report_path is not None:
        write_report(report_path, result, photo, input=source, output=written)
    return EnhanceFileResult(source, written, result, report_path, time.perf_counter() - started, tuple(notes))


def diagnose(image: Any) -> Diagnosis:
    """Measure noise, JPEG damage, blur, colour cast, exposure, content type and faces."""
    return _diagnose(_to_photo(image))


def compare(reference: Any, other: Any, *, y_channel: bool = False, crop_border: int = 0) -> Comparison:
    """PSNR and SSIM of ``other`` against ``reference`` with the BasicSR conventions."""
    return _compare(_to_photo(reference), _to_photo(other), crop_border=crop_border, y_channel=y_channel)

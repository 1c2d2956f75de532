"""The public facade of revive: plain functions over numpy arrays, PIL images, Photos and files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import imageio
from .imageio import DEFAULT_MAX_PIXELS
from .models.loaders import LoadOptions
from .outputs import check_target
from .runtime import ModelRuntime
from .stages.base import StageContext, StageProgressFn
from .stages.upscale import UpscaleParams, UpscaleStage
from .tiling import CancelFn
from .types import Photo

ImageT = TypeVar("ImageT")


__all__ = ["UpscaleResult", "default_runtime", "read", "upscale", "upscale_file", "write"]


def read(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Photo:
    """Read an image file into a Photo (EXIF orientation applied, metadata kept)."""
    return imageio.read(path, max_pixels=max_pixels)


def write(photo: Photo, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write a Photo atomically; see :func:`revive.imageio.write` for the options."""
    return imageio.write(photo, path, **options)

_runtime: ModelRuntime | None = None


def default_runtime() -> ModelRuntime:
    """A process-wide runtime so repeated calls reuse loaded models."""
    global _runtime
    if _runtime is None:
        _runtime = ModelRuntime()
    return _runtime


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


def _context(runtime: ModelRuntime | None, progress: StageProgressFn | None, cancel: CancelFn | None) -> StageContext:
    return StageContext(runtime=runtime or default_runtime(), progress=progress, cancel=cancel)


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
    runtime: ModelRuntime | None = None,
) -> ImageT:
    """Upscale a photo with a super-resolution model; returns the same kind of object it was given.

    ``scale`` None keeps the model's native factor; any other positive factor runs the model (as
    many passes as needed) and resamples to the exact size. A path argument returns a Photo.
    """
    params = UpscaleParams(**_upscale_kwargs(model, scale, tile, tile_overlap))
    stage = UpscaleStage(params, LoadOptions(device=device, threads=threads))
    result = stage.run(_to_photo(image), _context(runtime, progress, cancel))
    return _like(result, image)  # type: ignore[no-any-return]


def _upscale_kwargs(model: str | None, scale: float | None, tile: int | None, overlap: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"scale": scale, "tile": tile, "tile_overlap": overlap}
    if model is not None:
        kwargs["model"] = model
    return kwargs


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
    runtime: ModelRuntime | None = None,
    progress: StageProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_read: Callable[[Photo], None] | None = None,
) -> UpscaleResult:
    """Read, upscale and atomically write one file. Raises a ReviveError on any failure."""
    started = time.perf_counter()
    params, load = params or UpscaleParams(), load or LoadOptions()
    source, target = Path(source), Path(target)
    check_target(target, overwrite=overwrite, protect=(source,))  # fail before the slow part
    photo = imageio.read(source, max_pixels=max_pixels)
    if on_read is not None:
        on_read(photo)
    result = UpscaleStage(params, load).run(photo, _context(runtime, progress, cancel))
    fmt = format or imageio.format_for_path(target)
    notes = (*photo.meta.notes, *imageio.write_notes(result, fmt))
    written = imageio.write(result, target, format=fmt, quality=quality, overwrite=overwrite, protect=(source,))
    spec = (runtime or default_runtime()).registry.get(params.model)
    return UpscaleResult(
        input=source, output=written, model=params.model,
        scale=params.scale if params.scale is not None else float(spec.scale),
        input_size=(photo.width, photo.height), output_size=(result.width, result.height),
        seconds=time.perf_counter() - started, notes=tuple(notes),
    )

"""Super-resolution with any registered model, to any scale factor."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InvalidParameter
from ..imageops import bleed_colour_under_alpha, resize, resize_alpha
from ..models import DEFAULT_UPSCALE_MODEL, ImageModel
from ..models.loaders import LoadOptions
from ..tiling import TileOptions, process_tiled
from ..types import Photo
from .base import StageContext

AlphaMode = Literal["resample", "model"]


@dataclass(frozen=True)
class UpscaleParams:
    model: str = DEFAULT_UPSCALE_MODEL
    scale: float | None = None  # None = the model's native factor; any positive factor otherwise
    tile: int | None = None  # None = auto from the memory budget
    tile_overlap: int = 32
    alpha: AlphaMode = "resample"

    def __post_init__(self) -> None:
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise InvalidParameter(f"scale must be a positive number, got {self.scale}")
        if self.scale is not None and self.scale > 16:
            raise InvalidParameter(f"scale {self.scale} is above the maximum of 16")


def target_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def model_passes(native: int, scale: float) -> int:
    """How many times to run a ×native model to reach at least ×scale (then resample down)."""
    if native <= 1 or scale <= native:
        return 1
    return math.ceil(math.log(scale) / math.log(native) - 1e-9)


class UpscaleStage:
    name = "upscale"

    def __init__(self, params: UpscaleParams = UpscaleParams(), load: LoadOptions | None = None) -> None:
        self.params = params
        self.load_options = load

    def run(self, photo: Photo, context: StageContext) -> Photo:
        model = context.runtime.load(self.params.model, self.load_options)
        return upscale_photo(photo, model, self.params, context)


def _run_model(pixels: np.ndarray, model: ImageModel, params: UpscaleParams, context: StageContext,
               label: str) -> np.ndarray:
    tile = params.tile
    if tile is None and getattr(model, "tiling", "supported") == "internal":
        tile = max(8, *pixels.shape[:2])  # the model tiles internally: one tile, halved only on out-of-memory
    options = TileOptions(
        tile=tile,
        overlap=params.tile_overlap,
        multiple_of=getattr(model, "multiple_of", 1),
        min_size=getattr(model, "min_size", 1),
        memory_budget=getattr(model, "memory_budget", None),
    )
    return process_tiled(
        pixels, model, model.scale, options,
        bytes_per_pixel=model.bytes_per_input_pixel(),
        progress=context.tile_progress(label), cancel=context.cancel,
    )


def upscale_photo(photo: Photo, model: ImageModel, params: UpscaleParams, context: StageContext) -> Photo:
    scale = params.scale if params.scale is not None else float(model.scale)
    width, height = target_size(photo.width, photo.height, scale)
    rgb = photo.rgb()
    if photo.alpha is not None:
        rgb = bleed_colour_under_alpha(rgb, photo.alpha)
    passes = model_passes(model.scale, scale)
    for i in range(passes):
        label = "upscale" if passes == 1 else f"upscale {i + 1}/{passes}"
        rgb = _run_model(rgb, model, params, context, label)
    rgb = resize(rgb, width, height)
    pixels = rgb.mean(axis=2, keepdims=True, dtype=np.float32) if photo.is_gray else rgb
    alpha = None
    if photo.alpha is not None:
        if params.alpha == "model":
            a3 = np.repeat(photo.alpha[:, :, None], 3, axis=2)
            for _ in range(passes):
                a3 = _run_model(a3, model, params, context, "alpha")
            alpha = resize(a3, width, height).mean(axis=2, dtype=np.float32)
        else:
            alpha = resize_alpha(photo.alpha, width, height)
    return Photo(np.ascontiguousarray(pixels, dtype=np.float32), alpha, photo.meta)

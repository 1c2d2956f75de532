"""Super-resolution with any registered model, to any scale factor."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import InvalidParameter, UnsupportedModel
from ..imageops import bleed_colour_under_alpha, resize, resize_alpha
from ..models import DEFAULT_ANIME_MODEL, DEFAULT_UPSCALE_MODEL, ImageModel
from ..tiling import TileOptions, process_tiled
from ..types import Photo
from .base import StageContext, StageInfo
from .planning import MAX_SCALE, PlanContext, Step

AlphaMode = Literal["resample", "model"]


@dataclass(frozen=True)
class UpscaleParams:
    # metadata: what a form shows (see revive.operations.FieldInfo)
    model: str = field(default=DEFAULT_UPSCALE_MODEL, metadata={"model": "upscale", "help": "Super-resolution model"})
    scale: float | None = field(default=None, metadata={  # None = the model's native factor; any positive factor otherwise
        "help": "Upscale factor (empty: the model's own)", "range": (0.0, MAX_SCALE)})
    tile: int | None = field(default=None, metadata={"advanced": True, "help": "Tile size in pixels (empty: from memory)"})
    tile_overlap: int = field(default=32, metadata={"advanced": True, "help": "Context pixels around each tile"})
    alpha: AlphaMode = field(default="resample", metadata={"advanced": True, "help": "How transparency is enlarged"})

    def __post_init__(self) -> None:
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise InvalidParameter(f"scale must be a positive number, got {self.scale}")
        if self.scale is not None and self.scale > MAX_SCALE:
            raise InvalidParameter(f"scale {self.scale} is above the maximum of {MAX_SCALE:g}")


def target_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def model_passes(native: int, scale: float) -> int:
    """How many times to run a ×native model to reach at least ×scale (then resample down)."""
    if native <= 1 or scale <= native:
        return 1
    return math.ceil(math.log(scale) / math.log(native) - 1e-9)


class UpscaleStage:
    name = "upscale"

    def __init__(self, params: UpscaleParams = UpscaleParams()) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        return upscale_photo(photo, context.load_model(self.params.model), self.params, context)


def _run_model(pixels: np.ndarray, model: ImageModel, params: UpscaleParams, context: StageContext,
               label: str) -> np.ndarray:
    tile = params.tile
    if model.extra_inputs:
        raise UnsupportedModel(f"{model.spec.name} is an inpainting model: it fills masked areas (it needs "
                               f"{' and '.join(model.extra_inputs)} besides the image); use revive erase or fill")
    if tile is None and model.tiling == "internal":
        tile = max(8, *pixels.shape[:2])  # the model tiles internally: one tile, halved only on out-of-memory
    options = TileOptions(
        tile=tile,
        overlap=params.tile_overlap,
        multiple_of=model.multiple_of,
        min_size=model.min_size,
        memory_budget=model.memory_budget or context.engine.memory_budget,
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


# Default upscale factor by input size (megapixels below the limit → factor).
DEFAULT_SCALES: tuple[tuple[float, int], ...] = ((0.25, 4), (0.5, 3), (2.0, 2))


def default_scale(megapixels: float) -> int:
    return next((factor for limit, factor in DEFAULT_SCALES if megapixels < limit), 1)


def plan_upscale(ctx: PlanContext) -> list[Step]:
    """Upscale to a useful size (``--scale`` overrides; 1 = none); illustrations get the anime model."""
    d, options = ctx.diagnosis, ctx.options
    mp = float(d.resolution.megapixels)
    if options.scale is not None:
        scale, why = float(options.scale), f"--scale {options.scale:g}"
    elif options.print_size is not None:
        scale = round(min(MAX_SCALE, options.print_size.scale_for(d.resolution.width, d.resolution.height)), 3)
        why = f"--print {options.print_size}"
    else:
        scale = float(default_scale(mp))
        size = f"{mp:.2f} MP" if mp >= 0.01 else f"{d.resolution.width}×{d.resolution.height} px"
        why = f"{size} is small" if scale > 1 else ""
    soft = d.sharpness.attention and d.sharpness.blur_px is not None
    if scale == 1.0:
        if soft and options.scale is None:
            ctx.notes.append(f"the photo is soft (edge blur σ≈{d.sharpness.blur_px:.1f} px) but already {mp:.1f} MP; "
                             "pass --scale 2 to let the model restore detail while upscaling")
        if options.model is not None:
            ctx.notes.append(f"--model {options.model} is not used: no upscaling at {mp:.1f} MP (pass --scale)")
        return []
    illustration = d.content.kind == "illustration"
    model = options.model or (DEFAULT_ANIME_MODEL if illustration else DEFAULT_UPSCALE_MODEL)
    kind = "anime/illustration model" if illustration and options.model is None else (
        "your choice" if options.model else "photo model")
    extra = f"; soft (edge blur σ≈{d.sharpness.blur_px:.1f} px), the model restores detail" if soft else ""
    params = UpscaleParams(model=model, scale=scale, **options.tiling())
    return [Step("upscale", params, f"{why} → upscale ×{scale:g} with {model} ({kind}){extra}")]


def resample_like(reference: Photo, result: Photo | None, params: UpscaleParams, context: StageContext) -> Photo:
    """The plain counterpart of upscaling: a high-quality resample to the result's size (or the step's)."""
    if result is not None:
        width, height = result.width, result.height
    else:
        scale = params.scale if params.scale is not None else float(context.engine.registry.get(params.model).scale)
        width, height = target_size(reference.width, reference.height, scale)
    pixels = resize(reference.pixels, width, height)
    alpha = None if reference.alpha is None else resize_alpha(reference.alpha, width, height)
    return reference.evolve(pixels=pixels, alpha=alpha)


def _describe_plain(params: UpscaleParams) -> str:
    return f"upscale ×{params.scale:g} by a plain high-quality resample"


STAGE = StageInfo(
    name="upscale", params_type=UpscaleParams, build=UpscaleStage, phase=30,
    summary="super-resolution with any registered model, to any scale",
    runs_model=lambda params: True, counterpart=resample_like, plan=plan_upscale, plan_first=True,
    describe_plain=_describe_plain,
)

"""Super-resolution with any registered model, to any scale factor."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import InvalidParameter, UnsupportedModel
from ..imageops import back_project, bleed_colour_under_alpha, resize, resize_alpha
from ..models import DEFAULT_UPSCALE_MODEL, ImageModel
from ..tiling import TileOptions, process_tiled
from ..types import Photo
from .base import StageContext, StageInfo
from .model_choice import choose_upscale_model, default_factor
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


def plan_upscale(ctx: PlanContext) -> list[Step]:
    """Upscale toward a useful size (``--scale``/``--print`` override; 1 = none) with the model the
    diagnosis and the look call for (:mod:`.model_choice`)."""
    d, options = ctx.diagnosis, ctx.options
    width, height = d.resolution.width, d.resolution.height
    choice = choose_upscale_model(ctx)
    spec = ctx.capabilities.spec(choice.model)
    native = spec.scale if spec is not None else 4
    if options.scale is not None:
        scale, why = float(options.scale), f"--scale {options.scale:g}"
    elif options.print_size is not None:
        scale = round(min(MAX_SCALE, options.print_size.scale_for(width, height)), 3)
        why = f"--print {options.print_size}"
    else:
        scale = float(default_factor(width, height, native))
        why = f"{max(width, height)} px on the long side is small" if scale > 1 else ""
    soft = d.sharpness.attention and d.sharpness.blur_px is not None
    if scale == 1.0:
        mp = float(d.resolution.megapixels)
        if soft and options.scale is None:
            ctx.notes.append(f"the photo is soft (edge blur σ≈{d.sharpness.blur_px:.1f} px) but already {mp:.1f} MP; "
                             "pass --scale 2 to let the model restore detail while upscaling")
        if options.model is not None:
            ctx.notes.append(f"--model {options.model} is not used: no upscaling at {mp:.1f} MP (pass --scale)")
        return []
    restores_blur = spec is not None and "blur" in (spec.option("restores", "") or "")
    extra = ""
    if soft:
        extra = (f"; soft (edge blur σ≈{d.sharpness.blur_px:.1f} px), the model restores detail" if restores_blur
                 else f"; soft (edge blur σ≈{d.sharpness.blur_px:.1f} px), kept soft rather than invented")
    params = UpscaleParams(model=choice.model, scale=scale, **options.tiling())
    return [Step("upscale", params, f"{why} → upscale ×{scale:g} with {choice.model} ({choice.why}){extra}")]


BACK_PROJECTION_ROUNDS = 3  # measured: +0.3–0.4 dB over Lanczos alone; more rounds add nothing


def resample_like(reference: Photo, result: Photo | None, params: UpscaleParams, context: StageContext) -> Photo:
    """The plain counterpart of upscaling: a Lanczos resample to the result's size (or the step's),
    back-projected so that its downscale is the photo again (Irani & Peleg; see ``imageops.back_project``)."""
    if result is not None:
        width, height = result.width, result.height
    else:
        scale = params.scale if params.scale is not None else float(context.engine.registry.get(params.model).scale)
        width, height = target_size(reference.width, reference.height, scale)
    pixels = resize(reference.pixels, width, height)
    if width > reference.width and height > reference.height:  # consistent with the photo it came from
        pixels = back_project(pixels, reference.pixels, BACK_PROJECTION_ROUNDS)
    alpha = None if reference.alpha is None else resize_alpha(reference.alpha, width, height)
    return reference.evolve(pixels=pixels, alpha=alpha)


def _describe_plain(params: UpscaleParams) -> str:
    return f"upscale ×{params.scale:g} by a plain high-quality resample (Lanczos, back-projected)"


STAGE = StageInfo(
    name="upscale", params_type=UpscaleParams, build=UpscaleStage, phase=30,
    summary="super-resolution with any registered model, to any scale",
    runs_model=lambda params: True, counterpart=resample_like, plan=plan_upscale, plan_first=True,
    describe_plain=_describe_plain,
)

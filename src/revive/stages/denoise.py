"""Noise removal: a denoising model from the store when there is one, else non-local means.

The classical path is OpenCV's non-local means (Buades et al.) with its filtering strength tied to
the measured noise: h = 0.75·σ (8-bit units; 1.0·σ for gray), 5×5 patches in a 21×21 search window — the best
setting on skimage photos with Gaussian noise σ 5–30 (+3 to +8 dB). OpenCV filters 8-bit images
only, so the photo is rounded to 8 bits, filtered, and only the *difference* is applied to the
float pixels: 16-bit and float sources keep their precision where nothing was removed.

Texture is guarded: what the filter removes should look like the noise, about σ in every
neighbourhood. Where it removes more (RMS over 7×7 px above 0.9σ, all of it back at 1.2σ) it is
taking fur, grass or tissue with the noise, and the removal is scaled back there. On the photos of
bench/fidelity.py (×2, then waifu2x): σ 10 +1.0 dB and σ 25 +0.3 dB over the unguarded filter,
and no 16×16 window more than 1.3 dB worse than the noisy photo's (the unguarded filter: 5 dB).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

import cv2
import numpy as np

from ..errors import Cancelled, InvalidParameter
from ..models import ModelSpec
from ..types import Photo
from .base import StageContext, StageInfo, StageOption
from .planning import PlanContext, Step, first_name
from .upscale import UpscaleParams, upscale_photo

H_PER_SIGMA = 0.75  # NLM h per unit of noise σ (8-bit), colour: the PSNR optimum on real photos
H_PER_SIGMA_GRAY = 1.0  # the same for gray photos (one channel carries all the noise)
_PATCH, _SEARCH = 5, 21
TEXTURE_FROM, TEXTURE_TO = 0.9, 1.2  # removed RMS, in units of σ, where the removal starts to be scaled back / is gone
_TEXTURE_WINDOW = 7


def check_strength(value: float, what: str = "strength") -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidParameter(f"{what} must be between 0 and 1, got {value}")


@dataclass(frozen=True)
class DenoiseParams:
    sigma: float  # measured noise σ in 8-bit units; sets the filter strength
    strength: float = 1.0  # 0 = keep the noise, 1 = remove what the filter finds
    model: str | None = None  # a "denoise" model from the store; None = non-local means
    tile: int | None = None
    tile_overlap: int = 32

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sigma) and 0.0 <= self.sigma <= 100.0):
            raise InvalidParameter(f"noise sigma must be between 0 and 100 (8-bit units), got {self.sigma}")
        check_strength(self.strength)

    @property
    def method(self) -> str:
        return self.model or "non-local means"


class DenoiseStage:
    name = "denoise"

    def __init__(self, params: DenoiseParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if p.strength == 0.0 or (p.model is None and p.sigma <= 0.0):
            return photo
        if p.model is not None:
            cleaned = run_restoration_model(photo, p.model, p.tile, p.tile_overlap, context)
            return blend_pixels(photo, cleaned.pixels, p.strength)
        with classical_step(self.name, context):
            delta = guard_texture(nlm_difference(photo.pixels, p.sigma), p.sigma)
        return photo.evolve(pixels=np.clip(photo.pixels + p.strength * delta, 0.0, 1.0).astype(np.float32))


def nlm_difference(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """What non-local means removes from the 8-bit rounding of ``pixels`` (float32, same shape)."""
    u8 = np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    if u8.shape[2] == 1:
        h = float(H_PER_SIGMA_GRAY * sigma)
        out = cv2.fastNlMeansDenoising(u8[:, :, 0], None, h, _PATCH, _SEARCH)[:, :, None]
    else:  # OpenCV converts to Lab assuming BGR order
        h = float(H_PER_SIGMA * sigma)
        bgr = np.ascontiguousarray(u8[:, :, ::-1])
        out = cv2.fastNlMeansDenoisingColored(bgr, None, h, h, _PATCH, _SEARCH)[:, :, ::-1]
    return (out.astype(np.float32) - u8.astype(np.float32)) / 255.0


def guard_texture(delta: np.ndarray, sigma: float) -> np.ndarray:
    """``delta`` (what a filter removes) scaled back where it removes more than noise of ``sigma`` would."""
    if sigma <= 0.0:
        return delta
    removed = np.sqrt(cv2.blur(np.mean(np.square(delta * 255.0), axis=2, dtype=np.float32),
                               (_TEXTURE_WINDOW, _TEXTURE_WINDOW), borderType=cv2.BORDER_REFLECT))
    keep = np.clip((TEXTURE_TO * sigma - removed) / ((TEXTURE_TO - TEXTURE_FROM) * sigma), 0.0, 1.0)
    return (delta * keep[:, :, None]).astype(np.float32)


def blend_pixels(photo: Photo, processed: np.ndarray, strength: float) -> Photo:
    """``photo`` moved ``strength`` of the way toward ``processed`` (same size)."""
    if strength >= 1.0:
        return photo.evolve(pixels=np.ascontiguousarray(processed, dtype=np.float32))
    mixed = photo.pixels + strength * (processed - photo.pixels)
    return photo.evolve(pixels=np.clip(mixed, 0.0, 1.0).astype(np.float32))


def run_restoration_model(photo: Photo, model_name: str, tile: int | None, overlap: int,
                          context: StageContext) -> Photo:
    """A same-size restoration model (denoise, deblock) through the upscale stage's tiled path."""
    model = context.load_model(model_name)
    return upscale_photo(photo, model, UpscaleParams(model=model_name, scale=1.0, tile=tile, tile_overlap=overlap),
                         context)


@contextmanager
def classical_step(name: str, context: StageContext) -> Iterator[None]:
    """Progress 0/1 → 1/1 and a cancel check around a one-shot classical filter."""
    if context.cancel is not None and context.cancel():
        raise Cancelled(f"cancelled before {name}")
    if context.progress is not None:
        context.progress(name, 0, 1)
    yield
    if context.progress is not None:
        context.progress(name, 1, 1)


# --- planning: shared by the cleanup stages (deblock, denoise) -------------------------------------

CLEANUP_OPTION = StageOption("denoise", "Noise and JPEG cleanup: auto, off, or a strength 0..1.",
                             accepts=("auto", "off", "strength"))
FORCED_MIN_SIGMA = 3.0  # --denoise N on a photo that measures cleaner still filters this much


def auto_denoise_strength(sigma: float) -> float:
    """Gentle on light grain, full on strong noise. The upscale model after it cleans what is left, and
    the filter is what costs texture: measured on bench/fidelity.py (guarded filter, then waifu2x),
    0.6 at σ 10 keeps every 16×16 window as good as the noisy photo's (1.0 lost 1.3 dB in one) for
    0.14 dB less PSNR; at σ 25 the full filter is best."""
    return round(min(1.0, max(0.4, 0.3 + (sigma - 4.0) / 20.0)), 2)


def restores(spec: ModelSpec | None) -> frozenset[str]:
    """Damage a model removes on its own while it works ("noise", "jpeg", "blur"), as declared.

    Declared by the catalog as a spec option ``restores`` (comma-separated).
    """
    if spec is None:
        return frozenset()
    declared = spec.option("restores", "") or ""
    return frozenset(p.strip() for p in declared.split(",") if p.strip())


def restored_by_upscale(ctx: PlanContext) -> frozenset[str]:
    """What the planned upscale model removes by itself (nothing when no model will run)."""
    step = ctx.planned("upscale")
    if step is None or ctx.plain:
        return frozenset()
    return restores(ctx.capabilities.spec(step.params.model))


def cleanup_step(ctx: PlanContext, stage: str, params: DenoiseParams | Any, why: str, damage: str) -> Step:
    """A cleanup step; where the upscale model removes that damage itself (and does it better than a
    filter in front of it, which costs detail), the filter only cleans the guard's reference."""
    how = f"{stage} with {params.method} at strength {params.strength:.2g}"
    if params.model is None and damage in restored_by_upscale(ctx):
        return Step(stage, params, f"{why} → the upscale model removes it itself; {how} for the guard's reference",
                    track="reference")
    return Step(stage, params, f"{why} → {how}")


def forced_strength(ctx: PlanContext) -> float | None:
    setting = ctx.setting(CLEANUP_OPTION.name)
    return float(setting) if isinstance(setting, float) else None


def plan_denoise(ctx: PlanContext) -> list[Step]:
    """Noise → denoise with the filter's strength from the measured σ (a store model takes over)."""
    d = ctx.diagnosis
    if ctx.setting(CLEANUP_OPTION.name) == "off":
        _note_model_cleans_anyway(ctx, "noise", "grain", d.noise.attention)
        return []
    forced = forced_strength(ctx)
    sigma = float(d.noise.sigma)
    if not (d.noise.attention or forced is not None):
        return []
    model = first_name(ctx.capabilities.installed_for("denoise"))
    strength = auto_denoise_strength(sigma) if forced is None else forced
    why = f"noise σ≈{sigma:.0f}" if d.noise.attention else f"--denoise {forced:g} (noise σ≈{sigma:.1f})"
    params = DenoiseParams(sigma=round(max(sigma, FORCED_MIN_SIGMA), 2), strength=strength, model=model,
                           **ctx.options.tiling())
    return [cleanup_step(ctx, "denoise", params, why, "noise")]


def _note_model_cleans_anyway(ctx: PlanContext, damage: str, what: str, flagged: bool) -> None:
    """--denoise off turns the filters off, not what the upscale model does on its own: say so."""
    step = ctx.planned("upscale")
    if flagged and step is not None and damage in restored_by_upscale(ctx):
        ctx.notes.append(f"--denoise off: {step.params.model} still smooths {what} on its own; "
                         "lower --strength to keep more of the original")


def classical_denoise(reference: Photo, result: Photo | None, params: DenoiseParams, context: StageContext) -> Photo:
    return DenoiseStage(replace(params, model=None)).run(reference, context)


def has_model(params: Any) -> bool:
    return getattr(params, "model", None) is not None


def describe_classical(params: Any) -> str:
    return f"{type(params)(**{**asdict(params), 'model': None}).method} at strength {params.strength:.2g}"


STAGE = StageInfo(
    name="denoise", params_type=DenoiseParams, build=DenoiseStage, phase=12, option=CLEANUP_OPTION,
    seconds_per_mp=0.72,
    summary="noise removal: a store model, else non-local means tuned to the measured noise",
    runs_model=has_model, counterpart=classical_denoise, plan=plan_denoise,
    describe_plain=lambda p: f"denoise with {describe_classical(p)}",
)

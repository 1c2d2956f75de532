"""Noise removal: a denoising model from the store when there is one, else non-local means.

The classical path is OpenCV's non-local means (Buades et al.) with its filtering strength tied to
the measured noise: h = 0.75·σ (8-bit units; 1.0·σ for gray), 5×5 patches in a 21×21 search window — the best
setting on skimage photos with Gaussian noise σ 5–30 (+3 to +8 dB). OpenCV filters 8-bit images
only, so the photo is rounded to 8 bits, filtered, and only the *difference* is applied to the
float pixels: 16-bit and float sources keep their precision where nothing was removed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import Cancelled, InvalidParameter
from ..models.loaders import LoadOptions
from ..types import Photo
from .base import StageContext
from .upscale import UpscaleParams, upscale_photo

H_PER_SIGMA = 0.75  # NLM h per unit of noise σ (8-bit), colour: the PSNR optimum on real photos
H_PER_SIGMA_GRAY = 1.0  # the same for gray photos (one channel carries all the noise)
_PATCH, _SEARCH = 5, 21


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

    def __init__(self, params: DenoiseParams, load: LoadOptions | None = None) -> None:
        self.params = params
        self.load_options = load

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if p.strength == 0.0 or (p.model is None and p.sigma <= 0.0):
            return photo
        if p.model is not None:
            cleaned = run_restoration_model(photo, p.model, p.tile, p.tile_overlap, context, self.load_options)
            return blend_pixels(photo, cleaned.pixels, p.strength)
        with classical_step(self.name, context):
            delta = nlm_difference(photo.pixels, p.sigma)
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


def blend_pixels(photo: Photo, processed: np.ndarray, strength: float) -> Photo:
    """``photo`` moved ``strength`` of the way toward ``processed`` (same size)."""
    if strength >= 1.0:
        return photo.evolve(pixels=np.ascontiguousarray(processed, dtype=np.float32))
    mixed = photo.pixels + strength * (processed - photo.pixels)
    return photo.evolve(pixels=np.clip(mixed, 0.0, 1.0).astype(np.float32))


def run_restoration_model(photo: Photo, model_name: str, tile: int | None, overlap: int, context: StageContext,
                          load: LoadOptions | None) -> Photo:
    """A same-size restoration model (denoise, deblock) through the upscale stage's tiled path."""
    model = context.runtime.load(model_name, load)
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

"""JPEG deblocking: a deblocking model from the store when there is one, else shift-averaged DCT thresholding.

The classical path works in the JPEG's own domain. JPEG zeroed the small 8×8 DCT coefficients of
each block; the blocks' edges and ringing are what is left. Taking the DCT of 8×8 blocks on a
*shifted* grid, coefficients below a fraction of the quantization step (the IJG table at the
estimated quality) are mostly artefact; zeroing them and averaging the inverse over 16 grid shifts
(Nosratinia's re-application idea, with hard thresholding) smooths block edges and ringing while
edges that carry real energy survive. Chroma is treated at half resolution with the chrominance
table (JPEG's usual 4:2:0). On skimage photos: +0.4 to +0.6 dB at quality 20–60, and the 8×8
grid is gone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..errors import InvalidParameter
from ..types import Photo
from .base import StageContext, StageInfo
from .denoise import (
    CLEANUP_OPTION,
    _note_model_cleans_anyway,
    blend_pixels,
    check_strength,
    classical_step,
    cleanup_step,
    describe_classical,
    forced_strength,
    has_model,
    run_restoration_model,
)
from .planning import PlanContext, Step, first_name

# ITU-T T.81 Annex K tables, natural (row-major) order
_STD_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float32).reshape(8, 8)  # fmt: skip
_STD_CHROMINANCE = np.full((8, 8), 99.0, dtype=np.float32)
_STD_CHROMINANCE[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]

THRESHOLD = 0.35  # share of the quantization step below which a shifted-grid coefficient is zeroed
_SHIFT_STEP = 2  # grid shifts 0, 2, 4, 6 on each axis: 16 of the 64 (as good, 4× faster)
_DCT = np.array(
    [[(math.sqrt(1 / 8) if k == 0 else math.sqrt(2 / 8)) * math.cos((2 * n + 1) * k * math.pi / 16) for n in range(8)]
     for k in range(8)], dtype=np.float32,
)
_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
                       dtype=np.float32)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC).astype(np.float32)


@dataclass(frozen=True)
class DeblockParams:
    quality: int  # the (estimated) JPEG quality, 1..100; sets the quantization steps
    strength: float = 1.0
    model: str | None = None  # a "deblock" model from the store; None = DCT thresholding
    tile: int | None = None
    tile_overlap: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise InvalidParameter(f"JPEG quality must be between 1 and 100, got {self.quality}")
        check_strength(self.strength)

    @property
    def method(self) -> str:
        return self.model or "DCT thresholding"


class DeblockStage:
    name = "deblock"

    def __init__(self, params: DeblockParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if p.strength == 0.0:
            return photo
        if p.model is not None:
            cleaned = run_restoration_model(photo, p.model, p.tile, p.tile_overlap, context)
            return blend_pixels(photo, cleaned.pixels, p.strength)
        with classical_step(self.name, context):
            out = deblock_pixels(photo.pixels, p.quality)
        return blend_pixels(photo, out, p.strength)


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's quality scaling of a base quantization table."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip(np.floor((base * scale + 50) / 100), 1, 255).astype(np.float32)


def deblock_pixels(pixels: np.ndarray, quality: int) -> np.ndarray:
    """Deblocked float32 pixels (same shape), in 8-bit units internally."""
    x = pixels.astype(np.float32) * 255.0
    luma_q, chroma_q = ijg_table(_STD_LUMINANCE, quality), ijg_table(_STD_CHROMINANCE, quality)
    if x.shape[2] == 1:
        return np.clip(_shift_threshold(x[:, :, 0], luma_q)[:, :, None] / 255.0, 0.0, 1.0)
    ycc = x @ _RGB_TO_YCC.T
    out = np.empty_like(ycc)
    out[:, :, 0] = _shift_threshold(ycc[:, :, 0], luma_q)
    h, w = x.shape[:2]
    for c in (1, 2):  # chroma was coded at half resolution: clean it there, add the change back
        ch = ycc[:, :, c]
        if min(h, w) >= 32:
            small = cv2.resize(ch, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
            change = _shift_threshold(small, chroma_q) - small
            out[:, :, c] = ch + cv2.resize(change, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            out[:, :, c] = _shift_threshold(ch, chroma_q)
    return np.clip((out @ _YCC_TO_RGB.T) / 255.0, 0.0, 1.0).astype(np.float32)


def _shift_threshold(channel: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Average over grid shifts of blockwise DCT hard thresholding at THRESHOLD × the table."""
    h, w = channel.shape
    padded = np.pad(channel, ((8, 16), (8, 16)), mode="reflect").astype(np.float32)
    acc = np.zeros_like(padded)
    count = np.zeros_like(padded)
    threshold = THRESHOLD * table
    for dy in range(0, 8, _SHIFT_STEP):
        for dx in range(0, 8, _SHIFT_STEP):
            sub = padded[dy:, dx:]
            bh, bw = sub.shape[0] // 8, sub.shape[1] // 8
            blocks = sub[: bh * 8, : bw * 8].reshape(bh, 8, bw, 8).transpose(0, 2, 1, 3)
            coeffs = _DCT @ blocks @ _DCT.T
            keep = np.abs(coeffs) >= threshold
            keep[:, :, 0, 0] = True  # the block mean is never an artefact
            back = _DCT.T @ (coeffs * keep) @ _DCT
            acc[dy : dy + bh * 8, dx : dx + bw * 8] += back.transpose(0, 2, 1, 3).reshape(bh * 8, bw * 8)
            count[dy : dy + bh * 8, dx : dx + bw * 8] += 1.0
    return (acc / np.maximum(count, 1.0))[8 : 8 + h, 8 : 8 + w]


RESAVED_MARGIN = 15  # pixel estimates of a JPEG saved once scatter ±10 around its tables' quality


def plan_deblock(ctx: PlanContext) -> list[Step]:
    """JPEG damage → deblock at the estimated quality (the blocks' own, when they are older than the tables)."""
    jpeg = ctx.diagnosis.jpeg
    if ctx.setting(CLEANUP_OPTION.name) == "off":
        _note_model_cleans_anyway(ctx, "jpeg", "JPEG artefacts", jpeg.attention)
        return []
    if not (jpeg.attention and jpeg.quality is not None):
        return []
    forced = forced_strength(ctx)
    model = first_name(ctx.capabilities.installed_for("deblock"))
    quality, why = int(jpeg.quality), f"JPEG quality≈{jpeg.quality}"
    if jpeg.source == "tables" and jpeg.pixel_quality < quality - RESAVED_MARGIN:  # the blocks are older, worse
        quality, why = jpeg.pixel_quality, f"{why}, with blocks like quality≈{jpeg.pixel_quality} (saved before)"
    params = DeblockParams(quality=quality, strength=1.0 if forced is None else forced, model=model,
                           **ctx.options.tiling())
    return [cleanup_step(ctx, "deblock", params, why, "jpeg")]


def classical_deblock(reference: Photo, result: Photo | None, params: DeblockParams, context: StageContext) -> Photo:
    return DeblockStage(replace(params, model=None)).run(reference, context)


STAGE = StageInfo(
    name="deblock", params_type=DeblockParams, build=DeblockStage, phase=11, option=CLEANUP_OPTION,
    seconds_per_mp=0.22,
    summary="JPEG deblocking: a store model, else DCT thresholding at the estimated quality",
    runs_model=has_model, counterpart=classical_deblock, plan=plan_deblock,
    describe_plain=lambda p: f"deblock with {describe_classical(p)}",
)

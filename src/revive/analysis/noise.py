"""Noise level: the robust wavelet estimate (Donoho's MAD) on the flattest parts of the photo.

σ = median(|HH|) / 0.6745 over the finest Haar diagonal sub-band. Texture would inflate it, so
blocks are ranked by the *horizontal and vertical* detail bands (independent of HH for white
noise, so the ranking does not bias the estimate) and only the flattest fifth is used. Blocks
whose mean lies within 2σ of black or white are skipped (clipping shrinks the noise there); σ
and that margin are refined together.

Texture is told from noise by scale. White noise halves when the photo is area-downscaled ×2;
texture does not (grass, gravel, fur and stained tissue have as much fine detail an octave lower:
measured, their fine-scale reading is at most 0.75 of the coarse one). With e₁ the estimate at
full size and e₂ at half size, per channel, σ² = (e₁² − c²e₂²) / (1 − c²/4), c = 0.75, and never
more than e₁. Clean textures (skimage grass, gravel, immunohistochemistry, cell; 256-px crops and
their halves) then read 0–3 instead of 4–10; calibrated on skimage photos (full and 256-px crops)
with added Gaussian noise σ 5/10/25: estimates within ±15 % (textures up to +16 %); clean photos
read 0–3. Under 128 px a side the half-size reading uses blocks of 4×4 coefficients, where texture
reads up to 0.87 of its coarse reading (64-px crops of the bench photos), so c = 0.85 there: clean
64-px crops then read 0–3.3, and σ 5/10 added to them 5–10 / 9–14. Under 32 px only e₁ is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._base import Measurement
from ._common import as_8bit_units, center_crop, is_8bit_valued, luma

ATTENTION_SIGMA = 4.0  # 8-bit units; grain becomes visible in flat areas around here
_MAD_TO_SIGMA = 0.6745
_BLOCK = 8  # wavelet coefficients per block side (16 image pixels)
_FLAT_SHARE = 0.2
_MAX_PIXELS = 4_000_000  # central crop beyond this; noise is a native-scale property
_TEXTURE_RATIO = 0.75  # texture's fine-scale reading is at most this share of its reading an octave lower
_TINY_TEXTURE_RATIO = 0.85  # ... when that lower octave is read with small blocks (64-px grass: 0.87)


@dataclass(frozen=True)
class NoiseReport(Measurement):
    """Noise standard deviation in 8-bit units (0..255), overall (RMS of channels) and per channel."""

    sigma: float
    sigma_channels: tuple[float, ...]  # R, G, B (one value for gray)

    label = "noise"
    rule = f"sigma > {ATTENTION_SIGMA:g} (8-bit units)"

    @property
    def attention(self) -> bool:
        return self.sigma > ATTENTION_SIGMA

    def summary(self) -> str:
        return f"noise σ≈{self.sigma:.1f} (8-bit)"

    def advice(self) -> str:
        return "strong grain, denoise first" if self.sigma > 12 else "visible grain"


def _haar(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One orthonormal 2-D Haar level: LL, HL (horizontal detail), LH (vertical detail), HH."""
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    a, b = x[0:h:2, 0:w:2], x[0:h:2, 1:w:2]
    c, d = x[1:h:2, 0:w:2], x[1:h:2, 1:w:2]
    return (a + b + c + d) / 2, (a - b + c - d) / 2, (a + b - c - d) / 2, (a - b - c + d) / 2


def _blocks(x: np.ndarray, block: int = _BLOCK) -> np.ndarray:
    """(nblocks, B*B) view of the full B×B blocks of a 2-D array."""
    bh, bw = x.shape[0] // block, x.shape[1] // block
    x = x[: bh * block, : bw * block]
    return x.reshape(bh, block, bw, block).swapaxes(1, 2).reshape(bh * bw, block * block)


def _abs_median(v: np.ndarray, step: float) -> float:
    """Median of |v|; on a value grid of ``step`` it is interpolated within the median's bin."""
    a = np.abs(v.ravel())
    if a.size == 0:
        return 0.0
    m = float(np.median(a))
    if step <= 0:
        return m
    lower = max(0.0, m - step / 2)
    below = np.count_nonzero(a < lower)
    inside = np.count_nonzero((a >= lower) & (a < m + step / 2))
    if inside == 0:
        return m
    return lower + (m + step / 2 - lower) * (a.size / 2 - below) / inside


def _channel_sigma(channel: np.ndarray, order: np.ndarray, step: float, block: int = _BLOCK) -> float:
    ll, _, _, hh = _haar(channel)
    hh_blocks = _blocks(hh, block)
    means = _blocks(ll / 2, block).mean(axis=1)
    headroom = np.minimum(means, 255.0 - means)  # distance of each block's mean to black or white
    keep = max(8, int(len(order) * _FLAT_SHARE))
    sigma, margin = 0.0, 3.0
    for _ in range(4):
        chosen = order[headroom[order] >= margin][:keep]
        if chosen.size < 4:  # little is far from black and white: take the most mid-gray blocks
            chosen = np.argsort(-headroom, kind="stable")[:keep]
        new = _abs_median(hh_blocks[chosen], step) / _MAD_TO_SIGMA
        if abs(new - sigma) <= 0.01 * new:
            return float(new)
        sigma, margin = new, max(3.0, 2.0 * new)
    return float(sigma)


def _sigmas(x: np.ndarray, block: int = _BLOCK) -> np.ndarray:
    """Per-channel estimates (8-bit units) on ``x`` (8-bit units), or zeros when it is too small."""
    if min(x.shape[:2]) < 2 * block * 2:
        return np.zeros(x.shape[2])
    step = 0.5 if is_8bit_valued(x) else 0.0  # Haar of integers lands on a 0.5 grid
    _, hl, lh, _ = _haar(luma(x))
    activity = np.median(_blocks(np.abs(hl) + np.abs(lh), block), axis=1)
    order = np.argsort(activity, kind="stable")
    return np.array([_channel_sigma(x[:, :, c], order, step, block) for c in range(x.shape[2])])


def _half(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h:2, :w:2] * 0.25 + x[1:h:2, :w:2] * 0.25 + x[:h:2, 1:w:2] * 0.25 + x[1:h:2, 1:w:2] * 0.25


def measure_noise(pixels: np.ndarray) -> NoiseReport:
    x = as_8bit_units(center_crop(pixels, _MAX_PIXELS))
    fine = _sigmas(x)
    half = _half(x)
    tiny = min(half.shape[:2]) < 2 * _BLOCK * 4
    coarse = _sigmas(half, _BLOCK // 2 if tiny else _BLOCK)  # tiny photos: smaller blocks, more of them
    c2 = (_TINY_TEXTURE_RATIO if tiny else _TEXTURE_RATIO) ** 2
    corrected = np.sqrt(np.maximum(0.0, (fine**2 - c2 * coarse**2) / (1.0 - c2 / 4.0)))
    sigmas = tuple(round(float(v), 3) for v in np.minimum(fine, corrected))
    overall = float(np.sqrt(np.mean(np.square(sigmas))))
    return NoiseReport(round(overall, 3), sigmas)

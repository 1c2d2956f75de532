"""Small conversions the measurements share: 8-bit units, luma, Lab, sRGB linearisation, crops."""

from __future__ import annotations

import cv2
import numpy as np

from ..colorimetry import srgb_to_linear

# Rec.601 luma weights: what JPEG and most image statistics use.
LUMA_601 = np.array([0.299, 0.587, 0.114])


def as_8bit_units(pixels: np.ndarray) -> np.ndarray:
    """float32 [0,1] pixels as float64 in 8-bit units [0,255], without rounding."""
    return pixels.astype(np.float64) * 255.0


def luma(x: np.ndarray) -> np.ndarray:
    """HxW luma of an HxWx{1,3} image in any unit."""
    return x[:, :, 0] if x.shape[2] == 1 else x @ LUMA_601


def is_8bit_valued(x255: np.ndarray) -> bool:
    """True when the values sit on the 8-bit grid (an 8-bit source), so statistics can undo that grid."""
    sample = x255.ravel()[:: max(1, x255.size // 100_000)]
    return bool(np.all(np.abs(sample - np.round(sample)) < 1e-3))


def center_crop(x: np.ndarray, max_pixels: int) -> np.ndarray:
    """The central part of ``x`` with at most ``max_pixels`` pixels (native scale is kept)."""
    h, w = x.shape[:2]
    if h * w <= max_pixels:
        return x
    f = (max_pixels / (h * w)) ** 0.5
    ch, cw = max(16, int(h * f)), max(16, int(w * f))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return x[y0 : y0 + ch, x0 : x0 + cw]


def rgb_to_lab(rgb01: np.ndarray) -> np.ndarray:
    """sRGB in [0,1] (HxWx3) to CIE Lab (D65): L in [0,100], a/b roughly [-128,127]."""
    return cv2.cvtColor(np.ascontiguousarray(rgb01, dtype=np.float32), cv2.COLOR_RGB2Lab)


def lightness(pixels: np.ndarray) -> np.ndarray:
    """CIE L* (0..100) of HxWx{1,3} sRGB pixels in [0,1]."""
    if pixels.shape[2] == 1:
        y = srgb_to_linear(pixels[:, :, 0].astype(np.float64))
        return np.where(y > 0.008856, 116.0 * np.cbrt(y) - 16.0, 903.3 * y)
    return rgb_to_lab(pixels)[:, :, 0].astype(np.float64)

"""Colour maths shared by analysis and stages: the sRGB transfer curve and the light's colour."""

from __future__ import annotations

import cv2
import numpy as np

_GRAY_EDGE_P = 6.0  # Minkowski norm of the gray-edge estimate (van de Weijer et al. 2007)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (keeps the float dtype)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(x.dtype, copy=False)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(x.dtype, copy=False)


def downscale(x: np.ndarray, max_side: int) -> np.ndarray:
    """Area-downscale so the long side is at most ``max_side`` (statistics that need no fine detail)."""
    h, w = x.shape[:2]
    if max(h, w) <= max_side:
        return x
    f = max_side / max(h, w)
    out = cv2.resize(x, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return out[:, :, None] if out.ndim == 2 else out


ANALYSIS_SIDE = 256  # the light's colour and the tonal range are read on a copy this large (long side)


def gray_edge_illuminant(pixels: np.ndarray, side: int = ANALYSIS_SIDE) -> np.ndarray | None:
    """The light's colour by the gray-edge hypothesis (linear RGB, mean 1), or None without usable edges.

    Edges of linear-light channels after a σ = 1 blur, clipped pixels skipped, Minkowski p = 6, on a
    copy ``side`` pixels long (or the photo, if smaller). The scale is fixed so that the answer does
    not depend on the photo's size: read at half the photo's size, chelsea's cast was warm 13 at
    451 px but magenta 8 at 225 px, and the colour stage, measuring the enlarged photo, white-balanced
    toward a different light than the diagnosis had found. At 256 px JPEG's half-resolution chroma
    (4:2:0), misaligned with luma, no longer reads as coloured light either (chelsea at q95 read 14.3
    at full size).
    """
    x = downscale(pixels, side)
    lin = srgb_to_linear(x.astype(np.float32))
    usable = (x.max(axis=2) < 0.98) & (x.min(axis=2) > 0.01)
    if np.count_nonzero(usable) < 64:
        return None
    e = np.empty(3)
    for c in range(3):
        ch = cv2.GaussianBlur(lin[:, :, c], (0, 0), 1.0)
        g = np.hypot(cv2.Sobel(ch, cv2.CV_32F, 1, 0), cv2.Sobel(ch, cv2.CV_32F, 0, 1))[usable].astype(np.float64)
        peak = g.max()
        e[c] = peak * np.mean((g / peak) ** _GRAY_EDGE_P) ** (1.0 / _GRAY_EDGE_P) if peak > 0 else 0.0
    if not np.all(np.isfinite(e)) or e.min() <= 0:
        return None
    return e / e.mean()

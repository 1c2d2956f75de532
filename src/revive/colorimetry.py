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


def gray_edge_illuminant(pixels: np.ndarray, max_side: int = 1024) -> np.ndarray | None:
    """The light's colour by the gray-edge hypothesis (linear RGB, mean 1), or None without usable edges.

    Edges of linear-light channels after a σ = 1 blur, clipped pixels skipped, Minkowski p = 6, on a
    copy at most half the photo's size: JPEG keeps colour at half resolution (4:2:0), and at full
    resolution its chroma edges, misaligned with luma's, read as coloured light (chelsea, a warm
    indoor photo, read 12.7 as PNG but 14.3 once saved at JPEG q95 and was white-balanced).
    """
    h, w = pixels.shape[:2]
    x = downscale(pixels, min(max_side, max(h, w) // 2) if min(h, w) >= 32 else max_side)
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

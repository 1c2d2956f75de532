"""Small pure pixel operations shared by stages: resampling (alpha without halos) and alpha-edge colour bleeding."""

from __future__ import annotations

import cv2
import numpy as np


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """High-quality resample of an HxW or HxWxC float32 image to ``width``×``height``.

    Area averaging when shrinking (no aliasing), Lanczos when enlarging; clipped to [0, 1].
    """
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return pixels
    shrinking = width <= w and height <= h
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    out = cv2.resize(pixels, (width, height), interpolation=interpolation)
    if pixels.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def resize_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resample an HxW alpha plane without halos: when enlarging, Lanczos is kept within the range
    of the 2×2 source pixels around each output pixel (anti-ringing), so no faint ghost appears
    outside a cut-out and no see-through speck inside it."""
    h, w = alpha.shape[:2]
    out = resize(alpha, width, height)
    if width <= w and height <= h:
        return out  # area averaging does not ring
    block = np.ones((2, 2), np.uint8)
    lo = cv2.erode(alpha, block, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)  # min of each 2×2 block
    hi = cv2.dilate(alpha, block, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    rows = _source_index(height, h)[:, None]
    cols = _source_index(width, w)[None, :]
    return np.clip(out, lo[rows, cols], hi[rows, cols])


def _source_index(n_out: int, n_in: int) -> np.ndarray:
    """The source pixel at or before each output pixel's centre (pixel-centre alignment, as OpenCV)."""
    centre = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    return np.clip(np.floor(centre), 0, n_in - 1).astype(np.intp)


def bleed_colour_under_alpha(rgb: np.ndarray, alpha: np.ndarray, threshold: float = 1 / 255) -> np.ndarray:
    """Fill the colour of (nearly) transparent pixels from their opaque neighbours.

    Editors often store black under transparent pixels; a model or resampler would smear that
    black into the visible edge (dark fringes). A push–pull pyramid of alpha-weighted colour gives
    every hidden pixel the colour of the nearest visible ones and leaves visible pixels untouched.
    """
    hidden = alpha <= threshold
    if not hidden.any() or hidden.all():
        return rgb
    weight = (~hidden).astype(np.float32)
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    colour: np.ndarray = rgb * weight[:, :, None]
    w: np.ndarray = weight
    while min(colour.shape[:2]) > 1:
        levels.append((colour, w))
        colour = cv2.pyrDown(colour) if colour.shape[2] <= 4 else colour[::2, ::2]
        w = cv2.pyrDown(w)
        if colour.ndim == 2:
            colour = colour[:, :, None]
    filled = colour / np.maximum(w, 1e-8)[..., None]
    for colour, w in reversed(levels):
        up = cv2.resize(filled, (colour.shape[1], colour.shape[0]), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[:, :, None]
        known = colour / np.maximum(w, 1e-8)[..., None]
        mix = np.clip(w * 4.0, 0.0, 1.0)[..., None]  # trust this level where it has support
        filled = known * mix + up * (1.0 - mix)
    out = rgb.copy()
    out[hidden] = np.clip(filled[hidden], 0.0, 1.0)
    return out


def back_project(pixels: np.ndarray, small_target: np.ndarray, iterations: int) -> np.ndarray:
    """Correct an enlargement until its area downscale approaches ``small_target`` (Irani & Peleg 1991):
    ``out += up(target − down(out))`` with a bicubic ``up``. On a Lanczos enlargement three rounds add
    0.3–0.4 dB against the true large photo (skimage crops, ×2 and ×4) and make it consistent with
    the small one (worst 16×16 window 34 → 49 dB)."""
    h, w = small_target.shape[:2]
    height, width = pixels.shape[:2]
    out = pixels
    for _ in range(iterations):
        residual = small_target - resize(out, w, h)
        up = cv2.resize(residual, (width, height), interpolation=cv2.INTER_CUBIC).reshape(height, width, -1)
        out = np.clip(out + up.reshape(out.shape), 0.0, 1.0).astype(np.float32)
    return out

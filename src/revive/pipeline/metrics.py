"""Full-reference image quality with the conventions of the super-resolution literature (BasicSR).

Both images go to the 8-bit range and are rounded (what a saved PNG holds), ``crop_border``
pixels are cut from every side, and with ``y_channel`` only BT.601 luma is compared,
Y = 16 + 65.481 R + 128.553 G + 24.966 B for RGB in [0, 1] (so Y spans 16..235, not rounded).
PSNR uses a peak of 255; SSIM is Wang et al.'s with an 11×11 Gaussian window (σ 1.5),
C1 = (0.01·255)², C2 = (0.03·255)², in float64 on the valid region (``cv2.filter2D``, 5 px cut),
per channel and averaged — the numbers papers report and scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255)`` reproduces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InvalidParameter
from ..imageops import resize
from ..types import ImageMeta, Photo

ImageLike = Photo | np.ndarray

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])  # for RGB in [0,1]; BasicSR's bgr2ycbcr, in RGB order
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2
_SSIM_WINDOW = np.outer(cv2.getGaussianKernel(11, 1.5), cv2.getGaussianKernel(11, 1.5).T)


def to_8bit_range(image: ImageLike) -> np.ndarray:
    """HxWxC float64 in [0,255] on the 8-bit grid (rounded). Alpha is dropped, gray stays one channel."""
    if isinstance(image, Photo):
        a = np.round(np.clip(image.pixels.astype(np.float64), 0.0, 1.0) * 255.0)
    else:
        arr = np.asarray(image)
        if arr.dtype == np.uint8:
            a = arr.astype(np.float64)
        elif arr.dtype == np.uint16:
            a = np.round(arr.astype(np.float64) / 65535.0 * 255.0)
        elif np.issubdtype(arr.dtype, np.floating):
            a = np.round(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0)
        else:
            raise InvalidParameter(f"unsupported image dtype {arr.dtype}; use uint8, uint16 or float in [0,1]")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise InvalidParameter(f"unsupported image shape {a.shape}; use HxW, HxWx1, HxWx3 or HxWx4")
    if a.shape[2] in (2, 4):
        a = a[:, :, :-1]
    return a


def _prepare(a: ImageLike, b: ImageLike, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = to_8bit_range(a), to_8bit_range(b)
    if x.shape[:2] != y.shape[:2]:
        raise InvalidParameter(f"images differ in size: {x.shape[1]}×{x.shape[0]} and {y.shape[1]}×{y.shape[0]}")
    if x.shape[2] != y.shape[2]:  # gray against colour: compare as colour
        x, y = (np.repeat(v, 3, axis=2) if v.shape[2] == 1 else v for v in (x, y))
    if crop_border < 0:
        raise InvalidParameter(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        a_shape = x.shape
        x = x[crop_border:-crop_border, crop_border:-crop_border]
        y = y[crop_border:-crop_border, crop_border:-crop_border]
        if x.size == 0:
            raise InvalidParameter(f"crop_border {crop_border} leaves nothing of {a_shape[1]}×{a_shape[0]} images")
    if y_channel and x.shape[2] == 3:
        x, y = (16.0 + (v / 255.0) @ _Y_WEIGHTS for v in (x, y))
        x, y = x[:, :, None], y[:, :, None]
    return x, y


def psnr(a: ImageLike, b: ImageLike, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB (peak 255); ``float('inf')`` for identical images."""
    x, y = _prepare(a, b, crop_border, y_channel)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def _ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    """BasicSR's ``_ssim``: Gaussian-weighted SSIM map over the valid region, averaged."""
    def blur(v: np.ndarray) -> np.ndarray:
        return cv2.filter2D(v, -1, _SSIM_WINDOW)[5:-5, 5:-5]

    mu_x, mu_y = blur(x), blur(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = blur(x * x) - mu_xx
    var_y = blur(y * y) - mu_yy
    cov = blur(x * y) - mu_xy
    ssim_map = ((2 * mu_xy + _SSIM_C1) * (2 * cov + _SSIM_C2)) / ((mu_xx + mu_yy + _SSIM_C1) * (var_x + var_y + _SSIM_C2))
    return float(ssim_map.mean())


def ssim(a: ImageLike, b: ImageLike, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity (1.0 for identical images), averaged over channels."""
    x, y = _prepare(a, b, crop_border, y_channel)
    if min(x.shape[:2]) < 11:
        raise InvalidParameter(f"SSIM needs at least 11×11 pixels after cropping, got {x.shape[1]}×{x.shape[0]}")
    if np.array_equal(x, y):
        return 1.0
    return float(np.mean([_ssim_plane(np.ascontiguousarray(x[:, :, c]), np.ascontiguousarray(y[:, :, c]))
                          for c in range(x.shape[2])]))


@dataclass(frozen=True)
class Comparison:
    """PSNR and SSIM of B against reference A, and how B was brought to A's size if it had to be."""

    psnr: float  # dB; inf for identical images
    ssim: float  # NaN (JSON null) when the compared area is under 11 px on a side
    y_channel: bool
    crop_border: int
    size: tuple[int, int]  # width, height compared (before cropping)
    resized_from: tuple[int, int] | None  # B's own width, height when it was resized to A

    def to_dict(self) -> dict[str, object]:
        return {"psnr": self.psnr if math.isfinite(self.psnr) else "inf",
                "ssim": None if math.isnan(self.ssim) else self.ssim,
                "y_channel": self.y_channel, "crop_border": self.crop_border, "size": list(self.size),
                "resized_from": list(self.resized_from) if self.resized_from else None}


def integer_scale(a: tuple[int, int], b: tuple[int, int]) -> int | None:
    """k when one (width, height) is exactly k times the other (k ≥ 2), else None."""
    (aw, ah), (bw, bh) = a, b
    for big, small in (((aw, ah), (bw, bh)), ((bw, bh), (aw, ah))):
        k = big[0] // small[0] if small[0] else 0
        if k >= 2 and big == (small[0] * k, small[1] * k):
            return k
    return None


def match_size(reference: Photo, other: Photo) -> Photo:
    """``other`` at the reference's size, allowed only for an exact integer scale (INTER_AREA)."""
    a, b = (reference.width, reference.height), (other.width, other.height)
    if a == b:
        return other
    if integer_scale(a, b) is None:
        raise InvalidParameter(f"sizes differ: A is {a[0]}×{a[1]} but B is {b[0]}×{b[1]}, "
                               "and neither is an integer multiple of the other; resize one to match first")
    pixels = cv2.resize(other.pixels, a, interpolation=cv2.INTER_AREA)
    pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
    return other.evolve(pixels=np.ascontiguousarray(np.clip(pixels, 0.0, 1.0), dtype=np.float32), alpha=None)


def compare(reference: Photo, other: Photo, *, crop_border: int = 0, y_channel: bool = False) -> Comparison:
    """PSNR/SSIM of ``other`` against ``reference``; an integer-multiple size is resized first.

    SSIM is NaN where the cropped images are under 11 px on a side (its window does not fit); PSNR still counts.
    """
    matched = match_size(reference, other)
    resized = None if matched is other else (other.width, other.height)
    p = psnr(reference, matched, crop_border=crop_border, y_channel=y_channel)
    fits = min(reference.width, reference.height) - 2 * crop_border >= 11
    return Comparison(
        p, ssim(reference, matched, crop_border=crop_border, y_channel=y_channel) if fits else math.nan,
        y_channel, crop_border, (reference.width, reference.height), resized,
    )


_STRIP_MAX_HEIGHT = 2160  # a strip grows to the taller image up to this, so an upscale's detail shows


def side_by_side(a: Photo, b: Photo, labels: tuple[str, str] = ("A", "B"), *, gap: int = 8) -> Photo:
    """A comparison strip: ``a`` and ``b`` next to each other at the taller one's height, labelled.

    The shorter image is enlarged (Lanczos), never the taller one shrunk, so a before/after of an
    upscale shows the detail the upscale added (up to a height of 2160, unless an input is taller).
    """
    h = max(min(max(a.height, b.height), _STRIP_MAX_HEIGHT), min(a.height, b.height))
    panels = []
    for p in (a, b):
        w = max(1, round(p.width * h / p.height))
        panels.append(p.rgb() if (w, h) == (p.width, p.height) else resize(p.rgb(), w, h))
    strip = np.full((h, panels[0].shape[1] + gap + panels[1].shape[1], 3), 0.12, dtype=np.float32)  # dark gap
    x1 = panels[0].shape[1] + gap
    strip[:, : panels[0].shape[1]] = panels[0]
    strip[:, x1:] = panels[1]
    for label, x0, width in ((labels[0], 0, panels[0].shape[1]), (labels[1], x1, panels[1].shape[1])):
        _draw_label(strip, label, x0, width)
    return Photo(strip, meta=ImageMeta(bit_depth=8))


def _draw_label(strip: np.ndarray, text: str, x0: int, width: int) -> None:
    """Text in the top-left corner of a panel, white with a dark outline, scaled to the panel."""
    if not text:
        return
    scale = float(np.clip(strip.shape[0] / 600.0, 0.4, 3.0))
    thick = max(1, round(scale * 1.5))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    if tw > width - 8:  # keep it inside its own panel
        scale *= (width - 8) / max(tw, 1)
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    org = (x0 + max(4, round(8 * scale)), max(th + 4, round(8 * scale) + th))
    # putText wants 8-bit images: draw an anti-aliased mask, dilate it for a dark outline, blend both
    mask = np.zeros(strip.shape[:2], dtype=np.uint8)
    cv2.putText(mask, text, org, font, scale, 255, thick, cv2.LINE_AA)
    radius = max(1, round(scale * 1.5))
    halo = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    for m, value in ((halo, 0.0), (mask, 1.0)):
        alpha = (m.astype(np.float32) / 255.0)[:, :, None]
        strip[...] = strip * (1.0 - alpha) + value * alpha

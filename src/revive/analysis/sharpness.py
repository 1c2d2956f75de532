"""Blur and resolution.

Blur is the width of the photo's sharpest edges, as a Gaussian σ in pixels, by re-blurring
(Zhuo & Sim, "Defocus map estimation from a single image", 2011): at an edge blurred by σ, the
gradient drops by R = √(σ² + σ₀²)/σ when blurred again by σ₀, so σ = σ₀/√(R² − 1). It is taken
at the stronger half of Canny edges (thresholds from the photo's own gradients) and its median
reported. It is in pixels, so it says how sharp the photo is at its own scale; ``detail_scale``
turns it into the share of the pixel resolution that carries detail. Calibrated on skimage
photos: sharp 0.5–0.8 px; Gaussian blur σ 1 → 0.9–1.3, σ 2 → 1.8–2.3, σ 3 → 2.8–3.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ._base import Measurement
from ._common import as_8bit_units, center_crop, luma

ATTENTION_BLUR_PX = 1.5  # σ in pixels: soft at 100 % view; sharp photos measure 0.5–0.9
ATTENTION_MEGAPIXELS = 1.0  # below this a photo is small for today's screens and prints
SHARP_EDGE_PX = 0.8  # the edge width of a sharp photo, for ``detail_scale``
_REBLUR = 1.0
_MAX_PIXELS = 4_000_000
_MIN_EDGE_PIXELS = 50


@dataclass(frozen=True)
class SharpnessReport(Measurement):
    """Edge blur as a Gaussian σ in pixels (None when the photo has no edges to measure)."""

    blur_px: float | None
    detail_scale: float  # min(1, 0.8 px / blur): linear share of the resolution that carries detail
    edge_pixels: int  # how many edge pixels were measured

    label = "blur"
    rule = f"blur_px > {ATTENTION_BLUR_PX:g} (edge blur σ in pixels)"

    @property
    def attention(self) -> bool:
        return self.blur_px is not None and self.blur_px > ATTENTION_BLUR_PX

    def summary(self) -> str:
        if self.blur_px is None:
            return "blur: no edges to measure"
        return f"edge blur σ≈{self.blur_px:.1f} px"

    def advice(self) -> str:
        return "soft at 100 %, sharpen or deblur" if self.blur_px and self.blur_px < 3 else "blurry"


@dataclass(frozen=True)
class ResolutionReport(Measurement):
    width: int
    height: int
    megapixels: float

    label = "resolution"
    defect = False
    rule = f"megapixels < {ATTENTION_MEGAPIXELS:g}"

    @property
    def attention(self) -> bool:
        return self.megapixels < ATTENTION_MEGAPIXELS

    def summary(self) -> str:
        if self.megapixels < 0.01:  # "0.00 MP" says nothing
            return f"{self.width}×{self.height} ({self.width * self.height} pixels)"
        return f"{self.width}×{self.height} ({self.megapixels:.2f} MP)"

    def advice(self) -> str:
        return "small for screens and prints, upscaling helps"


def measure_resolution(pixels: np.ndarray) -> ResolutionReport:
    h, w = pixels.shape[:2]
    return ResolutionReport(int(w), int(h), round(w * h / 1e6, 3))


def _gradient(y: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(y, cv2.CV_64F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(y, cv2.CV_64F, 0, 1, ksize=3) / 8.0
    return np.hypot(gx, gy)


@dataclass(frozen=True)
class EdgeWidths:
    """The blur σ (pixels) at each strong edge pixel, where it sits, and the measured area's size."""

    sigmas: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]
    edge_pixels: int  # all Canny edge pixels (strong ones are those in ``sigmas``)


def edge_widths(pixels: np.ndarray) -> EdgeWidths | None:
    """Re-blur σ at the stronger half of the Canny edges (None when the photo is too small to tell)."""
    y = luma(as_8bit_units(center_crop(pixels, _MAX_PIXELS)))
    if min(y.shape) < 16:
        return None
    g1 = _gradient(y)
    g2 = _gradient(cv2.GaussianBlur(y, (0, 0), _REBLUR))
    # Canny on Sobel ×8 units; thresholds adapt to the photo's own contrast
    high = max(40.0, float(np.percentile(g1, 90)) * 8.0)
    edges = cv2.Canny(np.clip(np.round(y), 0, 255).astype(np.uint8), high / 2, high, L2gradient=True) > 0
    edges[:4, :] = edges[-4:, :] = False
    edges[:, :4] = edges[:, -4:] = False
    count = int(np.count_nonzero(edges))
    if count < _MIN_EDGE_PIXELS:
        return EdgeWidths(np.zeros(0), np.zeros(0, int), np.zeros(0, int), (y.shape[0], y.shape[1]), count)
    strong = edges & (g1 >= np.median(g1[edges]))
    rows, cols = np.nonzero(strong)
    ratio = g1[rows, cols] / np.maximum(g2[rows, cols], 1e-9)
    sigmas = np.minimum(_REBLUR / np.sqrt(np.maximum(ratio**2 - 1.0, 1e-12)), 50.0)
    return EdgeWidths(sigmas, rows, cols, (y.shape[0], y.shape[1]), count)


def measure_sharpness(pixels: np.ndarray, widths: EdgeWidths | None = None) -> SharpnessReport:
    """The median edge blur (``widths``: :func:`edge_widths` of these pixels, when already measured)."""
    widths = widths if widths is not None else edge_widths(pixels)
    if widths is None:
        return SharpnessReport(None, 1.0, 0)
    if widths.sigmas.size == 0:
        return SharpnessReport(None, 1.0, widths.edge_pixels)
    blur = float(min(float(np.median(widths.sigmas)), 50.0))
    return SharpnessReport(round(blur, 3), round(min(1.0, SHARP_EDGE_PX / blur), 3), int(widths.sigmas.size))

"""Regions: how much of the photo is sky, skin, foliage, water and subject, and how the sky looks.

The embedded masks (:mod:`.masks`) on a 256-px copy; the shares are what ``diagnose`` reports and
the sky's lightness, chroma and clipping are what the local grading rules read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ._base import Measurement
from .face_detect import Face
from .masks import CLASSES, estimate_masks

MEASURE_SIDE = 256
MIN_SKY_SHARE = 0.08  # a sky smaller than this is a detail, not something to grade
BLOWN_SKY_CLIPPED = 0.25  # this much of the sky at the top of the range: blown
DULL_SKY_CHROMA = 6.0  # a clear sky reads 15–30 (Lab chroma); haze and overcast 2–8
MONOCHROME_CHROMA = 4.0  # the 99th percentile of chroma of a black-and-white photo (or a toned one) is below this
DULL_SKY_LIGHTNESS = (55.0, 85.0)  # a dull sky is a mid-gray one; white haze is bright, dusk is dark


@dataclass(frozen=True)
class RegionsReport(Measurement):
    """Shares of the frame (0–1) by class, and the sky's look where there is sky."""

    shares: tuple[tuple[str, float], ...]
    sky_lightness: float | None = None  # mean CIE L* of the sky
    sky_chroma: float | None = None  # mean Lab chroma of the sky
    sky_clipped: float = 0.0  # share of the sky with a channel at the top of the range
    skin_hue: float | None = None  # mean Lab hue angle of the skin (degrees; healthy skin reads 40–70)
    foliage_chroma: float | None = None  # mean Lab chroma of the foliage

    label = "regions"
    defect = False
    rule = (f"sky over {MIN_SKY_SHARE:.0%} of the frame that is blown (> {BLOWN_SKY_CLIPPED:.0%} clipped) "
            f"or dull (chroma < {DULL_SKY_CHROMA:g} at L* {DULL_SKY_LIGHTNESS[0]:g}–{DULL_SKY_LIGHTNESS[1]:g})")

    def share(self, name: str) -> float:
        return dict(self.shares).get(name, 0.0)

    @property
    def sky_problem(self) -> str | None:
        """"blown", "dull" or None."""
        if self.share("sky") < MIN_SKY_SHARE or self.sky_lightness is None or self.sky_chroma is None:
            return None
        if self.sky_clipped > BLOWN_SKY_CLIPPED:
            return "blown"
        low, high = DULL_SKY_LIGHTNESS
        if self.sky_chroma < DULL_SKY_CHROMA and low <= self.sky_lightness <= high:
            return "dull"
        return None

    @property
    def attention(self) -> bool:
        return self.sky_problem is not None

    def summary(self) -> str:
        parts = [f"{name} {share:.0%}" for name, share in self.shares if share >= 0.01]
        return ", ".join(parts) if parts else "no sky, skin, foliage or water"

    def advice(self) -> str:
        return f"the sky is {self.sky_problem}; local grading helps"

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "shares": dict(self.shares)}


def measure_regions(pixels: np.ndarray, faces: tuple[Face, ...] = ()) -> RegionsReport:
    small = estimate_masks(pixels, faces, CLASSES, work_side=MEASURE_SIDE, full_size=False)
    shares = tuple(small.shares().items())
    from ..colorimetry import downscale

    rgb = downscale(np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels, MEASURE_SIDE)
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)
    chroma_map = np.hypot(lab[:, :, 1], lab[:, :, 2])

    def mean(values: np.ndarray, name: str) -> float | None:
        weight = small[name]
        total = float(weight.sum())
        return None if total < 0.005 * weight.size else round(float((values * weight).sum()) / total, 3)

    skin_a, skin_b = mean(lab[:, :, 1], "skin"), mean(lab[:, :, 2], "skin")
    skin_hue = None if skin_a is None or skin_b is None else round(float(np.degrees(np.arctan2(skin_b, skin_a))) % 360, 1)
    if float(np.percentile(chroma_map, 99)) < MONOCHROME_CHROMA:  # black and white: a sky has no colour to fix
        return RegionsReport(shares)
    clipped = mean((rgb.max(axis=2) >= 0.98).astype(np.float32), "sky")
    return RegionsReport(shares, mean(lab[:, :, 0], "sky"), mean(chroma_map, "sky"),
                         0.0 if clipped is None else clipped, skin_hue, mean(chroma_map, "foliage"))

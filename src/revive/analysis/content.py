"""Photo or illustration (drawing, anime, graphics, screenshots of such).

Three cues, each scaled to 0..1 and averaged into ``illustration_score``:

* flat share — pixels whose luma gradient is below 0.75 (8-bit): flat fills of a drawing;
  photos have noise and shading everywhere (skimage photos 0.03–0.56, flat drawings 0.73–0.9);
* gentle-gradient share — among non-flat pixels, those with gradients of 1.5–12 (shading,
  texture) rather than sharper ones: photos 0.64–0.99 (also 256-px crops of sky), drawings
  0.2–0.53 (JPEG ringing and upscaling add some);
* palette share — pixels covered by the 32 commonest colours at 5 bits per channel (colour only).

An illustration needs flat areas *and* few gentle gradients; a blurred or dark photo has the
first but not the second. Measured on a downscaled copy (long side ≤ 1024) so the cues do not
depend on resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from ..colorimetry import downscale
from ._base import Measurement
from ._common import as_8bit_units, luma

ILLUSTRATION_SCORE = 0.5
_MAX_SIDE = 1024
_MIN_CUE = 0.25  # flat fills and few gentle gradients must both be there


@dataclass(frozen=True)
class ContentReport(Measurement):
    kind: Literal["photo", "illustration"]
    illustration_score: float  # 0 (photo-like) .. 1 (flat fills and hard edges)
    flat_share: float
    gentle_gradient_share: float
    palette_share: float | None  # None for gray images

    label = "content"
    defect = False
    rule = f"illustration_score >= {ILLUSTRATION_SCORE:g} (flags illustrations: they need other models)"

    @property
    def attention(self) -> bool:
        return self.kind == "illustration"

    def summary(self) -> str:
        return f"content: {self.kind} (illustration score {self.illustration_score:.2f})"

    def advice(self) -> str:
        return "use models made for drawings/anime, not photo models"


def _ramp(value: float, start: float, end: float) -> float:
    return float(np.clip((value - start) / (end - start), 0.0, 1.0))


def measure_content(pixels: np.ndarray) -> ContentReport:
    x = downscale(pixels, _MAX_SIDE)
    y = luma(as_8bit_units(x)).astype(np.float32)
    g = np.hypot(cv2.Sobel(y, cv2.CV_32F, 1, 0), cv2.Sobel(y, cv2.CV_32F, 0, 1)) / 8.0
    flat = float(np.mean(g < 0.75))
    gentle = np.count_nonzero((g >= 1.5) & (g < 12.0))
    sharp = np.count_nonzero(g >= 12.0)
    gentle_share = gentle / (gentle + sharp) if gentle + sharp else 1.0
    cues = [_ramp(flat, 0.45, 0.75), _ramp(gentle_share, 0.65, 0.35)]
    palette: float | None = None
    if x.shape[2] == 3 and np.ptp(x, axis=2).max() > 1e-6:  # gray stored as RGB has no palette
        q = np.clip(np.round(x * 255.0), 0, 255).astype(np.int32) >> 3
        counts = np.bincount(((q[:, :, 0] << 10) | (q[:, :, 1] << 5) | q[:, :, 2]).ravel(), minlength=1 << 15)
        palette = float(np.sort(counts)[-32:].sum() / counts.sum())
        cues.append(_ramp(palette, 0.5, 0.9))
    score = float(np.mean(cues))
    is_drawing = score >= ILLUSTRATION_SCORE and min(cues[0], cues[1]) >= _MIN_CUE
    return ContentReport("illustration" if is_drawing else "photo", round(score, 3), round(flat, 3),
                         round(float(gentle_share), 3), None if palette is None else round(palette, 3))

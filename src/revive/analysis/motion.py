"""Motion blur: the length and direction of a camera shake, from the photo's cepstrum.

A straight motion of L pixels multiplies the photo's spectrum by a sinc whose zeros repeat every
1/L cycles per pixel along the motion; the log-spectrum then carries a periodic dip, and its inverse
transform (the cepstrum) a strong negative peak at distance L in that direction (Rom, 1975; Cannon,
1976). The peak's height against the spread of the cepstrum around it says how sure the estimate is:
sharp photos and Gaussian softness (whose spectrum has no zeros) stay far below the threshold
(z ≤ 15 on skimage photos), motion of 7–21 px reads z 28–140.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ._base import Measurement
from ._common import center_crop, luma

ATTENTION_Z = 20.0  # the cepstral peak's height in robust standard deviations
MIN_LENGTH_PX = 5.0  # shorter shakes are not told apart from softness, and barely show
MAX_LENGTH_PX = 60.0
MAX_ISOTROPY = 0.2  # shakes dip on the circle ≤ 0.04 of their peak; defocus discs 0.35–0.65 (a ring, not a pair)
_SIDE = 1024


@dataclass(frozen=True)
class MotionBlurReport(Measurement):
    """The estimated straight motion blur: length in pixels, direction in degrees (0 = horizontal)."""

    length_px: float
    angle_deg: float
    confidence: float  # z-score of the cepstral peak
    isotropy: float = 0.0  # how deep the whole circle through the peak dips, as a share of the peak (disc: ~1)

    label = "motion blur"
    rule = (f"cepstral peak z > {ATTENTION_Z:g} at {MIN_LENGTH_PX:g}–{MAX_LENGTH_PX:g} px, "
            f"not a ring (isotropy < {MAX_ISOTROPY:g})")

    @property
    def attention(self) -> bool:
        return (self.confidence > ATTENTION_Z and MIN_LENGTH_PX <= self.length_px <= MAX_LENGTH_PX
                and self.isotropy < MAX_ISOTROPY)

    def summary(self) -> str:
        if not self.attention:
            return "no motion blur"
        return f"motion blur {self.length_px:.0f} px at {self.angle_deg:.0f}°"

    def advice(self) -> str:
        return "camera shake; deblur removes it"


def windowed_square(pixels: np.ndarray, side: int = _SIDE) -> np.ndarray | None:
    """The photo's central luma square (even side, at most ``side``), mean removed and Hann-windowed;
    None below 64 px. The spectrum both blur measurements read."""
    y = luma(center_crop(pixels, side * side).astype(np.float64))
    n = min(y.shape[0], y.shape[1], side)
    n -= n % 2
    if n < 64:
        return None
    top, left = (y.shape[0] - n) // 2, (y.shape[1] - n) // 2
    y = y[top : top + n, left : left + n]
    return (y - y.mean()) * np.outer(np.hanning(n), np.hanning(n))


def measure_motion(pixels: np.ndarray) -> MotionBlurReport:
    """The motion blur of float RGB/gray pixels in [0, 1] (a central crop of at most 1024×1024)."""
    y = windowed_square(pixels)
    if y is None:
        return MotionBlurReport(0.0, 0.0, 0.0)
    n = y.shape[0]
    spectrum = np.abs(np.fft.fft2(y))
    cep = np.fft.fftshift(np.real(np.fft.ifft2(np.log(spectrum + 1e-6 * spectrum.max() + 1e-12))))
    c = n // 2
    yy, xx = np.mgrid[0:n, 0:n]
    r = np.hypot(yy - c, xx - c)
    zone = (r >= MIN_LENGTH_PX) & (r <= min(MAX_LENGTH_PX, c - 2))
    values = cep[zone]
    median = float(np.median(values))
    spread = float(np.median(np.abs(values - median))) * 1.4826 or 1e-12
    py, px = np.unravel_index(int(np.argmin(np.where(zone, cep, np.inf))), cep.shape)
    z = (median - float(cep[py, px])) / spread
    # the peak's centre to a fraction of a pixel: weights are how far each neighbour dips
    patch = np.clip(median - cep[py - 1 : py + 2, px - 1 : px + 2], 0.0, None)
    oy, ox = np.mgrid[-1:2, -1:2]
    fy = py + float((patch * oy).sum() / patch.sum())
    fx = px + float((patch * ox).sum() / patch.sum())
    length = float(np.hypot(fx - c, fy - c))
    angle = float(np.degrees(np.arctan2(fy - c, fx - c)) % 180.0)
    # a shake dips at two opposite points; a lens's disc dips on the whole circle through them
    ring = float(np.mean(cep[np.abs(r - length) < 0.75]))
    isotropy = (median - ring) / max(median - float(cep[py, px]), 1e-12)
    return MotionBlurReport(round(length, 2), round(angle, 1), round(z, 1), round(isotropy, 3))


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A normalised straight-line blur kernel (odd square), anti-aliased by drawing it 4× larger."""
    side = int(np.ceil(length)) + 3
    side += 1 - side % 2
    big = np.zeros((side * 4, side * 4), np.float32)
    c = (side * 4 - 1) / 2
    half = max(0.0, (length - 1) / 2) * 4
    dx, dy = np.cos(np.radians(angle_deg)) * half, np.sin(np.radians(angle_deg)) * half
    p0 = (round((c - dx) * 16), round((c - dy) * 16))
    p1 = (round((c + dx) * 16), round((c + dy) * 16))
    cv2.line(big, p0, p1, 1.0, 4, cv2.LINE_AA, 4)
    k = cv2.resize(big, (side, side), interpolation=cv2.INTER_AREA)
    return (k / k.sum()).astype(np.float32)


def disc_kernel(radius: float) -> np.ndarray:
    """A normalised uniform disc (a defocused lens's blur), anti-aliased by drawing it 8× larger."""
    r = max(1, int(np.ceil(radius)))
    side = 2 * r + 1
    big = np.zeros((side * 8, side * 8), np.float32)
    centre = round((8 * r + 3.5) * 16)  # the middle of the centre pixel's 8×8 block, in 1/16 px (shift=4)
    cv2.circle(big, (centre, centre), round(radius * 8 * 16), 1.0, -1, cv2.LINE_AA, 4)
    k = cv2.resize(big, (side, side), interpolation=cv2.INTER_AREA)
    return (k / k.sum()).astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised isotropic Gaussian kernel (odd square, ±3σ)."""
    r = max(1, int(np.ceil(3 * sigma)))
    g = cv2.getGaussianKernel(2 * r + 1, sigma)
    return (g @ g.T).astype(np.float32)

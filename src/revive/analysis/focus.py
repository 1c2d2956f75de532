"""Focus blur: a photo soft all over, as a missed focus or a soft lens leaves it — its kernel and size.

Two measurements must agree. The *spectrum* says what blurred the photo: a natural scene's radially
averaged power falls as a power law A·f^−α, and a blur multiplies it by |H(f)|², so the photo's
spectrum is fitted, over a grid of α, by A·f^−α·|H(f)|² + N (N: the noise floor) for a Gaussian H
of each σ and a uniform disc (a defocused lens) of each radius. The disc's spectral zeros (2J₁(x)/x)
set its rings apart from a Gaussian's smooth fall; the better family names the kernel. On skimage
photos the fit recovers Gaussian σ 1.5/2/3 within ±0.2 px and disc radii 3/4/6 exactly (a dark,
sky-filled dusk photo reads 20 % low). The confidence is how much better the best fit is than any
sharp one, times how well it fits at all. A third family, a cliff (a steep low-pass at each cut-off
frequency), stands for resampling: a photo enlarged by resampling is soft too, but unless a lens
kernel fits at least four times closer than a cliff it reads as enlarged (by about 0.5 / cut-off),
not out of focus — deconvolving it as a Gaussian loses 2.5–4 dB (skimage photos enlarged ×3).

The *edges* say whether the whole photo is soft: the re-blur edge width (:mod:`.sharpness`) is
taken in a 6×6 grid of tiles, and the photo is blurred only when its sharpest quarter of tiles is
soft too, over a good share of the frame. A photo with a shallow depth of field has a sharp subject
and is not blurred; JPEG blocking and noise add sharp edges and read sharp; a scene soft by nature
(a cell under a phase microscope: soft edges in a third of the frame) lacks the coverage; a small
photo is sharp at its own scale.

Sizes are in pixels of the photo as it is: the same photo at 50 % reads half the σ (within ±0.3 px,
after the area filter's own ~0.5 px in quadrature), so a blur flagged at 100 % stays flagged at 50 %
from σ 3 (disc radius 6) up, and a sharp photo is sharp at both sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._base import Measurement
from .motion import windowed_square
from .sharpness import EdgeWidths, edge_widths

ATTENTION_SIGMA_PX = 1.2  # Gaussian σ (a disc: radius / 2) of the spectrum and of the sharpest tiles
MIN_COVERAGE = 0.4  # share of the 6×6 tiles that hold edges (a phase-contrast cell: 0.33)
MIN_CONFIDENCE = 0.5
FIT_LIMIT = 1.2  # mean squared log error at which a blur kernel explains nothing (blurs fit 0.01–0.44)
DISC_MARGIN = 1.5  # the disc's fit must be this many times closer than the Gaussian's to be chosen
CLIFF_MARGIN = 4.0  # a lens kernel must fit this many times closer than a cliff (lens blurs: 6–108; enlargements: 0.3–3.4)
_GRID = 6
_TILE_EDGES = 8  # strong edge pixels a tile needs to be measured
_SHARP_SIGMA = 0.6  # the softest a sharp photo's spectrum fits
_SIGMAS = np.round(np.arange(0.3, 5.01, 0.1), 2)
_RADII = np.arange(0.75, 10.01, 0.25)
_ALPHAS = np.arange(1.0, 3.51, 0.25)
_CUTOFFS = np.arange(0.05, 0.451, 0.01)  # cycles per pixel
_BINS = 64


@dataclass(frozen=True)
class FocusBlurReport(Measurement):
    """Blur over the whole photo: its kernel ("gaussian" or "disc"), Gaussian-equivalent σ, the disc's
    radius, the edge width of the sharpest tiles, the share of the frame with edges, a confidence 0..1."""

    sigma_px: float | None  # the fitted Gaussian σ, or a fitted disc's radius / 2; None: not measurable
    kernel: str  # "gaussian" or "disc"
    radius_px: float  # the disc's radius (0 for a Gaussian)
    sharpest_px: float | None  # edge width (σ) of the sharpest quarter of the tiles
    coverage: float
    confidence: float
    enlarged_by: float = 0.0  # the spectrum ends in a cliff like a photo enlarged ~this much (0: it does not)

    label = "focus blur"
    rule = (f"fitted σ and sharpest tiles' edge σ > {ATTENTION_SIGMA_PX:g} px, edges in ≥ {MIN_COVERAGE:.0%} "
            f"of the frame, confidence ≥ {MIN_CONFIDENCE:g}, not enlarged (a cliff fits ≥ {CLIFF_MARGIN:g}× worse)")

    @property
    def attention(self) -> bool:
        return (self.sigma_px is not None and self.sharpest_px is not None and self.sigma_px > ATTENTION_SIGMA_PX
                and self.sharpest_px > ATTENTION_SIGMA_PX and self.coverage >= MIN_COVERAGE
                and self.confidence >= MIN_CONFIDENCE and not self.enlarged_by)

    @property
    def kernel_text(self) -> str:
        return f"disc radius {self.radius_px:.2g} px" if self.kernel == "disc" else f"Gaussian σ {self.sigma_px:.2g} px"

    def summary(self) -> str:
        if self.sigma_px is None:
            return "focus: not measurable (under 64 px, or no edges)"
        edges = "no edges" if self.sharpest_px is None else f"sharpest edges σ {self.sharpest_px:.1f} px"
        detail = f"{self.kernel_text}, {edges}, blur confidence {self.confidence:.2f}"
        if self.attention:
            return f"focus blur: {detail}"
        if self.enlarged_by and self.sigma_px > ATTENTION_SIGMA_PX:
            return f"soft like a photo enlarged ~×{self.enlarged_by:.1f} (its spectrum ends in a cliff), not out of focus"
        return f"in focus ({detail})"

    def advice(self) -> str:
        return "soft all over (missed focus or a soft lens); deblur sharpens it"


def measure_focus(pixels: np.ndarray, widths: EdgeWidths | None = None) -> FocusBlurReport:
    """The focus blur of float RGB/gray pixels in [0, 1] (``widths``: their :func:`edge_widths`, when
    already measured)."""
    sharpest, coverage = _sharpest_tiles(widths if widths is not None else edge_widths(pixels))
    square = windowed_square(pixels)
    if square is None or sharpest is None:
        return FocusBlurReport(None, "gaussian", 0.0, sharpest, coverage, 0.0)
    freq, power = _radial_power(square)
    gauss, disc, cliff, sharp = _fit(freq, power)
    is_disc = disc[0] * DISC_MARGIN < gauss[0]
    sigma = disc[1] / 2 if is_disc else gauss[1]
    best = min(gauss[0], disc[0])
    enlarged = 0.0 if cliff[0] > CLIFF_MARGIN * best else round(0.5 / cliff[1], 1)
    # sure when a blur explains the spectrum far better than sharpness does, and explains it well: an
    # enlarged photo's spectrum ends in a cliff with aliased copies no lens kernel fits (0.7–4 ×3.1)
    confidence = float(np.clip(1.0 - best / max(sharp, 1e-12), 0.0, 1.0) * np.clip(1.0 - best / FIT_LIMIT, 0.0, 1.0))
    return FocusBlurReport(round(float(sigma), 2), "disc" if is_disc else "gaussian",
                           round(float(disc[1]), 2) if is_disc else 0.0, sharpest, coverage, round(confidence, 3),
                           enlarged)


def _sharpest_tiles(widths: EdgeWidths | None) -> tuple[float | None, float]:
    """The edge σ of the sharpest quarter of the measured tiles, and the share of tiles measured."""
    if widths is None or widths.sigmas.size == 0:
        return None, 0.0
    h, w = widths.shape
    tile = (widths.rows * _GRID // h) * _GRID + widths.cols * _GRID // w
    medians = [float(np.median(widths.sigmas[tile == t])) for t in range(_GRID * _GRID)
               if np.count_nonzero(tile == t) >= _TILE_EDGES]
    if not medians:
        return None, 0.0
    return round(float(np.percentile(medians, 25)), 3), round(len(medians) / _GRID**2, 3)


def _radial_power(square: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean power in rings of frequency (cycles per pixel), the two lowest rings left out. The power of
    8-bit rounding is added, so a photo kept in floats (no noise floor at all) reads as its 8-bit copy."""
    n = square.shape[0]
    rounding = float(np.sum(np.hanning(n) ** 2)) ** 2 / (12 * 255.0**2)
    power = np.abs(np.fft.rfft2(square)) ** 2 + rounding
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    bins = min(_BINS, n // 4)
    index = np.minimum((np.hypot(fy, fx) * 2 * bins).astype(int), bins).ravel()
    counts = np.bincount(index, minlength=bins + 1)[:bins]
    sums = np.bincount(index, power.ravel(), minlength=bins + 1)[:bins]
    freq = (np.arange(bins) + 0.5) / (2 * bins)
    keep = (np.arange(bins) >= 2) & (counts > 0)
    return freq[keep], sums[keep] / counts[keep]


def _disc_otf(radius: float, freq: np.ndarray) -> np.ndarray:
    """2·J₁(x)/x at x = 2π·radius·f, J₁ by its integral (no scipy in the core install)."""
    x = 2 * np.pi * radius * freq
    tau = (np.arange(64) + 0.5) * np.pi / 64
    j1 = np.mean(np.cos(tau[None, :] - x[:, None] * np.sin(tau[None, :])), axis=1)
    return np.where(x < 1e-6, 1.0, 2 * j1 / np.maximum(x, 1e-9))


Fit = tuple[float, float]  # (residual, the kernel's size)


def _fit(freq: np.ndarray, power: np.ndarray) -> tuple[Fit, Fit, Fit, float]:
    """Best (residual, size) of the Gaussians (σ), of the discs (radius) and of the cliffs (cut-off
    frequency: what resampling leaves), and the best residual of a sharp Gaussian (σ ≤ 0.6). Residual:
    mean squared log error of A·f^−α·|H|² + N, A and N by least squares."""
    laws = freq[None, :] ** -_ALPHAS[:, None]
    log_power = np.log(power)

    def residual(otf: np.ndarray) -> float:
        best = np.inf
        for law in laws * (otf**2)[None, :]:  # relative error: A·g/P + N/P ≈ 1
            design = np.stack([law / power, 1.0 / power], axis=1)
            (a, noise), *_ = np.linalg.lstsq(design, np.ones_like(power), rcond=None)
            if a <= 0:
                continue
            model = a * law + max(noise, 1e-12 * float(power.max()))
            best = min(best, float(np.mean((np.log(model) - log_power) ** 2)))
        return best

    gauss = [(residual(np.exp(-2 * np.pi**2 * s**2 * freq**2)), float(s)) for s in _SIGMAS]
    discs = [(residual(_disc_otf(r, freq)), float(r)) for r in _RADII]
    cliffs = [(residual(1.0 / (1.0 + (freq / c) ** 16)), float(c)) for c in _CUTOFFS]
    sharp = min(r for r, s in gauss if s <= _SHARP_SIGMA)
    return min(gauss), min(discs), min(cliffs), sharp

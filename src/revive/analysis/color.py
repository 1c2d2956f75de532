"""Colour cast and exposure.

Cast: the gray-edge hypothesis (van de Weijer et al., 2007) — the average reflectance
*difference* in a scene is achromatic — with Minkowski p = 6 on linear-light gradients after a
σ = 1 blur, skipping clipped pixels. The estimated illuminant is reported as the Lab a*, b* of a
mid gray lit by it, so its length ("strength") is in ΔE-like units and its angle names the cast.
It is read on a copy 256 px long (``colorimetry.gray_edge_illuminant``), so the same photo at 50 %
and 100 % reads the same (within 1 unit on skimage photos). Neutral skimage photos read below 5;
chelsea (a tabby cat under warm indoor light) reads 13.9–14.3 as PNG or JPEG at any quality, so the
flag starts at 15; white-balance gains that shift a gray by 20 read 16–23 on skimage photos.

Exposure: CIE L* statistics. "under" when even the brightest 1 % stays below L* 60 and the
brightest 0.1 % below L* 75 (no highlights at all: two stops under, a white reads 57; a night sky's
stars, a lamp in a dark room or the moon's bright craters are real highlights, and those scenes
are dark on purpose; so is a black scene (median below L* 6) whose few lights stand far above the
rest (90th percentile under a third of the 99th), a star field whose stars are soft),
"over" when more than 5 % of pixels are clipped white in every channel or
the darkest 1 % is lighter than L* 40 (no shadows at all), "faded" when there are neither real
blacks (darkest 1 % above L* 20) nor real whites (brightest 1 % below L* 90): a faded print, a
hazy or flat scan. skimage photos span L* 0–10 to 70–97; the lightest shadows among them are
immunohistochemistry's 29, which has whites (94); a print faded to 25 % + 55 % of the range reads
28–78. Fading takes colour with it: a photo whose most colourful 5 % reach chroma 50 (a retina,
24–75 but chroma 71; faded prints of skimage photos reach 22–42) is a saturated subject, not a
faded print. A gray photo has no such second clue; ``colourless`` says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..colorimetry import downscale, gray_edge_illuminant, linear_to_srgb
from ._base import Measurement
from ._common import lightness, rgb_to_lab

ATTENTION_CAST = 15.0  # chroma of a lit mid gray (Lab units): an obvious cast; ~10 shows side by side
NEUTRAL_CAST = 3.0  # below this the direction is "none"
UNDER_HIGHLIGHT_L = 60.0
UNDER_PEAK_L = 75.0
UNDER_MEDIAN_L = 6.0  # below, with sparse lights, the night sky, not a mistake (skimage photos 2 stops under: 9–34)
OVER_CLIPPED_SHARE = 0.05
OVER_SHADOW_L = 45.0  # a light micrograph's darkest 1 % reads 35, 41 once blurred; washed-out photos 50 and up
FADED_SHADOW_L = 20.0
FADED_HIGHLIGHT_L = 90.0
FADED_MAX_CHROMA = 50.0  # C*ab of the most colourful 5 %: a faded print's dyes do not reach this
_EXPOSURE_SIDE = 1024
COLOURLESS_CHROMA = 3.0  # below this the photo is gray (or stored as gray RGB): no colour clue


CastDirection = Literal["none", "warm/yellow", "green", "blue", "magenta"]
# hue sectors of the a*b* angle (degrees): +b* is yellow (90°), −a* green, −b* blue, +a* magenta/red
_SECTORS: tuple[tuple[float, CastDirection], ...] = (
    (30.0, "magenta"), (120.0, "warm/yellow"), (210.0, "green"), (300.0, "blue"), (360.0, "magenta"),
)


def cast_direction(a: float, b: float) -> CastDirection:
    if math.hypot(a, b) < NEUTRAL_CAST:
        return "none"
    angle = math.degrees(math.atan2(b, a)) % 360.0
    return next(name for limit, name in _SECTORS if angle < limit)


@dataclass(frozen=True)
class ColorCastReport(Measurement):
    """White-balance deviation as the Lab a*, b* of a mid gray under the estimated illuminant."""

    a: float
    b: float
    strength: float  # √(a² + b²)
    direction: CastDirection

    label = "colour cast"
    rule = f"strength > {ATTENTION_CAST:g} (Lab chroma of a lit mid gray, gray-edge estimate)"

    @property
    def attention(self) -> bool:
        return self.strength > ATTENTION_CAST

    def summary(self) -> str:
        if self.direction == "none":
            return f"colour cast: none (strength {self.strength:.1f})"
        return f"colour cast {self.direction} (a*={self.a:+.1f}, b*={self.b:+.1f}, strength {self.strength:.1f})"

    def advice(self) -> str:
        return "white balance is off"


def illuminant_rgb(pixels: np.ndarray) -> np.ndarray | None:
    """Gray-edge illuminant estimate (linear RGB, unit mean), or None without enough usable edges."""
    return gray_edge_illuminant(pixels)


def measure_cast(pixels: np.ndarray) -> ColorCastReport:
    if pixels.shape[2] == 1:
        return ColorCastReport(0.0, 0.0, 0.0, "none")
    e = illuminant_rgb(pixels)
    if e is None:
        return ColorCastReport(0.0, 0.0, 0.0, "none")
    gray = linear_to_srgb(np.clip(e * 0.2, 0.0, 1.0)).reshape(1, 1, 3)  # linear 0.2 ≈ L* 52
    _, a, b = (float(v) for v in rgb_to_lab(gray)[0, 0])
    strength = math.hypot(a, b)
    return ColorCastReport(round(a, 2), round(b, 2), round(strength, 2), cast_direction(a, b))


@dataclass(frozen=True)
class ExposureReport(Measurement):
    """Brightness in CIE L* (0..100) and the shares of clipped shadows and highlights."""

    mean_lightness: float
    shadows_l1: float  # L* of the darkest 1 %
    highlights_l99: float  # L* of the brightest 1 %
    peak_l: float  # L* of the brightest 0.1 % (stars, lamps, speculars)
    clipped_shadows: float  # share of pixels black in every channel (≤ 2/255)
    clipped_highlights: float  # share of pixels white in every channel (≥ 253/255)
    verdict: Literal["under", "ok", "over", "faded"]
    peak_chroma: float | None = None  # C*ab of the most colourful 5 % (None for gray photos)

    @property
    def colourless(self) -> bool:
        """Gray, or nearly: colour gives no clue whether low contrast is fading or the subject."""
        return self.peak_chroma is None or self.peak_chroma < COLOURLESS_CHROMA

    label = "exposure"
    rule = (f"under: brightest 1 % below L* {UNDER_HIGHLIGHT_L:g}, 0.1 % below L* {UNDER_PEAK_L:g}, median above L* "
            f"{UNDER_MEDIAN_L:g} or lights that are not sparse; over: > {OVER_CLIPPED_SHARE:.0%} clipped white "
            f"or darkest 1 % above L* {OVER_SHADOW_L:g}; faded: darkest 1 % above L* {FADED_SHADOW_L:g} and "
            f"brightest 1 % below L* {FADED_HIGHLIGHT_L:g}, most colourful 5 % below chroma {FADED_MAX_CHROMA:g}")

    @property
    def attention(self) -> bool:
        return self.verdict != "ok"

    def summary(self) -> str:
        if self.verdict == "faded":
            return (f"exposure faded: tones span only L* {self.shadows_l1:.0f}–{self.highlights_l99:.0f}, "
                    f"mean L* {self.mean_lightness:.0f}")
        return (f"exposure {self.verdict}: mean L* {self.mean_lightness:.0f}, "
                f"clipped {self.clipped_shadows:.1%} black / {self.clipped_highlights:.1%} white")

    def advice(self) -> str:
        if self.verdict == "over" and self.clipped_highlights <= OVER_CLIPPED_SHARE:
            return "washed out, no real shadows"  # nothing is blown: do not say so
        return {"under": "too dark, no real highlights", "over": "too bright, highlights blown",
                "faded": "no real blacks or whites, low contrast"}.get(self.verdict, "")


def measure_exposure(pixels: np.ndarray) -> ExposureReport:
    x = downscale(pixels, _EXPOSURE_SIDE)  # not smaller: a night photo's stars and lamps must survive it
    lum = lightness(x)
    lo, middle, p90, hi, peak = (float(v) for v in np.percentile(lum, [1, 50, 90, 99, 99.9]))
    night = middle < UNDER_MEDIAN_L and p90 < hi / 3.0  # black, with a few small lights: a sky, not a mistake
    black = float(np.mean(x.max(axis=2) <= 2.5 / 255))
    white = float(np.mean(x.min(axis=2) >= 252.5 / 255))
    chroma = None
    if x.shape[2] == 3:
        lab = rgb_to_lab(x)
        chroma = round(float(np.percentile(np.hypot(lab[:, :, 1], lab[:, :, 2]), 95)), 2)
    verdict: Literal["under", "ok", "over", "faded"] = "ok"
    if white > OVER_CLIPPED_SHARE or lo > OVER_SHADOW_L:
        verdict = "over"
    elif lo > FADED_SHADOW_L and hi < FADED_HIGHLIGHT_L and (chroma is None or chroma < FADED_MAX_CHROMA):
        verdict = "faded"  # before "under": under-exposure keeps its blacks, fading lifts them
    elif hi < UNDER_HIGHLIGHT_L and peak < UNDER_PEAK_L and not night:
        verdict = "under"
    return ExposureReport(round(float(lum.mean()), 2), round(lo, 2), round(hi, 2), round(peak, 2), round(black, 4),
                          round(white, 4), verdict, chroma)

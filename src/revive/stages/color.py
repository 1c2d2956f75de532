"""Colour and light: white balance, exposure and contrast, each with its own strength, all restrained.

* White balance: the illuminant is estimated by the gray-edge hypothesis (van de Weijer et al.:
  the average colour of *differences* in a scene is neutral; Minkowski p = 6 on linear-light
  gradients, clipped pixels skipped), and linear-light channel gains move it ``white_balance`` of
  the way to neutral, at constant luminance and within ×0.5..×2.
* Exposure: a gain in linear light (what a longer exposure does) that moves the mean lightness
  ``exposure`` of the way to ``target_lightness``, limited so the brightest 0.5 % land at most
  at 95 %; what would still exceed it is rolled off smoothly instead of clipped.
* Contrast: a stretch of CIE L* about its mean, so the photo keeps its key (a plain 0.5 % / 99.5 %
  → 2 / 98 stretch turned a mid-gray brick wall near-black), until the 0.5 % / 99.5 % percentiles
  reach 2 / 98 or the slope ×1.8, never compressing; then CLAHE on L* at a low clip limit, mixed in
  at half the ``contrast`` strength.

Each part measures the photo it is given and does nothing when there is nothing to correct (gains
within 1 %, brightness already at the target, a histogram already spanning the range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..colorimetry import downscale, gray_edge_illuminant, linear_to_srgb, srgb_to_linear
from ..errors import InvalidParameter
from ..types import Photo
from .base import StageContext, StageInfo, StageOption
from .denoise import check_strength, classical_step
from .planning import PlanContext, Step

_LUMINANCE = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)  # Rec.709 / sRGB primaries, linear light
_MAX_GAIN = 2.0
_STAT_SIDE = 1024  # statistics are global: a downscaled copy tells the same
_HIGHLIGHT_LIMIT = 0.95  # linear-light level the brightest 0.5 % may reach after the exposure gain
_SHOULDER = 0.8  # linear level above which brightened values are rolled off instead of clipped
_STRETCH_TO = (2.0, 98.0)
_MAX_STRETCH = 1.8  # a faded print (L* 28–78) comes back to about 6–98; a flat scene is not forced to black
_CLAHE_CLIP = 1.5


@dataclass(frozen=True)
class ColorParams:
    white_balance: float = 0.0  # 0..1: how far the estimated illuminant is moved to neutral
    exposure: float = 0.0  # 0..1: how far the mean lightness is moved to the target
    contrast: float = 0.0  # 0..1: percentile stretch and local contrast (CLAHE) of lightness
    target_lightness: float = 50.0  # mean CIE L* that exposure aims at

    def __post_init__(self) -> None:
        for name in ("white_balance", "exposure", "contrast"):
            check_strength(getattr(self, name), name)
        if not 20.0 <= self.target_lightness <= 80.0:
            raise InvalidParameter(f"target lightness must be between 20 and 80 (L*), got {self.target_lightness}")

    @property
    def is_noop(self) -> bool:
        return self.white_balance == 0.0 and self.exposure == 0.0 and self.contrast == 0.0


class ColorStage:
    name = "color"

    def __init__(self, params: ColorParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if p.is_noop:
            return photo
        with classical_step(self.name, context):
            pixels = correct_color(photo.pixels, p)
        return photo if pixels is photo.pixels else photo.evolve(pixels=pixels)


def correct_color(pixels: np.ndarray, params: ColorParams) -> np.ndarray:
    """White balance, then exposure, then contrast; returns ``pixels`` itself when nothing changed."""
    out = pixels
    if params.white_balance > 0.0 and pixels.shape[2] == 3:
        gains = white_balance_gains(out, params.white_balance)
        if gains is not None and np.abs(gains - 1.0).max() > 0.01:
            out = _apply_linear(out, lambda lin: lin * gains)
    if params.exposure > 0.0:
        gain = exposure_gain(out, params.exposure, params.target_lightness)
        if abs(gain - 1.0) > 0.01:
            out = _apply_linear(out, lambda lin: _roll_off(lin * gain) if gain > 1.0 else lin * gain)
    if params.contrast > 0.0:
        out = _stretch_and_clahe(out, params.contrast)
    return out


def _apply_linear(pixels: np.ndarray, fn: object) -> np.ndarray:
    return linear_to_srgb(fn(srgb_to_linear(pixels)))  # type: ignore[operator]


def _small(pixels: np.ndarray) -> np.ndarray:
    return downscale(pixels, _STAT_SIDE)


def illuminant(pixels: np.ndarray) -> np.ndarray | None:
    """Gray-edge estimate of the light's colour (linear RGB, mean 1), or None without usable edges."""
    return gray_edge_illuminant(pixels)  # the diagnosis's own scale: the same light as it found


def white_balance_gains(pixels: np.ndarray, strength: float) -> np.ndarray | None:
    """Linear-light channel gains that neutralise ``strength`` of the cast at constant luminance."""
    e = illuminant(pixels)
    if e is None:
        return None
    gains = (1.0 / e) ** strength
    gains = gains / float(gains @ _LUMINANCE)  # a neutral gray keeps its luminance
    return np.clip(gains, 1.0 / _MAX_GAIN, _MAX_GAIN).astype(np.float32)


def _lightness(pixels: np.ndarray) -> np.ndarray:
    if pixels.shape[2] == 1:
        y = srgb_to_linear(pixels[:, :, 0])
        return np.where(y > 0.008856, 116.0 * np.cbrt(y) - 16.0, 903.3 * y)
    return cv2.cvtColor(np.ascontiguousarray(pixels, dtype=np.float32), cv2.COLOR_RGB2Lab)[:, :, 0]


def exposure_gain(pixels: np.ndarray, strength: float, target: float) -> float:
    """A linear-light gain moving mean L* ``strength`` of the way to ``target``, highlights protected."""
    x = _small(pixels)
    mean_l = float(_lightness(x).mean())
    goal = mean_l + strength * (target - mean_l)
    if abs(goal - mean_l) < 1.0:
        return 1.0
    lin = srgb_to_linear(x)
    lum = lin[:, :, 0] if lin.shape[2] == 1 else lin @ _LUMINANCE

    def mean_lightness_at(gain: float) -> float:
        y = np.clip(lum * gain, 0.0, 1.0)
        return float(np.mean(np.where(y > 0.008856, 116.0 * np.cbrt(y) - 16.0, 903.3 * y)))

    lo, hi = math.log(0.25), math.log(8.0)
    for _ in range(30):  # mean L* grows monotonically with the gain
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_lightness_at(math.exp(mid)) < goal else (lo, mid)
    gain = math.exp((lo + hi) / 2)
    if gain > 1.0:
        bright = float(np.percentile(lin.max(axis=2), 99.5))
        if bright > 0:
            gain = max(1.0, min(gain, _HIGHLIGHT_LIMIT / bright))
    return gain


def _roll_off(lin: np.ndarray) -> np.ndarray:
    """Identity up to the shoulder, then a smooth curve that approaches 1 instead of clipping."""
    over = np.maximum(lin - _SHOULDER, 0.0)
    room = 1.0 - _SHOULDER
    return np.where(lin > _SHOULDER, _SHOULDER + room * (1.0 - np.exp(-over / room)), lin).astype(np.float32)


def _stretch_and_clahe(pixels: np.ndarray, strength: float) -> np.ndarray:
    gray = pixels.shape[2] == 1
    lab = None if gray else cv2.cvtColor(np.ascontiguousarray(pixels, dtype=np.float32), cv2.COLOR_RGB2Lab)
    light = _lightness(pixels) if lab is None else lab[:, :, 0]
    sample = _small(light[:, :, None])[:, :, 0]
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    mid = float(sample.mean())
    room = [(mid - _STRETCH_TO[0]) / (mid - lo) if mid - lo > 0.5 else _MAX_STRETCH,
            (_STRETCH_TO[1] - mid) / (hi - mid) if hi - mid > 0.5 else _MAX_STRETCH]
    slope = max(1.0, min(_MAX_STRETCH, *room))  # only ever widen, about the mean
    stretched = light if slope == 1.0 else mid + (light - mid) * slope
    clahe = cv2.createCLAHE(clipLimit=_CLAHE_CLIP, tileGridSize=(8, 8))
    as16 = np.clip(stretched / 100.0 * 65535.0, 0, 65535).astype(np.uint16)
    local = clahe.apply(as16).astype(np.float32) / 65535.0 * 100.0
    new_light = stretched + 0.5 * (local - stretched)
    new_light = np.clip(light + strength * (new_light - light), 0.0, 100.0).astype(np.float32)
    if lab is None:  # gray: back from L* to sRGB values
        y = np.where(new_light > 8.0, ((new_light + 16.0) / 116.0) ** 3, new_light / 903.3)
        return linear_to_srgb(y)[:, :, None]
    lab[:, :, 0] = new_light
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0).astype(np.float32)


# --- planning ---------------------------------------------------------------------------------------

TOLERATED_CAST = 8.0  # a restrained hand: white balance leaves this much of the light's mood (Lab chroma)
MAX_WHITE_BALANCE = 0.8
STRONG_CAST = 30.0  # tungsten light under a daylight setting reads ~40: a scene of one colour can read as much
AGED_TOLERATED_CAST = 3.0  # on a faded print the cast is the dyes' ageing: take it out nearly all the way
AGED_MAX_WHITE_BALANCE = 0.9
AGEING_CAST = 10.0  # what yellowing adds to a print's cast (skimage photos, blue dye at 72 %: 9–11)
MIN_WHITE_BALANCE_MP = 0.04  # ~200×200: below, a few coloured objects sway the gray-edge estimate
MIN_AGED_WHITE_BALANCE_MP = 0.01  # ~100×100: a faded print's yellowing is the whole print's, not an object's
EXPOSURE_STRENGTH = 0.8
UNDER_EXPOSED_CONTRAST = 0.5
WASHED_OUT_CONTRAST = 0.8
WASHED_OUT_SHADOW_L = 45.0  # as the diagnosis's "over" rule
_LOW_CONTRAST_NOTE = ("{}: a faded print, or a subject of low contrast (a wall, fog, a micrograph)? A gray photo "
                      "gives no second clue, so contrast is left alone; pass --color on to stretch it")
COLOR_OPTION = StageOption("color", "White balance, exposure and contrast: auto, on (also where the photo "
                           "gives only weak clues) or off.", accepts=("auto", "on", "off"))


def plan_color(ctx: PlanContext) -> list[Step]:
    """Colour cast → restrained white balance; under-exposure → exposure and contrast; washed out or
    faded → contrast. Clipped highlights only get a note."""
    if ctx.setting(COLOR_OPTION.name) == "off":
        return []
    d, notes = ctx.diagnosis, ctx.notes
    cast, exposure = d.color_cast, d.exposure
    aged = exposure.verdict == "faded"  # a faded print's cast is its dyes' ageing, not the light's mood
    tolerated, most = (AGED_TOLERATED_CAST, AGED_MAX_WHITE_BALANCE) if aged else (TOLERATED_CAST, MAX_WHITE_BALANCE)
    needed = cast.attention or (aged and cast.strength > TOLERATED_CAST)  # fading also weakens the cast it shows
    wb = round(min(most, 1.0 - tolerated / cast.strength), 2) if needed else 0.0
    subject = aged and cast.strength > STRONG_CAST  # a retina, a sunset, faded: take out only what ageing adds
    if subject:
        wb = round(min(wb, AGEING_CAST / cast.strength), 2)
    if wb > 0 and d.resolution.megapixels < (MIN_AGED_WHITE_BALANCE_MP if aged else MIN_WHITE_BALANCE_MP):
        notes.append(f"a {cast.direction} cast was measured (strength {cast.strength:.0f}), but the photo is too small "
                     "to tell a cast from coloured objects; white balance left alone")
        wb = 0.0
    expo = contrast = 0.0
    reasons: list[str] = []
    if wb > 0:
        why = ("the print's ageing; the rest is the subject's colour" if subject else
               "the print's ageing, not the light" if aged else "keeping some of the light's mood")
        reasons.append(f"{cast.direction} cast (strength {cast.strength:.0f}) → white balance at {wb:.0%} "
                       f"(to about {cast.strength * (1 - wb):.0f}, {why})")
        if cast.strength > STRONG_CAST and not aged:
            notes.append(f"the {cast.direction} cast is as strong as tungsten light (strength {cast.strength:.0f}); "
                         "if that colour is the subject's (a sunset, a close-up of one colour), pass --color off")
    # gray and flat: a faded print, or a subject of low contrast (a wall, fog, a micrograph)? No telling
    guess = exposure.colourless and ctx.options.base_look == "faithful" and ctx.setting(COLOR_OPTION.name) != "on"
    if exposure.verdict == "under":
        expo, contrast = EXPOSURE_STRENGTH, UNDER_EXPOSED_CONTRAST
        reasons.append(f"under-exposed (mean L* {exposure.mean_lightness:.0f}, brightest 1 % at "
                       f"L* {exposure.highlights_l99:.0f}) → brighten and add contrast")
    elif exposure.verdict == "over":
        if exposure.shadows_l1 > WASHED_OUT_SHADOW_L and guess:
            notes.append(_LOW_CONTRAST_NOTE.format(f"the darkest 1 % is at L* {exposure.shadows_l1:.0f}"))
        elif exposure.shadows_l1 > WASHED_OUT_SHADOW_L:
            contrast = WASHED_OUT_CONTRAST
            reasons.append(f"washed out (darkest 1 % at L* {exposure.shadows_l1:.0f}) → stretch contrast")
        if exposure.clipped_highlights > 0.0:
            notes.append(f"{exposure.clipped_highlights:.1%} of the photo is clipped white; "
                         "detail lost there cannot be recovered")
    elif exposure.verdict == "faded" and guess:
        notes.append(_LOW_CONTRAST_NOTE.format(
            f"the tones span only L* {exposure.shadows_l1:.0f}–{exposure.highlights_l99:.0f}"))
    elif exposure.verdict == "faded":
        contrast = WASHED_OUT_CONTRAST
        reasons.append(f"faded (tones span only L* {exposure.shadows_l1:.0f}–{exposure.highlights_l99:.0f}) "
                       "→ stretch contrast")
    if not reasons:
        return []
    return [Step("color", ColorParams(white_balance=wb, exposure=expo, contrast=contrast), "; ".join(reasons))]


STAGE = StageInfo(
    name="color", params_type=ColorParams, build=ColorStage, phase=50, option=COLOR_OPTION,
    seconds_per_mp=0.21,
    summary="white balance, exposure and contrast from the diagnosis",
    plan=plan_color,
)

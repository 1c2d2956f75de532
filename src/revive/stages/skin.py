"""Skin: warm a cold (greenish, bluish) complexion or neutralise a too red or too yellow one, under
the skin mask only.

Skin of every origin sits in a narrow band of hue (CIE Lab hue angle about 40–70°, most near 55°);
a light that is not neutral, or a cheap sensor, moves it out. The stage turns the skin's a*/b* by
the angle between its mean hue and the band it should be in, keeping each pixel's chroma and
lightness, then blends by the mask: the background behind a face is not touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter
from ..types import Photo
from .base import StageContext, StageInfo
from .planning import PlanContext, Step
from .regional import (
    check_unit,
    from_lab,
    global_problem,
    grade_region,
    local_option,
    segmentation_model,
    setting_strength,
    to_lab,
)

SKIN_HUE_BAND = (42.0, 68.0)  # Lab hue angles of healthy skin under neutral light
AUTO_STRENGTH = 0.6


@dataclass(frozen=True)
class SkinParams:
    turn: float = 0.0  # degrees of Lab hue to turn the skin by (+ toward yellow, − toward red)
    strength: float = AUTO_STRENGTH
    model: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.turn) and -60.0 <= self.turn <= 60.0):
            raise InvalidParameter(f"skin hue turn must be between -60 and 60 degrees, got {self.turn}")
        check_unit(self.strength, "skin strength")


class SkinStage:
    name = "skin"

    def __init__(self, params: SkinParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if p.turn == 0.0 or photo.is_gray:
            return photo
        return grade_region(photo, context, self.name, "skin", p.model, p.strength,
                            lambda pixels, mask: turn_hue(pixels, p.turn))


def turn_hue(pixels: np.ndarray, degrees: float) -> np.ndarray:
    """Every pixel's Lab hue turned by ``degrees``, lightness and chroma kept."""
    lab = to_lab(pixels)
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    a, b = lab[:, :, 1].copy(), lab[:, :, 2].copy()
    lab[:, :, 1], lab[:, :, 2] = c * a - s * b, s * a + c * b
    return from_lab(lab, pixels)


def hue_turn_for(hue: float) -> float:
    """Degrees that bring a skin hue into the healthy band (0 inside it)."""
    low, high = SKIN_HUE_BAND
    wrapped = (hue + 180.0) % 360.0 - 180.0  # -180..180, skin near +55
    if wrapped < low:
        return low - wrapped
    if wrapped > high:
        return high - wrapped
    return 0.0


SKIN_OPTION = local_option("skin", "Warm or neutralise skin under the skin mask")


def plan_skin(ctx: PlanContext) -> list[Step]:
    """Skin whose hue is out of the healthy band (faces found, no photo-wide cast) → turn it back."""
    strength = setting_strength(ctx, SKIN_OPTION, AUTO_STRENGTH)
    hue = ctx.diagnosis.regions.skin_hue
    if strength is None or hue is None:
        return []
    turn = round(max(-60.0, min(60.0, hue_turn_for(hue))), 1)
    if turn == 0.0:
        return []
    blocker = global_problem(ctx)
    if blocker is not None:
        ctx.notes.append(f"the skin's hue reads {hue:.0f}°, but {blocker} comes first; run enhance again on the result")
        return []
    how = "turn it toward red (warmer)" if turn < 0 else "turn it toward yellow (less red)"
    params = SkinParams(turn=turn, strength=strength, model=segmentation_model(ctx))
    mask = params.model or "the face-guided skin mask"
    return [Step("skin", params, f"skin hue {hue:.0f}° is outside {SKIN_HUE_BAND[0]:.0f}–{SKIN_HUE_BAND[1]:.0f}° → "
                                 f"{how} ({turn:+.0f}°) under {mask} at strength {strength:.2g}")]


STAGE = StageInfo(
    name="skin", params_type=SkinParams, build=SkinStage, phase=56, option=SKIN_OPTION,
    summary="warm or neutralise skin under the face-guided skin mask", plan=plan_skin,
)

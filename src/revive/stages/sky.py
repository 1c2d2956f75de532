"""Sky: a blown sky gets tone and a hint of blue back, a dull one its colour and depth, only under its mask.

* blown — clipped and near-white sky is brought down in lightness (its brightest parts the most)
  and tinted toward a pale daylight blue, stronger toward the top of the frame, as a graduated
  filter would; detail that clipping erased is not invented.
* dull — the sky's chroma is raised (×1.8 at full strength, its hue kept) and its lightness
  spread widened about its mean, so clouds separate from the sky behind them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

SkyFix = Literal["blown", "dull"]
BLOWN_DARKEN = 0.14  # share of lightness taken from white sky at full strength
SKY_BLUE = (-4.0, -20.0)  # Lab a, b of a pale daylight sky
DULL_CHROMA_GAIN = 0.8
DULL_CONTRAST_GAIN = 0.25
AUTO_STRENGTH = 0.7


@dataclass(frozen=True)
class SkyParams:
    fix: SkyFix = "dull"
    strength: float = AUTO_STRENGTH
    model: str | None = None  # a segmentation model for the mask; None = the embedded estimate

    def __post_init__(self) -> None:
        if self.fix not in ("blown", "dull"):
            raise InvalidParameter(f"sky fix must be 'blown' or 'dull', got {self.fix!r}")
        check_unit(self.strength, "sky strength")


class SkyStage:
    name = "sky"

    def __init__(self, params: SkyParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        return grade_region(photo, context, self.name, "sky", p.model, p.strength,
                            lambda pixels, mask: grade_sky(pixels, mask, p.fix))


def grade_sky(pixels: np.ndarray, mask: np.ndarray, fix: SkyFix) -> np.ndarray:
    """The whole photo graded as its sky should be (the caller blends it in by the mask)."""
    lab = to_lab(pixels)
    light, a, b = lab[:, :, 0], lab[:, :, 1], lab[:, :, 2]
    weight = mask / max(float(mask.sum()), 1e-6)
    if fix == "blown":
        white = np.clip((light - 70.0) / 30.0, 0.0, 1.0)  # the nearer to white, the more it is toned
        rows = np.linspace(1.0, 0.5, light.shape[0], dtype=np.float32)[:, None]  # a graduated filter: top first
        tone = white * rows
        lab[:, :, 0] = light * (1.0 - BLOWN_DARKEN * tone)
        lab[:, :, 1] = a + (SKY_BLUE[0] - a) * 0.6 * tone
        lab[:, :, 2] = b + (SKY_BLUE[1] - b) * 0.6 * tone
    else:
        mean_light = float((light * weight).sum())
        lab[:, :, 0] = np.clip(mean_light + (light - mean_light) * (1.0 + DULL_CONTRAST_GAIN), 0.0, 100.0)
        lab[:, :, 1] = a * (1.0 + DULL_CHROMA_GAIN)
        lab[:, :, 2] = b * (1.0 + DULL_CHROMA_GAIN)
    return from_lab(lab, pixels)


SKY_OPTION = local_option("sky", "Local grading of a blown or dull sky")


def plan_sky(ctx: PlanContext) -> list[Step]:
    """A blown or dull sky (the regions measurement) → grade it under the sky mask."""
    strength = setting_strength(ctx, SKY_OPTION, AUTO_STRENGTH)
    regions = ctx.diagnosis.regions
    problem = regions.sky_problem
    if strength is None or problem is None:
        return []
    blocker = global_problem(ctx)
    if blocker is not None:
        ctx.notes.append(f"the sky reads {problem}, but {blocker} comes first; run enhance again on the result")
        return []
    params = SkyParams(fix="blown" if problem == "blown" else "dull", strength=strength, model=segmentation_model(ctx))
    mask = params.model or "the embedded sky mask"
    why = (f"{regions.sky_clipped:.0%} of the sky is clipped" if problem == "blown"
           else f"the sky is dull (chroma {regions.sky_chroma:.0f} at L* {regions.sky_lightness:.0f})")
    return [Step("sky", params, f"{why}, {regions.share('sky'):.0%} of the frame → "
                                f"{'tone it down and tint it' if problem == 'blown' else 'deepen its colour'} "
                                f"under {mask} at strength {strength:.2g}")]


STAGE = StageInfo(
    name="sky", params_type=SkyParams, build=SkyStage, phase=55, option=SKY_OPTION,
    summary="local grading of a blown or dull sky under the sky mask", plan=plan_sky,
)

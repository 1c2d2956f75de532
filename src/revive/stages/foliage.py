"""Foliage: a gentle lift of the greens' saturation under the foliage mask (leaves, grass, trees).

Chroma is raised by a factor that falls off as it grows (already vivid greens are left nearly as
they are) and lightness is kept; a hazy or overcast landscape's greens come back without the
neon look of a global saturation slider.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

LIFT = 0.35  # chroma gain at full strength for a dull green
VIVID_CHROMA = 45.0  # greens this saturated get no lift
MIN_SHARE = 0.1
DULL_CHROMA = 22.0
AUTO_STRENGTH = 0.6


@dataclass(frozen=True)
class FoliageParams:
    strength: float = AUTO_STRENGTH
    model: str | None = None

    def __post_init__(self) -> None:
        check_unit(self.strength, "foliage strength")


class FoliageStage:
    name = "foliage"

    def __init__(self, params: FoliageParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if photo.is_gray:
            return photo
        return grade_region(photo, context, self.name, "foliage", p.model, p.strength,
                            lambda pixels, mask: lift_greens(pixels))


def lift_greens(pixels: np.ndarray) -> np.ndarray:
    lab = to_lab(pixels)
    chroma = np.hypot(lab[:, :, 1], lab[:, :, 2])
    gain = 1.0 + LIFT * np.clip(1.0 - chroma / VIVID_CHROMA, 0.0, 1.0)
    lab[:, :, 1] *= gain
    lab[:, :, 2] *= gain
    return from_lab(lab, pixels)


FOLIAGE_OPTION = local_option("foliage", "Gentle saturation lift of foliage under its mask")


def plan_foliage(ctx: PlanContext) -> list[Step]:
    """Dull foliage over a tenth of the frame → lift its saturation gently."""
    strength = setting_strength(ctx, FOLIAGE_OPTION, AUTO_STRENGTH)
    regions = ctx.diagnosis.regions
    share, chroma = regions.share("foliage"), regions.foliage_chroma
    forced = isinstance(ctx.setting(FOLIAGE_OPTION.name), float)
    if strength is None or chroma is None or (not forced and (share < MIN_SHARE or chroma >= DULL_CHROMA)):
        return []
    if global_problem(ctx) is not None and not forced:
        return []
    params = FoliageParams(strength=strength, model=segmentation_model(ctx))
    mask = params.model or "the embedded foliage mask"
    return [Step("foliage", params, f"foliage is {share:.0%} of the frame at chroma {chroma:.0f} → lift its "
                                    f"saturation under {mask} at strength {strength:.2g}")]


STAGE = StageInfo(
    name="foliage", params_type=FoliageParams, build=FoliageStage, phase=57, option=FOLIAGE_OPTION,
    summary="a gentle saturation lift of foliage under its mask", plan=plan_foliage,
)

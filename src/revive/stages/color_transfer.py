"""Colour transfer: the colours of a reference photo given to this one (``--color-reference REF``).

scikit-image's histogram matching (``skimage.exposure.match_histograms``, the maintained
implementation) maps each CIE Lab channel of the photo onto the reference's distribution: the
reference's palette and tonal key arrive while the photo's own structure stays. ``strength`` blends
the result with the photo (0.8 by default: a strong hint, not a copy). scikit-image comes with the
``revive-photo[color]`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..colorimetry import downscale
from ..errors import InvalidParameter, RuntimeUnavailable
from ..types import Photo
from .base import StageContext, StageInfo, StageOption
from .denoise import blend_pixels, classical_step
from .planning import PlanContext, Step
from .regional import check_unit, from_lab, to_lab

AUTO_STRENGTH = 0.8
_REFERENCE_SIDE = 1024  # a distribution needs no more pixels than this


@dataclass(frozen=True)
class ColorTransferParams:
    reference: Path  # the reference photo (a file: a request from a form can never name a path here)
    strength: float = AUTO_STRENGTH

    def __post_init__(self) -> None:
        if not str(self.reference).strip():
            raise InvalidParameter("colour transfer needs a reference photo")
        check_unit(self.strength, "colour transfer strength")


class ColorTransferStage:
    name = "color-transfer"

    def __init__(self, params: ColorTransferParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if p.strength == 0.0:
            return photo
        from ..imageio import read

        reference = read(Path(p.reference))
        with classical_step(self.name, context):
            matched = transfer_colors(photo.pixels, reference.rgb())
        return blend_pixels(photo, matched, p.strength)


def transfer_colors(pixels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``pixels`` with each Lab channel matched to the histogram of ``reference`` (RGB)."""
    try:
        from skimage.exposure import match_histograms
    except ImportError:
        raise RuntimeUnavailable('colour transfer needs scikit-image; install it with: pip install "revive-photo[color]"'
                                 ) from None
    source = to_lab(pixels)
    target = to_lab(downscale(reference.astype(np.float32), _REFERENCE_SIDE))
    matched = match_histograms(source, target, channel_axis=-1).astype(np.float32)
    return from_lab(matched, pixels)


TRANSFER_OPTION = StageOption("color-transfer", "Colour transfer from --color-reference: auto, off, or a strength 0..1.",
                              accepts=("auto", "off", "strength"))


def plan_color_transfer(ctx: PlanContext) -> list[Step]:
    reference = ctx.options.color_reference
    setting = ctx.setting(TRANSFER_OPTION.name)
    if not reference or setting == "off":
        return []
    strength = float(setting) if isinstance(setting, float) else AUTO_STRENGTH
    return [Step("color-transfer", ColorTransferParams(Path(reference), strength),
                 f"--color-reference {Path(str(reference)).name} → match its colours at strength {strength:.2g}")]


STAGE = StageInfo(
    name="color-transfer", params_type=ColorTransferParams, build=ColorTransferStage, phase=52, option=TRANSFER_OPTION,
    summary="the colours of a reference photo (histogram matching in Lab, scikit-image)", plan=plan_color_transfer,
)

"""What the local grading stages (sky, skin, foliage) share: their masks and a blend that touches
nothing outside them.

Each stage grades a copy of the whole photo in CIE Lab and blends it in by its class's soft mask,
``out = in + m·(graded − in)``: where the mask is exactly 0 the pixel is returned bit for bit.
Masks come from the embedded estimate, or from a segmentation model in the store when the step
names one (``model``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from ..analysis.face_detect import detect_faces
from ..analysis.masks import SubjectMasks, estimate_masks, masks_from_segmentation
from ..errors import InvalidParameter
from ..types import Photo
from .base import StageContext, StageOption
from .denoise import classical_step
from .planning import PlanContext, first_name


def check_unit(value: float, what: str) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidParameter(f"{what} must be between 0 and 1, got {value}")


def subject_masks(photo: Photo, classes: tuple[str, ...], context: StageContext, model: str | None = None) -> SubjectMasks:
    """The masks of ``classes`` for ``photo``: from the segmentation model ``model``, else embedded."""
    rgb = photo.rgb()
    needs_faces = any(c in ("skin", "subject") for c in classes)
    faces = detect_faces(rgb) if needs_faces else ()
    if model is None:
        return estimate_masks(rgb, faces, classes)
    from ..models.segmentation import load_segmenter

    engine = context.engine
    spec = engine.registry.get(model)
    context.say(f"loading {model}")
    segmenter = load_segmenter(spec, engine.store.locate(spec), engine.options)
    context.say("segmenting")
    return masks_from_segmentation(rgb, segmenter.probabilities(rgb), faces, classes, source=model)


def grade_region(photo: Photo, context: StageContext, stage: str, region: str, model: str | None, strength: float,
                 grade: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Photo:
    """``grade(pixels, mask)`` (the whole photo graded as the region should be) blended in by the
    region's mask at ``strength``; the photo itself when the region is absent or strength is 0."""
    if strength == 0.0:
        return photo
    mask = subject_masks(photo, (region,), context, model)[region]
    if not mask.any():
        return photo
    with classical_step(stage, context):
        pixels = blend_by_mask(photo.pixels, grade(photo.pixels, mask), mask, strength)
    return photo.evolve(pixels=pixels)


def to_lab(pixels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels,
                                             dtype=np.float32), cv2.COLOR_RGB2Lab)


def from_lab(lab: np.ndarray, like: np.ndarray) -> np.ndarray:
    rgb = np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB), 0.0, 1.0)
    return rgb.mean(axis=2, keepdims=True) if like.shape[2] == 1 else rgb


def blend_by_mask(pixels: np.ndarray, graded: np.ndarray, mask: np.ndarray, strength: float) -> np.ndarray:
    """``pixels`` moved toward ``graded`` by ``strength × mask``; untouched (bit-identical) where that is 0."""
    weight = (strength * mask)[:, :, None].astype(np.float32)
    out = pixels + weight * (graded - pixels)
    return np.where(weight > 0, np.clip(out, 0.0, 1.0), pixels).astype(np.float32)


def segmentation_model(ctx: PlanContext) -> str | None:
    """The segmentation model the masks come from: the first installed (none at --strength 0)."""
    return None if ctx.plain else first_name(ctx.capabilities.installed_for("segmentation"))


def global_problem(ctx: PlanContext) -> str | None:
    """A photo-wide problem fixed first (noise, a colour cast, exposure): local grading waits for a
    photo it can measure (a cast turns a blue sky gray and skin yellow everywhere, grain reads as leaves)."""
    d = ctx.diagnosis
    if d.noise.attention:  # grain reads as leaves and shifts the colours a mask is judged by
        return "the noise"
    if d.color_cast.attention:
        return f"a {d.color_cast.direction} cast"
    if d.exposure.attention:
        return f"{d.exposure.verdict} exposure"
    return None


def setting_strength(ctx: PlanContext, option: StageOption, auto: float) -> float | None:
    """The strength a stage's option asks for: None for off, ``auto`` when left to the planner."""
    setting = ctx.setting(option.name)
    if setting == "off":
        return None
    return float(setting) if isinstance(setting, float) else auto


def local_option(name: str, what: str) -> StageOption:
    return StageOption(name, f"{what}: auto, off, or a strength 0..1.", accepts=("auto", "off", "strength"))

"""Erase: remove what a mask marks and fill the hole from its surroundings.

Engines, best available first: an inpainting model in the store (LaMa, then MAT; added with
``revive models add``), else OpenCV's Telea fast-marching fill, which ships with the core install,
so erasing always works. The mask handling, crops and feathered paste-back are
:mod:`revive.masks`; this module only picks and runs the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..engine import Engine
from ..errors import ModelError, OutOfMemory, UnsupportedModel
from ..masks import Boxes, FillFn, MaskInput, WorkSize, default_grow, fill_photo, photo_mask, plan_fill
from ..models import ModelSpec
from ..types import Photo
from .base import StageContext, StageInfo

# The built-in engine (OpenCV's Telea, Telea 2004): no weights, always there. Measured on six
# skimage photos with holes of 8–40 px and scribbles, FSR (opencv-contrib's xphoto) fills 16%
# closer to the hidden pixels but takes 100–3000× longer, and the contrib package would replace
# OpenCV headless in the core install; Navier–Stokes is no better than Telea.
EMBEDDED_ERASE_MODEL = "opencv-telea"
TELEA_RADIUS = 3
# Inpainting architectures, best first: what `erase` picks when the store has several.
ERASE_PREFERENCE = ("LaMa", "MAT")
# The long side each architecture fills best at: LaMa's Fourier convolutions see a whole crop and hold
# up to about 1–2k px; MAT is trained at 512 px (and spandrel declares 512 px squares for it).
WORKING_SIDE = {"LaMa": 1024, "MAT": 512}
DEFAULT_WORKING_SIDE = 512
MIN_WORKING_SIDE = 256  # out-of-memory halving stops here


@dataclass(frozen=True)
class EraseParams:
    """What to erase (a mask image and/or boxes) and how.

    ``mask``: a path, encoded bytes, a numpy array or a Photo (white = remove; any size with the
    photo's proportions). ``model``: an inpainting model's name, or None for the best one in the store
    (else ``opencv-telea``). ``grow``: pixels the mask is grown by before filling (None: 0.4% of the
    long side, at least 3); the fill is feathered over that ring. ``context``: the context kept around
    the mask in each crop, as a share of the masked part's size.
    """

    mask: MaskInput | None = field(default=None, compare=False)
    boxes: Boxes = Boxes()
    model: str | None = None
    grow: int | None = None
    context: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", Boxes(self.boxes))
        check_fill_settings(self.grow, self.context)


def check_fill_settings(grow: int | None, context: float) -> None:
    from ..errors import InvalidParameter

    if grow is not None and not 0 <= grow <= 512:
        raise InvalidParameter(f"grow takes 0 to 512 pixels, got {grow}")
    if not (math.isfinite(context) and 0.0 <= context <= 4.0):
        raise InvalidParameter(f"context takes 0 to 4 (a share of the masked part's size), got {context}")


@dataclass(frozen=True)
class Erased:
    photo: Photo
    model: str
    generative: bool  # a trained model invented the fill
    changed_pixels: int
    crops: int


def telea(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's fast-marching fill. Its 8-bit 3-channel path is the reliable one (the float path
    overshoots the range in OpenCV 5); the fill is smooth, so 8 bits inside the hole lose nothing visible."""
    u8 = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    filled = cv2.inpaint(u8, mask.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)
    return filled.astype(np.float32) / 255.0


def _present(context: StageContext, spec: ModelSpec) -> bool:
    try:
        context.engine.store.locate(spec)
    except ModelError:
        return False
    return True


def choose_model(context: StageContext) -> str:
    """The best inpainting model whose files are in the store, else the built-in engine."""
    def rank(spec: ModelSpec) -> tuple[int, str]:
        arch = spec.architecture
        return (ERASE_PREFERENCE.index(arch) if arch in ERASE_PREFERENCE else len(ERASE_PREFERENCE), spec.name)

    ready = sorted((s for s in context.engine.registry.by_purpose("inpaint") if _present(context, s)), key=rank)
    return ready[0].name if ready else EMBEDDED_ERASE_MODEL


def check_model(name: str, engine: Engine) -> None:
    """Refuse a model that is unknown, not for inpainting, or not in the store, before any photo is read."""
    if name == EMBEDDED_ERASE_MODEL:
        return
    spec = engine.registry.get(name)
    if spec.purpose != "inpaint":
        raise UnsupportedModel(f"{name!r} is a{'n' if spec.purpose[0] in 'aeiou' else ''} {spec.purpose} model; erase "
                               f"needs an inpainting model (LaMa, MAT) or {EMBEDDED_ERASE_MODEL}")
    engine.store.locate(spec)


def _engine(name: str, context: StageContext) -> tuple[FillFn, WorkSize, bool]:
    if name == EMBEDDED_ERASE_MODEL:
        return telea, WorkSize(), False
    check_model(name, context.engine)
    spec = context.engine.registry.get(name)
    model = context.load_model(name)
    if not getattr(model, "takes_mask", False):
        raise UnsupportedModel(f"{name!r} does not take a mask, so it cannot erase")
    side = max(WORKING_SIDE.get(spec.architecture, DEFAULT_WORKING_SIDE), int(getattr(model, "min_size", 1)))
    square = bool(getattr(model, "square", False))
    size = WorkSize(side=side, enlarge=square, multiple_of=int(getattr(model, "multiple_of", 1)), square=square)
    return model.inpaint, size, True  # type: ignore[attr-defined]


def erase_photo(photo: Photo, params: EraseParams, context: StageContext) -> Erased:
    mask = photo_mask(photo.width, photo.height, params.mask, params.boxes)
    name = params.model or choose_model(context)
    fill, size, generative = _engine(name, context)
    grow_px = params.grow if params.grow is not None else default_grow(photo.width, photo.height)
    plan = plan_fill(mask, grow_px, params.context, square=True)
    report = context.tile_progress("erase")
    context.say(f"erasing with {name}")
    while True:
        try:
            result = fill_photo(photo, plan, fill, size, on_region=report)
            break
        except OutOfMemory:  # a smaller crop is coarser but fits
            if size.side is None or size.square or size.side // 2 < MIN_WORKING_SIDE:
                raise
            size = replace(size, side=size.side // 2)
    if report is not None:
        report(len(plan.regions), len(plan.regions))
    return Erased(result, name, generative, plan.changed_pixels, len(plan.regions))


class EraseStage:
    name = "erase"

    def __init__(self, params: EraseParams = EraseParams()) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        return erase_photo(photo, self.params, context).photo


STAGE = StageInfo(
    name="erase", params_type=EraseParams, build=EraseStage, phase=15,
    summary="remove what a mask marks and fill the hole from its surroundings (LaMa, MAT or OpenCV)",
    runs_model=lambda params: params.model != EMBEDDED_ERASE_MODEL, plan=None, generative=True,
)

"""Masks for erase and fill, and the one way a masked fill is applied: pure functions.

A mask marks what to replace (white = remove). :func:`photo_mask` turns a mask image (a path,
bytes, an array or a Photo) and/or boxes into a boolean plane of the photo's size, refusing
masks that are empty, cover everything, have other proportions, or are not images.
:func:`fill_masked` runs any fill function (OpenCV, LaMa, a diffusion pipeline) on crops around
the mask: each crop has context on every side, is resized to the model's working size, and is
pasted back with a feathered edge. Pixels outside the slightly grown mask are never touched, so
they stay bit-identical to the input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import imageio
from .errors import ImageReadError, InvalidParameter
from .imageops import bleed_colour_under_alpha, resize
from .types import Photo

MaskInput = str | os.PathLike[str] | bytes | np.ndarray | Photo
# Proportions a mask may differ by and still be stretched to fit (rounding of a resized copy).
ASPECT_TOLERANCE = 0.02


class MaskError(InvalidParameter):
    """A mask that cannot be used: not an image, empty, covering everything, or of other proportions."""


@dataclass(frozen=True)
class Box:
    """A rectangle to remove, in pixels of the (upright) photo: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise MaskError(f"a box needs a positive width and height, got {self}")

    @classmethod
    def parse(cls, text: str) -> Box:
        """``"x,y,w,h"`` → a Box."""
        parts = [p.strip() for p in str(text).split(",")]
        try:
            x, y, w, h = (int(float(p)) for p in parts)
        except ValueError:
            raise MaskError(f"a box is x,y,width,height in pixels (e.g. 120,80,64,48), got {text!r}") from None
        return cls(x, y, w, h)

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.width},{self.height}"


class Boxes(tuple[Box, ...]):
    """Boxes as one value: from Box objects, ``(x, y, w, h)`` tuples or text ``"x,y,w,h; x,y,w,h"``."""

    def __new__(cls, items: Any = ()) -> Boxes:
        if isinstance(items, str):
            return cls.parse(items)
        return super().__new__(cls, (b if isinstance(b, Box) else Box.parse(b) if isinstance(b, str) else Box(*b)
                                     for b in items))

    @classmethod
    def parse(cls, text: str) -> Boxes:
        parts = re.split(r"\s*;\s*|(?<=[0-9])\s+(?=[-+0-9])", str(text).strip())
        return cls(Box.parse(part) for part in parts if part)

    def __str__(self) -> str:
        return "; ".join(str(b) for b in self)


# --- reading and fitting masks ---------------------------------------------------------------------

def read_mask(source: MaskInput, max_pixels: int | None = imageio.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A mask image as float32 HxW in [0, 1] (1 = remove).

    The brightest channel counts, so a red or white stroke both mark; where the image has alpha,
    transparent pixels are kept (a stroke layer from an editor). A stroke layer painted in one
    colour (black strokes on transparency) is read from its alpha alone.
    """
    photo = _mask_photo(source, max_pixels)
    value = photo.pixels.max(axis=2)
    alpha = photo.alpha
    if alpha is None:
        return np.ascontiguousarray(value, dtype=np.float32)
    if float(value.max() - value.min()) < 1 / 255:  # one colour everywhere: the strokes are the alpha
        return np.ascontiguousarray(alpha, dtype=np.float32)
    return np.ascontiguousarray(value * alpha, dtype=np.float32)


def _mask_photo(source: MaskInput, max_pixels: int | None) -> Photo:
    if isinstance(source, Photo):
        return source
    if isinstance(source, np.ndarray):
        array = source
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        try:
            return Photo.from_array(array)
        except InvalidParameter as err:
            raise MaskError(f"the mask array cannot be used: {err}") from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not source:
            raise MaskError("the mask is empty data (0 bytes), not an image")
        with imageio.spooled(bytes(source)) as path:
            return _read_file(path, "the mask", max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source), f"the mask {os.fspath(source)}", max_pixels)
    raise MaskError(f"a mask is an image file, bytes, a numpy array or a Photo, not a {type(source).__name__}")


def _read_file(path: Path, name: str, max_pixels: int | None) -> Photo:
    try:
        return imageio.read(path, max_pixels=max_pixels)
    except ImageReadError as err:
        reason = str(err).removeprefix(f"{path}: ")
        raise MaskError(f"{name} cannot be read as an image: {reason}") from None


def fit_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A mask plane of any size with the photo's proportions, as a boolean plane of the photo's size."""
    h, w = mask.shape[:2]
    if (w, h) != (width, height):
        if abs((w / h) / (width / height) - 1.0) > ASPECT_TOLERANCE:
            raise MaskError(
                f"the mask is {w}×{h} but the photo is {width}×{height}: a mask is stretched to fit only when it "
                "has the photo's proportions (was it made for another photo, or before rotating it?)"
            )
        shrinking = w >= width and h >= height
        mask = cv2.resize(mask.astype(np.float32), (width, height),
                          interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.asarray(mask >= 0.5)


def boxes_mask(boxes: Sequence[Box], width: int, height: int) -> np.ndarray:
    """Boxes as a boolean plane; a box wholly outside the photo is an error (parts outside are cut off)."""
    out = np.zeros((height, width), bool)
    for box in boxes:
        x0, y0 = max(0, box.x), max(0, box.y)
        x1, y1 = min(width, box.x + box.width), min(height, box.y + box.height)
        if x0 >= x1 or y0 >= y1:
            raise MaskError(f"the box {box} lies outside the {width}×{height} photo")
        out[y0:y1, x0:x1] = True
    return out


def photo_mask(width: int, height: int, mask: MaskInput | None = None, boxes: Sequence[Box] = ()) -> np.ndarray:
    """What to replace in a ``width``×``height`` photo: the mask image and the boxes together."""
    if mask is None and not boxes:
        raise MaskError("say what to replace: give a mask image (white = replace) or at least one box")
    plane = np.zeros((height, width), bool)
    if mask is not None:
        plane |= fit_mask(read_mask(mask), width, height)
    if boxes:
        plane |= boxes_mask(boxes, width, height)
    check_mask(plane)
    return plane


def check_mask(mask: np.ndarray) -> None:
    if not mask.any():
        raise MaskError("the mask is empty: nothing is marked to replace (white marks what to replace)")
    if mask.all():
        raise MaskError("the mask covers the whole photo: nothing is left to fill it from (white marks only what to replace)")


# --- where and how big each fill runs --------------------------------------------------------------

@dataclass(frozen=True)
class WorkSize:
    """What size of crop a fill function wants.

    ``side``: the long side it works best at (None: any size, no resizing); ``enlarge``: small crops
    are enlarged to ``side`` too (diffusion models invent mush below their native size), else only
    larger crops are shrunk; ``multiple_of``: both sides rounded to this; ``square``: the model
    needs square input.
    """

    side: int | None = None
    enlarge: bool = False
    multiple_of: int = 1
    square: bool = False

    def for_crop(self, width: int, height: int) -> tuple[int, int]:
        if self.square:
            side = self.side or max(width, height)
            side = _round_to(side, self.multiple_of)
            return side, side
        long = max(width, height)
        scale = 1.0
        if self.side is not None and (long > self.side or self.enlarge):
            scale = self.side / long
        return _round_to(width * scale, self.multiple_of), _round_to(height * scale, self.multiple_of)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


@dataclass(frozen=True)
class Region:
    """A crop of the photo: columns x0..x1, rows y0..y1 (ends excluded)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def overlaps(self, other: Region) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def union(self, other: Region) -> Region:
        return Region(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))


def default_grow(width: int, height: int) -> int:
    """How far a mask is grown by default: masks drawn by hand stop short of an object's soft edge and shadow."""
    return max(3, round(0.004 * max(width, height)))


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    if pixels <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def feather(core: np.ndarray, grown: np.ndarray) -> np.ndarray:
    """Paste-back weights: 1 on the mask, falling to 0 at the edge of the grown mask, 0 outside it."""
    ramp = max(1.0, float(_grow_width(core, grown)))
    distance = cv2.distanceTransform(grown.astype(np.uint8), cv2.DIST_L2, 5)  # to the nearest kept pixel
    weight = np.clip(distance / ramp, 0.0, 1.0)
    weight[core] = 1.0
    weight[~grown] = 0.0
    return weight.astype(np.float32)


def _grow_width(core: np.ndarray, grown: np.ndarray) -> float:
    """How far ``grown`` reaches beyond ``core`` (the widest ring), from a distance transform."""
    if not (grown & ~core).any():
        return 0.0
    outside_core = cv2.distanceTransform((~core).astype(np.uint8), cv2.DIST_L2, 5)
    return float(outside_core[grown].max())


def fill_regions(mask: np.ndarray, context: float = 0.5, min_context: int = 32, square: bool = True) -> list[Region]:
    """Crops that hold the mask with context on every side: ``context`` × the masked part's size (at least
    ``min_context`` pixels), made square where the photo allows. Parts of the mask far apart get their
    own crops (each keeps its detail); crops that would overlap are merged."""
    height, width = mask.shape
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    regions = []
    for x, y, w, h, _area in stats[1:count]:
        regions.append(_with_context(Region(int(x), int(y), int(x + w), int(y + h)), width, height, context,
                                     min_context, square))
    merged = True
    while merged:  # merge until no two crops overlap (a merge can create a new overlap)
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                if regions[i].overlaps(regions[j]):
                    joined = regions[i].union(regions[j])
                    regions[j] = _with_context(joined, width, height, 0.0, 0, square)
                    del regions[i]
                    merged = True
                    break
            if merged:
                break
    return sorted(regions, key=lambda r: (r.y0, r.x0))


def _with_context(box: Region, width: int, height: int, context: float, min_context: int, square: bool) -> Region:
    margin = max(min_context, round(context * max(box.width, box.height)))
    w, h = box.width + 2 * margin, box.height + 2 * margin
    if square:
        w = h = max(w, h)
    w, h = min(w, width), min(h, height)
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    x0 = int(round(min(max(cx - w / 2, 0), width - w)))  # shifted inside the photo rather than cut
    y0 = int(round(min(max(cy - h / 2, 0), height - h)))
    return Region(x0, y0, x0 + w, y0 + h)


# --- running a fill --------------------------------------------------------------------------------

# (crop RGB float32 HxWx3 at the working size, its mask bool HxW) → the filled crop, same size
FillFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FillPlan:
    """What :func:`fill_masked` will do: the grown mask, its paste-back weights and the crops."""

    mask: np.ndarray
    grown: np.ndarray
    weights: np.ndarray
    regions: tuple[Region, ...]

    @property
    def changed_pixels(self) -> int:
        return int(self.grown.sum())


def plan_fill(mask: np.ndarray, grow_px: int, context: float = 0.5, square: bool = True) -> FillPlan:
    check_mask(mask)
    grown = grow(mask, grow_px)
    return FillPlan(mask, grown, feather(mask, grown), tuple(fill_regions(grown, context, square=square)))


def fill_masked(rgb: np.ndarray, plan: FillPlan, fill: FillFn, size: WorkSize,
                on_region: Callable[[int, int], Any] | None = None) -> np.ndarray:
    """``rgb`` (HxWx3 float32) with the plan's mask filled by ``fill``, crop by crop.

    Each crop is resized to ``size.for_crop``, filled, resized back and blended in with the plan's
    weights; every pixel outside the grown mask keeps its exact value. Later crops see earlier fills.
    """
    out = rgb.copy()
    for i, region in enumerate(plan.regions):
        if on_region is not None:
            on_region(i, len(plan.regions))
        rows, cols = region.slices
        grown = plan.grown[rows, cols]
        work_w, work_h = size.for_crop(region.width, region.height)
        crop = resize(out[rows, cols], work_w, work_h)
        work_mask = _resize_mask(grown, work_w, work_h)
        crop = np.where(work_mask[:, :, None], 0.5, crop).astype(np.float32)  # the hidden pixels never leak in
        filled = np.asarray(fill(np.ascontiguousarray(crop), work_mask), dtype=np.float32)
        if filled.shape != crop.shape:
            raise ValueError(f"the fill returned {filled.shape[1]}×{filled.shape[0]} for a {work_w}×{work_h} crop")
        back = resize(np.clip(filled, 0.0, 1.0), region.width, region.height)
        weight = plan.weights[rows, cols][:, :, None]
        blended = out[rows, cols] * (1.0 - weight) + back * weight
        out[rows, cols] = np.where(weight > 0.0, blended, out[rows, cols])
    return out


def _resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Any coverage counts: a shrunken mask never lets a bit of the object through."""
    if mask.shape == (height, width):
        return mask
    return cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) > 0.0


def fill_photo(photo: Photo, plan: FillPlan, fill: FillFn, size: WorkSize,
               on_region: Callable[[int, int], Any] | None = None) -> Photo:
    """A Photo with its masked part filled (gray stays gray, alpha and metadata stay as they are)."""
    rgb = photo.rgb()
    if photo.alpha is not None:
        rgb = bleed_colour_under_alpha(rgb, photo.alpha)  # no black from under transparent pixels in the fill
    filled = fill_masked(rgb, plan, fill, size, on_region)
    if photo.is_gray:
        pixels = photo.pixels.copy()
        pixels[plan.grown] = filled.mean(axis=2, keepdims=True, dtype=np.float32)[plan.grown]
    else:
        pixels = np.where(plan.grown[:, :, None], filled, photo.pixels).astype(np.float32)
    return photo.evolve(pixels=np.ascontiguousarray(pixels))

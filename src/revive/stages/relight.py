"""Relight: a soft directional key light (and optional fill) on the subject, shaped like a body and a face.

The subject mask gives the shape: its distance transform, square-rooted, is a rounded height field
whose normals face outward at the silhouette and toward the camera in the middle; each face found
(YuNet box and landmarks) is an ellipsoid turned by the nose's offset from the eyes' midpoint, so
cheek, brow and jaw catch the light as a head would. The key light is Lambertian, n·l, on the half
of the subject that faces it (measured from the subject's centre along the light's direction), in
linear light; the fill (``fill``) lifts the subject's shadows from the camera's side.

Highlights are never clipped by the light: every pixel's brightest channel is rolled off toward the
top code value (254.5/255) it started below, with hue kept, and pixels already clipped are left as
they were. Outside the subject mask — and on the subject's far side for the key light — pixels are
returned bit for bit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

from ..analysis.face_detect import Face, detect_faces
from ..colorimetry import linear_to_srgb, srgb_to_linear
from ..errors import InvalidParameter
from ..types import Photo
from .base import StageContext, StageInfo
from .denoise import classical_step
from .regional import check_unit, subject_masks

KEY_GAIN = 1.2  # linear-light gain added at full strength where the light falls square on
FILL_GAIN = 0.8
CEILING = srgb_to_linear(np.array(254.5 / 255.0, np.float64)).item()  # the top code value's lower edge
_SHOULDER = 0.75  # share of the headroom below which the gain applies unchanged
_NAMED = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "top": (0.0, -1.0), "bottom": (0.0, 1.0)}


@dataclass(frozen=True)
class RelightParams:
    light: str = "left"  # left, right, top, bottom, or "x,y": the point the light comes from (fractions of the frame)
    strength: float = 0.5
    fill: float = 0.0
    model: str | None = None  # a segmentation model for the subject mask; None = embedded

    def __post_init__(self) -> None:
        check_unit(self.strength, "relight strength")
        check_unit(self.fill, "fill")
        parse_light(self.light)


def parse_light(text: str) -> tuple[str, tuple[float, float]]:
    """``left``/``right``/``top``/``bottom`` → ("direction", vector); ``0.2,0.1`` → ("point", (x, y))."""
    value = text.strip().lower()
    if value in _NAMED:
        return "direction", _NAMED[value]
    match = re.fullmatch(r"\s*([0-9.]+)\s*,\s*([0-9.]+)\s*", value)
    if match is not None:
        try:
            x, y = float(match.group(1)), float(match.group(2))
        except ValueError:
            x = y = math.nan
        if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0:
            return "point", (x, y)
    raise InvalidParameter(f"--light takes left, right, top, bottom or x,y (fractions of the frame, e.g. 0.1,0.2); "
                           f"got {text!r}")


class RelightStage:
    name = "relight"

    def __init__(self, params: RelightParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if p.strength == 0.0 and p.fill == 0.0:
            return photo
        rgb = photo.rgb()
        faces = detect_faces(rgb)
        subject = subject_masks(photo, ("subject",), context, p.model)["subject"]
        with classical_step(self.name, context):
            pixels = relight(photo.pixels, subject, faces, p)
        return photo.evolve(pixels=pixels)


def light_direction(light: str, centre: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """A unit 2-D vector from the subject toward the light (image axes: x right, y down)."""
    kind, value = parse_light(light)
    if kind == "direction":
        return np.array(value)
    w, h = size
    d = np.array([value[0] * w - centre[0], value[1] * h - centre[1]])
    norm = float(np.hypot(*d))
    return d / norm if norm > 1e-6 else np.array([0.0, -1.0])


def normals(subject: np.ndarray, faces: tuple[Face, ...]) -> np.ndarray:
    """HxWx3 unit normals (x right, y down, z toward the camera) of the subject's rounded shape."""
    h, w = subject.shape
    inside = (subject > 0.5).astype(np.uint8)
    height = np.sqrt(cv2.distanceTransform(inside, cv2.DIST_L2, 5))
    height = cv2.GaussianBlur(height, (0, 0), max(1.0, 0.01 * max(h, w)))
    gy, gx = np.gradient(height)
    n = np.stack([-gx, -gy, np.full_like(gx, 0.35)], axis=2)
    for face in faces:
        x, y, bw, bh = face.box
        cx, cy = x + bw / 2, y + bh / 2
        (rex, _), (lex, _), (nx, _), _, _ = face.landmarks
        yaw = float(np.clip((nx - (rex + lex) / 2) / max(bw / 2, 1.0), -0.6, 0.6))  # the nose's offset turns the head
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        u, v = (xs - cx) / (0.6 * bw), (ys - cy) / (0.7 * bh)
        r2 = u * u + v * v
        ellipse = np.clip(1.2 - r2, 0.0, 1.0)[:, :, None]  # feathered at the face's edge
        nz = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        face_n = np.stack([u + yaw * nz, v, nz], axis=2)
        n = n * (1.0 - ellipse) + face_n * ellipse
    return n / np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-6)


def relight(pixels: np.ndarray, subject: np.ndarray, faces: tuple[Face, ...], params: RelightParams) -> np.ndarray:
    """``pixels`` with the key (and fill) light added on ``subject``; untouched where the light adds nothing."""
    h, w = subject.shape
    weight = subject.astype(np.float64)
    total = float(weight.sum())
    if total <= 0.0:
        return pixels
    ys, xs = np.mgrid[0:h, 0:w]
    centre = (float((xs * weight).sum() / total), float((ys * weight).sum() / total))
    size = math.sqrt(total)
    d = light_direction(params.light, centre, (w, h))
    n = normals(subject, faces)
    toward = np.array([d[0], d[1], 0.3]) / math.hypot(d[0], d[1], 0.3)
    lambert = np.clip(n @ toward, 0.0, 1.0)
    along = (xs - centre[0]) * d[0] + (ys - centre[1]) * d[1]
    lit_side = np.clip(along / (0.08 * size), 0.0, 1.0)  # the half of the subject that faces the light
    key = params.strength * KEY_GAIN * lambert * lit_side * subject
    gain = 1.0 + key
    if params.fill > 0.0:
        lightness = cv2.cvtColor(np.ascontiguousarray(np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels),
                                 cv2.COLOR_RGB2Lab)[:, :, 0]
        shadow = np.clip((60.0 - lightness) / 40.0, 0.0, 1.0)
        gain = gain + params.fill * FILL_GAIN * shadow * (1.0 - lambert * lit_side) * subject
    return apply_gain(pixels, gain.astype(np.float32))


def apply_gain(pixels: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Linear-light gain per pixel with hue kept and highlights rolled off below the top code value."""
    touched = gain > 1.0
    lin = srgb_to_linear(pixels.astype(np.float64))
    peak = lin.max(axis=2)
    clipped = peak >= CEILING
    target = peak * gain
    knee = _SHOULDER * CEILING
    room = CEILING - knee
    rolled = np.where(target > knee, knee + room * (1.0 - np.exp(-(target - knee) / room)), target)
    new_peak = np.where(clipped, peak, np.maximum(peak, np.minimum(rolled, target)))
    ratio = np.where(peak > 1e-9, new_peak / np.maximum(peak, 1e-9), 1.0)
    out = linear_to_srgb(lin * ratio[:, :, None]).astype(np.float32)
    return np.where((touched & ~clipped)[:, :, None], out, pixels).astype(np.float32)


STAGE = StageInfo(
    name="relight", params_type=RelightParams, build=RelightStage, phase=58,
    summary="a soft directional key and fill light on the subject (revive relight; never planned by enhance)",
)

"""Subject masks: soft 0–1 maps of sky, skin, foliage, water and the subject, from the photo alone.

The embedded estimate needs no download. It scores each pixel of a small copy by colour (CIE Lab),
texture (the local spread of lightness) and position, then lets the photo's own edges place the
boundaries with a colour-guided filter at full size:

* **sky** — blue, or bright and neutral-to-cool (haze), smooth, in regions that reach the top of the
  frame; a colour model of that sky then finds it again wherever it shows through (a lattice, a
  branch) above the horizon in each column, never below it (reflections in water stay water).
* **skin** — face-guided: YuNet's landmarks say where cheeks and forehead are; their colour, as a
  Gaussian in Lab, finds the rest of the skin near each face (neck, ears, hands close by). A photo
  without a detected face has no skin mask: colour alone calls orange suits and wood "skin".
* **foliage** — green to yellow-green hue with the texture of leaves.
* **water** — smooth, cool or neutral, below the sky, in regions of some size that do not reach
  the top.
* **subject** — the people (head and shoulders from each face) and what stands out from the
  colours of the frame's border, towards the centre, less sky and water.

A segmentation model from the store (an ONNX SegFormer, ...) replaces the classes it knows
(:func:`masks_from_segmentation`). Every mask is exactly 0 where the class is absent, so a local
adjustment blended by it leaves those pixels bit-identical.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..colorimetry import downscale
from .face_detect import Face
from .guided import guided_filter

CLASSES: tuple[str, ...] = ("sky", "skin", "foliage", "water", "subject")
WORK_SIDE = 512  # the scoring runs on a copy this size; edges come from the full-size photo
ZERO_BELOW = 0.06  # soft values under this are noise of the filter: set to exactly 0
_GUIDE_RADIUS = 1 / 50  # of the long side
_GUIDE_EPS = 5e-3
SKIN_HUE_SPREAD, SKIN_CHROMA_SPREAD = 5.0, 4.0  # the least spread of a face's colour (degrees, Lab chroma)
SKIN_TOLERANCE = 1.5  # shaded skin (neck, jaw) sits further from the lit cheeks than their own spread


@dataclass(frozen=True)
class SubjectMasks:
    """Soft masks (HxW float32 in [0, 1], exactly 0 where the class is absent) by class name."""

    masks: Mapping[str, np.ndarray]
    source: str = "embedded"  # or the segmentation model's name
    notes: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> np.ndarray:
        return self.masks[name]

    def __contains__(self, name: object) -> bool:
        return name in self.masks

    def shares(self) -> dict[str, float]:
        """Each class's share of the frame (the mean of its soft mask)."""
        return {name: round(float(m.mean()), 4) for name, m in self.masks.items()}


def estimate_masks(
    pixels: np.ndarray,
    faces: Iterable[Face] = (),
    classes: Iterable[str] = CLASSES,
    *,
    work_side: int = WORK_SIDE,
    full_size: bool = True,
) -> SubjectMasks:
    """The embedded masks of ``pixels`` (HxWx{1,3} float32 in [0, 1]) for ``classes``.

    ``faces`` are in the photo's pixel coordinates (:func:`~revive.analysis.face_detect.detect_faces`).
    With ``full_size`` False the masks stay at the working size (for measurements).
    """
    wanted = _check(classes)
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
    small = np.ascontiguousarray(downscale(rgb.astype(np.float32), work_side))
    f = small.shape[1] / rgb.shape[1]
    scene = _Scene(small, tuple(faces), f)
    coarse: dict[str, np.ndarray] = {}
    for name in wanted:
        coarse[name] = _ESTIMATORS[name](scene)
    guide = rgb if full_size else small
    return SubjectMasks({name: refine(guide, p) for name, p in coarse.items()})


def masks_from_segmentation(
    pixels: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    faces: Iterable[Face] = (),
    classes: Iterable[str] = CLASSES,
    *,
    source: str = "segmentation model",
) -> SubjectMasks:
    """Masks from a segmentation model's class probabilities (at the photo's size), refined the same way.

    Classes the model does not map come from the embedded estimate; skin, which scene datasets do not
    label, is the embedded face-guided skin kept inside the model's people when it maps them.
    """
    wanted = _check(classes)
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
    faces = tuple(faces)
    missing = [c for c in wanted if c not in probabilities or c == "skin"]
    embedded = estimate_masks(pixels, faces, missing).masks if missing else {}
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        if name in probabilities and name != "skin":
            out[name] = refine(rgb, probabilities[name])
        elif name == "skin" and "subject" in probabilities:
            out[name] = (embedded[name] * refine(rgb, probabilities["subject"])).astype(np.float32)
        else:
            out[name] = embedded[name]
    notes = tuple(f"{c}: the model has no such class, the embedded estimate is used" for c in wanted
                  if c not in probabilities and c != "skin")
    return SubjectMasks(out, source, notes)


def refine(guide: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """A coarse probability map made to follow ``guide``'s edges, at ``guide``'s size, exact 0 below noise."""
    h, w = guide.shape[:2]
    rgb = np.repeat(guide, 3, axis=2) if guide.ndim == 3 and guide.shape[2] == 1 else guide
    radius = max(2, round(max(h, w) * _GUIDE_RADIUS))
    q = guided_filter(rgb, coarse, radius, _GUIDE_EPS)
    return np.clip((q - ZERO_BELOW) / (1.0 - 2 * ZERO_BELOW), 0.0, 1.0).astype(np.float32)


def _check(classes: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(classes))
    unknown = [c for c in wanted if c not in CLASSES]
    if unknown:
        from ..errors import InvalidParameter

        raise InvalidParameter(f"no mask class {unknown[0]!r}; classes: {', '.join(CLASSES)}")
    return wanted


class _Scene:
    """What the estimators share, computed once per photo at the working size."""

    def __init__(self, small: np.ndarray, faces: tuple[Face, ...], scale: float) -> None:
        self.rgb = small
        self.h, self.w = small.shape[:2]
        self.faces, self.scale = faces, scale
        self.lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab)
        self.L, self.a, self.b = (self.lab[:, :, i] for i in range(3))
        self.chroma = np.hypot(self.a, self.b)
        self.hue = np.degrees(np.arctan2(self.b, self.a)) % 360.0
        k = (5, 5)
        mean = cv2.blur(self.L, k)
        self.texture = np.sqrt(np.maximum(cv2.blur(self.L * self.L, k) - mean * mean, 0.0))
        self.rows = np.broadcast_to(np.linspace(0.0, 1.0, self.h, dtype=np.float32)[:, None], (self.h, self.w))
        self._cache: dict[str, np.ndarray] = {}

    def cached(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = _ESTIMATORS[name](self)
        return self._cache[name]


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 at ``lo``, 1 at ``hi`` (either order), linear between."""
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _touching(candidate: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The connected parts of ``candidate`` that contain any ``seed`` pixel."""
    count, labels = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=8)
    keep = np.unique(labels[seed & candidate])
    keep = keep[keep > 0]
    return np.isin(labels, keep) if count > 1 else np.zeros_like(candidate)


def _gaussian_score(lab: np.ndarray, sample: np.ndarray, floor: tuple[float, float, float]) -> np.ndarray:
    """exp(−d²/2) of the Mahalanobis distance to the colour of ``sample`` pixels (Nx3 Lab), with a
    floor on each axis' spread so a very uniform sample does not make the model a needle."""
    mean = sample.mean(axis=0)
    cov = np.cov(sample.T) + np.diag(np.square(floor))
    d = lab.reshape(-1, 3) - mean
    m2 = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    return np.exp(-0.5 * m2).reshape(lab.shape[:2]).astype(np.float32)


def _sky(s: _Scene) -> np.ndarray:
    blue = _ramp(s.b, -2.0, -8.0) * _ramp(s.L, 8.0, 15.0)
    haze = _ramp(s.L, 72.0, 82.0) * _ramp(s.b, 2.0, -1.0) * _ramp(s.chroma, 25.0, 15.0)
    colour = np.maximum(blue, haze)
    smooth = _ramp(s.texture, 4.0, 1.5)
    candidate = colour * smooth * (1.0 - 0.5 * s.rows) > 0.45
    top = np.zeros_like(candidate)
    top[: max(1, s.h // 50)] = True
    main = _touching(candidate, top)
    if main.sum() < 0.01 * s.h * s.w:
        return np.zeros((s.h, s.w), np.float32)
    like = _gaussian_score(s.lab, s.lab[main], (3.0, 1.5, 2.5))
    # the horizon of each column: below the lowest sky pixel of its neighbourhood there is no sky
    lowest = np.where(main.any(axis=0), s.h - 1 - np.argmax(main[::-1], axis=0), -1).astype(np.float32)
    lowest = cv2.dilate(lowest[None, :], np.ones((1, max(3, s.w // 25)), np.uint8))[0]
    above = np.arange(s.h)[:, None] <= lowest[None, :] + 1
    sky = np.where(main, 1.0, np.where(above, _ramp(like, 0.05, 0.4), 0.0))
    return sky.astype(np.float32)


def _face_sample(s: _Scene, face: Face) -> np.ndarray:
    """A boolean mask of the cheeks, forehead and nose bridge of one face (from its landmarks)."""
    (rex, rey), (lex, ley), (nx, ny), (rmx, rmy), (lmx, lmy) = ((x * s.scale, y * s.scale) for x, y in face.landmarks)
    eye = max(2.0, float(np.hypot(lex - rex, ley - rey)))
    up = np.array([rex + lex - rmx - lmx, rey + ley - rmy - lmy]) / 2.0
    up /= max(1e-6, float(np.hypot(*up)))
    spots = [((rex + rmx) / 2 - 0.1 * (lmx - rmx), (rey + rmy) / 2), ((lex + lmx) / 2 + 0.1 * (lmx - rmx), (ley + lmy) / 2),
             ((rex + lex) / 2 + up[0] * 0.45 * eye, (rey + ley) / 2 + up[1] * 0.45 * eye),
             ((rex + lex + 2 * nx) / 4, (rey + ley + 2 * ny) / 4)]
    radius = max(1, round(0.12 * eye))
    mask = np.zeros((s.h, s.w), np.uint8)
    for x, y in spots:
        cv2.circle(mask, (round(x), round(y)), radius, 1, -1)
    return mask > 0


def _skin_likeness(s: _Scene, spots: np.ndarray) -> np.ndarray:
    """How much each pixel looks like the skin at ``spots``: hue and chroma (shading changes lightness
    far more than these), not much darker, and no more textured than skin with its pores and lines."""
    hue, chroma, light, texture = s.hue[spots], s.chroma[spots], s.L[spots], s.texture[spots]
    mean_hue = float(np.degrees(np.arctan2(np.sin(np.radians(hue)).mean(), np.cos(np.radians(hue)).mean())) % 360)
    hue_spread = SKIN_TOLERANCE * max(float(np.std((hue - mean_hue + 180) % 360 - 180)), SKIN_HUE_SPREAD)
    chroma_spread = SKIN_TOLERANCE * max(float(chroma.std()), SKIN_CHROMA_SPREAD)
    d_hue = ((s.hue - mean_hue + 180.0) % 360.0 - 180.0) / hue_spread
    d_chroma = (s.chroma - float(chroma.mean())) / chroma_spread
    t = float(np.median(texture))
    return (np.exp(-0.5 * (d_hue**2 + d_chroma**2)) * _ramp(s.L, 0.25 * float(light.mean()), 0.45 * float(light.mean()))
            * _ramp(s.texture, 4.0 * t + 4.0, 2.0 * t + 2.0)).astype(np.float32)


def _skin(s: _Scene) -> np.ndarray:
    out = np.zeros((s.h, s.w), np.float32)
    ys, xs = np.mgrid[0 : s.h, 0 : s.w].astype(np.float32)
    for face in s.faces:
        spots = _face_sample(s, face)
        if np.count_nonzero(spots) < 6:
            continue
        like = _skin_likeness(s, spots)
        x, y, w, h = (v * s.scale for v in face.box)
        cx, size = x + w / 2, max(w, h)
        # near the face: head, neck, shoulders and hands close to the body
        near = _ramp(np.abs(xs - cx) / size, 1.8, 1.1) * _ramp(ys, y - 0.25 * h, y + 0.05 * h) * _ramp(ys, y + 5 * h, y + 3 * h)
        p = _ramp(like, 0.05, 0.3) * near
        # skin joined to the face, or a well-matching patch of some size (a hand), not specks on a sleeve
        count, labels, stats, _ = cv2.connectedComponentsWithStats((p > 0.5).astype(np.uint8), connectivity=8)
        core = np.zeros((s.h, s.w), bool)
        core[round(y + 0.2 * h) : round(y + 0.8 * h), round(x + 0.2 * w) : round(x + 0.8 * w)] = True
        joined = set(np.unique(labels[core])) - {0}
        keep = [i for i in range(1, count) if i in joined or (
            stats[i, cv2.CC_STAT_AREA] >= 0.15 * w * h and float(like[labels == i].mean()) > 0.5)]
        region = cv2.dilate(np.isin(labels, keep).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        out = np.maximum(out, np.where(region, p, 0.0))
    return out.astype(np.float32)


def _foliage(s: _Scene) -> np.ndarray:
    hue = _ramp(s.hue, 80.0, 95.0) * _ramp(s.hue, 190.0, 165.0)
    colour = hue * _ramp(s.chroma, 3.0, 8.0)
    leafy = _ramp(s.texture, 1.5, 4.0)
    p = colour * leafy
    p = cv2.morphologyEx(p, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))  # the shadows between leaves
    p = cv2.GaussianBlur(p, (0, 0), 1.5)
    return (_ramp(p, 0.25, 0.6) * (1.0 - s.cached("sky"))).astype(np.float32)


def _water(s: _Scene) -> np.ndarray:
    sky = s.cached("sky")
    smooth = _ramp(s.texture, 6.0, 2.0)
    cool = np.maximum(_ramp(s.b, 4.0, -2.0), _ramp(s.chroma, 14.0, 8.0)) * _ramp(s.L, 15.0, 30.0)
    horizon = np.argmax(sky.max(axis=1) < 0.5) if sky.any() else s.h // 3
    below = np.arange(s.h)[:, None] > horizon
    p = smooth * cool * below * (1.0 - sky) * (1.0 - s.cached("foliage"))
    p = cv2.morphologyEx(p, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))  # boats, ripples
    candidate = p > 0.5
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 0.01 * s.h * s.w and stats[i, cv2.CC_STAT_TOP] > 0]
    return np.where(np.isin(labels, keep), p, 0.0).astype(np.float32)


def _subject(s: _Scene) -> np.ndarray:
    people = np.zeros((s.h, s.w), np.float32)
    for face in s.faces:
        x, y, w, h = (v * s.scale for v in face.box)
        body = np.zeros((s.h, s.w), np.uint8)
        cx, cy = x + w / 2, y + h / 2
        cv2.ellipse(body, (round(cx), round(cy)), (round(0.65 * w), round(0.8 * h)), 0, 0, 360, 1, -1)
        shoulders = np.array([[cx - 0.7 * w, y + 1.1 * h], [cx + 0.7 * w, y + 1.1 * h], [cx + 1.9 * w, y + 2.2 * h],
                              [cx + 2.1 * w, s.h], [cx - 2.1 * w, s.h], [cx - 1.9 * w, y + 2.2 * h]])
        cv2.fillPoly(body, [np.round(shoulders).astype(np.int32)], 1)
        people = np.maximum(people, body.astype(np.float32))
    # the frame's border colours: the median of each third of each side (deterministic, unlike k-means)
    sides = [s.lab[:2].reshape(2, -1, 3)[0], s.lab[-2:].reshape(2, -1, 3)[0], s.lab[:, :2, :][:, 0], s.lab[:, -2:, :][:, 0]]
    centres = np.array([np.median(part, axis=0) for side in sides for part in np.array_split(side, 3)], np.float32)
    distance = np.min(np.linalg.norm(s.lab[:, :, None, :] - centres[None, None], axis=3), axis=2)
    ys, xs = np.mgrid[0 : s.h, 0 : s.w].astype(np.float32)
    centre = np.exp(-(((xs / s.w - 0.5) / 0.35) ** 2 + ((ys / s.h - 0.5) / 0.4) ** 2) / 2)
    stands_out = _ramp(cv2.GaussianBlur(distance, (0, 0), 2.0), 12.0, 30.0) * centre
    background = np.maximum(s.cached("sky"), s.cached("water"))
    p = np.maximum(people, _ramp(stands_out, 0.2, 0.5)) * (1.0 - background)
    candidate = p > 0.5
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 0.01 * s.h * s.w]
    return np.where(np.isin(labels, keep) | (people > 0), p, 0.0).astype(np.float32)


_ESTIMATORS: dict[str, Any] = {"sky": _sky, "skin": _skin, "foliage": _foliage, "water": _water, "subject": _subject}


def iou(mask: np.ndarray, reference: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of two masks thresholded at ``threshold`` (1.0 when both are empty)."""
    a, b = mask > threshold, reference > threshold
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union

"""Is the restored face still the same person? Two checks on the aligned crops.

1. Landmarks: the five points are found again (YuNet) on the restored face and on the original
   crop; their mean distance, in units of the distance between the eyes, says how far features
   moved. A restorer that draws a face shifted, stretched or turned moves them.
2. Structure: SSIM of the two crops' luma at low resolution (64 px), under the paste mask. The
   coarse structure — hair line, shadows, where things are — survives any honest restoration; a
   mirrored or different face loses it even where the landmarks, symmetric by nature, agree.

Calibrated on skimage's astronaut and cameraman and the public-domain Grace Hopper portraits
(crops aligned at 512 px; tests/test_faces.py re-measures them): stand-ins for an honest restorer
(the crop itself, sharpened, JPEG q20, bilateral-smoothed, colour-shifted) kept landmarks within
0.055 eye distances and SSIM at 0.988 or more; the crop mirrored fell to SSIM 0.18–0.45, rotated
by 10° to 0.31–0.43, another person's face to 0.10–0.31, and a shift by a fifth of the eye distance
moved the landmarks by 0.17–0.23. The limits sit between, nearer the failures: a real restorer
invents skin and hair texture that these stand-ins do not, and only that texture, which 64 px hides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .face_align import TEMPLATE_EYE_DISTANCE, face_mask
from .face_detect import detect_faces

MAX_LANDMARK_SHIFT = 0.12  # mean landmark distance over the eye distance that still counts as the same face
MIN_SSIM = 0.6  # low-resolution structural similarity under the mask that still counts as the same face
_SSIM_SIDE = 64
_REDETECT_SCORE = 0.3  # any face will do: we want its landmarks, not a decision
_WINDOW = np.outer(cv2.getGaussianKernel(7, 1.0), cv2.getGaussianKernel(7, 1.0).T)


@dataclass(frozen=True)
class IdentityCheck:
    """How much a restored face differs from the original, and whether that is too much."""

    landmark_shift: float | None  # mean distance over the eye distance; None: no face found on the restored crop
    ssim: float
    passed: bool

    @property
    def gross(self) -> bool:
        """Not a drift but another face (no face at all, features far off, structure mostly gone):
        softening would only leave a ghost of it."""
        return (self.landmark_shift is None or self.landmark_shift > 2 * MAX_LANDMARK_SHIFT
                or self.ssim < MIN_SSIM / 2)

    @property
    def reason(self) -> str:
        if self.passed:
            return ""
        if self.landmark_shift is None:
            return "no face could be found on the restored face"
        if self.landmark_shift > MAX_LANDMARK_SHIFT:
            return f"features moved by {self.landmark_shift:.2f} eye distances (limit {MAX_LANDMARK_SHIFT:g})"
        return f"its structure differs from the original's (SSIM {self.ssim:.2f}, limit {MIN_SSIM:g})"

    def to_dict(self) -> dict[str, Any]:
        shift = None if self.landmark_shift is None else round(self.landmark_shift, 4)
        return {"landmark_shift": shift, "ssim": round(self.ssim, 4), "passed": self.passed}


def landmarks_of(face: np.ndarray) -> np.ndarray | None:
    """The five landmarks of the face nearest the centre of an aligned crop, or None."""
    found = detect_faces(face, score_threshold=_REDETECT_SCORE)
    if not found:
        return None
    centre = face.shape[1] / 2, face.shape[0] / 2

    def distance(f: Any) -> float:
        x, y, w, h = f.box
        return math.hypot(x + w / 2 - centre[0], y + h / 2 - centre[1])

    return np.asarray(min(found, key=distance).landmarks, np.float64)


def masked_ssim(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> float:
    """Mean SSIM of two aligned crops' luma at 64 px, weighted by ``weight`` (HxW at the crops' size)."""
    def small(v: np.ndarray) -> np.ndarray:
        gray = v @ np.array([0.299, 0.587, 0.114], np.float32) if v.ndim == 3 and v.shape[2] == 3 else v.reshape(v.shape[:2])
        return cv2.resize(np.ascontiguousarray(gray, np.float32), (_SSIM_SIDE, _SSIM_SIDE), interpolation=cv2.INTER_AREA)

    x, y = small(a).astype(np.float64), small(b).astype(np.float64)
    w = cv2.resize(np.ascontiguousarray(weight, np.float32), (_SSIM_SIDE, _SSIM_SIDE), interpolation=cv2.INTER_AREA)

    def blur(v: np.ndarray) -> np.ndarray:
        return cv2.filter2D(v, -1, _WINDOW, borderType=cv2.BORDER_REFLECT)

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    total = float(w.sum())
    return float((ssim_map * w).sum() / total) if total > 0 else 1.0


def check_identity(original: np.ndarray, restored: np.ndarray, inside: np.ndarray,
                   original_landmarks: np.ndarray | None = None) -> IdentityCheck:
    """Compare a restored aligned crop with the original one. ``inside`` marks the crop's photo
    pixels; ``original_landmarks`` (in crop pixels) stand in when the original crop is too blurred
    for the detector to find its face again."""
    weight = face_mask(original.shape[0]) * inside
    score = masked_ssim(original, restored, weight)
    marks_restored = landmarks_of(restored)
    marks_original = landmarks_of(original)
    if marks_original is None:
        marks_original = original_landmarks
    shift = None
    if marks_restored is not None and marks_original is not None:
        eye = TEMPLATE_EYE_DISTANCE * original.shape[0] / 512
        shift = float(np.linalg.norm(marks_restored - marks_original, axis=1).mean() / eye)
    passed = shift is not None and shift <= MAX_LANDMARK_SHIFT and score >= MIN_SSIM
    return IdentityCheck(shift, score, passed)

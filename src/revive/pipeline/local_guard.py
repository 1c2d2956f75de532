"""The local half of the fidelity guard: where, at the input's scale, does the model disagree?

A whole-picture score lets local inventions through (rings drawn into an iris, a tower removed,
nuclei added to a micrograph: each a few percent of the pixels). Here the model's result and the
faithful reference are both area-downscaled to the input's size and compared in sliding windows
(16×16 input pixels by default): the RMS difference of each window, in 8-bit units, against a
tolerance. Below ``tolerance`` the model keeps its full share; from there to twice the tolerance
its share falls to nothing. The map is widened by a quarter window (so a softened patch covers the
whole invention, not its centre) and feathered with a Gaussian, then enlarged to the output's size.

Faces get half the tolerance: eyes, teeth and skin are where an invention is noticed first.

On a noisy photo the two tracks differ by the grain the model removed and the classical filter left
(on skimage photos with σ 25: RMS up to 17 in a window, where nothing was invented); there the
difference is blurred first (``smooth``, σ 1 px), which leaves a quarter of the grain and most of
any shape of 3 px or more.

The guard's back-projection is :func:`revive.imageops.back_project`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in input pixels


@dataclass(frozen=True)
class LocalCheck:
    """The local strength map (0..1 at the input's size) and the numbers that explain it."""

    strength: np.ndarray  # HxW float32: 1 = the model's full share, 0 = the reference
    error: np.ndarray  # HxW float32: windowed RMS difference, 8-bit units
    worst_psnr: float  # the worst window's PSNR (dB) between model and reference at the input size

    @property
    def softened_share(self) -> float:
        """Share of the picture where the model's share was lowered by more than 5 %."""
        return float(np.mean(self.strength < 0.95))

    def regions(self, limit: int = 3) -> list[Box]:
        """The largest softened places, as boxes in input pixels (largest first)."""
        mask = (self.strength < 0.95).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = sorted((tuple(int(v) for v in stats[i, :4]) for i in range(1, count)), key=lambda b: -b[2] * b[3])
        return [(b[0], b[1], b[2], b[3]) for b in boxes[:limit]]


def window_error(small_result: np.ndarray, small_ref: np.ndarray, window: int,
                 weight: np.ndarray | None = None, smooth: float = 0.0) -> np.ndarray:
    """RMS difference (8-bit units) over the window×window neighbourhood of every input pixel; with
    ``smooth`` the difference is first blurred (Gaussian σ in pixels): grain one track kept and the
    other removed then counts for little, a changed or invented shape still counts."""
    diff = (small_result - small_ref) * 255.0
    if smooth > 0.0:
        diff = cv2.GaussianBlur(diff, (0, 0), smooth, borderType=cv2.BORDER_REFLECT).reshape(diff.shape)
    sq = np.asarray(np.mean(np.square(diff), axis=2, dtype=np.float32))
    if weight is not None:  # transparent pixels do not count
        sq = sq * weight
    side = max(1, min(window, *sq.shape))
    return np.sqrt(np.maximum(cv2.blur(sq, (side, side), borderType=cv2.BORDER_REFLECT), 0.0))


def face_mask(shape: tuple[int, int], faces: tuple[Box, ...], margin: float = 0.25) -> np.ndarray:
    """1 inside the (enlarged) face boxes, 0 elsewhere, feathered over a fifth of a face."""
    h, w = shape
    mask = np.zeros((h, w), np.float32)
    for x, y, bw, bh in faces:
        mx, my = round(bw * margin), round(bh * margin)
        mask[max(0, y - my) : min(h, y + bh + my), max(0, x - mx) : min(w, x + bw + mx)] = 1.0
    if faces and mask.any():
        sigma = max(1.0, min(bw for _, _, bw, _ in faces) / 5.0)
        mask = np.maximum(mask, cv2.GaussianBlur(mask, (0, 0), sigma))
    return mask


def local_strength(small_result: np.ndarray, small_ref: np.ndarray, *, window: int, tolerance: float,
                   faces: tuple[Box, ...] = (), weight: np.ndarray | None = None, smooth: float = 0.0) -> LocalCheck:
    """The model's local share (see the module docstring) at the input's size."""
    error = window_error(small_result, small_ref, window, weight, smooth)
    tol = np.full(error.shape, tolerance, np.float32)
    if faces:
        tol *= 1.0 - 0.5 * face_mask(error.shape, faces)
    strength = np.clip((2.0 * tol - error) / tol, 0.0, 1.0).astype(np.float32)
    if strength.min() < 1.0:
        grow = max(1, window // 4) | 1  # odd: symmetric; a little margin around what was softened
        strength = cv2.erode(strength, np.ones((grow, grow), np.uint8), borderType=cv2.BORDER_REPLICATE)
        strength = cv2.GaussianBlur(strength, (0, 0), max(0.5, window / 4.0), borderType=cv2.BORDER_REPLICATE)
    worst = float(error.max())
    worst_psnr = 10.0 * float(np.log10(255.0**2 / worst**2)) if worst > 0 else float("inf")
    return LocalCheck(strength.reshape(error.shape), error, worst_psnr)

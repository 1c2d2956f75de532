"""The guided filter (He, Sun and Tang, 2010), written with box filters: edge-aware smoothing.

A coarse mask ``p`` becomes ``q = a·I + b`` locally for the guide ``I`` (the photo's luma or colour),
so the mask's edges snap to the photo's own edges. OpenCV's ``ximgproc`` has one, but not in the
headless wheel revive depends on; this is the few lines it takes with ``cv2.boxFilter``.
The "fast" variant solves for ``a`` and ``b`` on a smaller copy and applies them at full size
(He and Sun, 2015): the cost of a mask for a 24 MP photo is then a resize and two multiplies.
"""

from __future__ import annotations

import cv2
import numpy as np


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def _coefficients_gray(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    mean_i, mean_p = _box(guide, r), _box(p, r)
    var_i = _box(guide * guide, r) - mean_i * mean_i
    cov_ip = _box(guide * p, r) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, r), _box(b, r)


def _coefficients_color(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The colour-guided filter: a 3×3 covariance per pixel, solved in closed form (batched)."""
    mean_i = np.stack([_box(guide[:, :, c], r) for c in range(3)], axis=2)
    mean_p = _box(p, r)
    cov_ip = np.stack([_box(guide[:, :, c] * p, r) for c in range(3)], axis=2) - mean_i * mean_p[:, :, None]
    sigma = np.empty((*p.shape, 3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = _box(guide[:, :, i] * guide[:, :, j], r) - mean_i[:, :, i] * mean_i[:, :, j]
            sigma[:, :, i, j] = sigma[:, :, j, i] = v
    sigma += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(sigma, cov_ip[..., None])[..., 0].astype(np.float32)
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return np.stack([_box(a[:, :, c], r) for c in range(3)], axis=2), _box(b, r)


def guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float = 1e-3,
                  work_side: int | None = 768) -> np.ndarray:
    """``p`` (HxW, float) filtered with ``guide`` (HxW or HxWx3 in [0, 1]); same size as ``guide``.

    ``radius`` is in pixels of ``guide``; with ``work_side`` the coefficients are found on a copy
    whose long side is at most that, and applied to the full-size guide.
    """
    h, w = guide.shape[:2]
    guide = np.ascontiguousarray(guide, dtype=np.float32)
    p = np.ascontiguousarray(p, dtype=np.float32)
    f = 1.0 if work_side is None or max(h, w) <= work_side else work_side / max(h, w)
    if f < 1.0:
        size = (max(1, round(w * f)), max(1, round(h * f)))
        small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
        small_p = cv2.resize(p, size, interpolation=cv2.INTER_AREA) if p.shape[:2] != size[::-1] else p
    else:
        small_guide = guide
        small_p = p if p.shape == (h, w) else cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
    r = max(1, round(radius * f))
    color = small_guide.ndim == 3 and small_guide.shape[2] == 3
    if color:
        a, b = _coefficients_color(small_guide, small_p, r, eps)
    else:
        g = small_guide[:, :, 0] if small_guide.ndim == 3 else small_guide
        a, b = _coefficients_gray(g, small_p, r, eps)
    if f < 1.0:
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    full = guide if color else (guide[:, :, 0] if guide.ndim == 3 else guide)
    q = np.einsum("hwc,hwc->hw", a.reshape(h, w, 3), full) + b if color else a * full + b
    return q.astype(np.float32)

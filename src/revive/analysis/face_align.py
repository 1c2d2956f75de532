"""Face geometry: alignment to the FFHQ template, warps both ways, the paste mask, colour matching.

Face restorers (GFPGAN, RestoreFormer, CodeFormer) were trained on FFHQ faces aligned by five
landmarks to one template at 512×512 px. A detected face is brought there by a similarity
transform (rotation, uniform scale, translation: roll is undone, the face is not distorted),
restored, and pasted back through the inverse transform — into the input or into an enlarged copy
of it — under a feathered elliptic mask that is zero well inside the crop's edge, so no seam shows.

All functions are pure and work on float32 HxWxC arrays in [0, 1]. Matrices are 2×3 affine maps
from source pixels to destination pixels (pixel centres at integer coordinates, as OpenCV's).
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from .face_detect import Face, detect_faces

FACE_SIZE = 512
# facexlib's FFHQ five-point template at 512 px, in the detector's order: the eye on the image's
# left, the other eye, the nose tip, the mouth corner on the image's left, the other corner.
FFHQ_TEMPLATE = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                          [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float32)
TEMPLATE_EYE_DISTANCE = float(np.linalg.norm(FFHQ_TEMPLATE[1] - FFHQ_TEMPLATE[0]))
# What restorers saw around faces that reached the crop's edge in training (facexlib's fill).
CROP_FILL = (135 / 255, 133 / 255, 132 / 255)
_SHRINK_FIRST = 1.5  # a warp that shrinks more than this averages areas first (no aliasing)
ROLL_SEARCH = (-60.0, -45.0, -30.0, -15.0, 15.0, 30.0, 45.0, 60.0)  # degrees a face is turned to find where it stands upright
ROLL_BAND = 0.05  # turns whose confidence is this close to the best one's vote for where upright is
ROLL_KEEP = 7.5  # degrees: a face estimated this close to upright keeps the detector's landmarks
ROLL_REFINE = 12.0  # degrees either way the turned alignment is refined by mirror symmetry
_ROLL_CROP = 256  # px: faces are looked at again at most this large
Matrix = np.ndarray  # 2×3 float64
Points = np.ndarray | tuple[tuple[float, float], ...]  # N×2, x then y


def to_3x3(m: Matrix) -> np.ndarray:
    return np.vstack([np.asarray(m, np.float64), [0.0, 0.0, 1.0]])


def compose(*ms: Matrix) -> Matrix:
    """The affine map that applies the last matrix first: compose(a, b)(x) = a(b(x))."""
    out = np.eye(3)
    for m in ms:
        out = out @ to_3x3(m)
    return out[:2]


def translation(dx: float, dy: float) -> Matrix:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def resampling(factor_x: float, factor_y: float) -> Matrix:
    """Pixel-centre map of a resize by these factors: x' = (x + 0.5)·f − 0.5."""
    return np.array([[factor_x, 0.0, 0.5 * factor_x - 0.5], [0.0, factor_y, 0.5 * factor_y - 0.5]])


def scale_of(m: Matrix) -> float:
    """How much a similarity transform enlarges (destination pixels per source pixel)."""
    return math.sqrt(abs(float(np.linalg.det(np.asarray(m, np.float64)[:, :2]))))


def apply(m: Matrix, points: Points) -> np.ndarray:
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return p @ np.asarray(m, np.float64)[:, :2].T + np.asarray(m, np.float64)[:, 2]


def alignment(landmarks: Points, size: int = FACE_SIZE) -> Matrix:
    """The similarity transform from photo pixels to the aligned ``size``×``size`` face."""
    src = np.asarray(landmarks, np.float32).reshape(5, 2)
    dst = FFHQ_TEMPLATE * np.float32(size / FACE_SIZE)
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)  # robust to one misplaced landmark
    if m is None or not np.all(np.isfinite(m)):
        m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1e6)
    if m is None or not np.all(np.isfinite(m)) or scale_of(m) <= 0:
        raise ValueError("the landmarks do not define a face (all points coincide)")
    return np.asarray(m, np.float64)


def upright_alignment(pixels: np.ndarray, face: Face) -> tuple[Matrix, np.ndarray]:
    """The alignment of a face that may be rolled, and the landmarks it was found from.

    YuNet places landmarks as if the eyes were nearly level: on the astronaut rolled by 25° they
    come out tilted by 5°. Its confidence, though, peaks when a face is upright. So the face is
    detected again in crops turned by each of ``ROLL_SEARCH``; the turn that makes it upright is the
    confidence-weighted mean of the turns within ``ROLL_BAND`` of the best (within 9° on the test
    portraits rolled by up to 40°), the landmarks are taken from the crop turned by that much, and
    the alignment is then turned by up to ``ROLL_REFINE`` degrees to where the face is most
    mirror-symmetric. Faces estimated within ``ROLL_KEEP`` of upright keep the detector's landmarks.
    """
    original = np.asarray(face.landmarks, np.float64)
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    side = 2.2 * max(w, h)
    f = min(1.0, _ROLL_CROP / side)
    n = max(32, round(side * f))

    def look(angle: float) -> tuple[float, np.ndarray | None]:
        turn = cv2.getRotationMatrix2D((cx, cy), angle, f)
        turn[:, 2] += np.array([n / 2 - cx, n / 2 - cy])
        crop = warp(pixels, turn, (n, n), fill=CROP_FILL, interpolation=cv2.INTER_LINEAR)
        found = [c for c in detect_faces(crop, score_threshold=0.3)
                 if abs(c.box[0] + c.box[2] / 2 - n / 2) < n / 4 and abs(c.box[1] + c.box[3] / 2 - n / 2) < n / 4]
        if not found:
            return 0.0, None
        top = max(found, key=lambda c: c.score)
        return top.score, apply(cv2.invertAffineTransform(turn), top.landmarks)

    scores = {a: look(a)[0] for a in (0.0, *ROLL_SEARCH)}
    floor = max(scores.values()) - ROLL_BAND
    weights = {a: s - floor for a, s in scores.items() if s > floor and s > 0}
    upright = sum(a * wt for a, wt in weights.items()) / sum(weights.values()) if weights else 0.0
    marks = look(upright)[1] if abs(upright) >= ROLL_KEEP else None
    if marks is None:
        return alignment(original), original
    m = alignment(marks)
    turns = np.arange(-ROLL_REFINE, ROLL_REFINE + 1e-6, 2.0)
    best = max(turns, key=lambda t: _mirror_symmetry(pixels, compose(_turn_crop(float(t)), m)))
    return compose(_turn_crop(float(best)), m), marks


def _turn_crop(degrees: float, size: int = FACE_SIZE) -> Matrix:
    return np.asarray(cv2.getRotationMatrix2D((size / 2, size / 2), degrees, 1.0), np.float64)


def _mirror_symmetry(pixels: np.ndarray, m: Matrix, side: int = 96) -> float:
    """How alike the aligned face and its mirror image are (correlation of local structure under the mask)."""
    small = compose(resampling(side / FACE_SIZE, side / FACE_SIZE), m)
    crop = warp(pixels, small, (side, side), fill=CROP_FILL, interpolation=cv2.INTER_LINEAR)
    gray = crop @ np.array([0.299, 0.587, 0.114], np.float32) if crop.ndim == 3 else crop
    detail = gray - cv2.GaussianBlur(gray, (0, 0), side / 12)  # structure, not the direction of the light
    weight = cv2.resize(face_mask(), (side, side), interpolation=cv2.INTER_AREA)
    a = detail - (detail * weight).sum() / weight.sum()
    b = a[:, ::-1]
    return float((a * b * weight).sum() / max(float(np.sqrt((a * a * weight).sum() * (b * b * weight).sum())), 1e-12))


def frontal_position(landmarks: Points) -> float:
    """Where the nose tip sits between the eyes, along the line joining them: 0.5 for a face seen
    from the front, towards 0 or 1 (and beyond) as the head turns into profile."""
    p = np.asarray(landmarks, np.float64).reshape(5, 2)
    axis = p[1] - p[0]
    length2 = float(axis @ axis)
    if length2 == 0.0:
        return 0.0
    return float((p[2] - p[0]) @ axis / length2)


def warp(src: np.ndarray, m: Matrix, size: tuple[int, int], *, fill: tuple[float, ...] | float = 0.0,
         interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """``src`` mapped by ``m`` onto a ``size`` = (width, height) canvas; outside ``src`` is ``fill``.

    Only the part of ``src`` that lands on the canvas is read, and a warp that shrinks averages
    areas first, so a large face does not alias and a small canvas in a large photo costs little.
    """
    width, height = size
    channels = src.shape[2] if src.ndim == 3 else 0
    inverse = cv2.invertAffineTransform(np.asarray(m, np.float64))
    corners = apply(inverse, np.array([[-1, -1], [width, -1], [-1, height], [width, height]], np.float64))
    shrink = scale_of(m)
    margin = 3.0 / max(shrink, 1e-6) + 3.0  # the interpolation kernel's reach, in source pixels
    h, w = src.shape[:2]
    x0, y0 = (max(0, math.floor(v - margin)) for v in corners.min(axis=0))
    x1, y1 = min(w, math.ceil(corners[:, 0].max() + margin)), min(h, math.ceil(corners[:, 1].max() + margin))
    border = fill if isinstance(fill, tuple) else (fill,) * max(1, channels)
    if x1 <= x0 or y1 <= y0:
        blank = np.empty((height, width, channels) if channels else (height, width), np.float32)
        blank[...] = np.asarray(border[: max(1, channels)], np.float32) if channels else border[0]
        return blank
    crop: np.ndarray = np.ascontiguousarray(src[y0:y1, x0:x1], dtype=np.float32)
    m = compose(m, translation(x0, y0))
    if shrink < 1.0 / _SHRINK_FIRST:
        cw, ch = max(1, round(crop.shape[1] * shrink)), max(1, round(crop.shape[0] * shrink))
        fx, fy = cw / crop.shape[1], ch / crop.shape[0]
        crop = cv2.resize(crop, (cw, ch), interpolation=cv2.INTER_AREA)
        m = compose(m, cv2.invertAffineTransform(resampling(fx, fy)))
    out: np.ndarray = cv2.warpAffine(crop, np.asarray(m, np.float64), (width, height), flags=interpolation,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(tuple(float(v) for v in border) + (0.0,) * 4)[:4])
    if channels and out.ndim == 2:
        out = out[:, :, None]
    return np.clip(out, 0.0, 1.0) if interpolation == cv2.INTER_CUBIC else out


def align_face(pixels: np.ndarray, m: Matrix, size: int = FACE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The aligned crop of RGB ``pixels`` and where it holds photo pixels (HxW: 1 inside, 0 beyond the photo's edge)."""
    face = warp(pixels, m, (size, size), fill=CROP_FILL)
    inside = warp(np.ones(pixels.shape[:2], np.float32), m, (size, size), interpolation=cv2.INTER_LINEAR)
    return face, np.clip(inside, 0.0, 1.0)


@lru_cache(maxsize=4)
def face_mask(size: int = FACE_SIZE) -> np.ndarray:
    """The paste mask in aligned space (HxW float32, read-only): 1 over the face from forehead to
    chin, falling off smoothly, exactly 0 for the outer eighth of the crop on every side."""
    f = size / FACE_SIZE
    sigma = 18.0 * f
    mask: np.ndarray = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (round(256 * f), round(268 * f)), (round(140 * f), round(176 * f)), 0, 0, 360, 1.0, -1,
                lineType=cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    mask[mask < 1 / 1024] = 0.0  # no faint tail: what the mask does not cover stays bit-exact
    edge = max(1, round(size / 8))
    mask[:edge], mask[-edge:], mask[:, :edge], mask[:, -edge:] = 0.0, 0.0, 0.0, 0.0
    mask.setflags(write=False)
    return mask


def match_low_frequency(restored: np.ndarray, original: np.ndarray, weight: np.ndarray,
                        sigma: float = FACE_SIZE / 32) -> np.ndarray:
    """``restored`` with the low-frequency colour of ``original`` (structures larger than ~2σ), the
    difference averaged over the pixels ``weight`` trusts: face restorers shift skin tones and
    brightness; their detail stays, the photo's colour and light come back. The difference is
    smooth, so it is computed at a quarter of the size and enlarged."""
    h, w = restored.shape[:2]
    small = (max(1, w // 4), max(1, h // 4))

    def shrink(v: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(v, np.float32), small, interpolation=cv2.INTER_AREA)

    wt = shrink(weight)
    diff = shrink((original - restored) * weight[:, :, None])
    num = cv2.GaussianBlur(diff, (0, 0), sigma / 4, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(wt, (0, 0), sigma / 4, borderType=cv2.BORDER_REFLECT)
    shift = cv2.resize(num / np.maximum(den, 1e-3)[:, :, None], (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(restored + shift.reshape(restored.shape), 0.0, 1.0).astype(np.float32)


def paste_region(m: Matrix, shape: tuple[int, int], size: int = FACE_SIZE) -> tuple[int, int, int, int] | None:
    """The box (x0, y0, x1, y1) of a photo of ``shape`` (h, w) that the face aligned by ``m`` can
    touch, or None when it lies outside the photo."""
    inverse = cv2.invertAffineTransform(np.asarray(m, np.float64))
    corners = apply(inverse, np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64))
    h, w = shape
    x0, y0 = (max(0, math.floor(v) - 1) for v in corners.min(axis=0))
    x1, y1 = min(w, math.ceil(corners[:, 0].max()) + 2), min(h, math.ceil(corners[:, 1].max()) + 2)
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def mask_in_photo(m: Matrix, shape: tuple[int, int], size: int = FACE_SIZE,
                  mask: np.ndarray | None = None) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The paste mask of the face aligned by ``m`` in a photo of ``shape`` (h, w): the box it lies
    in and its weights there (0 where it does not reach), or None when it misses the photo."""
    region = paste_region(m, shape, size)
    if region is None:
        return None
    x0, y0, x1, y1 = region
    back = compose(translation(-x0, -y0), cv2.invertAffineTransform(np.asarray(m, np.float64)))
    weight = warp(face_mask(size) if mask is None else mask, back, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    weight[weight < 1 / 1024] = 0.0
    return region, weight


def paste_face(target: np.ndarray, face: np.ndarray, m: Matrix, opacity: float,
               mask: np.ndarray | None = None) -> tuple[int, int, int, int] | None:
    """Blend the aligned ``face`` into ``target`` (in place) through the inverse of ``m`` under the
    feathered mask times ``opacity``; returns the box it changed (None: nothing).

    Pixels the mask does not reach are not written at all.
    """
    placed = mask_in_photo(m, target.shape[:2], face.shape[0], mask) if opacity > 0.0 else None
    if placed is None or not placed[1].any():
        return None
    (x0, y0, x1, y1), weight = placed
    back = compose(translation(-x0, -y0), cv2.invertAffineTransform(np.asarray(m, np.float64)))
    pixels = warp(face, back, (x1 - x0, y1 - y0))
    if target.shape[2] == 1 and pixels.shape[2] == 3:
        pixels = pixels.mean(axis=2, keepdims=True)
    view = target[y0:y1, x0:x1]
    a = (weight * np.float32(opacity))[:, :, None]
    touched = weight > 0
    view[touched] = (view * (1.0 - a) + pixels * a)[touched]
    return x0, y0, x1, y1


def to_output(m: Matrix, factor_x: float, factor_y: float) -> Matrix:
    """``m`` (photo → aligned) for the same photo resized by these factors (output → aligned)."""
    return compose(m, cv2.invertAffineTransform(resampling(factor_x, factor_y)))

"""Face detection with YuNet (OpenCV Zoo, MIT), the small ONNX model shipped in ``revive/data``.

OpenCV's ``cv2.FaceDetectorYN`` runs it on the CPU in milliseconds. Photos are detected at a
bounded size (long side ≤ ``max_side``) and boxes are mapped back to the photo's pixels.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import cv2
import numpy as np

from ..errors import ModelNotFound, RuntimeUnavailable
from ..types import Photo

YUNET_MODEL = "face_detection_yunet_2026may.onnx"
DEFAULT_SCORE_THRESHOLD = 0.8
DEFAULT_MAX_SIDE = 1280
_NMS_THRESHOLD = 0.3
_TOP_K = 5000
_lock = threading.Lock()  # one detector object; OpenCV's DNN nets are not re-entrant


@dataclass(frozen=True)
class Face:
    """A detected face, in pixel coordinates of the photo it was found in."""

    box: tuple[int, int, int, int]  # x, y, width, height
    score: float  # detector confidence, 0..1
    landmarks: tuple[tuple[float, float], ...]  # right eye, left eye, nose tip, right and left mouth corner

    @property
    def size(self) -> int:
        """The shorter side of the box in pixels: how much detail the face can hold."""
        return min(self.box[2], self.box[3])

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "size": self.size, "score": self.score,
                "landmarks": [list(p) for p in self.landmarks]}


@lru_cache(maxsize=1)
def _detector() -> Any:
    if not hasattr(cv2, "FaceDetectorYN"):
        raise RuntimeUnavailable(f"OpenCV {cv2.__version__} has no FaceDetectorYN; install opencv-python-headless>=4.8")
    model = resources.files("revive").joinpath("data", YUNET_MODEL)
    if not model.is_file():
        raise ModelNotFound(f"the bundled face detector {YUNET_MODEL} is missing from the revive package; reinstall revive")
    log = cv2.utils.logging
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_ERROR)  # OpenCV 5 warns that its new engine ignores the target
    try:
        with resources.as_file(model) as path:
            return cv2.FaceDetectorYN.create(str(path), "", (320, 320), DEFAULT_SCORE_THRESHOLD, _NMS_THRESHOLD, _TOP_K)
    finally:
        log.setLogLevel(level)


def detect_faces(
    image: Photo | np.ndarray,
    *,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    max_side: int = DEFAULT_MAX_SIDE,
) -> tuple[Face, ...]:
    """Faces in a photo (or float RGB HxWx{1,3} pixels in [0,1]), best first."""
    pixels = image.pixels if isinstance(image, Photo) else image
    h, w = pixels.shape[:2]
    if min(h, w) < 16:
        return ()
    f = min(1.0, max_side / max(h, w))
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
    if f < 1.0:
        size = (max(1, round(w * f)), max(1, round(h * f)))
        rgb = cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA)
    bgr = np.ascontiguousarray(np.clip(np.round(rgb[:, :, ::-1] * 255.0), 0, 255).astype(np.uint8))
    detector = _detector()
    with _lock:
        detector.setScoreThreshold(float(score_threshold))
        detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = detector.detect(bgr)
    if rows is None:
        return ()
    faces = []
    for row in rows:
        x, y, bw, bh = (float(v) / f for v in row[:4])
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(w, round(x + bw)), min(h, round(y + bh))
        if x1 <= x0 or y1 <= y0:
            continue
        marks = tuple((round(float(row[4 + 2 * i]) / f, 1), round(float(row[5 + 2 * i]) / f, 1)) for i in range(5))
        faces.append(Face((x0, y0, x1 - x0, y1 - y0), round(float(row[14]), 4), marks))
    return tuple(sorted(faces, key=lambda face: -face.score))

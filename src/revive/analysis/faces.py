"""Faces: how many, where, how large (YuNet, see :mod:`revive.analysis.face_detect`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._base import Measurement
from .face_detect import Face, detect_faces

SMALL_FACE_PX = 48  # below this a face has lost its features (eyes ~5 px): restoration helps


@dataclass(frozen=True)
class FacesReport(Measurement):
    faces: tuple[Face, ...]

    label = "faces"
    defect = False
    rule = f"a face smaller than {SMALL_FACE_PX} px (shorter box side)"

    @property
    def count(self) -> int:
        return len(self.faces)

    @property
    def small(self) -> tuple[Face, ...]:
        return tuple(f for f in self.faces if f.size < SMALL_FACE_PX)

    @property
    def attention(self) -> bool:
        return bool(self.small)

    def summary(self) -> str:
        if not self.faces:
            return "no faces"
        sizes = ", ".join(f"{f.size}px" for f in self.faces[:5]) + (", …" if self.count > 5 else "")
        return f"{self.count} face{'s' if self.count != 1 else ''} ({sizes})"

    def advice(self) -> str:
        n = len(self.small)
        return f"{n} small face{'s' if n != 1 else ''} below {SMALL_FACE_PX}px, face restoration helps"

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "count": self.count}


def measure_faces(pixels: np.ndarray) -> FacesReport:
    return FacesReport(detect_faces(pixels))

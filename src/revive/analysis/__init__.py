"""Diagnosis: what is wrong with a photo and how badly, in calibrated, human units.

:func:`diagnose` measures noise, JPEG damage, blur (edge width, camera shake, focus), resolution,
colour cast, exposure, content type and faces. Every measurement is a frozen dataclass with a
documented "needs attention" rule (its ``rule`` attribute), a ``summary()`` and a ``finding()``
sentence when flagged; the autopilot turns a :class:`Diagnosis` into a plan, the CLI prints it.

    d = diagnose(photo)
    d.noise.sigma, d.jpeg.quality, d.sharpness.blur_px, d.focus.kernel, d.color_cast.direction
    d.defects()    # ("noise", "jpeg")
    d.findings()   # ["noise σ≈18.2 (8-bit) — strong grain, denoise first", ...]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..types import Photo
from ._base import Measurement
from .color import ColorCastReport, ExposureReport, measure_cast, measure_exposure
from .content import ContentReport, measure_content
from .faces import FacesReport, measure_faces
from .focus import FocusBlurReport, measure_focus
from .jpeg import JpegReport, measure_jpeg, quality_from_tables
from .motion import MotionBlurReport, measure_motion
from .noise import NoiseReport, measure_noise
from .regions import RegionsReport, measure_regions
from .sharpness import ResolutionReport, SharpnessReport, edge_widths, measure_resolution, measure_sharpness

__all__ = [
    "ColorCastReport", "ContentReport", "Diagnosis", "ExposureReport", "FacesReport", "FocusBlurReport", "JpegReport",
    "Measurement", "MotionBlurReport", "NoiseReport", "RegionsReport", "ResolutionReport", "SharpnessReport", "diagnose",
    "quality_from_tables",
]


@dataclass(frozen=True)
class Diagnosis:
    """All measurements of one photo. Field order is the order of tables and findings."""

    resolution: ResolutionReport
    noise: NoiseReport
    jpeg: JpegReport
    sharpness: SharpnessReport
    color_cast: ColorCastReport
    exposure: ExposureReport
    content: ContentReport
    faces: FacesReport
    motion: MotionBlurReport
    focus: FocusBlurReport
    regions: RegionsReport

    def measurements(self) -> Iterator[tuple[str, Measurement]]:
        yield from (
            ("resolution", self.resolution), ("noise", self.noise), ("jpeg", self.jpeg),
            ("sharpness", self.sharpness), ("color_cast", self.color_cast), ("exposure", self.exposure),
            ("content", self.content), ("faces", self.faces), ("motion", self.motion), ("focus", self.focus),
            ("regions", self.regions),
        )

    def flagged(self) -> tuple[str, ...]:
        """Names of the measurements that need attention, e.g. ``("noise", "jpeg")``."""
        return tuple(name for name, m in self.measurements() if m.attention)

    def defects(self) -> tuple[str, ...]:
        """Names of flagged damage only (noise, jpeg, sharpness, color_cast, exposure)."""
        return tuple(name for name, m in self.measurements() if m.attention and m.defect)

    def findings(self) -> list[str]:
        """Short sentences for what needs attention, e.g. "noise σ≈18.2 (8-bit) — strong grain, …"."""
        return [f for _, m in self.measurements() if (f := m.finding()) is not None]

    def to_dict(self) -> dict[str, Any]:
        return {**{name: m.to_dict() for name, m in self.measurements()},
                "flagged": list(self.flagged()), "defects": list(self.defects()), "findings": self.findings()}


def diagnose(photo: Photo) -> Diagnosis:
    """Measure a photo. Pure and deterministic; a 12 MP photo takes 1–2 s (large photos are measured on a central crop)."""
    pixels = photo.pixels
    faces = measure_faces(pixels)
    widths = edge_widths(pixels)  # read by both the edge blur and the focus blur
    return Diagnosis(
        resolution=measure_resolution(pixels),
        noise=measure_noise(pixels),
        jpeg=measure_jpeg(pixels, photo.meta.jpeg_quantization),
        sharpness=measure_sharpness(pixels, widths),
        color_cast=measure_cast(pixels),
        exposure=measure_exposure(pixels),
        content=measure_content(pixels),
        faces=faces,
        motion=measure_motion(pixels),
        focus=measure_focus(pixels, widths),
        regions=measure_regions(pixels, faces.faces),
    )

"""The one image type that flows through revive.

Pixels are always float32, HxWxC with C = 3 (RGB) or 1 (gray), values in [0, 1]. Alpha, when
present, is a separate straight (unpremultiplied) HxW float32 plane. Everything that knows about
BGR, PIL modes, bit depths or metadata containers lives in :mod:`revive.imageio`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ._version import __version__
from .errors import InvalidParameter

ParamValue = str | int | float | bool | None


@dataclass(frozen=True)
class StageRecord:
    """One step revive ran on the pixels, as an output's XMP records it."""

    name: str  # what the step does: "upscale", "faces", "denoise", "color"…
    model: str | None = None  # the model's name, if a model ran
    model_version: str | None = None
    model_sha256: str | None = None
    params: Mapping[str, ParamValue] = field(default_factory=dict)  # strength, scale, tile…
    generative: bool = False  # the model invents detail (diffusion, GAN faces), not only restores

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))  # frozen means frozen


@dataclass(frozen=True)
class ProcessingRecord:
    """What revive did to make an output: written into it as XMP by :func:`revive.imageio.write`."""

    operation: str  # "upscale", "enhance", "write"…
    stages: tuple[StageRecord, ...] = ()
    revive_version: str = __version__
    started: datetime | None = None
    finished: datetime | None = None  # None: the writer stamps the time of writing

    @property
    def generative(self) -> bool:
        """Whether any step invented content (stored as revive:Generative and the IPTC digital source type)."""
        return any(s.generative for s in self.stages)


def _blob(value: bytes | None) -> str:
    return "None" if value is None else f"<{len(value)} bytes>"


@dataclass(frozen=True)
class ImageMeta:
    """Where an image came from and what must travel with it into the output."""

    bit_depth: int = 8  # 8 or 16 (per channel) in the source file
    icc_profile: bytes | None = None
    exif: bytes | None = None  # raw EXIF block; orientation is already applied to the pixels
    dpi: tuple[float, float] | None = None
    source_format: str | None = None  # "PNG", "JPEG", ...
    source_path: Path | None = None
    notes: tuple[str, ...] = ()  # conversions made on reading, e.g. "CMYK converted to RGB"
    jpeg_quantization: tuple[tuple[int, ...], ...] | None = None  # tables of a JPEG source
    xmp: bytes | None = None  # the source's own XMP packet, merged into the output's
    record: ProcessingRecord | None = None  # what revive did; the writer stores it as XMP

    def __repr__(self) -> str:  # byte blobs as sizes: a repr is for reading, not for dumping profiles
        return (
            f"ImageMeta(bit_depth={self.bit_depth}, source_format={self.source_format!r}, "
            f"source_path={self.source_path!r}, dpi={self.dpi!r}, icc_profile={_blob(self.icc_profile)}, "
            f"exif={_blob(self.exif)}, xmp={_blob(self.xmp)}, notes={self.notes!r}, record={self.record!r})"
        )


@dataclass(frozen=True)
class Photo:
    """Pixels, alpha and provenance. Immutable: stages return new photos."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    meta: ImageMeta = field(default_factory=ImageMeta)

    def __post_init__(self) -> None:
        p = self.pixels
        if p.ndim != 3 or p.shape[2] not in (1, 3) or p.dtype != np.float32:
            raise ValueError(f"Photo pixels must be float32 HxWx1 or HxWx3, got {p.dtype} {p.shape}")
        if self.alpha is not None and self.alpha.shape != p.shape[:2]:
            raise ValueError(f"alpha shape {self.alpha.shape} does not match pixels {p.shape[:2]}")

    def __repr__(self) -> str:
        kind = "gray" if self.is_gray else "RGB"
        alpha = "+alpha" if self.alpha is not None else ""
        return f"Photo({self.width}×{self.height} {kind}{alpha}, {self.meta.bit_depth}-bit source)"

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def is_gray(self) -> bool:
        return self.pixels.shape[2] == 1

    def rgb(self) -> np.ndarray:
        """Pixels as HxWx3 (gray is repeated), for models that want colour."""
        return np.repeat(self.pixels, 3, axis=2) if self.is_gray else self.pixels

    def evolve(self, **changes: object) -> Photo:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_array(cls, array: np.ndarray, meta: ImageMeta | None = None, *, clip_floats: bool = False) -> Photo:
        """Wrap a numpy image: uint8/uint16/float, HxW, HxWx1, HxWx3 or HxWx4 (RGBA).

        Floats must lie in [0, 1] (0–255 floats are a common mistake and are refused); files whose
        float samples overshoot a little (HDR-ish TIFFs) are read with ``clip_floats=True``.
        """
        a = np.asarray(array)
        if a.dtype == np.uint8:
            f = a.astype(np.float32) / 255.0
            depth = 8
        elif a.dtype == np.uint16:
            f = a.astype(np.float32) / 65535.0
            depth = 16
        elif np.issubdtype(a.dtype, np.floating):
            if not clip_floats and a.size and (np.nanmax(a) > 1.0 + 1e-3 or np.nanmin(a) < -1e-3):
                raise InvalidParameter(
                    f"float arrays must hold values in [0, 1], got {np.nanmin(a):g}..{np.nanmax(a):g}; "
                    "divide 8-bit values by 255 (or pass a uint8 array)"
                )
            f = np.clip(np.nan_to_num(a.astype(np.float32)), 0.0, 1.0)
            depth = 8
        else:
            raise InvalidParameter(f"unsupported array dtype {a.dtype}; use uint8, uint16 or float in [0, 1]")
        if f.ndim == 2:
            f = f[:, :, None]
        if f.ndim != 3 or f.shape[2] not in (1, 2, 3, 4):
            raise InvalidParameter(f"unsupported array shape {a.shape}; use HxW, HxWx3 or HxWx4")
        alpha = None
        if f.shape[2] in (2, 4):
            alpha = np.ascontiguousarray(f[:, :, -1])
            f = f[:, :, :-1]
        m = meta or ImageMeta(bit_depth=depth)
        return cls(np.ascontiguousarray(f), alpha, m)

    def to_array(self, dtype: type = np.float32) -> np.ndarray:
        """Back to numpy: HxWx3/HxWx4 (or HxW gray), float32 in [0,1], uint8 or uint16."""
        p = self.pixels[:, :, 0] if self.is_gray and self.alpha is None else self.pixels
        if self.alpha is not None:
            p = np.concatenate([self.pixels, self.alpha[:, :, None]], axis=2)
        if dtype == np.uint8:
            return np.round(np.clip(p, 0, 1) * 255.0).astype(np.uint8)
        if dtype == np.uint16:
            return np.round(np.clip(p, 0, 1) * 65535.0).astype(np.uint16)
        return p.astype(np.float32, copy=False)

"""write() and write_notes(): one plan per (photo, format) decides what is stored and what is lost."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from revive.errors import ImageWriteError, InvalidParameter
from revive.types import Photo

from . import _png, _tiff
from ._atomic import check_target, write_atomic
from ._formats import format_for_path, normalize_write_format
from ._meta import EXIF_PREFIX, exif_for_output, icc_color_space

DEFAULT_QUALITY = {"jpg": 95, "webp": 95}
PNG_COMPRESS_LEVEL = 6
_NAMES = {"png": "PNG", "jpg": "JPEG", "webp": "WebP", "tiff": "TIFF"}
_MAX_SIDE = {"jpg": 65_500, "webp": 16_383}
_JPEG_MAX_EXIF = 65_533  # one APP1 segment


@dataclass
class _Plan:
    fmt: str
    bit_depth: int
    gray: bool
    alpha: bool
    icc: bytes | None
    exif: Image.Exif | None
    dpi: tuple[float, float] | None
    notes: list[str] = field(default_factory=list)


def write_notes(photo: Photo, format: str) -> list[str]:
    """What writing ``photo`` as ``format`` will lose or change, one sentence each (empty if nothing)."""
    return _plan(photo, normalize_write_format(format)).notes


def _plan(photo: Photo, fmt: str) -> _Plan:
    name, meta, notes = _NAMES[fmt], photo.meta, []
    depth = 16 if meta.bit_depth > 8 else 8
    if fmt in ("jpg", "webp") and depth == 16:
        notes.append(f"{name} is 8-bit: 16-bit reduced to 8-bit")
        depth = 8
    alpha = photo.alpha is not None
    if fmt == "jpg" and photo.alpha is not None:
        alpha = False
        if bool(np.any(photo.alpha < 1.0)):
            notes.append("JPEG has no alpha: composited over white")
    gray = photo.is_gray
    if fmt == "webp" and gray:
        gray = False
        notes.append("WebP has no grayscale: stored as RGB")
    icc = meta.icc_profile or None
    space, wanted = icc_color_space(icc), ("GRAY" if gray else "RGB")
    if icc and space is not None and space != wanted:
        notes.append(f"ICC profile left out: it describes {space} but the image is {wanted}")
        icc = None
    exif = exif_for_output(meta.exif, photo.width, photo.height)
    if meta.exif and exif is None:
        notes.append("EXIF could not be parsed and was left out")
    if exif is not None and fmt == "jpg" and len(exif.tobytes()) > _JPEG_MAX_EXIF:
        notes.append("EXIF is larger than JPEG allows (64 KB) and was left out")
        exif = None
    dpi = meta.dpi
    if fmt == "webp" and dpi:
        notes.append("WebP has no resolution field: DPI not stored")
        dpi = None
    return _Plan(fmt, depth, gray, alpha, icc, exif, dpi, notes)


def write(
    photo: Photo,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int | None = None,
    overwrite: bool = False,
    protect: Sequence[Path] = (),
) -> Path:
    """Write ``photo`` atomically; never over an input, nor over an existing file unless ``overwrite``."""
    target = Path(path)
    fmt = normalize_write_format(format) if format else format_for_path(target)
    if quality is not None and not (isinstance(quality, int) and 1 <= quality <= 100):
        raise InvalidParameter(f"quality must be a whole number from 1 to 100, got {quality!r}")
    limit = _MAX_SIDE.get(fmt)
    if limit and max(photo.width, photo.height) > limit:
        raise InvalidParameter(
            f"{_NAMES[fmt]} cannot hold a {photo.width}x{photo.height} image (at most {limit} pixels a side): "
            "write PNG or TIFF instead"
        )
    inputs = [*protect, *([photo.meta.source_path] if photo.meta.source_path else [])]
    check_target(target, overwrite=overwrite, protect=inputs)
    plan = _plan(photo, fmt)
    try:
        data = _ENCODERS[fmt](photo, plan, quality or DEFAULT_QUALITY.get(fmt, 95))
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ImageWriteError(f"could not encode {target} as {_NAMES[fmt]}: {e}") from e
    write_atomic(target, data, overwrite=overwrite)
    return target


def _samples(photo: Photo, plan: _Plan) -> np.ndarray:
    """Integer samples in the layout the plan stores: HxW, HxWx2, HxWx3 or HxWx4 (straight alpha last).

    Converted in strips of rows, so an upscaled photo of several GB needs no float temporaries
    of its own size on top of it (only the integer samples the encoder takes).
    """
    channels = (1 if plan.gray else 3) + (1 if plan.alpha and photo.alpha is not None else 0)
    top, dtype = (65535.0, np.uint16) if plan.bit_depth == 16 else (255.0, np.uint8)
    out = np.empty((photo.height, photo.width, channels), dtype)
    rows = max(1, _STRIP_VALUES // max(1, photo.width * channels))
    for y in range(0, photo.height, rows):
        out[y : y + rows] = _strip(photo, plan, slice(y, y + rows), top)
    return out[:, :, 0] if channels == 1 else out


_STRIP_VALUES = 1 << 18  # samples converted at a time (1 MB of float32)


def _strip(photo: Photo, plan: _Plan, rows: slice, top: float) -> np.ndarray:
    pixels = photo.pixels[rows]
    alpha = photo.alpha[rows] if photo.alpha is not None else None
    if alpha is not None and not plan.alpha:
        pixels = pixels * alpha[:, :, None] + (1.0 - alpha[:, :, None])  # over white
    if not plan.gray and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    if plan.alpha and alpha is not None:
        pixels = np.concatenate([pixels, alpha[:, :, None]], axis=2)
    out = np.clip(pixels, 0.0, 1.0)  # a new array: the photo's own pixels are never changed
    out *= top
    return np.round(out, out=out)


def _pillow_metadata(plan: _Plan) -> dict[str, object]:
    out: dict[str, object] = {}
    if plan.icc:
        out["icc_profile"] = plan.icc
    if plan.exif is not None:
        out["exif"] = plan.exif.tobytes()
    if plan.dpi:
        out["dpi"] = plan.dpi
    return out


def _save_pillow(arr: np.ndarray, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **params)
    return buf.getvalue()


def _encode_png(photo: Photo, plan: _Plan, quality: int) -> bytes:
    arr = _samples(photo, plan)
    if plan.bit_depth == 8:
        return _save_pillow(arr, "PNG", compress_level=PNG_COMPRESS_LEVEL, **_pillow_metadata(plan))
    exif = plan.exif.tobytes()[len(EXIF_PREFIX) :] if plan.exif is not None else None
    chunks = _png.metadata_chunks(plan.icc, plan.dpi, exif)
    return _png.insert_after_ihdr(_png.encode16(arr, PNG_COMPRESS_LEVEL), chunks)


def _encode_jpeg(photo: Photo, plan: _Plan, quality: int) -> bytes:
    arr, meta = _samples(photo, plan), _pillow_metadata(plan)
    params = {"quality": quality, "subsampling": 0 if quality >= 90 else 2}  # 4:4:4 keeps colour edges
    try:
        return _save_pillow(arr, "JPEG", optimize=True, **params, **meta)
    except OSError:  # Pillow's buffer for optimised Huffman tables can be too small for very noisy images
        return _save_pillow(arr, "JPEG", optimize=False, **params, **meta)


def _encode_webp(photo: Photo, plan: _Plan, quality: int) -> bytes:
    return _save_pillow(
        _samples(photo, plan),
        "WEBP",
        quality=quality,
        lossless=quality == 100,
        exact=True,  # keep the colour under transparent pixels
        method=4,
        **_pillow_metadata(plan),
    )


def _encode_tiff(photo: Photo, plan: _Plan, quality: int) -> bytes:
    return _tiff.encode(_samples(photo, plan), icc=plan.icc, dpi=plan.dpi, exif=plan.exif)


_ENCODERS = {"png": _encode_png, "jpg": _encode_jpeg, "webp": _encode_webp, "tiff": _encode_tiff}

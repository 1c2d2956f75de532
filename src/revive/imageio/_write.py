"""write() and write_notes(): one plan per (photo, format spec) decides what is stored and what is lost."""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from revive.errors import ImageWriteError, InvalidParameter
from revive.types import Photo, ProcessingRecord

from . import _c2pa, _png, _tiff, _xmp
from ._atomic import check_target, write_atomic
from ._formats import FormatSpec, format_for_path, write_spec
from ._meta import EXIF_PREFIX, exif_for_output, icc_color_space
from ._quiet import quiet

DEFAULT_QUALITY = {"jpg": 95, "webp": 95}
PNG_COMPRESS_LEVEL = 6
_JPEG_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"


@dataclass
class _Plan:
    spec: FormatSpec
    bit_depth: int
    gray: bool
    alpha: bool
    icc: bytes | None
    exif: Image.Exif | None
    dpi: tuple[float, float] | None
    xmp: bytes | None
    notes: list[str] = field(default_factory=list)


def write_notes(photo: Photo, format: str) -> list[str]:
    """What writing ``photo`` as ``format`` will lose or change, one sentence each (empty if nothing)."""
    with quiet():  # parsing the EXIF again may warn about it; read() has said so already
        return _plan(photo, write_spec(format), _record_for(photo, None)).notes


def _record_for(photo: Photo, record: ProcessingRecord | None) -> ProcessingRecord:
    return record or photo.meta.record or ProcessingRecord(operation="write")


def _plan(photo: Photo, spec: FormatSpec, record: ProcessingRecord) -> _Plan:
    name, meta, notes = spec.pretty, photo.meta, []
    depth = 16 if meta.bit_depth > 8 else 8
    if depth not in spec.depths:
        notes.append(f"{name} is {max(spec.depths)}-bit: {depth}-bit reduced to {max(spec.depths)}-bit")
        depth = max(spec.depths)
    alpha = photo.alpha is not None and spec.alpha
    if photo.alpha is not None and not spec.alpha and bool(np.any(photo.alpha < 1.0)):
        notes.append(f"{name} has no alpha: composited over white")
    gray = photo.is_gray and spec.gray
    if photo.is_gray and not spec.gray:
        notes.append(f"{name} has no grayscale: stored as RGB")
    icc = meta.icc_profile or None
    space, wanted = icc_color_space(icc), ("GRAY" if gray else "RGB")
    if icc and space is not None and space != wanted:
        notes.append(f"ICC profile left out: it describes {space} but the image is {wanted}")
        icc = None
    exif = exif_for_output(meta.exif, photo.width, photo.height)
    if meta.exif and exif is None:
        notes.append("EXIF could not be parsed and was left out")
    if exif is not None and spec.max_segment and len(exif.tobytes()) > spec.max_segment:
        notes.append(f"EXIF is larger than {name} allows ({spec.max_segment // 1024} KB) and was left out")
        exif = None
    dpi = meta.dpi
    if dpi and "dpi" not in spec.carries:
        notes.append(f"{name} has no resolution field: DPI not stored")
        dpi = None
    elif dpi and spec.max_dpi and max(dpi) > spec.max_dpi:
        notes.append(f"{name} cannot store a resolution above {spec.max_dpi:g} dpi: DPI not stored")
        dpi = None
    packet = _xmp.build(record, meta.xmp, (photo.width, photo.height))
    notes.extend(packet.notes)
    xmp = packet.data
    if spec.max_segment and len(_JPEG_XMP_ID) + len(xmp) > spec.max_segment:
        notes.append(f"the source's XMP is larger than {name} allows in one segment: only revive's record is stored")
        xmp = _xmp.build(record, None, (photo.width, photo.height)).data
    return _Plan(spec, depth, gray, alpha, icc, exif, dpi, xmp, notes)


def write(
    photo: Photo,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int | None = None,
    overwrite: bool = False,
    protect: Sequence[Path] = (),
    record: ProcessingRecord | None = None,
) -> Path:
    """Write ``photo`` atomically; never over an input, nor over an existing file unless ``overwrite``.

    The output's XMP records ``record`` (else ``photo.meta.record``, else a plain "write"), merged
    into the source's own XMP; :func:`read_record` reads it back.
    """
    target = Path(path)
    spec = write_spec(format or format_for_path(target))
    if quality is not None and not (isinstance(quality, int) and 1 <= quality <= 100):
        raise InvalidParameter(f"quality must be a whole number from 1 to 100, got {quality!r}")
    if spec.max_side and max(photo.width, photo.height) > spec.max_side:
        raise InvalidParameter(
            f"{spec.pretty} cannot hold a {photo.width}x{photo.height} image (at most {spec.max_side} pixels a side): "
            "write PNG or TIFF instead"
        )
    inputs = [*protect, *([photo.meta.source_path] if photo.meta.source_path else [])]
    check_target(target, overwrite=overwrite, protect=inputs)
    assert spec.write is not None
    try:
        with quiet():  # the encoders' warnings are not the user's business; the plan's notes are
            chosen = _record_for(photo, record)
            plan = _plan(photo, spec, chosen)
            data = _ENCODERS[spec.write](photo, plan, quality or DEFAULT_QUALITY.get(spec.write, 95))
    except (OSError, ValueError, RuntimeError, KeyError, OverflowError, struct.error) as e:
        raise ImageWriteError(f"could not encode {target} as {spec.pretty}: {e}") from e
    if chosen.generative and _c2pa.available():  # Content Credentials for generated pixels (see _c2pa)
        data = _c2pa.sign(data, spec.write, chosen, target.name)
    write_atomic(target, data, overwrite=overwrite)
    return target


def _samples(photo: Photo, plan: _Plan) -> np.ndarray:
    """Integer samples in the layout the plan stores: HxW, HxWx2, HxWx3 or HxWx4 (straight alpha last).

    Converted in strips of rows, so an upscaled photo of several GB needs no float temporaries
    of its own size on top of it (only the integer samples the encoder takes).
    """
    channels = (1 if plan.gray else 3) + (1 if plan.alpha else 0)
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
        png: bytes | memoryview = _save_pillow(arr, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        png = _png.encode16(arr, PNG_COMPRESS_LEVEL, in_place=True)  # arr is this write's own scratch copy
    exif = plan.exif.tobytes()[len(EXIF_PREFIX) :] if plan.exif is not None else None
    return _png.insert_after_ihdr(png, _png.metadata_chunks(plan.icc, plan.dpi, exif, plan.xmp))


def _encode_jpeg(photo: Photo, plan: _Plan, quality: int) -> bytes:
    arr, meta = _samples(photo, plan), _pillow_metadata(plan)
    params = {"quality": quality, "subsampling": 0 if quality >= 90 else 2}  # 4:4:4 keeps colour edges
    try:
        jpeg = _save_pillow(arr, "JPEG", optimize=True, **params, **meta)
    except OSError:  # Pillow's buffer for optimised Huffman tables can be too small for very noisy images
        jpeg = _save_pillow(arr, "JPEG", optimize=False, **params, **meta)
    return _jpeg_with_xmp(jpeg, plan.xmp) if plan.xmp else jpeg


def _jpeg_with_xmp(jpeg: bytes, xmp: bytes) -> bytes:
    """An APP1 XMP segment after the JFIF and EXIF segments, where readers look for it."""
    pos = 2
    while jpeg[pos : pos + 2] in (b"\xff\xe0", b"\xff\xe1"):
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    payload = _JPEG_XMP_ID + xmp
    return jpeg[:pos] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[pos:]


def _encode_webp(photo: Photo, plan: _Plan, quality: int) -> bytes:
    return _save_pillow(
        _samples(photo, plan),
        "WEBP",
        quality=quality,
        lossless=quality == 100,
        exact=True,  # keep the colour under transparent pixels
        method=4,
        xmp=plan.xmp or b"",
        **_pillow_metadata(plan),
    )


def _encode_tiff(photo: Photo, plan: _Plan, quality: int) -> bytes:
    return _tiff.encode(_samples(photo, plan), icc=plan.icc, dpi=plan.dpi, exif=plan.exif, xmp=plan.xmp)


_ENCODERS = {"png": _encode_png, "jpg": _encode_jpeg, "webp": _encode_webp, "tiff": _encode_tiff}

"""TIFF through tifffile: 16-bit and float pixels, and writing with ICC, resolution and EXIF.

tifffile cannot write Exif/GPS sub-IFDs, so after it writes the file, the photo's descriptive
tags and sub-IFDs are serialised by Pillow after the pixel data, and a merged first IFD that
points to them is appended (the header is re-pointed; the old IFD stays as a few dead bytes).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import cv2
import numpy as np
import tifffile
from PIL import Image

from ._meta import clean_dpi, tiff_extra_ifd

MINISWHITE, MINISBLACK, RGB = 0, 1, 2
CAMERA_RAW_PHOTOMETRICS = (32803, 34892)  # CFA and LinearRaw: undeveloped sensor data (DNG)


class TiffCodecMissing(ValueError):
    """The TIFF's compression needs a codec that neither tifffile alone nor OpenCV provides."""


@dataclass(frozen=True)
class TiffInfo:
    width: int
    height: int
    pages: int
    high_depth: bool  # more than 8 bits, or float: decoded here, not by Pillow
    icc: bytes | None
    dpi: tuple[float, float] | None
    camera_raw: bool
    truncated: bool
    compression: str


def inspect(data: bytes) -> TiffInfo:
    """The first page's header facts, without decoding pixels."""
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        page = tf.pages.first
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=False)]
        photometric = int(page.photometric)
        high = (page.bitspersample > 8 or int(page.sampleformat) == 3) and photometric in (MINISWHITE, MINISBLACK, RGB)
        icc = page.tags.valueof(34675)
        return TiffInfo(
            width=int(page.imagewidth),
            height=int(page.imagelength),
            pages=len(tf.pages),
            high_depth=high,
            icc=bytes(icc) if icc else None,
            dpi=_dpi(page),
            camera_raw=photometric in CAMERA_RAW_PHOTOMETRICS,
            truncated=bool(ends) and max(ends) > len(data),
            compression=getattr(page.compression, "name", str(page.compression)),
        )


def _dpi(page: tifffile.TiffPage) -> tuple[float, float] | None:
    unit = int(page.tags.valueof(296, 2))
    x, y = page.tags.valueof(282), page.tags.valueof(283)
    if unit not in (2, 3) or x is None or y is None:
        return None
    scale = 2.54 if unit == 3 else 1.0
    try:
        return clean_dpi((_ratio(x) * scale, _ratio(y) * scale))
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _ratio(value: object) -> float:
    if isinstance(value, tuple):
        return value[0] / value[1]
    return float(value)  # type: ignore[arg-type]


def decode_high_depth(data: bytes) -> tuple[np.ndarray, bool]:
    """Pixels of a >8-bit or float gray/RGB TIFF as uint16 or float32 (HxW or HxWxC, alpha last) and is-float."""
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        page = tf.pages.first
        try:
            arr = page.asarray()
        except (KeyError, ValueError, NotImplementedError, ImportError) as e:
            if "imagecodecs" not in str(e):  # only a missing codec is worth a second decoder
                raise
            arr = _decode_with_opencv(data, page, e)
            return arr, arr.dtype.kind == "f"
        if page.axes.startswith("S"):
            arr = np.moveaxis(arr, 0, -1)
        color = 1 if int(page.photometric) != RGB else 3
        extras = [int(v) for v in page.extrasamples]
        alpha_kind = extras[0] if extras and extras[0] in (1, 2) else 0
        if arr.ndim == 3:
            arr = arr[:, :, : color + (1 if alpha_kind else 0)]
            if arr.shape[2] == 1:
                arr = arr[:, :, 0]
        arr = _to_unit_range(arr, int(page.bitspersample))
        if int(page.photometric) == MINISWHITE:
            arr = _invert(arr, alpha_kind != 0)
        if alpha_kind == 1:  # associated (premultiplied) alpha: Photo alpha is straight
            arr = _unpremultiply(arr)
    return arr, arr.dtype.kind == "f"


def _decode_with_opencv(data: bytes, page: tifffile.TiffPage, cause: Exception) -> np.ndarray:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    name = getattr(page.compression, "name", str(page.compression))
    if arr is None:
        raise TiffCodecMissing(
            f"its {name} compression needs the optional imagecodecs package: pip install imagecodecs"
        ) from cause
    if arr.ndim == 3:
        if int(page.photometric) != RGB:
            arr = arr[:, :, [0, 3]] if arr.shape[2] == 4 else arr[:, :, 0]
        else:
            arr = arr[:, :, [2, 1, 0, 3] if arr.shape[2] == 4 else [2, 1, 0]]
    return _to_unit_range(np.ascontiguousarray(arr), int(page.bitspersample))


def _to_unit_range(arr: np.ndarray, bits: int) -> np.ndarray:
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    if arr.dtype.kind == "i":
        raise ValueError("signed-integer samples are not supported")
    if arr.dtype == np.uint16 and bits == 16:
        return arr
    top = (1 << bits) - 1 if bits < 64 else np.iinfo(arr.dtype).max
    return np.round(arr.astype(np.float64) * (65535.0 / top)).astype(np.uint16)


def _invert(arr: np.ndarray, has_alpha: bool) -> np.ndarray:
    out = arr.copy()
    view = out[..., :-1] if has_alpha else out
    view[...] = (1.0 - view) if out.dtype.kind == "f" else (65535 - view)
    return out


def _unpremultiply(arr: np.ndarray) -> np.ndarray:
    f = arr.astype(np.float64)
    top = 1.0 if arr.dtype.kind == "f" else 65535.0
    a = f[..., -1:] / top
    f[..., :-1] = np.where(a > 0, f[..., :-1] / np.maximum(a, 1e-12), 0.0)
    f = np.clip(f, 0, top)
    return f.astype(np.float32) if arr.dtype.kind == "f" else np.round(f).astype(np.uint16)


def encode(arr: np.ndarray, *, icc: bytes | None, dpi: tuple[float, float] | None, exif: Image.Exif | None) -> bytes:
    """uint8/uint16 HxW, HxWx2, HxWx3 or HxWx4 (alpha last, straight) to deflate-compressed TIFF bytes."""
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        arr,
        byteorder="<",
        photometric="rgb" if channels >= 3 else "minisblack",
        planarconfig="contig" if channels > 1 else None,
        extrasamples=("unassalpha",) if channels in (2, 4) else None,
        compression="zlib",
        compressionargs={"level": 6},
        predictor=True,
        iccprofile=icc,
        resolution=dpi,
        resolutionunit="INCH" if dpi else None,
        metadata=None,
        software=False,
    )
    data = buf.getvalue()
    return _add_to_first_ifd(data, exif) if exif is not None else data


def _add_to_first_ifd(data: bytes, exif: Image.Exif) -> bytes:
    extra = tiff_extra_ifd(exif)
    first = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, first)[0]
    entries = [data[first + 2 + 12 * i : first + 14 + 12 * i] for i in range(count)]
    next_ifd = data[first + 2 + 12 * count : first + 6 + 12 * count]
    existing = {struct.unpack_from("<H", e)[0] for e in entries}
    for tag in [t for t in extra if t in existing]:
        del extra[tag]
    if not len(extra):
        return data
    out = bytearray(data)
    out += b"\x00" * (len(out) & 1)  # TIFF offsets are word-aligned
    blob = extra.tobytes(len(out))  # its values and sub-IFDs stay where they land; its entries move
    out += blob
    added = [blob[2 + 12 * i : 14 + 12 * i] for i in range(struct.unpack_from("<H", blob)[0])]
    merged = sorted(entries + added, key=lambda e: struct.unpack_from("<H", e)[0])
    out += b"\x00" * (len(out) & 1)
    new_first = len(out)
    out += struct.pack("<H", len(merged)) + b"".join(merged) + next_ifd
    struct.pack_into("<I", out, 4, new_first)
    return bytes(out)

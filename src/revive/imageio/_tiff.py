"""TIFF through tifffile: 16-bit and float pixels, and writing with ICC, resolution and EXIF.

tifffile cannot write Exif/GPS sub-IFDs, so after it writes the file, the photo's descriptive
tags and sub-IFDs are serialised by Pillow after the pixel data, and a merged first IFD that
points to them is appended (the header is re-pointed; the old IFD stays as a few dead bytes).
"""

from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np
import tifffile
from PIL import Image

from ._meta import tiff_extra_ifd
from ._quiet import quiet

MINISWHITE, MINISBLACK, RGB = 0, 1, 2
CIELAB, ICCLAB, ITULAB = 8, 9, 10
CAMERA_RAW_PHOTOMETRICS = (32803, 34892)  # CFA and LinearRaw: undeveloped sensor data (DNG)
SIGNED, FLOAT = 2, 3  # SampleFormat values


class TiffCodecMissing(ValueError):
    """The TIFF's compression needs a codec that neither tifffile alone nor OpenCV provides."""


@dataclass(frozen=True)
class TiffInfo:
    width: int
    height: int
    pages: int
    high_depth: bool  # more than 8 bits, signed or float gray/RGB: decoded here, not by Pillow
    lab: bool  # CIE L*a*b* samples: converted to sRGB here
    icc: bytes | None
    dpi: tuple[float, float] | None  # as stored (may be absurd: the reader cleans it)
    camera_raw: bool
    truncated: bool
    compression: str
    xmp: bytes | None = None
    unknown_compression: int | None = None  # a compression code no library here has heard of


def first_page_size(fh: BinaryIO) -> tuple[int, int]:
    """Width and height of the first page, from its directory alone (nothing else is read)."""
    fh.seek(0)  # tifffile takes the current position as the start of the TIFF
    with tifffile.TiffFile(fh, name="source.tif") as tf:  # an fdopen file is "named" by its number
        return int(tf.pages.first.imagewidth), int(tf.pages.first.imagelength)


def first_page_xmp(fh: BinaryIO) -> bytes | None:
    """The XMP packet (tag 700) of the first page, without reading the pixel data."""
    fh.seek(0)
    with tifffile.TiffFile(fh, name="source.tif") as tf:
        xmp = tf.pages.first.tags.valueof(700)
    return bytes(xmp) if isinstance(xmp, bytes | bytearray | np.ndarray) and len(xmp) else None


def inspect(data: bytes) -> TiffInfo:
    """The first page's header facts, without decoding pixels."""
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        page = tf.pages.first
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=False)]
        photometric = int(page.photometric)
        deep = page.bitspersample > 8 or int(page.sampleformat) in (SIGNED, FLOAT)
        icc, xmp = page.tags.valueof(34675), page.tags.valueof(700)
        return TiffInfo(
            width=int(page.imagewidth),
            height=int(page.imagelength),
            pages=len(tf.pages),
            high_depth=deep and photometric in (MINISWHITE, MINISBLACK, RGB),
            lab=photometric in (CIELAB, ICCLAB, ITULAB),
            icc=bytes(icc) if icc else None,
            dpi=_dpi(page),
            camera_raw=photometric in CAMERA_RAW_PHOTOMETRICS,
            truncated=bool(ends) and max(ends) > len(data),
            compression=getattr(page.compression, "name", str(page.compression)),
            unknown_compression=None if hasattr(page.compression, "name") else int(page.compression),
            xmp=bytes(xmp) if isinstance(xmp, bytes | bytearray | np.ndarray) and len(xmp) else None,
        )


def _dpi(page: tifffile.TiffPage) -> tuple[float, float] | None:
    unit = int(page.tags.valueof(296, 2))
    x, y = page.tags.valueof(282), page.tags.valueof(283)
    if unit not in (2, 3) or x is None or y is None:
        return None
    scale = 2.54 if unit == 3 else 1.0
    return (_ratio(x) * scale, _ratio(y) * scale)


def _ratio(value: object) -> float:
    """A RATIONAL (numerator, denominator), or any number a non-conforming writer used instead."""
    try:
        if isinstance(value, tuple | list) and len(value) == 2:
            return value[0] / value[1] if value[1] else math.nan
        if isinstance(value, tuple | list) and len(value) == 1:
            return float(value[0])
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return math.nan


def decode_high_depth(data: bytes) -> tuple[np.ndarray, list[str]]:
    """Pixels of a deep (>8-bit, signed or float) gray/RGB TIFF as uint16 or float32, alpha last; and notes."""
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        page = tf.pages.first
        arr, by_opencv = _page_samples(data, page)
        if by_opencv:  # already interleaved, inverted and in plain channel order
            return to_unit_range(arr, int(page.bitspersample))
        color = 1 if int(page.photometric) != RGB else 3
        extras = [int(v) for v in page.extrasamples]
        alpha_kind = extras[0] if extras and extras[0] in (1, 2) else 0
        if arr.ndim == 3:
            arr = arr[:, :, : color + (1 if alpha_kind else 0)]
            if arr.shape[2] == 1:
                arr = arr[:, :, 0]
        arr, notes = to_unit_range(arr, int(page.bitspersample))
        if int(page.photometric) == MINISWHITE:
            arr = _invert(arr, alpha_kind != 0)
        if alpha_kind == 1:  # associated (premultiplied) alpha: Photo alpha is straight
            arr = _unpremultiply(arr)
    return arr, notes


def _page_samples(data: bytes, page: tifffile.TiffPage) -> tuple[np.ndarray, bool]:
    """The first page's samples (HxW or HxWxS), and whether OpenCV had to decode them."""
    try:
        arr = page.asarray()
    except (KeyError, ValueError, NotImplementedError, ImportError) as e:
        if "imagecodecs" not in str(e):  # only a missing codec is worth a second decoder
            raise
        return _decode_with_opencv(data, page, e), True
    if arr.ndim == 3 and page.axes.startswith("S"):  # planar storage: samples first
        arr = np.moveaxis(arr, 0, -1)
    return arr, False


def _decode_with_opencv(data: bytes, page: tifffile.TiffPage, cause: Exception) -> np.ndarray:
    """OpenCV's libtiff has codecs tifffile lacks without imagecodecs (12-bit packing, JPEG, LZMA…)."""
    with quiet(keep=False) as said:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    errors = [line for line in said.lines if "error" in line.lower()]
    if errors:  # OpenCV can hand back a blank image after libtiff failed: that is no decoding
        raise ValueError(errors[0].split("TIFF_Error", 1)[-1].strip()[:160]) from cause
    if arr is None:
        raise TiffCodecMissing(f"TIFF with {describe_compression(page)}: install the optional imagecodecs package "
                               "(pip install imagecodecs) or re-save the file with LZW or Deflate compression") from cause
    if arr.ndim == 3:
        if int(page.photometric) in (MINISWHITE, MINISBLACK):  # OpenCV gives gray as BGR(A)
            arr = arr[:, :, [0, 3]] if arr.shape[2] == 4 else arr[:, :, 0]
        else:
            arr = arr[:, :, [2, 1, 0, 3] if arr.shape[2] == 4 else [2, 1, 0]]
    return np.ascontiguousarray(arr)


def describe_compression(page: tifffile.TiffPage) -> str:
    name = getattr(page.compression, "name", None) or f"code {int(page.compression)}"
    return f"{name.replace('_', ' ')} compression"


def to_unit_range(arr: np.ndarray, bits: int) -> tuple[np.ndarray, list[str]]:
    """Samples as uint16 (full 16-bit scale) or float32, with a note for every reinterpretation made."""
    if arr.dtype.kind == "f":
        return arr.astype(np.float32), ["floating-point TIFF: values clipped to [0, 1] (written back as 16-bit)"]
    if arr.dtype.kind == "i":
        return _signed_to_unit(arr)
    if (arr.dtype, bits) in ((np.uint16, 16), (np.uint8, 8)):
        return arr, []
    top = (1 << bits) - 1 if bits < 64 else np.iinfo(arr.dtype).max
    return np.round(arr.astype(np.float64) * (65535.0 / top)).astype(np.uint16), []


def _signed_to_unit(arr: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Signed samples have no standard black and white: pick the reading that keeps the data visible."""
    info, bits = np.iinfo(arr.dtype), arr.dtype.itemsize * 8
    low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if bits > 16:  # Pillow's convention for 32-bit integer images: the 16-bit scale
        clipped = ", values outside clipped" if low < 0 or high > 65535 else ""
        note = f"signed {bits}-bit TIFF read on the 16-bit scale (0–65535){clipped}"
        return np.clip(arr, 0, 65535).astype(np.uint16), [note]
    f = arr.astype(np.float64)
    if low >= 0:  # the usual case (scientific cameras, ImageJ): only the positive half is used
        note = f"signed {bits}-bit TIFF without negative values: 0–{info.max} read as black to white"
        return np.round(f * (65535.0 / info.max)).astype(np.uint16), [note]
    note = f"signed {bits}-bit TIFF: values shifted by {-info.min} so that {info.min} is black and {info.max} white"
    return np.round((f - info.min) * (65535.0 / (info.max - info.min))).astype(np.uint16), [note]


def decode_lab(data: bytes) -> tuple[np.ndarray, int, list[str]]:
    """A CIE L*a*b* TIFF as float32 sRGB in [0, 1] (alpha last), its bit depth, and a note."""
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        page = tf.pages.first
        photometric, bits = int(page.photometric), int(page.bitspersample)
        if photometric == ITULAB or bits not in (8, 16) or page.samplesperpixel < 3:
            kind = "ITU L*a*b*" if photometric == ITULAB else f"{bits}-bit L*a*b* with {page.samplesperpixel} samples"
            raise TiffCodecMissing(f"{kind} TIFF (only 8- and 16-bit CIE and ICC L*a*b* are read)")
        arr, by_opencv = _page_samples(data, page)
        if by_opencv:
            raise TiffCodecMissing(f"L*a*b* TIFF with {describe_compression(page)} (install imagecodecs)")
    top = 255.0 if bits == 8 else 65535.0
    lab = np.empty(arr.shape[:2] + (3,), np.float32)
    lab[..., 0] = arr[..., 0] * (100.0 / top)
    for i in (1, 2):
        chroma = arr[..., i].astype(np.float32)
        if photometric == CIELAB:  # a*, b* are two's-complement signed
            chroma = arr[..., i].view(np.int8 if bits == 8 else np.int16).astype(np.float32)
        else:  # ICCLAB: unsigned, offset by half the range
            chroma -= 128.0 if bits == 8 else 32768.0
        lab[..., i] = chroma / (1.0 if bits == 8 else 256.0)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)  # D65 white, sRGB primaries and curve
    if arr.shape[2] > 3 and int((list(page.extrasamples) or [0])[0]) in (1, 2):
        rgb = np.dstack([rgb, arr[..., 3].astype(np.float32) / top])
    return np.clip(rgb, 0.0, 1.0), bits, ["CIE L*a*b* TIFF converted to sRGB"]


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


def encode(
    arr: np.ndarray,
    *,
    icc: bytes | None,
    dpi: tuple[float, float] | None,
    exif: Image.Exif | None,
    xmp: bytes | None = None,
) -> bytes:
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
        maxworkers=min(8, os.cpu_count() or 1),  # strips compress in parallel (zlib frees the GIL): 2x on 2 cores
        predictor=True,
        iccprofile=icc,
        resolution=dpi,
        resolutionunit="INCH" if dpi else None,
        metadata=None,
        software=False,
        extratags=[(700, 1, len(xmp), xmp, True)] if xmp else (),  # XMLPacket, as BYTE like Adobe writes it
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

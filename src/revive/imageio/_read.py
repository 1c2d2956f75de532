"""read(): a regular file → format sniffed from content → size checked on the header → decoded → upright Photo.

Nothing is decoded, nor read beyond the first 4 KB, before the header's pixel count has passed
the limit; what the libraries say meanwhile becomes notes on the photo (see :mod:`._quiet`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, features

from revive.errors import ImageReadError, ImageTooLarge
from revive.types import ImageMeta, Photo

from . import _png, _tiff, _xmp
from ._failures import describe_failure
from ._formats import READ_FORMATS, extension_format, pretty
from ._meta import (
    ORIENTATION,
    apply_orientation,
    checked_dpi,
    checked_icc,
    exif_from_tiff,
    jpeg_dpi,
    orientation_of,
    parse_exif,
    with_exif_prefix,
)
from ._pil import Samples, pil_samples, pillow_bomb_check_off, pillow_open
from ._quiet import quiet
from ._sniff import describe_non_image, sniff
from ._source import Source, open_source

DEFAULT_MAX_PIXELS: int = 100_000_000


class _Truncated(ValueError):
    pass


@dataclass
class _Decoded:
    samples: Samples
    exif: bytes | None
    dpi: object  # as the file stores it; cleaned (with a note if absurd) by read()
    orientation: int
    quantization: tuple[tuple[int, ...], ...] | None = None
    notes: list[str] = field(default_factory=list)
    xmp: bytes | None = None
    exif_orientation_set: bool = False  # the EXIF has an orientation tag (else XMP's may count)


def read(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Photo:
    """Read an image file into an upright :class:`Photo`; every failure is one :class:`ImageReadError`."""
    p = Path(path)
    with quiet() as said, open_source(p) as src:
        fmt = sniff(src.head)
        claimed = extension_format(p)
        if fmt is None:
            raise ImageReadError(f"{p}: {_not_an_image(src.head, claimed)}")
        decoded = _decode(src, fmt, max_pixels)
    dpi, dpi_notes = checked_dpi(decoded.dpi)
    icc, icc_notes = checked_icc(decoded.samples.icc)
    notes = [*decoded.notes, *decoded.samples.notes, *dpi_notes, *icc_notes, *said.notes()]
    if claimed and claimed != fmt:
        notes.insert(0, f"extension says {pretty(claimed)} but content is {pretty(fmt)}")
    meta = ImageMeta(
        bit_depth=decoded.samples.bit_depth,
        icc_profile=icc,
        exif=decoded.exif,
        dpi=dpi,
        source_format=fmt,
        source_path=p,
        notes=tuple(notes),
        jpeg_quantization=decoded.quantization,
        xmp=decoded.xmp,
    )
    return Photo.from_array(apply_orientation(decoded.samples.array, _orientation(decoded)), meta, clip_floats=True)


def _orientation(decoded: _Decoded) -> int:
    """EXIF's orientation, else XMP's (some editors write only that one), as Pillow's exif_transpose does."""
    if decoded.orientation != 1 or decoded.exif_orientation_set:
        return decoded.orientation
    return _xmp.orientation(decoded.xmp) or 1


def _decode(src: Source, fmt: str, max_pixels: int | None) -> _Decoded:
    p = src.path
    try:
        return _DECODERS.get(fmt, _decode_with_pillow)(src, fmt, max_pixels)
    except ImageReadError as e:
        raise type(e)(f"{p}: {e}") from e.__cause__
    except MemoryError as e:
        raise ImageReadError(
            f"{p}: not enough memory to decode this image: close other programs or use a machine with more memory"
        ) from e
    except Exception as e:
        cls, message = describe_failure(fmt, e, truncated=isinstance(e, _Truncated))
        raise cls(f"{p}: {message}") from e


def _not_an_image(head: bytes, claimed: str | None) -> str:
    looks = describe_non_image(head[:1024])
    if looks is not None:
        said = f", although its extension says {pretty(claimed)}" if claimed else ""
        return f"not an image{said}: it looks like {looks}"
    start = " ".join(f"{b:02x}" for b in head[:8])
    if claimed:
        return (
            f"not an image: its extension says {pretty(claimed)} but the content is no known image format "
            f"(it starts with {start}): the file is corrupt or misnamed; re-export or re-download it"
        )
    known = ", ".join(pretty(f) for f in READ_FORMATS)
    return f"unknown image format (the file starts with {start}): revive reads {known}"


def _check_size(width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise ImageReadError(f"the header claims {width}x{height} pixels: the file is corrupt; re-export it")
    n = width * height
    if max_pixels is not None and n > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {_pixels(n)}, more than the limit of {_pixels(max_pixels)} "
            "(a guard against decompression bombs): if you trust this file, raise --max-pixels (max_pixels= in Python)"
        )


def _pixels(n: int) -> str:
    """A pixel count as people read it: "100 megapixels", "12.3 megapixels", "35 000 pixels"."""
    if n < 1_000_000:
        return f"{n:,} pixels".replace(",", " ")
    return f"{n / 1e6:.1f}".removesuffix(".0") + " megapixels"


def _require_plugin(fmt: str) -> None:
    if fmt == "HEIF":
        try:
            from pillow_heif import register_heif_opener  # type: ignore[import-not-found]
        except ImportError:
            raise ImageReadError(
                "not supported without pillow-heif: HEIC images need it (pip install pillow-heif), or export as JPEG"
            ) from None
        register_heif_opener()
    elif fmt == "AVIF" and not features.check("avif"):
        raise ImageReadError("not supported: AVIF (this Pillow build has no AVIF decoder): upgrade Pillow to 11.3 "
                             "or later, or export as PNG")  # fmt: skip


def _decode_png(src: Source, fmt: str, max_pixels: int | None) -> _Decoded:
    _check_size(*_png.ihdr_size(src.head), max_pixels)
    data = src.read_all()
    header = _png.check_structure(data)
    return _from_pillow(io.BytesIO(data), fmt, max_pixels, png=(data, header))


def _decode_with_pillow(src: Source, fmt: str, max_pixels: int | None) -> _Decoded:
    _require_plugin(fmt)
    return _from_pillow(src.file, fmt, max_pixels)  # decoded from the file: no copy of its bytes


def _from_pillow(
    fp: Any, fmt: str, max_pixels: int | None, png: tuple[bytes, _png.PngHeader] | None = None
) -> _Decoded:
    with pillow_bomb_check_off():
        im = pillow_open(fp, fmt)
        _check_size(*im.size, max_pixels)  # Pillow has read the header only
        frames = int(getattr(im, "n_frames", 1))
        if png is not None and png[1].bit_depth == 16:  # Pillow would reduce it to 8 bits
            samples = Samples(_png.decode16(png[0], png[1]), 16, [], im.info.get("icc_profile") or None)
        else:
            im.load()
            samples = pil_samples(im)
    info: dict[str, Any] = {k: v for k, v in im.info.items() if isinstance(k, str)}
    raw_exif = with_exif_prefix(info.get("exif") or (png[1].exif if png is not None else None))
    exif = parse_exif(raw_exif)
    dpi = jpeg_dpi(info, exif) if fmt == "JPEG" else info.get("dpi")
    quant = getattr(im, "quantization", None) if fmt == "JPEG" else None
    tables = tuple(tuple(int(v) for v in quant[k]) for k in sorted(quant)) if quant else None
    notes = [f"animated image: only the first of {frames} frames was read"] if frames > 1 else []
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    return _Decoded(samples, raw_exif, dpi, orientation_of(exif), tables, notes, _as_bytes(xmp), _has_orientation(exif))


def _has_orientation(exif: Image.Exif | None) -> bool:
    return exif is not None and ORIENTATION in exif


def _as_bytes(xmp: object) -> bytes | None:
    if isinstance(xmp, str):
        return xmp.encode("utf-8")
    return bytes(xmp) if isinstance(xmp, bytes | bytearray) and xmp else None


def _decode_webp(src: Source, fmt: str, max_pixels: int | None) -> _Decoded:
    _check_size(*_webp_size(src.head), max_pixels)  # Pillow's WebP plugin reads the whole file to find out
    data = src.read_all()
    if int.from_bytes(data[4:8], "little") + 8 > len(data):  # the RIFF size covers the whole file
        raise _Truncated("WebP data ends early")
    return _from_pillow(io.BytesIO(data), fmt, max_pixels)


def _webp_size(head: bytes) -> tuple[int, int]:
    kind, body = head[12:16], head[20:]
    if kind == b"VP8X" and len(body) >= 10:
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if kind == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        return int.from_bytes(body[6:8], "little") & 0x3FFF, int.from_bytes(body[8:10], "little") & 0x3FFF
    if kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    raise _Truncated("WebP header ends early") if len(head) < 30 else ValueError("its WebP header cannot be parsed")


def _decode_tiff(src: Source, fmt: str, max_pixels: int | None) -> _Decoded:
    if src.size < 8:
        raise _Truncated("TIFF data ends early")
    _check_size(*_tiff.first_page_size(src.file), max_pixels)
    data = src.read_all()
    order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"
    if data[2:4] in (b"*\x00", b"\x00*"):  # classic TIFF: the first directory must lie inside the file
        first = int.from_bytes(data[4:8], order)
        entries = int.from_bytes(data[first : first + 2], order) if first + 2 <= len(data) else 0
        if first + 6 + 12 * entries > len(data):
            raise _Truncated("TIFF data ends early")
    info = _tiff.inspect(data)
    if info.camera_raw:
        raise ImageReadError("this TIFF holds undeveloped camera RAW data (DNG): develop it to TIFF or JPEG first")
    if info.truncated:
        raise _Truncated("TIFF data ends early")
    if info.unknown_compression is not None:
        raise _tiff.TiffCodecMissing(f"TIFF with compression code {info.unknown_compression}, which no decoder here "
                                     "knows: re-save it with LZW or Deflate compression")  # fmt: skip
    if info.lab:
        arr, depth, notes = _tiff.decode_lab(data)
        samples = Samples(arr, depth, notes, None)  # its profile (if any) describes Lab, not these sRGB pixels
    elif info.high_depth:
        arr, notes = _tiff.decode_high_depth(data)
        samples = Samples(arr, 8 if arr.dtype == np.uint8 else 16, notes, info.icc)
    else:
        samples = _tiff_by_pillow(data, fmt)
    exif = parse_exif(data)  # a TIFF's first IFD is an EXIF block already
    notes = [f"multi-page TIFF: only the first of {info.pages} pages was read"] if info.pages > 1 else []
    raw_exif = exif_from_tiff(exif) if exif is not None else None
    orientation = orientation_of(exif) if info.lab or info.high_depth else 1  # Pillow turns TIFFs upright
    return _Decoded(samples, raw_exif, info.dpi, orientation, None, notes, info.xmp, _has_orientation(exif))


def _tiff_by_pillow(data: bytes, fmt: str) -> Samples:
    """8-bit TIFFs through Pillow (libtiff has every classic codec); what it cannot decode, tifffile tries."""
    try:
        with pillow_bomb_check_off(), quiet(keep=False):  # what libtiff says matters only if tifffile fails too
            im = pillow_open(io.BytesIO(data), fmt)
            im.load()
            return pil_samples(im)
    except (OSError, ValueError) as e:
        try:
            arr, notes = _tiff.decode_high_depth(data)
        except _tiff.TiffCodecMissing:
            raise
        except Exception:
            raise e from None  # tifffile cannot either: Pillow's reason is the one to give
        return Samples(arr, 8 if arr.dtype == np.uint8 else 16, notes, None)


_DECODERS: dict[str, Callable[[Source, str, int | None], _Decoded]] = {
    "PNG": _decode_png,
    "TIFF": _decode_tiff,
    "WEBP": _decode_webp,
}


def read_xmp(path: str | os.PathLike[str]) -> bytes | None:
    """The XMP packet of an image file, without decoding its pixels (None if it has none)."""
    p = Path(path)
    with quiet(), open_source(p) as src:
        fmt = sniff(src.head)
        if fmt is None:
            raise ImageReadError(f"{p}: {_not_an_image(src.head, extension_format(p))}")
        try:
            if fmt == "TIFF":
                return _tiff.first_page_xmp(src.file)
            with pillow_bomb_check_off():
                _require_plugin(fmt)
                info = pillow_open(src.file, fmt).info
            return _as_bytes(info.get("xmp") or info.get("XML:com.adobe.xmp"))
        except ImageReadError as e:
            raise type(e)(f"{p}: {e}") from e.__cause__
        except Exception as e:
            cls, message = describe_failure(fmt, e, truncated=False)
            raise cls(f"{p}: {message}") from e




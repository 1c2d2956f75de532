"""read(): bytes → format sniffed from content → header checked → samples decoded → upright Photo."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError, features

from revive.errors import ImageReadError, ImageTooLarge
from revive.types import ImageMeta, Photo

from . import _png, _tiff
from ._formats import READ_FORMATS, describe_non_image, extension_format, pretty, sniff
from ._meta import apply_orientation, clean_dpi, exif_from_tiff, jpeg_dpi, orientation_of, parse_exif, with_exif_prefix
from ._pil import Samples, pil_samples, pillow_bomb_check_off

DEFAULT_MAX_PIXELS: int = 100_000_000


class _Truncated(ValueError):
    pass


@dataclass
class _Decoded:
    samples: Samples
    exif: bytes | None
    dpi: tuple[float, float] | None
    orientation: int
    quantization: tuple[tuple[int, ...], ...] | None = None
    notes: list[str] = field(default_factory=list)


def read(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Photo:
    """Read an image file into an upright :class:`Photo`; every failure is one :class:`ImageReadError`."""
    p = Path(path)
    data = _read_bytes(p)
    fmt = sniff(data[:512])
    claimed = extension_format(p)
    if fmt is None:
        raise ImageReadError(f"{p}: {_not_an_image(data, claimed)}")
    try:
        decoded = _DECODERS.get(fmt, _decode_with_pillow)(data, fmt, max_pixels)
    except ImageReadError as e:
        raise type(e)(f"{p}: {e}") from e.__cause__
    except MemoryError as e:
        raise ImageReadError(
            f"{p}: not enough memory to decode this image: close other programs or use a machine with more memory"
        ) from e
    except _tiff.TiffCodecMissing as e:
        raise ImageReadError(f"{p}: cannot decode this TIFF: {e}") from e
    except Exception as e:
        raise ImageReadError(f"{p}: {_corrupt(fmt, e)}") from e
    notes = list(decoded.notes) + decoded.samples.notes
    if claimed and claimed != fmt:
        notes.insert(0, f"extension says {pretty(claimed)} but content is {pretty(fmt)}")
    meta = ImageMeta(
        bit_depth=decoded.samples.bit_depth,
        icc_profile=decoded.samples.icc,
        exif=decoded.exif,
        dpi=decoded.dpi,
        source_format=fmt,
        source_path=p,
        notes=tuple(notes),
        jpeg_quantization=decoded.quantization,
    )
    return Photo.from_array(apply_orientation(decoded.samples.array, decoded.orientation), meta, clip_floats=True)


def _read_bytes(p: Path) -> bytes:
    try:
        with open(p, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ImageReadError(f"{p}: no such file: check the path and the spelling") from None
    except IsADirectoryError:
        raise ImageReadError(f"{p} is a folder, not an image file: give the path of one image") from None
    except PermissionError:
        raise ImageReadError(f"{p}: permission denied: this file cannot be read by the current user") from None
    except OSError as e:
        raise ImageReadError(f"{p}: the file cannot be read ({e.strerror or e})") from None
    if not data:
        raise ImageReadError(f"{p}: file is empty (0 bytes): copy or download it again")
    return data


def _not_an_image(data: bytes, claimed: str | None) -> str:
    looks = describe_non_image(data[:1024])
    if looks is not None:
        said = f", although its extension says {pretty(claimed)}" if claimed else ""
        return f"not an image{said}: it looks like {looks}"
    start = " ".join(f"{b:02x}" for b in data[:8])
    if claimed:
        return (
            f"not an image: its extension says {pretty(claimed)} but the content is no known image format "
            f"(it starts with {start}): the file is corrupt or misnamed; re-export or re-download it"
        )
    known = ", ".join(pretty(f) for f in READ_FORMATS)
    return f"unknown image format (the file starts with {start}): revive reads {known}"


def _corrupt(fmt: str, e: Exception) -> str:
    text = str(e)
    truncated = isinstance(e, _Truncated) or getattr(e, "truncated", False) or "truncat" in text.lower()
    truncated = truncated or "failed to read" in text or "ends early" in text
    if truncated:
        return f"file is truncated or corrupt ({pretty(fmt)} data ends early): re-export or re-download it"
    reason = text or type(e).__name__
    return f"file is corrupt: its {pretty(fmt)} data cannot be decoded ({reason}): re-export or re-download it"


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


def _open(data: bytes, fmt: str) -> Image.Image:
    _require_plugin(fmt)
    try:
        return Image.open(io.BytesIO(data), formats=[fmt])
    except UnidentifiedImageError:
        raise ValueError(f"its {pretty(fmt)} header cannot be parsed") from None


def _require_plugin(fmt: str) -> None:
    if fmt == "HEIF":
        try:
            from pillow_heif import register_heif_opener  # type: ignore[import-not-found]
        except ImportError:
            raise ImageReadError(
                "HEIC images need the optional pillow-heif package: pip install pillow-heif (or export as JPEG)"
            ) from None
        register_heif_opener()
    elif fmt == "AVIF" and not features.check("avif"):
        raise ImageReadError("this Pillow build cannot read AVIF: upgrade Pillow to 11.3 or later, or export as PNG")


def _decode_png(data: bytes, fmt: str, max_pixels: int | None) -> _Decoded:
    header = _png.check_structure(data)
    _check_size(header.width, header.height, max_pixels)
    return _decode_with_pillow(data, fmt, max_pixels, png=header)


def _decode_with_pillow(data: bytes, fmt: str, max_pixels: int | None, png: _png.PngHeader | None = None) -> _Decoded:
    with pillow_bomb_check_off():
        im = _open(data, fmt)
        _check_size(*im.size, max_pixels)
        frames = int(getattr(im, "n_frames", 1))
        if png is not None and png.bit_depth == 16:  # Pillow would reduce it to 8 bits
            samples = Samples(_png.decode16(data, png), 16, [], im.info.get("icc_profile") or None)
        else:
            im.load()
            samples = pil_samples(im)
    info: dict[str, Any] = {k: v for k, v in im.info.items() if isinstance(k, str)}
    raw_exif = with_exif_prefix(info.get("exif") or (png.exif if png is not None else None))
    exif = parse_exif(raw_exif)
    dpi = jpeg_dpi(info, exif) if fmt == "JPEG" else clean_dpi(info.get("dpi"))
    quant = getattr(im, "quantization", None) if fmt == "JPEG" else None
    tables = tuple(tuple(int(v) for v in quant[k]) for k in sorted(quant)) if quant else None
    notes = [f"animated image: only the first of {frames} frames was read"] if frames > 1 else []
    return _Decoded(samples, raw_exif, dpi, orientation_of(exif), tables, notes)


def _decode_webp(data: bytes, fmt: str, max_pixels: int | None) -> _Decoded:
    if int.from_bytes(data[4:8], "little") + 8 > len(data):  # the RIFF size covers the whole file
        raise _Truncated("WebP data ends early")
    return _decode_with_pillow(data, fmt, max_pixels)


def _decode_tiff(data: bytes, fmt: str, max_pixels: int | None) -> _Decoded:
    order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"
    if data[2:4] in (b"*\x00", b"\x00*"):  # classic TIFF: the first directory must lie inside the file
        first = int.from_bytes(data[4:8], order)
        entries = int.from_bytes(data[first : first + 2], order) if first + 2 <= len(data) else 0
        if len(data) < 8 or first + 6 + 12 * entries > len(data):
            raise _Truncated("TIFF data ends early")
    info = _tiff.inspect(data)
    _check_size(info.width, info.height, max_pixels)
    if info.camera_raw:
        raise ImageReadError("this TIFF holds undeveloped camera RAW data (DNG): develop it to TIFF or JPEG first")
    if info.truncated:
        raise _Truncated("TIFF data ends early")
    if info.high_depth:
        arr, is_float = _tiff.decode_high_depth(data)
        note = ["floating-point TIFF: values clipped to [0, 1] (written back as 16-bit)"] if is_float else []
        samples = Samples(arr, 16, note, info.icc)
    else:
        with pillow_bomb_check_off():
            im = _open(data, fmt)
            im.load()
            samples = pil_samples(im)
    exif = parse_exif(data)  # a TIFF's first IFD is an EXIF block already
    notes = [f"multi-page TIFF: only the first of {info.pages} pages was read"] if info.pages > 1 else []
    raw_exif = exif_from_tiff(exif) if exif is not None else None
    orientation = orientation_of(exif) if info.high_depth else 1  # Pillow turns TIFFs upright as it loads
    return _Decoded(samples, raw_exif, info.dpi, orientation, None, notes)


_DECODERS: dict[str, Callable[[bytes, str, int | None], _Decoded]] = {
    "PNG": _decode_png,
    "TIFF": _decode_tiff,
    "WEBP": _decode_webp,
}

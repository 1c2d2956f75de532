"""Pillow images to and from numpy samples: every PIL mode mapped to gray/RGB (+ alpha), 8 or 16 bit."""

from __future__ import annotations

import io
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, features

from revive.errors import ImageReadError

from ._meta import icc_color_space

_guard_lock = threading.Lock()
_guard_depth = 0
_saved_limit: int | None = None


@contextmanager
def pillow_bomb_check_off() -> Iterator[None]:
    """Pillow's own decompression-bomb limit off while revive's (checked on the header) is in force."""
    global _guard_depth, _saved_limit
    with _guard_lock:
        if _guard_depth == 0:
            _saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _guard_depth += 1
    try:
        yield
    finally:
        with _guard_lock:
            _guard_depth -= 1
            if _guard_depth == 0:
                Image.MAX_IMAGE_PIXELS = _saved_limit


class PillowRefused(ValueError):
    """Pillow's plugin turned the header down; the message is Pillow's own reason ("cannot handle 12-bit layers")."""


def pillow_open(fp: BinaryIO, fmt: str) -> ImageFile.ImageFile:
    """Open with exactly one Pillow plugin, keeping its reason when it refuses (Image.open hides it)."""
    Image.init()
    entry = Image.OPEN.get(fmt)
    if entry is None:
        raise ImageReadError(f"not supported: {fmt} (this Pillow has no reader for it)")
    fp.seek(0)
    try:
        return entry[0](fp, "")
    except (SyntaxError, IndexError, TypeError, struct.error, EOFError) as e:
        raise PillowRefused(str(e) or type(e).__name__) from e


@dataclass
class Samples:
    """Decoded samples: uint8/uint16/float32, HxW or HxWxC; C = 2 or 4 means the last one is alpha."""

    array: np.ndarray
    bit_depth: int
    notes: list[str] = field(default_factory=list)
    icc: bytes | None = None  # the profile that describes ``array`` (replaced when CMYK became sRGB)


def pil_samples(im: Image.Image) -> Samples:
    """Samples of any Pillow image; palette, CMYK, 1-bit and premultiplied modes are converted, with a note."""
    icc = im.info.get("icc_profile") or None
    notes: list[str] = []
    mode = im.mode
    if mode == "1":
        im = im.convert("L")
        notes.append("1-bit image converted to 8-bit gray")
    elif mode in ("P", "PA"):
        im, note = _from_palette(im)
        notes.append(note)
    elif mode == "CMYK":
        im, icc, note = _from_cmyk(im, icc)
        notes.append(note)
    elif mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("LA" if mode == "L" else "RGBA")
    elif mode in ("RGBa", "La", "RGBX", "YCbCr"):
        im = im.convert({"RGBa": "RGBA", "La": "LA"}.get(mode, "RGB"))
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return Samples(np.asarray(im), 8, notes, icc)
    if im.mode.startswith("I;16"):
        return Samples(np.asarray(im).astype(np.uint16), 16, notes, icc)
    if im.mode == "I":  # 32-bit integer gray; Pillow uses it for some 16-bit gray files
        return Samples(np.clip(np.asarray(im), 0, 65535).astype(np.uint16), 16, notes, icc)
    if im.mode == "F":
        notes.append("floating-point image: values clipped to [0, 1] (written back as 16-bit)")
        return Samples(np.asarray(im).astype(np.float32), 16, notes, icc)
    raise ImageReadError(f"not supported: Pillow colour mode {im.mode}: convert the image to RGB first")


def _from_palette(im: Image.Image) -> tuple[Image.Image, str]:
    has_alpha = im.mode == "PA" or "transparency" in im.info
    palette = im.getpalette("RGB") or []
    triples = [palette[i : i + 3] for i in range(0, len(palette), 3)]
    if not has_alpha and triples and all(r == g == b for r, g, b in triples):
        return im.convert("L"), "palette image converted to gray"
    if has_alpha:
        return im.convert("RGBA"), "palette image converted to RGB with alpha"
    return im.convert("RGB"), "palette image converted to RGB"


def _from_cmyk(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None, str]:
    if icc and icc_color_space(icc) == "CMYK" and features.check("littlecms2"):
        from PIL import ImageCms

        try:
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, srgb, outputMode="RGB")
            if out is not None:
                return out, srgb.tobytes(), "CMYK converted to sRGB through its ICC profile"
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    # The CMYK profile cannot describe RGB pixels, so it does not travel on.
    return im.convert("RGB"), None, "CMYK converted to RGB without a colour profile (colours are approximate)"


def to_pil_image(arr: np.ndarray) -> Image.Image:
    """uint8 HxW / HxWx2 / HxWx3 / HxWx4 to an L / LA / RGB / RGBA Pillow image."""
    return Image.fromarray(np.ascontiguousarray(arr))

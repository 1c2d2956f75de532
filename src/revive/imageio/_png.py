"""PNG at the chunk level: structure checks, 16-bit pixels through OpenCV, metadata chunks by hand.

Pillow reads 16-bit colour PNGs as 8-bit, so 16-bit PNGs are decoded and encoded with OpenCV;
Metadata chunks (iCCP, pHYs, eXIf, and iTXt for XMP) are written here for every PNG (CRC via zlib).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAY, RGB, PALETTE, GRAY_ALPHA, RGB_ALPHA = 0, 2, 3, 4, 6


class PngStructureError(ValueError):
    """The chunk structure is broken; ``truncated`` tells whether the data simply ends early."""

    def __init__(self, message: str, truncated: bool) -> None:
        super().__init__(message)
        self.truncated = truncated


@dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    bit_depth: int
    color_type: int
    exif: bytes | None  # eXIf payload (a bare TIFF block), wherever the chunk sits


def ihdr_size(head: bytes) -> tuple[int, int]:
    """Width and height from the first bytes of a PNG (its IHDR chunk comes first)."""
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise PngStructureError("PNG header is missing or cut", truncated=len(head) < 33)
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def check_structure(data: bytes) -> PngHeader:
    """Walk the chunks (no decoding): the header, or PngStructureError if the file is cut or broken."""
    width, height = ihdr_size(data)
    depth, ctype = data[24], data[25]
    pos, seen_idat, exif = 8, False, None
    while True:
        if pos + 12 > len(data):
            raise PngStructureError("PNG data ends early", truncated=True)
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise PngStructureError(f"PNG chunk at byte {pos} is garbled", truncated=False)
        end = pos + 12 + length
        if end > len(data):
            raise PngStructureError("PNG data ends early", truncated=True)
        if kind == b"IDAT":
            seen_idat = True
        elif kind == b"eXIf":
            exif = data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            break
        pos = end
    if not seen_idat:
        raise PngStructureError("PNG has no image data (IDAT)", truncated=False)
    return PngHeader(width, height, depth, ctype, exif)


def decode16(data: bytes, header: PngHeader) -> np.ndarray:
    """A 16-bit PNG as uint16 HxW, HxWx2 (gray+alpha), HxWx3 (RGB) or HxWx4 (RGBA)."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("OpenCV could not decode the 16-bit PNG data")
    if arr.dtype != np.uint16:
        raise ValueError(f"expected 16-bit samples, OpenCV gave {arr.dtype}")
    if arr.ndim == 2:
        return arr
    if header.color_type in (GRAY, GRAY_ALPHA):  # OpenCV expands gray+alpha (or gray+tRNS) to BGRA
        return np.ascontiguousarray(arr[:, :, [0, 3]] if arr.shape[2] == 4 else arr[:, :, 0])
    return swap_red_blue(arr)


def swap_red_blue(arr: np.ndarray) -> np.ndarray:
    """BGR(A) ↔ RGB(A) in place, a strip at a time: no second full-size copy of a large image."""
    rows = max(1, (1 << 20) // max(1, arr.shape[1] * arr.shape[2]))
    for y in range(0, arr.shape[0], rows):
        strip = arr[y : y + rows]
        strip[:, :, [0, 2]] = strip[:, :, [2, 0]]
    return arr


def encode16(arr: np.ndarray, level: int, *, in_place: bool = False) -> memoryview:
    """uint16 HxW/HxWx2/HxWx3/HxWx4 (RGB order) to PNG bytes without metadata.

    ``in_place`` lets it reorder the channels of ``arr`` itself (a scratch array) instead of a copy.
    """
    if arr.ndim == 3 and arr.shape[2] == 2:
        return memoryview(_encode_gray_alpha16(arr, level))
    if arr.ndim == 3:
        arr = swap_red_blue(arr if in_place else arr.copy())
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr), [cv2.IMWRITE_PNG_COMPRESSION, level, *_strategy(arr)])
    if not ok:
        raise ValueError("OpenCV could not encode the 16-bit PNG")
    return memoryview(buf.data).cast("B")  # the encoder's own buffer: no copy


def _strategy(arr: np.ndarray) -> list[int]:
    """zlib's run-length strategy when a sample of rows says it is no larger (photos: 3x faster than the default).

    Documents and graphics repeat at long distances, which only the default strategy finds (there
    RLE doubles the file); measured with bench/imageio.py.
    """
    h = arr.shape[0]
    if h < 256:
        return []
    sample = np.ascontiguousarray(np.concatenate([arr[h // 3 : h // 3 + 32], arr[2 * h // 3 : 2 * h // 3 + 32]]))
    sizes = []
    for options in ([], _RLE):
        ok, buf = cv2.imencode(".png", sample, [cv2.IMWRITE_PNG_COMPRESSION, 6, *options])
        sizes.append(buf.size if ok else 1 << 62)
    return _RLE if sizes[1] <= 1.05 * sizes[0] else []


_RLE = [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]


def _encode_gray_alpha16(arr: np.ndarray, level: int) -> bytes:
    # OpenCV cannot write 2-channel PNGs; rows with the "Up" filter compress well enough.
    h, w, _ = arr.shape
    rows = arr.astype(">u2").view(np.uint8).reshape(h, w * 4)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as the filter wants
    raw = np.concatenate([np.full((h, 1), 2, np.uint8), up], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 16, GRAY_ALPHA, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, level)) + chunk(b"IEND", b"")


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def metadata_chunks(
    icc: bytes | None, dpi: tuple[float, float] | None, exif_tiff: bytes | None, xmp: bytes | None = None
) -> bytes:
    """iCCP, pHYs, eXIf and XMP iTXt chunks (EXIF given as a bare TIFF block, without "Exif\\0\\0")."""
    out = b""
    if icc:
        out += chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if dpi:
        ppm = [max(1, round(d / 0.0254)) for d in dpi]
        out += chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    if exif_tiff:
        out += chunk(b"eXIf", exif_tiff)
    if xmp:  # keyword, no compression (method 0), no language, no translated keyword, UTF-8 text
        out += chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp)
    return out


def insert_after_ihdr(png: bytes | memoryview, chunks: bytes) -> bytes:
    """Put extra chunks right after IHDR, before any image data (where every reader looks)."""
    view = memoryview(png)
    ihdr_end = 8 + 12 + int.from_bytes(view[8:12], "big")
    return b"".join([view[:ihdr_end], chunks, view[ihdr_end:]])  # one copy of the encoded bytes

"""Content sniffing: what a file really is, from its first bytes (never from its name)."""

from __future__ import annotations

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"3gp4", b"3gp5", b"dash", b"avc1"}


def sniff(head: bytes) -> str | None:
    """The image format of a file from its first bytes (Pillow's name), or None if not an image we read."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:2] == b"BM" and len(head) >= 26:
        return "BMP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    brands = _ftyp_brands(head)
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    return None


def _ftyp_brands(head: bytes) -> set[bytes]:
    if head[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(head[:4], "big")
    end = min(max(size, 16), len(head))
    return {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}


def describe_non_image(head: bytes) -> str | None:
    """What a file that is not an image looks like ("text", "a PDF document"…), or None if unrecognised."""
    lower = head[:512].lstrip().lower()
    if head.startswith(b"%PDF"):
        return "a PDF document: export its pages as images first"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a ZIP archive (or an office document): unpack it first"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive: unpack it first"
    if head.startswith((b"Rar!", b"7z\xbc\xaf")):
        return "a compressed archive: unpack it first"
    if head.startswith(b"8BPS"):
        return "a Photoshop document: export it as PNG, TIFF or JPEG first"
    if head[:4] == b"II*\x00" and head[8:10] == b"CR":
        return "a camera RAW file: develop it to TIFF or JPEG first"
    if head[4:8] == b"ftyp":
        if _ftyp_brands(head) & {b"crx "}:
            return "a camera RAW file: develop it to TIFF or JPEG first"
        if _ftyp_brands(head) & _VIDEO_BRANDS:
            return "a video (MP4/MOV): extract a frame as an image first"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "a JPEG XL image, which revive does not read: convert it to PNG first"
    if head.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")):
        return "a JPEG 2000 image, which revive does not read: convert it to PNG first"
    if b"<svg" in lower or (lower.startswith(b"<?xml") and b"<svg" in head):
        return "an SVG drawing (vector graphics): export it to PNG first"
    if lower.startswith((b"<!doctype html", b"<html")):
        return "an HTML web page (perhaps a failed download): download the image itself"
    if _looks_like_text(head):
        return "text: check that this is the file you meant"
    return None


def _looks_like_text(head: bytes) -> bool:
    sample = head[:1024]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 byte-order mark
        return True
    if not sample or b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(sample) - 3:  # a multi-byte character cut at the end is fine
            return False
        text = sample[: e.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return printable >= 0.95 * max(len(text), 1)

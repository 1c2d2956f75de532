"""No input can hang, crash or trick revive.imageio: special files, header bombs, truncation, and
odd-but-valid images (absurd DPI, long names, 1-bit, L*a*b*, signed, palette+alpha, CMYK, animation).

Each refusal is one ImageReadError line that names the file and the reason, leaves the folder as it
was and prints nothing; each odd image reads, notes what was reinterpreted, and writes back.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from revive import imageio
from revive.errors import ImageReadError, ImageTooLarge

# ---------------------------------------------------------------- helpers


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {p.name: (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.iterdir()}


def refused(path: Path, capfd: pytest.CaptureFixture[str], match: str, cls: type = ImageReadError) -> str:
    """Read ``path`` expecting one clear error; the folder and stderr stay untouched."""
    folder = path.parent
    before = snapshot(folder)
    capfd.readouterr()
    with pytest.raises(cls) as info:
        imageio.read(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert match in message, message
    assert snapshot(folder) == before
    assert capfd.readouterr() == ("", "")
    return message


def within(seconds: float, fn, *, unblock=None):
    """Run ``fn`` in a thread; fail (after ``unblock`` frees it) if it takes longer than ``seconds``."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the test thread
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None:
            unblock()
        thread.join(5)
        pytest.fail(f"still running after {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def grow_sparse(path: Path) -> None:
    """Make the file a terabyte long without writing anything: reading it whole would fail loudly."""
    for size in (1 << 40, 1 << 36, 1 << 33):
        try:
            with open(path, "r+b") as f:
                f.truncate(size)
            return
        except OSError:
            continue
    pytest.fail("this file system cannot hold a sparse file of 8 GB")


# ---------------------------------------------------------------- special files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX feature")
def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)

    def unblock() -> None:  # a reader stuck in open() is released by a writer appearing
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)

    message = within(5, lambda: refused(fifo, capfd, "is a named pipe (FIFO), not an image file"), unblock=unblock)
    assert message.endswith("save the image to a regular file and read that")
    assert fifo.is_fifo()


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_before_any_read(tmp_path: Path, capfd: pytest.CaptureFixture[str], device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    link = tmp_path / "photo.jpg"  # a harmless-looking name pointing at an endless stream
    link.symlink_to(device)
    within(5, lambda: refused(link, capfd, "is a character device, not an image file"))
    within(5, lambda: refused(Path(device), capfd, "is a character device"))


def test_a_socket_and_a_folder_are_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    sock_path = tmp_path / "s.png"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(sock_path))
        refused(sock_path, capfd, "is a socket, not an image file")
    finally:
        server.close()
    (tmp_path / "album.jpg").mkdir()
    refused(tmp_path / "album.jpg", capfd, "is a folder, not an image file")


# ---------------------------------------------------------------- header bombs


def _png_bomb(rgb: np.ndarray, path: Path) -> None:
    Image.fromarray(rgb).save(path)
    data = bytearray(path.read_bytes())
    struct.pack_into(">II", data, 16, 100_000, 100_000)
    path.write_bytes(bytes(data))


def _jpeg_bomb(rgb: np.ndarray, path: Path) -> None:
    Image.fromarray(rgb).save(path, quality=90)
    data = bytearray(path.read_bytes())
    sof = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2))
    struct.pack_into(">HH", data, sof + 5, 60_000, 60_000)
    path.write_bytes(bytes(data))


def _tiff_bomb(rgb: np.ndarray, path: Path) -> None:
    tifffile.imwrite(path, rgb, photometric="rgb")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tf:
        tags = tf.pages.first.tags
        for name in ("ImageWidth", "ImageLength"):
            tag = tags[name]
            fmt = "<I" if tag.dtype == 4 else "<H"
            struct.pack_into(fmt, data, tag.valueoffset, 60_000)
    path.write_bytes(bytes(data))


def _webp_bomb(rgb: np.ndarray, path: Path, lossless: bool) -> None:
    Image.fromarray(rgb).save(path, format="WEBP", lossless=lossless, quality=80)
    data = bytearray(path.read_bytes())
    body = 20
    if data[12:16] == b"VP8L":
        struct.pack_into("<I", data, body + 1, (16383 - 1) | ((16383 - 1) << 14) | (data[body + 4] >> 4 << 28))
    else:
        assert data[12:16] == b"VP8 "
        struct.pack_into("<HH", data, body + 6, 16383, 16383)
    path.write_bytes(bytes(data))


def _bmp_bomb(rgb: np.ndarray, path: Path) -> None:
    Image.fromarray(rgb).save(path, format="BMP")
    data = bytearray(path.read_bytes())
    struct.pack_into("<ii", data, 18, 50_000, 50_000)
    path.write_bytes(bytes(data))


def _gif_bomb(rgb: np.ndarray, path: Path) -> None:
    Image.fromarray(rgb).save(path, format="GIF")
    data = bytearray(path.read_bytes())
    struct.pack_into("<HH", data, 6, 65_000, 65_000)  # logical screen
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # after the global colour table
    while data[pos] == 0x21:  # extension blocks: label, then sub-blocks up to a zero length
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    assert data[pos] == 0x2C  # the first image descriptor
    struct.pack_into("<HH", data, pos + 5, 65_000, 65_000)
    path.write_bytes(bytes(data))


BOMBS = {
    "png": _png_bomb,
    "jpg": _jpeg_bomb,
    "tiff": _tiff_bomb,
    "webp-lossy": lambda a, p: _webp_bomb(a, p, False),
    "webp-lossless": lambda a, p: _webp_bomb(a, p, True),
    "bmp": _bmp_bomb,
    "gif": _gif_bomb,
}


@pytest.mark.parametrize("kind", list(BOMBS))
def test_bombs_are_refused_from_the_header_without_reading_the_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], astronaut: np.ndarray, kind: str
) -> None:
    """The header claims gigapixels and the file is a terabyte (sparse): only the header may be read."""
    path = tmp_path / f"bomb.{kind.split('-')[0]}"
    BOMBS[kind](np.ascontiguousarray(astronaut[:64, :80]), path)
    grow_sparse(path)
    message = refused(path, capfd, "(a guard against decompression bombs)", cls=ImageTooLarge)
    assert "megapixels, more than the limit of 100 megapixels" in message


@pytest.mark.parametrize("fmt", ["BMP", "GIF"])
def test_truncated_bmp_and_gif(tmp_path: Path, capfd: pytest.CaptureFixture[str], coffee: np.ndarray, fmt: str) -> None:
    good = tmp_path / "good.img"
    Image.fromarray(coffee[:120, :160]).save(good, format=fmt)
    data = good.read_bytes()
    bad = tmp_path / f"cut.{fmt.lower()}"
    bad.write_bytes(data[: len(data) // 2])
    refused(bad, capfd, f"file is truncated or corrupt ({fmt} data ends early): re-export or re-download it")


def test_a_12_bit_jpeg_is_not_supported_rather_than_corrupt(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], astronaut: np.ndarray
) -> None:
    path = tmp_path / "deep.jpg"
    Image.fromarray(astronaut[:32, :32]).save(path, quality=90)
    data = bytearray(path.read_bytes())
    sof = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xC0)
    data[sof + 4] = 12  # sample precision
    path.write_bytes(bytes(data))
    message = refused(path, capfd, "not supported: 12-bit JPEG (Pillow's libjpeg reads 8-bit JPEG only)")
    assert "corrupt" not in message


def test_an_unknown_tiff_compression_is_not_supported(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "odd.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tf:
        struct.pack_into("<H", data, tf.pages.first.tags["Compression"].valueoffset, 60000)
    path.write_bytes(bytes(data))
    message = refused(path, capfd, "not supported: TIFF with compression code 60000")
    assert "corrupt" not in message


def test_a_damaged_icc_profile_is_dropped_and_libpng_stays_quiet(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], coffee: np.ndarray
) -> None:
    """OpenCV's libpng prints "libpng warning: iCCP: too short" to fd 2 while decoding 16-bit PNG."""
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    deep = coffee[:40, :60].astype(np.uint16) * 257
    ok, buf = cv2.imencode(".png", deep[:, :, ::-1])
    png = buf.tobytes()
    path = tmp_path / "deep.png"
    path.write_bytes(png[:33] + chunk(b"iCCP", b"bogus\x00\x00" + zlib.compress(b"no profile")) + png[33:])
    capfd.readouterr()
    photo = imageio.read(path)
    assert capfd.readouterr() == ("", "")
    assert photo.meta.icc_profile is None and photo.meta.bit_depth == 16
    assert "the embedded colour profile (ICC) is damaged: left out, colours read as sRGB" in photo.meta.notes
    assert np.array_equal(photo.to_array(np.uint16), deep)

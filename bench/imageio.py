"""revive's PNG/TIFF codec paths against pyvips (libvips), same process, same pixels.

    python bench/imageio.py [--big 8000] [--repeat 3]

Compares, for 16-bit RGB with ICC, EXIF, DPI and XMP, encoding a uint16 array to file bytes and
decoding those bytes back, then the same for a big (default 8000x8000) image. Prints time and peak
memory (resident set growth, sampled every 2 ms, so C allocations count too) of pyvips as a ratio
to revive's current code (cv2 + hand-written PNG chunks; tifffile). Also checks that each side's
output decodes to the same pixels and keeps the metadata. pyvips is optional: pip install pyvips
pyvips-binary.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tifffile
from PIL import Image, ImageCms

from revive.imageio import _png, _tiff
from revive.imageio._meta import EXIF_PREFIX
from revive.imageio._write import PNG_COMPRESS_LEVEL

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
DPI = (300.0, 300.0)


def exif() -> Image.Exif:
    e = Image.Exif()
    e[0x010F] = "Bench"
    return e


@dataclass
class Measure:
    seconds: float
    peak_mb: float


def _fresh_heap() -> None:
    """Give freed memory back to the OS, so one run's leftovers do not hide the next run's needs."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn: Callable[[object], object], repeat: int, setup: Callable[[], object]) -> tuple[Measure, object]:
    """Best time of ``repeat`` runs of ``fn(setup())`` and the largest RSS growth seen (setup not counted)."""
    best, peak, result = float("inf"), 0, None
    for _ in range(repeat):
        result = None
        arg = setup()
        _fresh_heap()
        base, top, stop = _rss(), [0], threading.Event()

        def sample(base: int = base, top: list[int] = top, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                top[0] = max(top[0], _rss() - base)
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        result = fn(arg)
        took = time.perf_counter() - started
        stop.set()
        sampler.join()
        best, peak = min(best, took), max(peak, top[0], _rss() - base)
    return Measure(best, peak / 2**20), result


# ---------------------------------------------------------------- revive's current code


def revive_png_encode(scratch: np.ndarray) -> bytes:
    """As write() does it: the samples are its own scratch array, reordered in place."""
    chunks = _png.metadata_chunks(ICC, DPI, exif().tobytes()[len(EXIF_PREFIX) :], XMP)
    return _png.insert_after_ihdr(_png.encode16(scratch, PNG_COMPRESS_LEVEL, in_place=True), chunks)


def revive_png_decode(data: bytes) -> np.ndarray:
    return _png.decode16(data, _png.check_structure(data))


def revive_tiff_encode(arr: np.ndarray) -> bytes:
    return _tiff.encode(arr, icc=ICC, dpi=DPI, exif=exif(), xmp=XMP)


def revive_tiff_decode(data: bytes) -> np.ndarray:
    return tifffile.imread(io.BytesIO(data))


# ---------------------------------------------------------------- pyvips


def _vips_image(arr: np.ndarray):  # noqa: ANN202 - pyvips is untyped
    import pyvips

    im = pyvips.Image.new_from_array(arr).copy(interpretation="rgb16")
    im.set_type(pyvips.GValue.blob_type, "icc-profile-data", ICC)
    im.set_type(pyvips.GValue.blob_type, "exif-data", exif().tobytes())
    im.set_type(pyvips.GValue.blob_type, "xmp-data", XMP)
    return im.copy(xres=DPI[0] / 25.4, yres=DPI[1] / 25.4)


def vips_png_encode(arr: np.ndarray) -> bytes:
    """libvips's default row filter is "none": fast, but files a quarter larger than libpng's."""
    return _vips_image(arr).pngsave_buffer(bitdepth=16, compression=PNG_COMPRESS_LEVEL)


def vips_png_encode_filtered(arr: np.ndarray) -> bytes:
    """With every row filter tried (as libpng does): files as small as revive's."""
    return _vips_image(arr).pngsave_buffer(bitdepth=16, compression=PNG_COMPRESS_LEVEL, filter="all")


def vips_tiff_encode(arr: np.ndarray) -> bytes:
    return _vips_image(arr).tiffsave_buffer(compression="deflate", predictor="horizontal", level=6)


def vips_decode(data: bytes) -> np.ndarray:
    import pyvips

    return pyvips.Image.new_from_buffer(data, "", access="sequential").numpy()


def metadata_kept(data: bytes) -> str:
    """Which of ICC, EXIF, DPI, XMP another reader (Pillow / tifffile) finds in the bytes."""
    found = []
    with Image.open(io.BytesIO(data)) as im:
        if im.info.get("icc_profile"):
            found.append("icc")
        if im.getexif().get(0x010F) == "Bench":
            found.append("exif")
        dpi = im.info.get("dpi")
        if dpi and abs(float(dpi[0]) - 300) < 0.5:
            found.append("dpi")
        if im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or (im.format == "TIFF" and 700 in im.tag_v2):
            found.append("xmp")
    return ",".join(found)


def run(label: str, arr: np.ndarray, repeat: int) -> None:
    try:
        import pyvips  # noqa: F401
    except ImportError:
        print("pyvips is not installed: pip install pyvips pyvips-binary")
        raise SystemExit(1) from None
    cases = [
        ("PNG", revive_png_encode, revive_png_decode, vips_png_encode),
        ("PNG/f", revive_png_encode, revive_png_decode, vips_png_encode_filtered),
        ("TIFF", revive_tiff_encode, revive_tiff_decode, vips_tiff_encode),
    ]
    print(f"\n{label}: {arr.shape[1]}x{arr.shape[0]} RGB 16-bit ({arr.nbytes / 2**20:.0f} MB of samples)")
    print(f"{'':6} {'step':7} {'revive s':>9} {'pyvips s':>9} {'time ×':>7} {'revive MB':>10} {'pyvips MB':>10} "
          f"{'mem ×':>6}  {'bytes (revive/pyvips)':>24}  metadata kept (revive | pyvips)")  # fmt: skip
    for name, ours_enc, ours_dec, vips_enc in cases:
        m_ours, ours = measure(ours_enc, repeat, arr.copy)
        m_vips, theirs = measure(vips_enc, repeat, lambda: arr)
        assert isinstance(ours, bytes) and isinstance(theirs, bytes)
        sizes = f"{len(ours) / 2**20:.1f} / {len(theirs) / 2**20:.1f} MB"
        kept = f"{metadata_kept(ours)} | {metadata_kept(theirs)}"
        _row(name, "encode", m_ours, m_vips, f"{sizes:>24}  {kept}")
        if name.endswith("/f"):  # decoding does not depend on how pyvips would have encoded
            continue
        d_ours, pix_ours = measure(ours_dec, repeat, lambda b=ours: b)
        d_vips, pix_vips = measure(vips_decode, repeat, lambda b=ours: b)
        same = np.array_equal(pix_ours, arr) and np.array_equal(np.asarray(pix_vips), arr)
        _row(name, "decode", d_ours, d_vips, f"{'':>24}  pixels identical: {same}")


def _row(name: str, step: str, ours: Measure, vips: Measure, tail: str) -> None:
    t = vips.seconds / ours.seconds
    m = vips.peak_mb / ours.peak_mb if ours.peak_mb > 0.5 else float("nan")
    print(f"{name:6} {step:7} {ours.seconds:9.3f} {vips.seconds:9.3f} {t:7.2f} {ours.peak_mb:10.0f} "
          f"{vips.peak_mb:10.0f} {m:6.2f}  {tail}")  # fmt: skip


def main() -> None:
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None and os.path.exists("/proc/self/statm"):
        # a fixed threshold: glibc then returns every large buffer to the OS when it is freed, so
        # resident-set growth measures each run's own peak (glibc's sliding threshold would hide it)
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", type=int, default=8000, help="side of the big image (0 to skip)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run("photo", upscaled_photo(2048, 1536), args.repeat)
    if args.big:
        run("big", upscaled_photo(args.big, args.big), max(1, args.repeat - 2))


def upscaled_photo(width: int, height: int) -> np.ndarray:
    """What revive writes: a real photo enlarged (smooth), 16-bit, with a little sensor-like noise."""
    import cv2
    from skimage import data

    big = cv2.resize(data.astronaut().astype(np.float32) * 257, (width, height), interpolation=cv2.INTER_CUBIC)
    big += np.random.default_rng(0).normal(0, 40, big.shape).astype(np.float32)
    return np.clip(big, 0, 65535).astype(np.uint16)


if __name__ == "__main__":
    main()

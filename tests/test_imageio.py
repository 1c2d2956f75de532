"""revive.imageio: lossless round trips, metadata, orientation, alpha, bad inputs and atomic writes."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin, features

from revive import imageio
from revive.errors import ImageReadError, ImageTooLarge, ImageWriteError, InvalidParameter, OutputExists
from revive.types import ImageMeta, Photo

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GRAY_ICC_SPACE = b"GRAY"


@pytest.fixture(scope="module")
def rgb(astronaut: np.ndarray) -> np.ndarray:
    """A non-square crop of a real photo (non-square catches swapped axes)."""
    return np.ascontiguousarray(astronaut[40:136, 180:308])  # 96 x 128


@pytest.fixture(scope="module")
def rgb16(rgb: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(0).integers(0, 200, rgb.shape, dtype=np.uint16)
    return rgb.astype(np.uint16) * 257 + noise  # uses the low byte too: an 8-bit step would show


@pytest.fixture(scope="module")
def alpha8(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    return ramp.round().astype(np.uint8)


def exif_block(orientation: int | None = None, width: int | None = None, height: int | None = None) -> bytes:
    ex = Image.Exif()
    ex[0x010F] = "Canon"
    ex[0x0110] = "EOS 5D"
    if orientation is not None:
        ex[0x0112] = orientation
    sub = {0x9003: "2021:06:01 12:00:00"}
    if width is not None:
        sub.update({0xA002: width, 0xA003: height})
    ex[0x8769] = sub
    return ex.tobytes()


def pil_exif(path: Path) -> tuple[dict[int, object], dict[int, object]]:
    with Image.open(path) as im:
        ex = im.getexif()
        return dict(ex), dict(ex.get_ifd(0x8769))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


# ---------------------------------------------------------------- names


def test_format_for_path_and_names() -> None:
    assert imageio.SUPPORTED_WRITE_FORMATS == ("png", "jpg", "webp", "tiff")
    assert imageio.DEFAULT_MAX_PIXELS == 100_000_000
    cases = {"a.png": "png", "b.JPG": "jpg", "c.jpeg": "jpg", "d.webp": "webp", "e.tif": "tiff", "f.TIFF": "tiff"}
    for name, fmt in cases.items():
        assert imageio.format_for_path(name) == fmt
    for bad in ("a.gif", "noext", "x.bmp"):
        with pytest.raises(InvalidParameter):
            imageio.format_for_path(bad)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_8bit_lossless_round_trip(tmp_path: Path, rgb: np.ndarray, fmt: str) -> None:
    out = imageio.write(Photo.from_array(rgb), tmp_path / f"x.{fmt}")
    back = imageio.read(out)
    assert back.meta.bit_depth == 8 and back.meta.source_format == {"png": "PNG", "tiff": "TIFF"}[fmt]
    assert np.array_equal(back.to_array(np.uint8), rgb)
    with Image.open(out) as im:  # an independent reader agrees
        assert np.array_equal(np.asarray(im.convert("RGB")), rgb)


def test_lossy_round_trips_and_webp_lossless(tmp_path: Path, rgb: np.ndarray) -> None:
    photo = Photo.from_array(rgb)
    jpg = imageio.read(imageio.write(photo, tmp_path / "x.jpg"))
    assert psnr(jpg.to_array(np.uint8), rgb) > 38
    webp = imageio.read(imageio.write(photo, tmp_path / "x.webp"))
    assert psnr(webp.to_array(np.uint8), rgb) > 36
    exact = imageio.read(imageio.write(photo, tmp_path / "y.webp", quality=100))
    assert np.array_equal(exact.to_array(np.uint8), rgb)
    low = imageio.write(photo, tmp_path / "low.jpg", quality=40)
    assert low.stat().st_size < (tmp_path / "x.jpg").stat().st_size


def test_jpeg_of_pure_noise_is_written(tmp_path: Path) -> None:
    # Pillow's optimised-Huffman buffer overflows on noise at high quality; the writer must cope
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    back = imageio.read(imageio.write(Photo.from_array(noise), tmp_path / "noise.jpg"))
    assert psnr(back.to_array(np.uint8), noise) > 30


def test_jpeg_4_4_4_at_high_quality_and_quantization_tables(tmp_path: Path, rgb: np.ndarray) -> None:
    hi = imageio.write(Photo.from_array(rgb), tmp_path / "hi.jpg")
    lo = imageio.write(Photo.from_array(rgb), tmp_path / "lo.jpg", quality=50)
    with Image.open(hi) as a, Image.open(lo) as b:
        assert JpegImagePlugin.get_sampling(a) == 0 and JpegImagePlugin.get_sampling(b) == 2  # 4:4:4, 4:2:0
    q_hi, q_lo = imageio.read(hi).meta.jpeg_quantization, imageio.read(lo).meta.jpeg_quantization
    assert q_hi is not None and q_lo is not None and len(q_hi) == 2
    assert all(len(t) == 64 and all(isinstance(v, int) for v in t) for t in q_hi)
    assert sum(q_lo[0]) > 3 * sum(q_hi[0])  # lower quality, coarser steps
    assert imageio.read(imageio.write(Photo.from_array(rgb), tmp_path / "p.png")).meta.jpeg_quantization is None


@pytest.mark.parametrize("fmt", ["png", "tiff"])
@pytest.mark.parametrize("layout", ["rgb", "rgba", "gray", "graya"])
def test_16bit_round_trip_is_exact(tmp_path: Path, rgb16: np.ndarray, fmt: str, layout: str) -> None:
    gray = rgb16[:, :, 1]
    alpha = rgb16[:, :, 2][::-1]
    arr = {
        "rgb": rgb16,
        "rgba": np.dstack([rgb16, alpha]),
        "gray": gray,
        "graya": np.dstack([gray, alpha]),
    }[layout]
    photo = Photo.from_array(arr)
    assert photo.meta.bit_depth == 16
    out = imageio.write(photo, tmp_path / f"x.{fmt}")
    back = imageio.read(out)
    assert back.meta.bit_depth == 16
    assert back.is_gray == layout.startswith("gray")
    assert (back.alpha is not None) == layout.endswith("a")
    assert np.array_equal(back.to_array(np.uint16), arr)
    if fmt == "png":  # the file really is 16-bit, read by OpenCV independently
        assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    else:
        assert tifffile.imread(out).dtype == np.uint16


def test_16bit_files_from_other_writers(tmp_path: Path, rgb16: np.ndarray) -> None:
    cv2.imwrite(str(tmp_path / "cv.png"), rgb16[:, :, ::-1])
    assert np.array_equal(imageio.read(tmp_path / "cv.png").to_array(np.uint16), rgb16)
    Image.fromarray(rgb16[:, :, 0]).save(tmp_path / "pil16.png")  # I;16 gray
    back = imageio.read(tmp_path / "pil16.png")
    assert back.is_gray and back.meta.bit_depth == 16
    assert np.array_equal(back.to_array(np.uint16), rgb16[:, :, 0])
    planar = np.moveaxis(rgb16, -1, 0)
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    assert np.array_equal(imageio.read(tmp_path / "planar.tif").to_array(np.uint16), rgb16)


def test_tiff_variants(tmp_path: Path, rgb: np.ndarray, rgb16: np.ndarray) -> None:
    ok, buf = cv2.imencode(".tiff", rgb16[:, :, ::-1])  # OpenCV writes LZW, which tifffile alone cannot decode
    (tmp_path / "lzw16.tif").write_bytes(buf.tobytes())
    assert np.array_equal(imageio.read(tmp_path / "lzw16.tif").to_array(np.uint16), rgb16)
    alpha = np.full(rgb16.shape[:2], 32768, np.uint16)
    premultiplied = np.round(rgb16 * (alpha[:, :, None] / 65535.0)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "assoc.tif", np.dstack([premultiplied, alpha]), photometric="rgb", extrasamples=[1])
    straight = imageio.read(tmp_path / "assoc.tif")
    assert np.abs(straight.to_array(np.uint16)[:, :, :3].astype(int) - rgb16).max() <= 1  # unpremultiplied
    pages = [Image.fromarray(rgb), Image.fromarray(rgb[::-1])]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    first = imageio.read(tmp_path / "pages.tif")
    assert np.array_equal(first.to_array(np.uint8), rgb)
    assert "multi-page TIFF: only the first of 2 pages was read" in first.meta.notes


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF codec")
def test_avif_is_read_when_pillow_can(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(tmp_path / "x.avif", quality=90)
    photo = imageio.read(tmp_path / "x.avif")
    assert photo.meta.source_format == "AVIF" and psnr(photo.to_array(np.uint8), rgb) > 30


def test_float_tiff_is_clipped_and_written_16bit(tmp_path: Path, rgb: np.ndarray) -> None:
    f = rgb.astype(np.float32) / 255.0 * 1.2 - 0.1
    tifffile.imwrite(tmp_path / "f.tif", f, photometric="rgb")
    photo = imageio.read(tmp_path / "f.tif")
    assert photo.meta.bit_depth == 16 and any("floating-point" in n for n in photo.meta.notes)
    assert photo.pixels.min() == 0.0 and photo.pixels.max() == 1.0
    assert np.allclose(photo.pixels, np.clip(f, 0, 1))
    assert tifffile.imread(imageio.write(photo, tmp_path / "o.tif")).dtype == np.uint16


def test_bmp_and_gif_are_read(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(tmp_path / "x.bmp")
    assert np.array_equal(imageio.read(tmp_path / "x.bmp").to_array(np.uint8), rgb)
    frames = [Image.fromarray(rgb).quantize(64), Image.fromarray(rgb[::-1]).quantize(64)]
    frames[0].save(tmp_path / "x.gif", save_all=True, append_images=frames[1:])
    gif = imageio.read(tmp_path / "x.gif")
    assert gif.pixels.shape == rgb.shape and any("first of 2 frames" in n for n in gif.meta.notes)


# ---------------------------------------------------------------- orientation

# Pillow's own transposes for each EXIF orientation (what a viewer shows), and their inverses.
SHOW = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}
UNDO = {**SHOW, 6: [Image.Transpose.ROTATE_90], 8: [Image.Transpose.ROTATE_270]}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, rgb: np.ndarray, orientation: int) -> None:
    stored = Image.fromarray(rgb)
    for op in UNDO.get(orientation, []):
        stored = stored.transpose(op)
    path = tmp_path / "o.png"
    stored.save(path, exif=exif_block(orientation))
    photo = imageio.read(path)
    assert np.array_equal(photo.to_array(np.uint8), rgb)
    with Image.open(path) as im:  # Pillow's reference agrees
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(im)), rgb)
    # written back upright: orientation 1, so every viewer shows the same thing
    out = imageio.write(photo, tmp_path / "back.jpg")
    ifd0, _ = pil_exif(out)
    assert ifd0.get(0x0112, 1) == 1 and ifd0[0x010F] == "Canon"


@pytest.mark.parametrize("fmt", ["jpg", "webp", "png16", "tiff8", "tiff16"])
def test_orientation_in_other_containers(tmp_path: Path, rgb: np.ndarray, rgb16: np.ndarray, fmt: str) -> None:
    want = np.rot90(rgb16, k=1)  # orientation 8 shows the stored image turned 90° counter-clockwise
    stored16 = np.rot90(want, k=-1)
    path = tmp_path / ("o." + fmt.rstrip("0123456789"))
    if fmt in ("jpg", "webp"):
        Image.fromarray((stored16 >> 8).astype(np.uint8)).save(path, quality=95, exif=exif_block(8))
    elif fmt == "tiff8":
        ex = Image.Exif()
        ex[0x0112] = 8  # (Pillow's libtiff writer cannot add sub-IFDs)
        Image.fromarray((stored16 >> 8).astype(np.uint8)).save(path, compression="tiff_lzw", exif=ex)
    elif fmt == "png16":
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(stored16[:, :, ::-1]))
        raw = buf.tobytes()
        path.write_bytes(raw[:33] + _chunk(b"eXIf", exif_block(8)[6:]) + raw[33:])
    else:
        tifffile.imwrite(path, stored16, photometric="rgb", extratags=[(274, 3, 1, 8, True)])
    photo = imageio.read(path)
    assert photo.pixels.shape[:2] == want.shape[:2]
    if fmt in ("jpg", "webp"):
        assert psnr(photo.to_array(np.uint8), (want >> 8).astype(np.uint8)) > 35
    elif fmt == "tiff8":
        assert np.array_equal(photo.to_array(np.uint8), (want >> 8).astype(np.uint8))
    else:
        assert np.array_equal(photo.to_array(np.uint16), want)


# ---------------------------------------------------------------- metadata


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "tiff", "png16", "tiff16"])
def test_metadata_travels_with_orientation_reset_and_new_size(tmp_path: Path, rgb: np.ndarray, fmt: str) -> None:
    h, w = rgb.shape[:2]
    src = tmp_path / "src.jpg"
    Image.fromarray(rgb).save(src, quality=95, icc_profile=SRGB_ICC, dpi=(300, 300), exif=exif_block(6, w, h))
    photo = imageio.read(src)
    assert photo.meta.icc_profile == SRGB_ICC and photo.meta.dpi == (300.0, 300.0)
    assert photo.pixels.shape[:2] == (w, h)  # orientation 6 turned it
    small = photo.evolve(pixels=np.ascontiguousarray(photo.pixels[::2, ::2]))  # a "resized" photo: w/2 x h/2
    if fmt.endswith("16"):
        small = small.evolve(meta=ImageMeta(**{**small.meta.__dict__, "bit_depth": 16}))
    ext = fmt[:-2] if fmt.endswith("16") else fmt
    out = imageio.write(small, tmp_path / f"out.{ext}")
    ifd0, sub = pil_exif(out)
    assert ifd0.get(0x0112, 1) == 1
    assert ifd0[0x010F] == "Canon" and ifd0[0x0110] == "EOS 5D"
    assert sub[0xA002] == h // 2 and sub[0xA003] == w // 2  # the new pixel size, upright
    assert sub[0x9003] == "2021:06:01 12:00:00"
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == SRGB_ICC
        if ext != "webp":
            assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    back = imageio.read(out)
    assert back.meta.icc_profile == SRGB_ICC
    assert back.meta.dpi == (None if ext == "webp" else (300.0, 300.0))
    assert back.pixels.shape[:2] == (w // 2, h // 2)  # no second rotation
    if fmt.endswith("16"):
        assert back.meta.bit_depth == 16


def test_exif_of_a_tiff_source_is_kept(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(tmp_path / "s.png", exif=exif_block(1, 128, 96))
    tif = imageio.write(imageio.read(tmp_path / "s.png"), tmp_path / "s.tif")
    photo = imageio.read(tif)
    jpg = imageio.write(photo, tmp_path / "s.jpg")
    ifd0, sub = pil_exif(jpg)
    assert ifd0[0x010F] == "Canon" and sub[0x9003] == "2021:06:01 12:00:00" and sub[0xA002] == 128


def test_icc_of_the_wrong_colour_space_is_left_out_with_a_note(tmp_path: Path, rgb: np.ndarray) -> None:
    gray_icc = bytearray(SRGB_ICC)
    gray_icc[16:20] = GRAY_ICC_SPACE
    photo = Photo.from_array(rgb, ImageMeta(icc_profile=bytes(gray_icc)))
    notes = imageio.write_notes(photo, "png")
    assert any("ICC profile left out" in n for n in notes)
    with Image.open(imageio.write(photo, tmp_path / "x.png")) as im:
        assert "icc_profile" not in im.info


def test_unparseable_exif_is_left_out_with_a_note(tmp_path: Path, rgb: np.ndarray) -> None:
    photo = Photo.from_array(rgb, ImageMeta(exif=b"Exif\x00\x00garbage that is no TIFF block"))
    assert "EXIF could not be parsed and was left out" in imageio.write_notes(photo, "jpg")
    with Image.open(imageio.write(photo, tmp_path / "x.jpg")) as im:
        assert "exif" not in im.info


# ---------------------------------------------------------------- alpha, gray, palette, CMYK


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff"])
def test_alpha_round_trip_8bit(tmp_path: Path, rgb: np.ndarray, alpha8: np.ndarray, fmt: str) -> None:
    rgba = np.dstack([rgb, alpha8])
    photo = Photo.from_array(rgba)
    back = imageio.read(imageio.write(photo, tmp_path / f"a.{fmt}", quality=100 if fmt == "webp" else None))
    assert back.alpha is not None
    assert np.array_equal(back.to_array(np.uint8), rgba)
    assert imageio.write_notes(photo, fmt) == []


def test_jpeg_composites_alpha_over_white_and_says_so(tmp_path: Path, rgb: np.ndarray, alpha8: np.ndarray) -> None:
    photo = Photo.from_array(np.dstack([rgb, alpha8]))
    assert "JPEG has no alpha: composited over white" in imageio.write_notes(photo, "jpg")
    back = imageio.read(imageio.write(photo, tmp_path / "a.jpg"))
    assert back.alpha is None
    assert back.pixels[:, :2].min() > 0.97  # alpha 0 at the left edge: white
    opaque = Photo.from_array(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    assert imageio.write_notes(opaque, "jpg") == []
    sixteen = Photo.from_array(np.zeros((4, 4, 3), np.uint16))
    assert "JPEG is 8-bit: 16-bit reduced to 8-bit" in imageio.write_notes(sixteen, "jpeg")
    assert imageio.write_notes(sixteen, "tiff") == []


@pytest.mark.parametrize("fmt", ["png", "jpg", "tiff"])
def test_gray_in_gray_out(tmp_path: Path, rgb: np.ndarray, fmt: str) -> None:
    gray = rgb[:, :, 1]
    Image.fromarray(gray).save(tmp_path / "g.png")
    photo = imageio.read(tmp_path / "g.png")
    assert photo.is_gray and photo.pixels.shape == (*gray.shape, 1)
    out = imageio.write(photo, tmp_path / f"o.{fmt}")
    with Image.open(out) as im:
        assert im.mode == "L"
    back = imageio.read(out)
    assert back.is_gray
    if fmt != "jpg":
        assert np.array_equal(back.to_array(np.uint8), gray)


def test_gray_alpha_8bit(tmp_path: Path, rgb: np.ndarray, alpha8: np.ndarray) -> None:
    Image.fromarray(np.dstack([rgb[:, :, 0], alpha8]), "LA").save(tmp_path / "la.png")
    photo = imageio.read(tmp_path / "la.png")
    assert photo.is_gray and photo.alpha is not None
    out = imageio.write(photo, tmp_path / "o.png")
    with Image.open(out) as im:
        assert im.mode == "LA"
        assert np.array_equal(np.asarray(im), np.dstack([rgb[:, :, 0], alpha8]))


def test_palette_cmyk_and_1bit_are_converted_with_notes(tmp_path: Path, rgb: np.ndarray, chelsea: np.ndarray) -> None:
    pal = Image.fromarray(rgb).quantize(32)
    pal.save(tmp_path / "p.png")
    photo = imageio.read(tmp_path / "p.png")
    assert not photo.is_gray and "palette image converted to RGB" in photo.meta.notes
    assert np.array_equal(photo.to_array(np.uint8), np.asarray(pal.convert("RGB")))
    pal.save(tmp_path / "pt.png", transparency=0)
    assert imageio.read(tmp_path / "pt.png").alpha is not None

    Image.fromarray(chelsea).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    cmyk = imageio.read(tmp_path / "c.jpg")
    assert cmyk.pixels.shape == chelsea.shape
    assert any(n.startswith("CMYK converted to RGB") for n in cmyk.meta.notes)
    assert psnr(cmyk.to_array(np.uint8), chelsea) > 25

    Image.fromarray(rgb[:, :, 0] > 128).save(tmp_path / "b.png")
    bw = imageio.read(tmp_path / "b.png")
    assert bw.is_gray and "1-bit image converted to 8-bit gray" in bw.meta.notes
    assert set(np.unique(bw.to_array(np.uint8))) <= {0, 255}


def test_pil_bridge(rgb: np.ndarray, alpha8: np.ndarray) -> None:
    photo = Photo.from_array(np.dstack([rgb, alpha8]), ImageMeta(icc_profile=SRGB_ICC, dpi=(72.0, 72.0)))
    img = imageio.to_pil(photo)
    assert img.mode == "RGBA" and img.info["icc_profile"] == SRGB_ICC
    back = imageio.from_pil(img)
    assert np.array_equal(back.to_array(np.uint8), np.dstack([rgb, alpha8]))
    assert back.meta.icc_profile == SRGB_ICC and back.meta.dpi == (72.0, 72.0)
    turned = Image.fromarray(rgb)
    turned.info["exif"] = exif_block(3)
    assert np.array_equal(imageio.from_pil(turned).to_array(np.uint8), rgb[::-1, ::-1])
    with pytest.raises(InvalidParameter):
        imageio.from_pil(rgb)  # type: ignore[arg-type]


def test_pil_bridge_keeps_16bit_gray(rgb16: np.ndarray) -> None:
    deep = np.ascontiguousarray(rgb16[:, :, 1])
    photo = imageio.from_pil(Image.fromarray(deep))  # mode I;16
    assert photo.meta.bit_depth == 16
    back = imageio.to_pil(photo)
    assert back.mode == "I;16" and np.array_equal(np.asarray(back), deep)  # not reduced to 8-bit L


@pytest.mark.parametrize("dpi", [72, 96, 150, 300, 600])
@pytest.mark.parametrize("fmt", ["PNG", "BMP"])
def test_whole_dpi_stored_per_metre_comes_back_whole(tmp_path: Path, rgb: np.ndarray, dpi: int, fmt: str) -> None:
    """PNG and BMP store pixels per metre: 72 dpi is 2835 ppm, which Pillow reads as 72.009 dpi."""
    Image.fromarray(rgb).save(tmp_path / "d.img", format=fmt, dpi=(dpi, dpi))
    assert imageio.read(tmp_path / "d.img").meta.dpi == (float(dpi), float(dpi))


# ---------------------------------------------------------------- bad input


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _read_error(path: Path, **kw: object) -> str:
    with pytest.raises(ImageReadError) as info:
        imageio.read(path, **kw)  # type: ignore[arg-type]
    return str(info.value)


def test_empty_missing_and_folder(tmp_path: Path) -> None:
    (tmp_path / "e.jpg").write_bytes(b"")
    assert "file is empty (0 bytes)" in _read_error(tmp_path / "e.jpg")
    assert "no such file" in _read_error(tmp_path / "missing.png")
    assert "is a folder" in _read_error(tmp_path)


@pytest.mark.parametrize("fmt", ["jpg", "png", "tiff", "webp"])
def test_truncated_files_error_instead_of_half_decoding(tmp_path: Path, rgb: np.ndarray, fmt: str) -> None:
    good = imageio.write(Photo.from_array(rgb), tmp_path / f"good.{fmt}")
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 20):
        bad = tmp_path / f"bad.{fmt}"
        bad.write_bytes(data[:cut])
        msg = _read_error(bad)
        assert "truncated or corrupt" in msg or "corrupt" in msg, msg
    if fmt in ("jpg", "png"):
        assert "data ends early" in msg and "re-export" in msg


def test_not_images(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Shopping list\nmilk\neggs\n")
    assert "not an image: it looks like text" in _read_error(tmp_path / "notes.txt")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    assert "PDF" in _read_error(tmp_path / "doc.pdf")
    (tmp_path / "page.jpg").write_text("<!DOCTYPE html><html><body>404</body></html>")
    msg = _read_error(tmp_path / "page.jpg")
    assert "HTML" in msg and "extension says JPEG" in msg
    (tmp_path / "noise.jpg").write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    msg = _read_error(tmp_path / "noise.jpg")
    assert "not an image" in msg and "extension says JPEG" in msg
    (tmp_path / "noise.dat").write_bytes(b"\x00\x01\x02\x03" * 100)
    assert "unknown image format" in _read_error(tmp_path / "noise.dat")


def test_content_wins_over_extension(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(tmp_path / "really_png.jpg", format="PNG")
    photo = imageio.read(tmp_path / "really_png.jpg")
    assert photo.meta.source_format == "PNG"
    assert "extension says JPEG but content is PNG" in photo.meta.notes
    assert np.array_equal(photo.to_array(np.uint8), rgb)


def test_decompression_bombs_are_refused_from_the_header(tmp_path: Path, rgb: np.ndarray) -> None:
    png = imageio.write(Photo.from_array(rgb), tmp_path / "p.png").read_bytes()
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(png[:8] + _chunk(b"IHDR", ihdr) + png[33:])
    jpg = bytearray(imageio.write(Photo.from_array(rgb), tmp_path / "j.jpg").read_bytes())
    sof = next(i for i in range(len(jpg) - 1) if jpg[i] == 0xFF and jpg[i + 1] in (0xC0, 0xC1, 0xC2))
    struct.pack_into(">HH", jpg, sof + 5, 60_000, 60_000)
    (tmp_path / "bomb.jpg").write_bytes(bytes(jpg))
    limit_before = Image.MAX_IMAGE_PIXELS
    for name in ("bomb.png", "bomb.jpg"):
        # 10 gigapixels: any attempt to decode would fail differently (memory) instead of this refusal
        with pytest.raises(ImageTooLarge) as info:
            imageio.read(tmp_path / name)
        assert "raise --max-pixels" in str(info.value) and "megapixels" in str(info.value)
    assert Image.MAX_IMAGE_PIXELS == limit_before  # Pillow's own guard is back for everyone else
    with pytest.raises(ImageTooLarge, match="128x96 = 12 288 pixels, more than the limit of 1 000 pixels"):
        imageio.read(tmp_path / "p.png", max_pixels=1000)  # not "0.0 megapixels, more than … 0.0 megapixels"
    with pytest.raises(ImageTooLarge, match="= 10000 megapixels, more than the limit of 2.5 megapixels"):
        imageio.read(tmp_path / "bomb.png", max_pixels=2_500_000)
    assert imageio.read(tmp_path / "p.png", max_pixels=None).width == 128


# ---------------------------------------------------------------- writing safely


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_existing_output_and_inputs_are_protected(tmp_path: Path, rgb: np.ndarray) -> None:
    photo = Photo.from_array(rgb)
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExists, match="already exists"):
        imageio.write(photo, out)
    assert out.read_bytes() == b"precious"
    imageio.write(photo, out, overwrite=True)
    assert imageio.read(out).width == 128

    src = imageio.read(out)
    with pytest.raises(OutputExists, match="pick another output path"):
        imageio.write(src, out, overwrite=True)  # its own source
    other = tmp_path / "input.jpg"
    other.write_bytes(b"original")
    with pytest.raises(OutputExists, match="input"):
        imageio.write(photo, tmp_path / "." / "input.jpg", overwrite=True, protect=[other])
    assert other.read_bytes() == b"original" and _leftovers(tmp_path) == []


def test_output_folders(tmp_path: Path, rgb: np.ndarray) -> None:
    photo = Photo.from_array(rgb)
    nested = imageio.write(photo, tmp_path / "new" / "deeper" / "x.webp")
    assert nested.is_file()
    (tmp_path / "somefile.txt").write_text("a file, not a folder")
    with pytest.raises(ImageWriteError, match="output folder"):
        imageio.write(photo, tmp_path / "somefile.txt" / "out.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageWriteError, match="is a folder"):
        imageio.write(photo, tmp_path / "dir.png", overwrite=True)
    with pytest.raises(InvalidParameter):
        imageio.write(photo, tmp_path / "x.gif")
    with pytest.raises(InvalidParameter):
        imageio.write(photo, tmp_path / "x.png", format="bmp")
    with pytest.raises(InvalidParameter):
        imageio.write(photo, tmp_path / "x.jpg", quality=0)
    imageio.write(photo, tmp_path / "named.bin", format="jpeg")
    assert (tmp_path / "named.bin").read_bytes()[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_writing_a_big_photo_needs_no_float_copies_of_it(tmp_path: Path, fmt: str) -> None:
    """An upscaled photo can be gigabytes of float32: conversion to integers must not double it."""
    import tracemalloc

    h, w = 1000, 1500
    ramp = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    photo = Photo(np.ascontiguousarray(np.broadcast_to(ramp, (h, w, 3))), np.ones((h, w), np.float32))
    tracemalloc.start()
    try:
        imageio.write(photo, tmp_path / f"big.{fmt}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < photo.pixels.nbytes, f"{peak / 2**20:.0f} MB for a {photo.pixels.nbytes / 2**20:.0f} MB photo"  # was 4×


def test_failed_write_leaves_nothing_behind(tmp_path: Path, rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    photo = Photo.from_array(rgb)
    out = tmp_path / "out.tiff"
    out.write_bytes(b"old")

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ImageWriteError, match="disk is full"):
        imageio.write(photo, out, overwrite=True)
    with pytest.raises(ImageWriteError):
        imageio.write(photo, tmp_path / "fresh.png")
    monkeypatch.undo()
    assert out.read_bytes() == b"old"
    assert not (tmp_path / "fresh.png").exists()
    assert _leftovers(tmp_path) == []
    imageio.write(photo, tmp_path / "fresh.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.png", "out.tiff"]
    assert (tmp_path / "fresh.png").stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_output_appearing_meanwhile_is_not_clobbered(
    tmp_path: Path, rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "race.png"
    out.write_bytes(b"written by someone else after our check")
    monkeypatch.setattr("revive.imageio._write.check_target", lambda *a, **k: None)
    with pytest.raises(OutputExists):
        imageio.write(Photo.from_array(rgb), out)
    assert out.read_bytes() == b"written by someone else after our check"
    assert _leftovers(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_written_bytes_are_standard(tmp_path: Path, rgb16: np.ndarray) -> None:
    """Readers other than ours accept the hand-inserted PNG chunks and the patched TIFF directory."""
    meta = ImageMeta(bit_depth=16, icc_profile=SRGB_ICC, dpi=(240.0, 240.0), exif=exif_block(1, 128, 96))
    photo = Photo.from_array(rgb16, meta)
    png = imageio.write(photo, tmp_path / "x.png")
    with Image.open(png) as im:
        im.verify()  # checks every chunk CRC
    tif = imageio.write(photo, tmp_path / "x.tif")
    with tifffile.TiffFile(tif) as tf:
        page = tf.pages.first
        assert page.tags["Make"].value == "Canon" and page.tags.valueof(34675) == SRGB_ICC
        assert tf.pages.first.tags["ExifTag"].value["DateTimeOriginal"] == "2021:06:01 12:00:00"
        assert np.array_equal(page.asarray(), rgb16)

"""Odd but valid images read, say what was reinterpreted, and write back — with nothing on stderr.

Absurd TIFF resolutions, 245-character and 255-byte names, 1-bit, CIE L*a*b*, signed integers,
palette transparency, CMYK, 16-bit gray and animations.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

import revive
from revive import imageio
from revive.cli import app
from revive.outputs import plan_outputs
from revive.types import Photo

FORMATS = ("png", "jpg", "webp", "tiff")


@pytest.fixture(autouse=True)
def nothing_on_stderr(capfd: pytest.CaptureFixture[str]):
    """Every test here must leave fd 2 empty: no Pillow, tifffile, libtiff or libpng chatter."""
    yield
    assert capfd.readouterr().err == ""


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / max(mse, 1e-12)))


def write_back_everywhere(photo: Photo, folder: Path) -> list[Photo]:
    """Write the photo in every format and read each back (the point: nothing breaks on the way out)."""
    return [imageio.read(imageio.write(photo, folder / f"back.{fmt}", overwrite=True)) for fmt in FORMATS]


# ---------------------------------------------------------------- resolution


def _tiff_with_resolution(path: Path, pixels: np.ndarray, value: float | None, rational: tuple[int, int] | None) -> None:
    """A TIFF whose X/YResolution hold ``rational`` (as stored) or ``value`` as a DOUBLE (type 12)."""
    tifffile.imwrite(path, pixels, photometric="rgb", resolution=(300, 300), resolutionunit="INCH")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tf:
        for name in ("XResolution", "YResolution"):
            tag = tf.pages.first.tags[name]
            if rational is not None:
                struct.pack_into("<II", data, tag.valueoffset, *rational)
            else:
                struct.pack_into("<H", data, tag.offset + 2, 12)  # RATIONAL → DOUBLE, both 8 bytes
                struct.pack_into("<d", data, tag.valueoffset, value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize(
    "case,value,rational,note",
    [
        ("zero", None, (0, 1), "resolution field (0 x 0 dpi) is not a real resolution: left out"),
        ("zero-denominator", None, (300, 0), "resolution field (DPI) is unreadable or not a number: left out"),
        ("inf", math.inf, None, "resolution field (DPI) is unreadable or not a number: left out"),
        ("nan", math.nan, None, "resolution field (DPI) is unreadable or not a number: left out"),
        ("huge", 1e30, None, "resolution field (1e+30 x 1e+30 dpi) is not a real resolution: left out"),
    ],
)
def test_absurd_tiff_resolutions_are_dropped_with_a_note(
    tmp_path: Path, coffee: np.ndarray, depth: int, case: str, value: float | None, rational, note: str
) -> None:
    pixels = coffee[:48, :64] if depth == 8 else coffee[:48, :64].astype(np.uint16) * 257
    path = tmp_path / f"{case}.tif"
    _tiff_with_resolution(path, pixels, value, rational)
    photo = imageio.read(path)
    assert photo.meta.dpi is None and note in photo.meta.notes
    assert np.array_equal(photo.to_array(np.uint8 if depth == 8 else np.uint16), pixels)
    for back in write_back_everywhere(photo, tmp_path):
        assert back.meta.dpi is None and back.width == 64


def test_large_but_real_resolutions_travel_where_the_format_can_hold_them(tmp_path: Path, coffee: np.ndarray) -> None:
    path = tmp_path / "micro.tif"
    _tiff_with_resolution(path, coffee[:32, :32], 200_000.0, None)  # a microscope: 0.127 µm pixels
    photo = imageio.read(path)
    assert photo.meta.dpi == (200_000.0, 200_000.0) and photo.meta.notes == ()
    assert imageio.write_notes(photo, "jpg") == ["JPEG cannot store a resolution above 65535 dpi: DPI not stored"]
    png, jpg, webp, tif = write_back_everywhere(photo, tmp_path)
    assert png.meta.dpi == tif.meta.dpi == (200_000.0, 200_000.0)
    assert jpg.meta.dpi is None and webp.meta.dpi is None


def test_a_png_with_zero_pixels_per_metre_reads(tmp_path: Path, coffee: np.ndarray) -> None:
    path = tmp_path / "z.png"
    Image.fromarray(coffee[:16, :16]).save(path, dpi=(0.001, 0.001))  # stored as 0 pixels per metre
    photo = imageio.read(path)
    assert photo.meta.dpi is None and any(n.startswith("resolution field") for n in photo.meta.notes)


# ---------------------------------------------------------------- long names


def test_a_245_character_name_reads_and_writes(tmp_path: Path, coffee: np.ndarray) -> None:
    name = "holiday-" + "x" * 233 + ".png"
    assert len(name) == 245
    src = imageio.write(Photo.from_array(coffee[:20, :30]), tmp_path / name)  # its temp name must fit too
    photo = imageio.read(src)
    assert photo.width == 30
    [plan] = plan_outputs([src], None, output_is_dir=False, format=None, tag="x4")
    assert plan.target.name == name[:-4] + "_x4.png"
    imageio.write(photo, plan.target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, plan.target.name])


def test_output_names_are_cut_to_255_bytes_on_a_character_boundary(tmp_path: Path, coffee: np.ndarray) -> None:
    stem = "é" * 125 + "a"  # 251 bytes in UTF-8: with "_x4.png" it would be 258
    sources = [imageio.write(Photo.from_array(coffee[:8, :8]), tmp_path / f"{stem}.png")]
    sources.append(imageio.write(Photo.from_array(coffee[:8, :8]), tmp_path / f"{stem[:-1]}b.png"))
    plans = plan_outputs(sources, tmp_path / "out", output_is_dir=True, format="jpg", tag="x4")
    names = [p.target.name for p in plans]
    assert all(len(n.encode()) <= 255 and n.endswith(".jpg") for n in names), [len(n.encode()) for n in names]
    assert names[0].endswith("_x4.jpg") and names[0].startswith("é" * 100)
    assert names[0] != names[1]  # the cut made them equal: the second is numbered
    for plan in plans:
        imageio.write(Photo.from_array(coffee[:8, :8]), plan.target)
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_cli_upscale_of_a_255_byte_name(tmp_path: Path, coffee: np.ndarray) -> None:
    name = "é" * 125 + "a.png"
    Image.fromarray(coffee[:24, :24]).save(tmp_path / name)
    result = CliRunner().invoke(
        app, ["upscale", str(tmp_path / name), "-o", f"{tmp_path / 'out'}/", "--model", "realesr-animevideov3-x2", "-q"]
    )
    assert result.exit_code == 0, result.output
    [out] = list((tmp_path / "out").iterdir())
    assert len(out.name.encode()) <= 255 and out.name.endswith("_x2.png")
    assert imageio.read(out).width == 48


# ---------------------------------------------------------------- 1-bit, L*a*b*, signed


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_1_bit_images_read_as_gray_and_the_autopilot_plans_them(tmp_path: Path, coffee: np.ndarray, fmt: str) -> None:
    bits = coffee[:, :, 1] > 110
    path = tmp_path / f"ink.{fmt.lower()}"
    Image.fromarray(bits).save(path, format=fmt)
    assert Image.open(path).mode == "1"
    photo = imageio.read(path)
    assert photo.is_gray and "1-bit image converted to 8-bit gray" in photo.meta.notes
    assert np.array_equal(photo.to_array(np.uint8), bits.astype(np.uint8) * 255)
    plan = revive.plan(photo)
    assert plan.steps and plan.explain()
    assert all(back.is_gray or back.meta.source_format == "WEBP" for back in write_back_everywhere(photo, tmp_path))


def _lab_tiff(path: Path, rgb: np.ndarray, photometric: int, bits: int) -> None:
    from skimage.color import rgb2lab  # an independent conversion: revive's own uses OpenCV

    lab = rgb2lab(rgb)
    top = 255 if bits == 8 else 65535
    chroma_scale = 1 if bits == 8 else 256
    out = np.empty(rgb.shape, np.uint8 if bits == 8 else np.uint16)
    out[..., 0] = np.round(lab[..., 0] * top / 100)
    signed = np.int8 if bits == 8 else np.int16
    for i in (1, 2):
        c = np.round(lab[..., i] * chroma_scale)
        if photometric == 8:  # CIELAB: two's complement
            out[..., i] = np.clip(c, np.iinfo(signed).min, np.iinfo(signed).max).astype(signed).view(out.dtype)
        else:  # ICCLAB: offset by half the range
            out[..., i] = np.clip(c + (128 if bits == 8 else 32768), 0, top)
    tifffile.imwrite(path, out, photometric=photometric)


@pytest.mark.parametrize("photometric,bits", [(8, 8), (8, 16), (9, 8)])
def test_lab_tiffs_are_converted_to_srgb(tmp_path: Path, chelsea: np.ndarray, photometric: int, bits: int) -> None:
    rgb = chelsea[100:228, 150:310]
    path = tmp_path / "lab.tif"
    _lab_tiff(path, rgb, photometric, bits)
    photo = imageio.read(path)
    assert photo.meta.notes == ("CIE L*a*b* TIFF converted to sRGB",) and photo.meta.bit_depth == bits
    assert psnr(photo.to_array(np.uint8), rgb) > 38
    assert not any("corrupt" in n or "not supported" in n for n in photo.meta.notes)
    write_back_everywhere(photo, tmp_path)


@pytest.mark.parametrize("dtype", [np.int16, np.int8])
def test_signed_tiffs_are_mapped_with_a_note(tmp_path: Path, coffee: np.ndarray, dtype: type) -> None:
    gray = coffee[:, :, 1].astype(np.float64) / 255.0
    info = np.iinfo(dtype)
    positive = np.round(gray * info.max).astype(dtype)
    shifted = np.round(gray * (info.max - info.min) + info.min).astype(dtype)
    bits = info.bits
    tifffile.imwrite(tmp_path / "pos.tif", positive)
    tifffile.imwrite(tmp_path / "neg.tif", shifted)
    pos, neg = imageio.read(tmp_path / "pos.tif"), imageio.read(tmp_path / "neg.tif")
    assert pos.meta.notes == (f"signed {bits}-bit TIFF without negative values: 0–{info.max} read as black to white",)
    assert neg.meta.notes == (
        f"signed {bits}-bit TIFF: values shifted by {-info.min} so that {info.min} is black and {info.max} white",
    )
    step = 1.0 / info.max
    assert np.abs(pos.pixels[:, :, 0] - gray).max() <= step
    assert np.abs(neg.pixels[:, :, 0] - gray).max() <= step
    write_back_everywhere(neg, tmp_path)


# ---------------------------------------------------------------- palette, CMYK, 16-bit gray, animation


def test_palette_transparency_levels_become_alpha(tmp_path: Path, astronaut: np.ndarray) -> None:
    pal = Image.fromarray(astronaut[:64, :96]).quantize(16)
    levels = bytes(range(0, 256, 16))  # one alpha level per palette entry
    pal.save(tmp_path / "p.png", transparency=levels)
    photo = imageio.read(tmp_path / "p.png")
    expected = np.asarray(Image.open(tmp_path / "p.png").convert("RGBA"))
    assert photo.alpha is not None and np.array_equal(photo.to_array(np.uint8), expected)
    assert "palette image converted to RGB with alpha" in photo.meta.notes
    pal.save(tmp_path / "g.gif", transparency=3)
    gif = imageio.read(tmp_path / "g.gif")
    assert gif.alpha is not None and set(np.unique(gif.alpha)) == {0.0, 1.0}
    write_back_everywhere(photo, tmp_path)


def test_cmyk_tiff_and_16_bit_gray_png(tmp_path: Path, chelsea: np.ndarray) -> None:
    Image.fromarray(chelsea).convert("CMYK").save(tmp_path / "c.tif")
    cmyk = imageio.read(tmp_path / "c.tif")
    assert any(n.startswith("CMYK converted to RGB") for n in cmyk.meta.notes)
    assert psnr(cmyk.to_array(np.uint8), chelsea) > 25
    deep = (chelsea[:, :, 0].astype(np.uint16) * 257) ^ np.uint16(0x5A)  # the low byte matters
    cv2.imwrite(str(tmp_path / "g16.png"), deep)
    gray = imageio.read(tmp_path / "g16.png")
    assert gray.is_gray and gray.meta.bit_depth == 16 and np.array_equal(gray.to_array(np.uint16), deep)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animations_give_their_first_frame_with_a_note(tmp_path: Path, coffee: np.ndarray, fmt: str) -> None:
    frames = [Image.fromarray(np.ascontiguousarray(np.roll(coffee[:64, :64], 8 * i, axis=1))) for i in range(3)]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    photo = imageio.read(path)
    assert "animated image: only the first of 3 frames was read" in photo.meta.notes
    with Image.open(path) as im:
        first = np.asarray(im.convert("RGB"))
    assert np.array_equal(photo.to_array(np.uint8)[:, :, :3], first)


def test_cli_upscale_of_odd_inputs_prints_only_revive_lines(
    tmp_path: Path, chelsea: np.ndarray, capfd: pytest.CaptureFixture[str]
) -> None:
    """End to end: each reinterpretation is one "revive: note:" line; no library speaks on fd 2."""
    _lab_tiff(tmp_path / "lab.tif", chelsea[:32, :40], 8, 8)
    tifffile.imwrite(tmp_path / "signed.tif", (chelsea[:32, :40, 0].astype(np.int16) - 128) * 200)
    Image.fromarray(chelsea[:32, :40, 1] > 100).save(tmp_path / "ink.png")
    capfd.readouterr()
    result = CliRunner().invoke(
        app, ["upscale", *(str(tmp_path / n) for n in ("lab.tif", "signed.tif", "ink.png")),
              "-o", f"{tmp_path / 'out'}/", "--model", "realesr-animevideov3-x2"],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert capfd.readouterr().err == ""  # nothing reached the real fd 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 3 and all(ln.startswith("revive: note: ") for ln in lines), lines
    assert "CIE L*a*b* TIFF converted to sRGB" in lines[0] and "signed 16-bit TIFF: values shifted" in lines[1]
    assert "1-bit image converted to 8-bit gray" in lines[2]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ink_x2.png", "lab_x2.tiff", "signed_x2.tiff"]

"""Diagnosis calibrated on real photos (scikit-image) with degradations of known strength.

Tolerances are in the test names and docstrings; the measured numbers are in the module
docstrings of revive.analysis.*.
"""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from conftest import photo_u8
from PIL import Image

from revive.analysis import Diagnosis, diagnose, quality_from_tables
from revive.analysis.color import cast_direction, measure_cast, measure_exposure
from revive.analysis.content import measure_content
from revive.analysis.face_detect import detect_faces
from revive.analysis.jpeg import STD_LUMINANCE, ijg_table, measure_jpeg
from revive.analysis.noise import measure_noise
from revive.analysis.sharpness import measure_sharpness
from revive.colorimetry import linear_to_srgb, srgb_to_linear
from revive.types import ImageMeta, Photo

PHOTOS = ("astronaut", "coffee", "chelsea")
CLEAN = ("astronaut", "coffee", "chelsea", "rocket", "camera")


def crop256(u8: np.ndarray) -> np.ndarray:
    h, w = u8.shape[:2]
    y, x = (h - 256) // 2, (w - 256) // 2
    return np.ascontiguousarray(u8[y : y + 256, x : x + 256])


def f32(u8: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(u8, dtype=np.float32) / 255.0


def add_noise(u8: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(u8 + rng.normal(0.0, sigma, u8.shape)), 0, 255).astype(np.uint8)


def jpeg_roundtrip(u8: np.ndarray, quality: int) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    """Pixels and quantization tables of a Pillow JPEG (tables in Pillow's order, as imageio keeps them)."""
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    im = Image.open(buf)
    tables = tuple(tuple(int(v) for v in im.quantization[k]) for k in sorted(im.quantization))
    return np.asarray(im.convert("RGB")), tables


def blur(u8: np.ndarray, sigma: float) -> np.ndarray:
    return u8 if sigma == 0 else cv2.GaussianBlur(u8, (0, 0), sigma)


def expose(u8: np.ndarray, stops: float) -> np.ndarray:
    lin = srgb_to_linear(u8 / 255.0) * 2.0**stops
    return np.round(linear_to_srgb(lin) * 255.0).astype(np.uint8)


def cast(u8: np.ndarray, a: float, b: float) -> np.ndarray:
    """White-balance gains that light a mid gray with Lab (a*, b*); no channel is amplified."""
    lab = np.array([[[52.0, a, b], [52.0, 0.0, 0.0]]], dtype=np.float32)
    lin = srgb_to_linear(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB).astype(np.float64))[0]
    gains = lin[0] / lin[1]
    return np.round(linear_to_srgb(srgb_to_linear(u8 / 255.0) * gains / gains.max()) * 255.0).astype(np.uint8)


def drawing(seed: int = 0, h: int = 384, w: int = 512) -> np.ndarray:
    """A flat-colour cartoon: filled shapes with dark anti-aliased outlines on a paper background."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), (250, 245, 230), np.uint8)
    palette = [(230, 80, 70), (60, 120, 200), (250, 210, 80), (90, 180, 110), (240, 170, 190), (120, 90, 60)]
    for i in range(14):
        c = palette[i % len(palette)]
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(20, 90))
        if i % 3 == 0:
            cv2.circle(img, (x, y), r, c, -1, cv2.LINE_AA)
            cv2.circle(img, (x, y), r, (20, 20, 20), 3, cv2.LINE_AA)
        elif i % 3 == 1:
            cv2.rectangle(img, (x, y), (x + r, y + r // 2), c, -1, cv2.LINE_AA)
            cv2.rectangle(img, (x, y), (x + r, y + r // 2), (20, 20, 20), 2, cv2.LINE_AA)
        else:
            pts = rng.integers(0, [w, h], (5, 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], c, cv2.LINE_AA)
            cv2.polylines(img, [pts], True, (20, 20, 20), 2, cv2.LINE_AA)
    return img


@pytest.fixture(scope="module")
def clean_diagnoses() -> dict[str, Diagnosis]:
    return {name: diagnose(Photo.from_array(photo_u8(name))) for name in CLEAN}


# --- noise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [5, 15, 30])
@pytest.mark.parametrize("name", PHOTOS)
def test_noise_sigma_within_25_percent(name: str, sigma: float) -> None:
    """Added Gaussian noise σ 5/15/30 (8-bit) on 256-px crops is estimated within ±25 % (measured ±10 %)."""
    report = measure_noise(f32(add_noise(crop256(photo_u8(name)), sigma)))
    assert report.sigma == pytest.approx(sigma, rel=0.25)
    assert all(s == pytest.approx(sigma, rel=0.25) for s in report.sigma_channels)
    assert report.attention


@pytest.mark.parametrize("name", CLEAN)
def test_noise_clean_photos_read_below_3(name: str, clean_diagnoses: dict[str, Diagnosis]) -> None:
    assert clean_diagnoses[name].noise.sigma < 3.0
    assert not clean_diagnoses[name].noise.attention


def test_noise_gray_photo_has_one_channel() -> None:
    report = measure_noise(f32(add_noise(crop256(photo_u8("camera"))[:, :, :1], 10)))
    assert len(report.sigma_channels) == 1
    assert report.sigma == pytest.approx(10, rel=0.25)


# --- JPEG --------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [90, 50, 20])
@pytest.mark.parametrize("name", PHOTOS)
def test_jpeg_quality_from_tables_within_10(name: str, quality: int) -> None:
    """IJG tables (Pillow's encoder) give the quality back within ±10 (exactly, in practice)."""
    pixels, tables = jpeg_roundtrip(crop256(photo_u8(name)), quality)
    report = measure_jpeg(f32(pixels), tables)
    assert report.source == "tables"
    assert abs(report.quality - quality) <= 10
    assert report.table_misfit == pytest.approx(0.0, abs=1e-9)
    assert report.attention == (quality <= 75)


def test_jpeg_quality_from_zigzag_and_luminance_only_tables() -> None:
    """Tables in file (zig-zag) order, or a luminance table alone, fit just as well."""
    from revive.analysis.jpeg import _ZIGZAG

    natural = ijg_table(STD_LUMINANCE, 63)
    zigzag = tuple(int(v) for v in natural[_ZIGZAG])
    assert quality_from_tables((zigzag,))[0] == 63
    assert quality_from_tables((tuple(int(v) for v in natural),))[0] == 63
    assert quality_from_tables(((1,) * 64,))[0] == 100
    assert quality_from_tables(((5,) * 10,)) is None  # not a table


@pytest.mark.parametrize("name", PHOTOS)
def test_jpeg_damage_from_pixels_orders_and_flags_q50_q20_not_q90(name: str) -> None:
    """Decoded to PNG (no tables): damage rises q90 < q50 < q20; flagged at 50 and 20, not at 90."""
    reports = {q: measure_jpeg(f32(jpeg_roundtrip(crop256(photo_u8(name)), q)[0]), None) for q in (90, 50, 20)}
    assert all(r.source == "pixels" and r.table_quality is None for r in reports.values())
    assert reports[90].damage < reports[50].damage < reports[20].damage
    assert not reports[90].attention
    assert reports[50].attention and reports[20].attention
    assert abs(reports[50].quality - 50) <= 20 and abs(reports[20].quality - 20) <= 15


def test_jpeg_recompressed_keeps_the_worse_damage() -> None:
    """A q20 JPEG saved again at q95: tables say 95, pixels still show the blocks."""
    once, _ = jpeg_roundtrip(crop256(photo_u8("chelsea")), 20)
    twice, tables = jpeg_roundtrip(once, 95)
    report = measure_jpeg(f32(twice), tables)
    assert report.quality == 95 and report.pixel_quality < 50
    assert report.attention


def poster() -> np.ndarray:
    """A flat-colour poster: filled boxes, a disc, a thick line and big text on paper (long straight edges)."""
    img = np.full((300, 400, 3), (250, 245, 230), np.uint8)
    cv2.rectangle(img, (20, 20), (180, 140), (40, 120, 200), -1)
    cv2.circle(img, (280, 110), 70, (230, 60, 50), -1)
    cv2.ellipse(img, (200, 230), (120, 40), 0, 0, 360, (60, 170, 80), -1)
    cv2.line(img, (0, 290), (400, 180), (20, 20, 20), 3, cv2.LINE_AA)
    cv2.putText(img, "revive!", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 3, cv2.LINE_AA)
    return img


@pytest.mark.parametrize("seed", [0, 1, 2, None])
def test_jpeg_clean_drawings_are_not_flagged_but_their_jpegs_are(seed: int | None) -> None:
    """A never-compressed drawing reads ~1.0 (the poster read quality 55 when big edges counted); at q30 it is flagged."""
    img = poster() if seed is None else drawing(seed)
    clean = measure_jpeg(f32(img), None)
    assert not clean.attention and clean.blockiness < 1.1
    assert measure_jpeg(f32(jpeg_roundtrip(img, 30)[0]), None).attention


def test_jpeg_pixel_doubled_photo_is_not_a_grid() -> None:
    """Nearest-neighbour ×2 (every other step is zero, as skimage's moon) is not 8×8 blocking."""
    doubled = cv2.resize(crop256(photo_u8("camera")), (512, 512), interpolation=cv2.INTER_NEAREST)
    assert not measure_jpeg(f32(doubled), None).attention


# --- blur --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS + ("rocket",))
def test_blur_is_monotonic_and_flagged_from_sigma_2(name: str) -> None:
    """Edge blur rises with Gaussian blur σ 0/1/2/3 and is flagged at σ ≥ 2 only (σ within ±0.5 px at 2 and 3)."""
    u8 = crop256(photo_u8(name))
    reports = [measure_sharpness(f32(blur(u8, s))) for s in (0, 1, 2, 3)]
    values = [r.blur_px for r in reports]
    assert all(v is not None for v in values)
    assert values == sorted(values) and len(set(values)) == 4
    assert [r.attention for r in reports] == [False, False, True, True]
    assert values[2] == pytest.approx(2.0, abs=0.5) and values[3] == pytest.approx(3.0, abs=0.5)


def test_blur_of_a_flat_image_is_unknown_not_flagged() -> None:
    report = measure_sharpness(np.full((64, 64, 3), 0.5, np.float32))
    assert report.blur_px is None and not report.attention


# --- colour cast -------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "direction"), [
    (0, 20, "warm/yellow"), (0, -20, "blue"), (-20, 0, "green"), (20, 0, "magenta"), (8, 18, "warm/yellow"),
])
@pytest.mark.parametrize("name", ("astronaut", "coffee", "camera"))
def test_cast_of_20_lab_units_is_flagged_with_its_direction(name: str, a: float, b: float, direction: str) -> None:
    """A white-balance cast shifting gray by 20 Lab units reads 14–26 in the right direction."""
    report = measure_cast(f32(cast(photo_u8(name), a, b)))
    assert report.direction == direction
    assert 14.0 < report.strength < 26.0
    assert report.attention


@pytest.mark.parametrize("name", CLEAN)
def test_cast_clean_photos_not_flagged(name: str, clean_diagnoses: dict[str, Diagnosis]) -> None:
    assert not clean_diagnoses[name].color_cast.attention


@pytest.mark.parametrize("quality", [95, 75, 50])
def test_cast_is_not_made_up_by_jpeg_chroma_subsampling(quality: int) -> None:
    """Chelsea's warm light reads ≈ 13 (mood, not flagged) as PNG and as JPEG; a real cast still shows through JPEG."""
    u8 = photo_u8("chelsea")
    saved = measure_cast(f32(jpeg_roundtrip(u8, quality)[0]))
    assert not saved.attention and abs(saved.strength - measure_cast(f32(u8)).strength) < 1.0
    cast_jpeg = measure_cast(f32(jpeg_roundtrip(cast(photo_u8("coffee"), 8, 18), quality)[0]))
    assert cast_jpeg.attention and cast_jpeg.direction == "warm/yellow"


def test_cast_direction_sectors_and_gray_images() -> None:
    assert cast_direction(0, 10) == "warm/yellow"
    assert cast_direction(0, -10) == "blue"
    assert cast_direction(-10, 0) == "green"
    assert cast_direction(10, -2) == "magenta"
    assert cast_direction(1, 1) == "none"
    gray = measure_cast(f32(photo_u8("camera")[:, :, :1]))
    assert gray.direction == "none" and gray.strength == 0.0


# --- exposure ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLEAN)
def test_exposure_minus_2_ev_under_plus_2_ev_over_clean_ok(name: str, clean_diagnoses: dict[str, Diagnosis]) -> None:
    u8 = photo_u8(name)
    under = measure_exposure(f32(expose(u8, -2)))
    assert under.verdict == "under" and under.attention
    if name != "rocket":  # a dusk scene: two stops brighter it is simply well exposed
        over = measure_exposure(f32(expose(u8, 2)))
        assert over.verdict == "over" and over.attention
    assert clean_diagnoses[name].exposure.verdict == "ok"


@pytest.mark.parametrize("name", ("coffee", "camera"))
def test_exposure_a_dark_scene_with_real_highlights_is_not_under(name: str) -> None:
    """Two stops under is "under"; the same with a few stars or lamps (0.3 % of the pixels white) is a
    dark scene on purpose, as skimage's hubble_deep_field shrunk ×4 (brightest 1 % at L* 59)."""
    dark = expose(photo_u8(name), -2)
    assert measure_exposure(f32(dark)).verdict == "under"
    stars = dark.copy().reshape(-1, 3)
    stars[np.random.default_rng(0).choice(len(stars), len(stars) * 3 // 1000, replace=False)] = 255
    assert measure_exposure(f32(stars.reshape(dark.shape))).verdict == "ok"
    assert measure_exposure(f32(cv2.resize(photo_u8("hubble_deep_field"), (218, 218), interpolation=cv2.INTER_AREA))
                            ).verdict == "ok"


def fade(u8: np.ndarray) -> np.ndarray:
    """A faded print: the tones squeezed into 25–80 % of the range."""
    return np.round(64.0 + 0.55 * u8).astype(np.uint8)


@pytest.mark.parametrize("name", CLEAN)
def test_exposure_faded_print_is_flagged_clean_is_not(name: str, clean_diagnoses: dict[str, Diagnosis]) -> None:
    faded = measure_exposure(f32(fade(photo_u8(name))))
    assert faded.verdict == "faded" and faded.attention
    lighter = measure_exposure(f32(np.round(115.0 + 0.5 * photo_u8(name)).astype(np.uint8)))  # no shadows at all
    assert lighter.verdict == "over" and lighter.clipped_highlights == 0.0
    assert lighter.advice() == "washed out, no real shadows"  # not "highlights blown": none are
    assert "L* " in faded.summary() and faded.advice()
    assert clean_diagnoses[name].exposure.verdict == "ok"


# --- content type ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLEAN)
def test_content_photos_are_photos(name: str, clean_diagnoses: dict[str, Diagnosis]) -> None:
    assert clean_diagnoses[name].content.kind == "photo"
    assert not clean_diagnoses[name].content.attention


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_content_flat_colour_drawing_is_an_illustration_even_as_jpeg(seed: int) -> None:
    img = drawing(seed)
    assert measure_content(f32(img)).kind == "illustration"
    assert measure_content(f32(jpeg_roundtrip(img, 50)[0])).kind == "illustration"
    assert measure_content(f32(photo_u8("astronaut"))).illustration_score < 0.2


# --- faces -------------------------------------------------------------------------------------


def test_faces_astronaut_has_one_face(clean_diagnoses: dict[str, Diagnosis]) -> None:
    faces = clean_diagnoses["astronaut"].faces
    assert faces.count == 1 and not faces.attention
    face = faces.faces[0]
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 160  # her face, not the patch or the helmet
    assert 70 < face.size < 130 and face.score > 0.8
    assert len(face.landmarks) == 5
    assert clean_diagnoses["coffee"].faces.count == 0


def test_faces_large_photo_runs_at_bounded_size_and_maps_boxes_back() -> None:
    big = cv2.resize(photo_u8("astronaut"), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    faces = detect_faces(f32(big), max_side=512)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 4 * 150 < x + w / 2 < 4 * 260 and 4 * 70 < w < 4 * 130


# --- the whole diagnosis -----------------------------------------------------------------------


@pytest.mark.parametrize("name", CLEAN)
def test_clean_photos_have_no_defects(name: str, clean_diagnoses: dict[str, Diagnosis]) -> None:
    """No damage flagged; of the properties only resolution (< 1 MP, all skimage photos are small)."""
    d = clean_diagnoses[name]
    assert d.defects() == ()
    assert d.flagged() == ("resolution",)
    assert d.findings() == [d.resolution.finding()]


def test_findings_are_short_sentences_and_to_dict_is_strict_json() -> None:
    u8 = add_noise(jpeg_roundtrip(crop256(photo_u8("astronaut")), 30)[0], 18)
    d = diagnose(Photo.from_array(u8))
    assert "noise" in d.defects()
    noise_line = next(f for f in d.findings() if f.startswith("noise"))
    assert "σ≈" in noise_line and "(8-bit)" in noise_line and " — " in noise_line
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["noise"]["attention"] is True and data["noise"]["rule"].startswith("sigma >")
    assert set(data) >= {"resolution", "noise", "jpeg", "sharpness", "color_cast", "exposure", "content", "faces",
                         "flagged", "defects", "findings"}
    assert data["faces"]["count"] == len(data["faces"]["faces"])


def test_diagnose_uses_the_tables_in_meta() -> None:
    pixels, tables = jpeg_roundtrip(crop256(photo_u8("coffee")), 35)
    d = diagnose(Photo.from_array(pixels, ImageMeta(source_format="JPEG", jpeg_quantization=tables)))
    assert d.jpeg.source == "tables" and d.jpeg.quality == 35


@pytest.mark.parametrize("shape", [(8, 8, 3), (1, 300, 3), (40, 40, 1), (300, 2, 3)])
def test_diagnose_tiny_and_odd_shapes_do_not_crash(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(0)
    d = diagnose(Photo(rng.random(shape, dtype=np.float32)))
    json.dumps(d.to_dict(), allow_nan=False)


# --- size invariance ---------------------------------------------------------------------------


def aged(u8: np.ndarray) -> np.ndarray:
    """A faded print whose blue dye went first: 25–80 % of the range, yellowed."""
    from revive.colorimetry import linear_to_srgb, srgb_to_linear

    x = 0.25 + 0.55 * f32(u8)
    if x.shape[2] == 3:
        x = linear_to_srgb(srgb_to_linear(x) * np.array([1.0, 0.97, 0.72]))
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["clean", "aged"])
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera"])
def test_the_same_photo_at_50_and_100_percent_gets_the_same_diagnosis(name: str, kind: str) -> None:
    """Stated tolerance: identical labels (noise and JPEG flags, cast direction and flag, exposure
    verdict, content, face count) and cast strengths within 1.5 Lab units. Noise σ and blur are
    properties of the pixels, not of the scene, and shrink with the photo; they are not compared."""
    u8 = photo_u8(name)
    if kind == "aged":
        u8 = aged(u8)
    full = diagnose(Photo(f32(u8)))
    half = diagnose(Photo(f32(cv2.resize(u8, (u8.shape[1] // 2, u8.shape[0] // 2), interpolation=cv2.INTER_AREA))))

    def labels(d: Diagnosis) -> tuple:
        return (d.noise.attention, d.jpeg.attention, d.color_cast.direction, d.color_cast.attention,
                d.exposure.verdict, d.content.kind, d.faces.count)

    assert labels(full) == labels(half)
    assert abs(full.color_cast.strength - half.color_cast.strength) < 1.5
    if kind == "aged":  # yellowed: b* up (coffee's red-brown scene reads it yellow-green)
        assert full.exposure.verdict == "faded" and full.color_cast.b > 3.0


@pytest.mark.parametrize("name", ["cell", "grass", "gravel", "brick"])
def test_clean_textures_are_not_called_noisy(name: str) -> None:
    """Microscopy and foliage are texture all the way down; at full size and halved they read clean,
    and the same images with noise σ 10 still read noisy."""
    u8 = photo_u8(name)
    for img in (u8, cv2.resize(u8, (u8.shape[1] // 2, u8.shape[0] // 2), interpolation=cv2.INTER_AREA)):
        assert not measure_noise(f32(img)).attention
        assert measure_noise(f32(add_noise(img, 10))).sigma == pytest.approx(10, rel=0.4)

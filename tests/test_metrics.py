"""PSNR/SSIM with BasicSR's conventions, checked against scikit-image and hand-computed values."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from revive.errors import InvalidParameter
from revive.pipeline.metrics import compare, integer_scale, psnr, side_by_side, ssim, to_8bit_range
from revive.types import Photo


def sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    kwargs = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
    if a.ndim == 3:
        kwargs["channel_axis"] = 2
    return float(structural_similarity(a.astype(np.float64), b.astype(np.float64), **kwargs))


def y_of(u8: np.ndarray) -> np.ndarray:
    return 16.0 + (u8.astype(np.float64) / 255.0) @ np.array([65.481, 128.553, 24.966])


@pytest.fixture(scope="module")
def pair(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.ascontiguousarray(astronaut[100:356, 128:384])
    buf = io.BytesIO()
    Image.fromarray(ref).save(buf, "JPEG", quality=30)
    return ref, np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def test_psnr_matches_skimage_within_1e_3_db(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-3)
    assert psnr(a, b, crop_border=4) == pytest.approx(
        peak_signal_noise_ratio(a[4:-4, 4:-4], b[4:-4, 4:-4], data_range=255), abs=1e-3)


def test_psnr_y_channel_matches_skimage_on_bt601_luma(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    expected = peak_signal_noise_ratio(y_of(a)[4:-4, 4:-4], y_of(b)[4:-4, 4:-4], data_range=255)
    assert psnr(a, b, y_channel=True, crop_border=4) == pytest.approx(expected, abs=1e-3)


def test_ssim_matches_skimage_within_2e_3(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    assert ssim(a, b) == pytest.approx(sk_ssim(a, b), abs=2e-3)
    assert ssim(a, b, crop_border=4) == pytest.approx(sk_ssim(a[4:-4, 4:-4], b[4:-4, 4:-4]), abs=2e-3)
    assert ssim(a, b, y_channel=True) == pytest.approx(sk_ssim(y_of(a), y_of(b)), abs=2e-3)
    assert ssim(a[:, :, 1], b[:, :, 1]) == pytest.approx(sk_ssim(a[:, :, 1], b[:, :, 1]), abs=2e-3)


def test_inputs_uint8_uint16_float_and_photo_agree(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    ref_p, ref_s = psnr(a, b), ssim(a, b)
    for conv in (lambda x: x.astype(np.uint16) * 257, lambda x: x.astype(np.float32) / 255.0, Photo.from_array):
        assert psnr(conv(a), conv(b)) == pytest.approx(ref_p, abs=1e-9)
        assert ssim(conv(a), conv(b)) == pytest.approx(ref_s, abs=1e-9)
    # floats are rounded to the 8-bit grid first, like BasicSR's tensor2img
    assert psnr(a.astype(np.float32) / 255.0 + 0.001, b.astype(np.float32) / 255.0) == pytest.approx(ref_p, abs=1e-9)
    assert to_8bit_range(np.zeros((4, 4, 4), np.uint8)).shape == (4, 4, 3)  # alpha dropped


def test_identical_images_give_inf_psnr_and_ssim_one(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, _ = pair
    assert psnr(a, a) == math.inf
    assert ssim(a, a) == 1.0


def test_hand_computed_values() -> None:
    black = np.zeros((32, 32, 3), np.uint8)
    ten = np.full((32, 32, 3), 10, np.uint8)
    # MSE 100 → 10·log10(255²/100)
    assert psnr(black, ten) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-9)
    # flat images: SSIM = C1 / (μ_b² + C1) with C1 = (0.01·255)²
    c1 = (0.01 * 255) ** 2
    assert ssim(black, ten) == pytest.approx(c1 / (100 + c1), abs=1e-9)
    # Y of black is 16 and of white 235 (BasicSR's studio range): PSNR = 20·log10(255/219)
    white = np.full((32, 32, 3), 255, np.uint8)
    assert psnr(black, white, y_channel=True) == pytest.approx(20 * math.log10(255 / 219), abs=1e-9)
    assert psnr(black, white) == pytest.approx(0.0, abs=1e-12)


def test_bad_inputs_raise_invalid_parameter() -> None:
    a = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(InvalidParameter, match="differ in size"):
        psnr(a, np.zeros((32, 31, 3), np.uint8))
    with pytest.raises(InvalidParameter, match="crop_border"):
        psnr(a, a, crop_border=16)
    with pytest.raises(InvalidParameter, match="11×11"):
        ssim(a, a, crop_border=12)
    with pytest.raises(InvalidParameter, match="dtype"):
        psnr(a.astype(np.int32), a.astype(np.int32))


def test_compare_resizes_integer_multiples_only(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    big = Photo.from_array(np.repeat(np.repeat(a, 2, axis=0), 2, axis=1))  # exactly 2× of a
    result = compare(Photo.from_array(a), big)
    assert result.resized_from == (512, 512) and result.size == (256, 256)
    assert result.psnr == math.inf and result.ssim == 1.0  # INTER_AREA undoes pixel repetition
    assert result.to_dict()["psnr"] == "inf"
    assert compare(Photo.from_array(a), Photo.from_array(b)).resized_from is None
    with pytest.raises(InvalidParameter, match="integer multiple"):
        compare(Photo.from_array(a), Photo.from_array(a[:200]))
    assert integer_scale((100, 50), (300, 150)) == 3 and integer_scale((300, 150), (100, 50)) == 3
    assert integer_scale((100, 50), (200, 101)) is None and integer_scale((10, 10), (10, 10)) is None


def test_side_by_side_strip(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    small = Photo.from_array(b[::2, ::2])  # 128×128 → drawn at a's (the taller) height
    strip = side_by_side(Photo.from_array(a), small, labels=("original", "JPEG"))
    assert strip.pixels.shape == (256, 256 + 8 + 256, 3) and strip.pixels.dtype == np.float32
    assert 0.0 <= strip.pixels.min() and strip.pixels.max() <= 1.0
    unlabeled = side_by_side(Photo.from_array(a), small, labels=("", ""))
    assert not np.array_equal(strip.pixels[:40], unlabeled.pixels[:40])  # labels drawn at the top
    np.testing.assert_array_equal(strip.pixels[60:, :256], unlabeled.pixels[60:, :256])
    gray = side_by_side(Photo.from_array(a[:, :, 0]), Photo.from_array(b[:, :100]))
    assert gray.pixels.shape == (256, 256 + 8 + 100, 3)


def test_side_by_side_of_an_upscale_shows_it_at_full_size(pair: tuple[np.ndarray, np.ndarray]) -> None:
    """Before (small) then after (×2): the strip is as tall as the result and shows it unshrunk."""
    a, b = pair
    before = Photo.from_array(a[::2, ::2])
    strip = side_by_side(before, Photo.from_array(b), labels=("", ""))
    assert strip.pixels.shape == (256, 256 + 8 + 256, 3)
    np.testing.assert_allclose(strip.pixels[:, 264:], b / 255.0, atol=1e-6)

"""The classical stages on real photos: denoise (non-local means), deblock (DCT), colour and light."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from revive.analysis import diagnose
from revive.analysis.jpeg import blockiness
from revive.errors import Cancelled, InvalidParameter
from revive.stages.base import StageContext
from revive.stages.color import ColorParams, ColorStage, white_balance_gains
from revive.stages.deblock import DeblockParams, DeblockStage
from revive.stages.denoise import DenoiseParams, DenoiseStage
from revive.testing import FakeEngine, fake_spec
from revive.types import Photo

CTX = StageContext()


def f32(u8: np.ndarray) -> np.ndarray:
    return (u8 / 255.0).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def noisy(x: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    return np.clip(x + np.random.default_rng(seed).normal(0, sigma / 255, x.shape), 0, 1).astype(np.float32)


def jpeg(u8: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", u8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return f32(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


# --- denoise ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma,gain", [(15, 3.0), (30, 6.0)])
def test_denoise_removes_gaussian_noise_from_real_photos(astronaut, coffee, sigma, gain):
    for photo in (astronaut[:192, :192], coffee[100:292, 200:392]):
        x = f32(photo)
        damaged = noisy(x, sigma)
        out = DenoiseStage(DenoiseParams(sigma=sigma)).run(Photo(damaged), CTX).pixels
        assert out.dtype == np.float32 and out.shape == x.shape
        assert psnr(out, x) >= psnr(damaged, x) + gain


def test_denoise_gray_photo(chelsea):
    gray = f32(cv2.cvtColor(chelsea[:160, :160], cv2.COLOR_RGB2GRAY))[:, :, None]
    damaged = noisy(gray, 15)
    out = DenoiseStage(DenoiseParams(sigma=15)).run(Photo(damaged), CTX).pixels
    assert out.shape == gray.shape
    assert psnr(out, gray) >= psnr(damaged, gray) + 4


def test_denoise_keeps_float_precision_where_nothing_is_removed():
    ramp = np.tile(np.linspace(0.3, 0.5, 64, dtype=np.float32), (64, 1))[:, :, None].repeat(3, axis=2)  # off the grid
    out = DenoiseStage(DenoiseParams(sigma=2)).run(Photo(ramp), CTX).pixels
    change = (out - ramp) * 255.0
    # what the 8-bit filter removed is applied (whole 8-bit steps), scaled back only where the texture guard acts
    assert np.isclose(change, np.round(change), atol=1e-3).mean() > 0.5
    untouched = np.abs(change) < 1e-4
    assert untouched.mean() > 0.3
    np.testing.assert_array_equal(out[untouched], ramp[untouched])  # full float precision there


def test_denoise_strength_zero_is_identity_and_strength_scales(astronaut):
    x = noisy(f32(astronaut[:96, :96]), 15)
    photo = Photo(x)
    assert DenoiseStage(DenoiseParams(sigma=15, strength=0.0)).run(photo, CTX) is photo
    full = DenoiseStage(DenoiseParams(sigma=15)).run(photo, CTX).pixels
    half = DenoiseStage(DenoiseParams(sigma=15, strength=0.5)).run(photo, CTX).pixels
    inside = (full > 0) & (full < 1)  # away from clipping, strength scales the change linearly
    np.testing.assert_allclose(half[inside], (x + 0.5 * (full - x))[inside], atol=1e-5)


def test_denoise_uses_a_store_model_through_the_tiling_engine(astronaut):
    class Blur:  # a ×1 "denoiser"
        scale, device = 1, "cpu"
        multiple_of, min_size, tiling, extra_inputs, memory_budget = 1, 1, "supported", (), None
        spec = fake_spec("fake-denoise", 1, "denoise")
        calls = 0

        def bytes_per_input_pixel(self) -> int:
            return 64

        def __call__(self, tile: np.ndarray) -> np.ndarray:
            Blur.calls += 1
            return cv2.GaussianBlur(tile, (5, 5), 1.0)

    x = noisy(f32(astronaut[:80, :80]), 15)
    context = StageContext(engine=FakeEngine(Blur()))
    out = DenoiseStage(DenoiseParams(sigma=15, model="fake-denoise", tile=32, tile_overlap=8)).run(Photo(x), context)
    assert Blur.calls > 1  # tiled
    assert out.pixels.shape == x.shape
    assert np.abs(out.pixels - cv2.GaussianBlur(x, (5, 5), 1.0)).mean() < 0.01


def test_params_are_validated():
    with pytest.raises(InvalidParameter):
        DenoiseParams(sigma=10, strength=1.5)
    with pytest.raises(InvalidParameter):
        DenoiseParams(sigma=-1)
    with pytest.raises(InvalidParameter):
        DeblockParams(quality=0)
    with pytest.raises(InvalidParameter):
        ColorParams(exposure=2.0)


def test_cancel_is_honoured(astronaut):
    context = StageContext(cancel=lambda: True)
    with pytest.raises(Cancelled):
        DenoiseStage(DenoiseParams(sigma=10)).run(Photo(f32(astronaut[:32, :32])), context)


# --- deblock ---------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [20, 40])
def test_deblock_improves_jpeg_and_removes_the_grid(astronaut, coffee, chelsea, quality):
    for photo in (astronaut[:256, :256], coffee[:256, 100:356], chelsea[:256, :256]):
        x = f32(photo)
        damaged = jpeg(photo, quality)
        out = DeblockStage(DeblockParams(quality=quality)).run(Photo(damaged), CTX).pixels
        assert psnr(out, x) >= psnr(damaged, x) + 0.25
        assert blockiness(out) < 1 + 0.5 * (blockiness(damaged) - 1)  # the 8×8 grid is (mostly) gone


def test_deblock_gray_and_tiny_photos(astronaut):
    gray = cv2.cvtColor(astronaut[:128, :128], cv2.COLOR_RGB2GRAY)
    ok, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 20])
    damaged = f32(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE))[:, :, None]
    out = DeblockStage(DeblockParams(quality=20)).run(Photo(damaged), CTX).pixels
    assert out.shape == damaged.shape
    assert psnr(out, f32(gray)[:, :, None]) > psnr(damaged, f32(gray)[:, :, None])
    tiny = DeblockStage(DeblockParams(quality=30)).run(Photo(f32(astronaut[:5, :7])), CTX)
    assert tiny.pixels.shape == (5, 7, 3)


# --- colour and light ------------------------------------------------------------------------


def cast(x: np.ndarray, gains=(1.0, 1.0, 0.62)) -> np.ndarray:
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4) * np.array(gains, np.float32)
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055).astype(np.float32)


def test_white_balance_reduces_a_cast(astronaut, coffee):
    for photo in (astronaut, coffee):
        damaged = cast(f32(photo))
        before = diagnose(Photo(damaged)).color_cast.strength
        out = ColorStage(ColorParams(white_balance=0.8)).run(Photo(damaged), CTX).pixels
        after = diagnose(Photo(out)).color_cast.strength
        assert before > 14 and after < 0.5 * before
        assert psnr(out, f32(photo)) > psnr(damaged, f32(photo)) + 3


def test_white_balance_leaves_a_neutral_photo_alone(astronaut):
    x = f32(astronaut)
    gains = white_balance_gains(x, 0.8)
    assert gains is not None and np.abs(gains - 1).max() < 0.05
    photo = Photo(x)
    out = ColorStage(ColorParams()).run(photo, CTX)
    assert out is photo  # no-op params do not touch the photo


def test_exposure_brightens_a_dark_photo_without_clipping(coffee):
    x = f32(coffee)
    dark = cast(x, gains=(0.2, 0.2, 0.2))
    d = diagnose(Photo(dark)).exposure
    assert d.verdict == "under"
    out = ColorStage(ColorParams(exposure=0.8, contrast=0.5)).run(Photo(dark), CTX).pixels
    e = diagnose(Photo(out)).exposure
    assert e.verdict == "ok" and e.mean_lightness > d.mean_lightness + 15
    assert e.clipped_highlights <= 0.01
    assert psnr(out, x) > psnr(dark, x) + 6


def test_exposure_on_a_gray_photo():
    from skimage import data

    gray = f32(data.camera())[:, :, None] * 0.3
    out = ColorStage(ColorParams(exposure=1.0)).run(Photo(gray.astype(np.float32)), CTX).pixels
    assert out.shape == gray.shape and out.mean() > gray.mean() * 1.5


def test_contrast_widens_a_washed_out_photo(chelsea):
    x = f32(chelsea)
    flat = (0.35 + 0.45 * x).astype(np.float32)  # no shadows, no highlights
    out = ColorStage(ColorParams(contrast=0.8)).run(Photo(flat), CTX).pixels
    assert np.ptp(np.percentile(out, [1, 99])) > np.ptp(np.percentile(flat, [1, 99])) * 1.3


def test_contrast_keeps_the_photos_key():
    """A flat mid-gray scene (skimage's brick wall) gains contrast about its mean: it does not turn dark."""
    from skimage import data

    brick = f32(np.repeat(data.brick()[:, :, None], 3, axis=2))
    before = diagnose(Photo(brick)).exposure
    out = ColorStage(ColorParams(contrast=0.8)).run(Photo(brick), CTX).pixels
    after = diagnose(Photo(out)).exposure
    assert after.highlights_l99 - after.shadows_l1 > 1.4 * (before.highlights_l99 - before.shadows_l1)
    assert abs(after.mean_lightness - before.mean_lightness) < 3.0

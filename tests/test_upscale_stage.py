"""The upscale stage on Photos: any scale, gray, alpha without fringes, the real embedded models."""

from __future__ import annotations

import numpy as np
import pytest

import revive
from revive.errors import InvalidParameter, ModelNotFound
from revive.stages.base import StageContext
from revive.stages.upscale import UpscaleParams, UpscaleStage, model_passes
from revive.testing import FakeEngine, NearestModel
from revive.types import Photo


def run(photo: Photo, runtime, **params) -> Photo:
    return UpscaleStage(UpscaleParams(**params)).run(photo, StageContext(engine=runtime))


@pytest.fixture()
def fake():
    model = NearestModel(4)
    return model, FakeEngine(model)


@pytest.mark.parametrize("scale,size", [(None, (212, 148)), (4, (212, 148)), (2, (106, 74)), (1, (53, 37)),
                                        (3.5, (186, 130)), (0.5, (26, 18)), (6, (318, 222))])
def test_any_scale_gives_the_exact_size(astronaut, fake, scale, size):
    model, runtime = fake
    out = run(Photo.from_array(astronaut[:37, :53]), runtime, model="nearest-x4", scale=scale)
    assert (out.width, out.height) == size


def test_scales_above_native_run_the_model_again(astronaut, fake):
    model, runtime = fake
    assert [model_passes(4, s) for s in (1, 4, 4.01, 8, 16)] == [1, 1, 2, 2, 2]
    run(Photo.from_array(astronaut[:20, :20]), runtime, model="nearest-x4", scale=8, tile=512)
    assert model.calls == [(20, 20), (80, 80)]


def test_invalid_scale_and_unknown_model(fake):
    with pytest.raises(InvalidParameter):
        UpscaleParams(scale=0)
    with pytest.raises(InvalidParameter):
        UpscaleParams(scale=float("nan"))
    with pytest.raises(ModelNotFound, match="revive models list"):
        run(Photo.from_array(np.zeros((8, 8, 3), np.uint8)), fake[1], model="realesrgan-x4plu")


def test_gray_in_gray_out(astronaut, fake):
    gray = astronaut[:40, :40].mean(axis=2).astype(np.uint8)
    out = run(Photo.from_array(gray), fake[1], model="nearest-x4")
    assert out.is_gray and out.pixels.shape == (160, 160, 1)
    assert np.allclose(out.pixels[::4, ::4, 0], gray / 255.0, atol=1e-6)


def _disc_alpha(size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    return np.clip((size * 0.4 - r) / 3.0, 0.0, 1.0).astype(np.float32)  # soft-edged disc


def test_alpha_edges_have_no_dark_fringe(astronaut):
    """Transparent pixels stored as black must not darken the visible edge after upscaling."""
    size = 48
    colour = (astronaut[100:148, 200:248] / 255.0).astype(np.float32)
    alpha = _disc_alpha(size)
    stored = colour * (alpha > 0)[:, :, None]  # what an editor saves: black where invisible
    runtime = revive.api.default_engine()
    model_name = "realesr-animevideov3-x2"  # small and fast real model
    with_alpha = run(Photo(stored, alpha), runtime, model=model_name)
    reference = run(Photo(colour), runtime, model=model_name)  # same photo, no transparency at all
    edge = (with_alpha.alpha > 0.2) & (with_alpha.alpha < 0.9)
    assert edge.sum() > 50
    luma = with_alpha.pixels.mean(axis=2)[edge].mean()
    reference_luma = reference.pixels.mean(axis=2)[edge].mean()
    assert abs(luma - reference_luma) < 0.03, (luma, reference_luma)
    assert with_alpha.alpha.shape == (96, 96) and with_alpha.alpha.max() > 0.99 and with_alpha.alpha.min() < 0.01


def test_hard_alpha_edges_get_no_halo(astronaut, fake):
    """A cut-out's alpha enlarged with plain Lanczos rings: a faint ghost ring outside (29/255)
    and see-through specks inside (220/255). Neither may appear."""
    yy, xx = np.mgrid[:48, :48]
    alpha = (np.hypot(yy - 24, xx - 24) < 15).astype(np.float32)
    out = run(Photo((astronaut[:48, :48] / 255.0).astype(np.float32), alpha), fake[1], model="nearest-x4")
    r = np.hypot(*((np.mgrid[:192, :192] + 0.5) / 4 - 0.5 - 24))  # distance from the centre, in input pixels
    assert out.alpha[r > 16.5].max() == 0.0 and out.alpha[r < 13.5].min() == 1.0
    edge = out.alpha[96, 96:]
    assert np.all(np.diff(edge) <= 0) and ((edge > 0.05) & (edge < 0.95)).sum() <= 4  # monotone and still crisp


def test_alpha_through_the_model(astronaut, fake):
    alpha = _disc_alpha(32)
    out = run(Photo((astronaut[:32, :32] / 255.0).astype(np.float32), alpha), fake[1], model="nearest-x4",
              alpha="model")
    assert np.allclose(out.alpha[::4, ::4], alpha, atol=1e-6)


def test_metadata_travels(astronaut, fake):
    meta = revive.ImageMeta(bit_depth=16, icc_profile=b"icc", dpi=(300.0, 300.0))
    out = run(Photo(np.zeros((8, 8, 3), np.float32), None, meta), fake[1], model="nearest-x4")
    assert out.meta is meta


def test_numpy_and_pil_in_same_kind_out(astronaut):
    from PIL import Image

    crop = astronaut[100:124, 200:232]
    out = revive.upscale(crop, model="realesr-animevideov3-x2")
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (48, 64, 3)
    pil = revive.upscale(Image.fromarray(crop), model="realesr-animevideov3-x2", scale=3)
    assert isinstance(pil, Image.Image) and pil.size == (96, 72)
    as16 = revive.upscale(crop.astype(np.uint16) * 257, model="realesr-animevideov3-x2")
    assert as16.dtype == np.uint16 and np.abs(as16.astype(np.int64) // 257 - out).max() <= 1


def test_x4plus_adds_detail_and_stays_faithful(astronaut):
    """The embedded model on a real photo downscaled ×4: sharper than bicubic, and consistent with
    its input (shrinking the result back gives the input again). GAN models are not judged by
    pixel error against the original: they trade PSNR for detail, which is what the autopilot's
    fidelity guard then balances."""
    import cv2

    original = astronaut[60:188, 180:308]
    small = cv2.resize(original, (32, 32), interpolation=cv2.INTER_AREA)
    ours = revive.upscale(small)
    bicubic = cv2.resize(small, (128, 128), interpolation=cv2.INTER_CUBIC)
    detail = lambda a: cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert ours.shape == original.shape
    assert detail(ours) > 1.5 * detail(bicubic)
    back = cv2.resize(ours, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert 10 * np.log10(255**2 / np.mean((back - small) ** 2)) > 25


def test_facade_diagnose_and_compare(astronaut):
    import cv2

    crop = astronaut[:128, :128]
    noisy = np.clip(crop + np.random.default_rng(0).normal(0, 15, crop.shape), 0, 255).astype(np.uint8)
    assert revive.diagnose(noisy).noise.sigma > 3 * revive.diagnose(crop).noise.sigma
    same = revive.compare(crop, crop)
    assert same.ssim == pytest.approx(1.0) and same.psnr == float("inf")
    blurred = revive.compare(crop, cv2.GaussianBlur(crop, (0, 0), 2), y_channel=True, crop_border=4)
    assert 20 < blurred.psnr < 35 and 0.4 < blurred.ssim < 0.95


def test_ctrl_c_interrupts_a_tile_at_once(astronaut, ctrl_c):
    """KeyboardInterrupt reaches the caller while ncnn is still working on a tile, not minutes later."""
    import signal
    import threading
    import time

    model = revive.api.default_engine().load("realesrgan-x4plus")
    tile = (astronaut[:128, :128] / 255.0).astype(np.float32)
    main = threading.get_ident()

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 5
        # is_alive(): a thread that start() has not finished launching is listed but not running yet
        while time.monotonic() < deadline and not any(
            t.name == "revive-ncnn" and t.is_alive() for t in threading.enumerate()
        ):
            time.sleep(0.002)
        signal.pthread_kill(main, signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            model(tile)
            time.sleep(5)  # (a SIGINT arriving after the tile still lands, so the check below decides)
        still_working = [t for t in threading.enumerate() if t.name == "revive-ncnn"]
        assert still_working, "the interrupt waited for the tile to finish"
    finally:
        presser.join()
        for t in threading.enumerate():
            if t.name == "revive-ncnn" and t.is_alive():
                t.join()
    assert model(tile[:8, :8]).shape == (32, 32, 3)  # the model still works afterwards


def test_arrays_outside_the_contract_are_refused_with_advice(astronaut):
    with pytest.raises(InvalidParameter, match="divide 8-bit values by 255"):
        revive.upscale(astronaut[:8, :8].astype(np.float32), model="realesr-animevideov3-x2")
    with pytest.raises(InvalidParameter, match="unsupported array dtype"):
        Photo.from_array(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(InvalidParameter, match="unsupported array shape"):
        Photo.from_array(np.zeros((4, 4, 5), np.uint8))

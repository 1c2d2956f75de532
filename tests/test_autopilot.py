"""The autopilot: each degradation of a real photo gets the right step and no other; plans are data;
the runner runs them with events, timings and the guard; enhance never shifts brightness or colour."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from revive import imageio
from revive.analysis import diagnose
from revive.colorimetry import linear_to_srgb, srgb_to_linear
from revive.errors import Cancelled, InvalidParameter
from revive.imageops import back_project, resize
from revive.models import BUILTIN_MODELS, DEFAULT_ANIME_MODEL, DEFAULT_UPSCALE_MODEL, ModelRegistry
from revive.pipeline.autopilot import Capabilities, EnhanceOptions, Plan, Step, plan_for
from revive.pipeline.fidelity import FidelityParams
from revive.pipeline.runner import enhance_photo, make_plan, run_plan
from revive.stages import StageRegistry, default_stages
from revive.stages.base import StageContext, StageInfo
from revive.stages.color import ColorParams
from revive.stages.denoise import DenoiseParams, DenoiseStage
from revive.stages.upscale import BACK_PROJECTION_ROUNDS, UpscaleParams
from revive.testing import FakeEngine, NearestModel, fake_spec
from revive.types import Photo

PHOTOS = ("astronaut", "coffee", "rocket")


def f32(u8: np.ndarray) -> np.ndarray:
    return (u8 / 255.0).astype(np.float32)


def real(name: str) -> np.ndarray:
    from conftest import photo_u8

    return photo_u8(name)


def degrade(u8: np.ndarray, kind: str, tmp: Path) -> Photo:
    x = f32(u8)
    rng = np.random.default_rng(7)
    if kind.startswith("noise"):
        sigma = float(kind[5:])
        return Photo(np.clip(x + rng.normal(0, sigma / 255, x.shape), 0, 1).astype(np.float32))
    if kind == "jpeg20":  # a real JPEG file: its quantization tables travel with the photo
        Image.fromarray(u8).save(tmp / "q20.jpg", quality=20)
        return imageio.read(tmp / "q20.jpg")
    if kind == "cast":
        return Photo(linear_to_srgb(srgb_to_linear(x) * np.array([1.0, 1.0, 0.6])).astype(np.float32))
    if kind == "under":
        return Photo(linear_to_srgb(srgb_to_linear(x) * 0.2).astype(np.float32))
    if kind == "blur":
        return Photo(cv2.GaussianBlur(x, (0, 0), 2.0))
    if kind == "faded":  # an old print: no blacks, no whites
        return Photo((0.25 + 0.55 * x).astype(np.float32))
    return Photo(x)


EXPECTED = {"noise15": "denoise", "noise30": "denoise", "jpeg20": "deblock", "cast": "color", "under": "color",
            "faded": "color"}


# --- planning: the right step and no other -----------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_degradation_triggers_its_stage_and_no_other(name, kind, tmp_path):
    photo = degrade(real(name), kind, tmp_path)
    diagnosis = diagnose(photo)
    same_size = plan_for(diagnosis, EnhanceOptions.make(scale=1))
    assert same_size.stage_names == (EXPECTED[kind],)
    assert same_size.steps[0].track == "both"
    step = same_size.steps[0]
    if kind == "cast":
        assert step.params.white_balance > 0 and step.params.exposure == 0 and step.params.contrast == 0
        assert any("--color off" in n for n in same_size.notes) == (diagnosis.color_cast.strength > 30)
    if kind == "under":
        assert step.params.exposure > 0 and step.params.white_balance == 0
    if kind == "faded":
        assert step.params.contrast > 0 and step.params.exposure == 0 and step.params.white_balance == 0
        assert "faded" in step.reason
    if kind.startswith("noise"):
        assert abs(step.params.sigma - float(kind[5:])) < 0.3 * float(kind[5:])
        assert "σ≈" in step.reason
    if kind == "jpeg20":
        assert step.params.quality == 20 and "quality≈20" in step.reason

    default = plan_for(diagnosis)  # small photos are upscaled too: the cleanup step stays the only other one
    assert set(default.stage_names) == {EXPECTED[kind], "upscale", "fidelity"}
    model = default.step("upscale").params.model
    if kind == "jpeg20":  # waifu2x's strongest noise level removes JPEG damage itself; the filter cleans the reference
        assert model == "waifu2x-photo-x2-noise3" and default.step("deblock").track == "reference"
    elif kind.startswith("noise"):  # a texture-guarded filter first measures better than the model alone
        assert model == "waifu2x-photo-x2-noise3" and default.step("denoise").track == "both"
    else:
        assert model == "waifu2x-photo-x2-noise0"


@pytest.mark.parametrize("name", PHOTOS)
def test_focus_blur_triggers_deblur_before_the_upscale(name, tmp_path):
    diagnosis = diagnose(degrade(real(name), "blur", tmp_path))
    assert diagnosis.sharpness.attention and diagnosis.focus.attention
    plan = plan_for(diagnosis)
    assert plan.stage_names == ("deblur", "upscale", "fidelity")
    assert "soft" in plan.step("upscale").reason and plan.step("deblur").track == "both"
    assert plan_for(diagnosis, EnhanceOptions.make(scale=1)).stage_names == ("deblur",)


def test_clean_photo_gets_only_the_upscale_it_needs(astronaut):
    plan = plan_for(diagnose(Photo(f32(astronaut))))
    assert plan.stage_names == ("upscale", "fidelity")
    up = plan.step("upscale").params
    assert up.model == "waifu2x-photo-x2-noise0" and up.scale == 4  # 512 px: two ×2 passes toward 2048
    assert plan.output_size == (2048, 2048)
    assert plan.step("fidelity").params.strength == 1.0 and plan.step("fidelity").params.back_projection > 0
    sharp = plan_for(diagnose(Photo(f32(astronaut))), EnhanceOptions.make(look="sharp"))
    assert sharp.step("upscale").params.model == DEFAULT_UPSCALE_MODEL and "--look sharp" in sharp.step("upscale").reason
    assert sharp.step("fidelity").params.tolerance > plan.step("fidelity").params.tolerance


def test_clean_large_photo_is_left_untouched(astronaut):
    large = resize(f32(astronaut), 1600, 1600)  # 2.6 MP, smooth (resampled) but clean
    photo = Photo(large)
    result = enhance_photo(photo, context=StageContext(engine=FakeEngine(NearestModel(4, DEFAULT_UPSCALE_MODEL))))
    assert result.plan.steps == ()
    assert result.photo is photo  # a no-op plan: the pixels are not even copied
    assert any("soft" in n for n in result.notes)  # the blur is reported, not "fixed" by a slow model


def test_a_tiny_photo_is_described_in_pixels_not_as_0_00_mp(astronaut):
    plan = plan_for(diagnose(Photo(f32(astronaut[:64, :64]))))
    assert "64 px on the long side is small" in plan.step("upscale").reason
    assert "64×64 (4096 pixels)" in plan.explain() and "0.00 MP" not in plan.explain()


def test_default_factor_aims_at_2048_px_in_native_steps():
    from revive.stages.model_choice import default_factor

    two = [default_factor(w, h, 2) for w, h in ((64, 64), (256, 256), (512, 512), (1000, 700), (1500, 1000),
                                                  (1536, 1000), (4000, 3000))]
    assert two == [8, 8, 4, 4, 2, 1, 1]  # at most ×8; a photo 1536 px long is left alone
    four = [default_factor(w, h, 4) for w, h in ((64, 64), (300, 200), (1200, 800))]
    assert four == [4, 4, 4]  # never two ×4 passes by default (×16 of the pixels, then thrown away)


def test_illustrations_get_the_anime_model():
    art = np.full((300, 400, 3), 245, np.uint8)
    cv2.rectangle(art, (40, 40), (180, 200), (230, 60, 60), -1)
    cv2.circle(art, (280, 150), 80, (40, 90, 200), -1)
    cv2.circle(art, (280, 150), 80, (10, 10, 10), 3)
    cv2.line(art, (20, 260), (380, 230), (20, 20, 20), 4)
    diagnosis = diagnose(Photo(f32(art)))
    assert diagnosis.content.kind == "illustration"
    plan = plan_for(diagnosis)
    assert plan.step("upscale").params.model == DEFAULT_ANIME_MODEL
    assert "anime" in plan.step("upscale").reason


@pytest.mark.parametrize("name", PHOTOS[:2])
def test_a_faded_print_gets_its_blacks_and_whites_back(name, tmp_path):
    photo = degrade(real(name), "faded", tmp_path)
    before = diagnose(photo).exposure
    assert before.verdict == "faded"
    after = diagnose(enhance_photo(photo, EnhanceOptions.make(scale=1)).photo).exposure
    assert after.verdict == "ok"
    assert after.highlights_l99 - after.shadows_l1 > 1.4 * (before.highlights_l99 - before.shadows_l1)


def test_a_re_saved_jpeg_is_deblocked_for_its_older_worse_blocks(tmp_path):
    """Saved at q20, then again at q95 (a photo from a chat app, edited): the tables say 95, the blocks
    are q20's — deblocking with q95's steps would remove nothing."""
    Image.fromarray(real("coffee")).save(tmp_path / "q20.jpg", quality=20)
    Image.open(tmp_path / "q20.jpg").save(tmp_path / "resaved.jpg", quality=95)
    step = plan_for(diagnose(imageio.read(tmp_path / "resaved.jpg")), EnhanceOptions.make(scale=1)).step("deblock")
    assert step is not None and step.params.quality <= 40
    assert "quality≈95" in step.reason and "saved before" in step.reason


def test_a_cast_as_strong_as_tungsten_says_how_to_keep_the_colour():
    """A scene of one colour (a sunset, a retina photo) reads like tungsten light; the plan says how to opt out."""
    x = f32(real("coffee"))
    tungsten = Photo(linear_to_srgb(srgb_to_linear(x) * np.array([1.0, 0.6, 0.2])).astype(np.float32))
    diagnosis = diagnose(tungsten)
    assert diagnosis.color_cast.strength > 30
    plan = plan_for(diagnosis, EnhanceOptions.make(scale=1))
    assert plan.step("color").params.white_balance > 0
    assert any("pass --color off" in n for n in plan.notes)


def test_a_faded_yellowed_print_is_white_balanced_further_than_a_warm_photo(tmp_path):
    warm = degrade(real("astronaut"), "cast", tmp_path)
    aged = Photo((0.25 + 0.55 * warm.pixels).astype(np.float32))  # the same cast on a faded print
    plans = [plan_for(diagnose(p), EnhanceOptions.make(scale=1)) for p in (warm, aged)]
    wb = [p.step("color").params.white_balance for p in plans]
    assert 0 < wb[0] <= 0.8 and wb[1] > wb[0] and "ageing" in plans[1].step("color").reason
    assert plans[1].step("color").params.contrast > 0


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
@pytest.mark.parametrize("side", [None, 128])
def test_a_faded_yellowed_print_comes_out_neutral_at_any_size(name, side):
    """The diagnosis and the colour stage read the light at one scale: a small copy is white-balanced
    as the large one is (it was skipped under 0.04 MP), and neither overshoots into a tint of its own."""
    from test_analysis import aged

    u8 = aged(real(name))
    if side is not None:
        u8 = cv2.resize(u8, (side * u8.shape[1] // u8.shape[0], side), interpolation=cv2.INTER_AREA)
    photo = Photo(f32(u8))
    before = diagnose(photo)
    assert before.exposure.verdict == "faded" and before.color_cast.strength > 8
    result = enhance_photo(photo, EnhanceOptions.make(scale=1), StageContext())
    after = diagnose(result.photo)
    assert after.exposure.verdict == "ok"
    assert after.color_cast.strength < 5.0 and min(after.color_cast.a, after.color_cast.b) > -3.0  # not olive, not blue


# --- user overrides ----------------------------------------------------------------------------


def test_overrides(tmp_path):
    noisy = diagnose(degrade(real("coffee"), "noise15", tmp_path))
    off = plan_for(noisy, EnhanceOptions.make(denoise="off"))
    assert "denoise" not in off.stage_names
    assert not any("on its own" in n for n in off.notes)  # waifu2x leaves Gaussian noise to the filter
    sharp = plan_for(noisy, EnhanceOptions.make(denoise="off", look="sharp"))  # Real-ESRGAN smooths it anyway
    assert any("still smooths grain on its own" in n and "--strength" in n for n in sharp.notes)  # honest about it
    assert not plan_for(noisy, EnhanceOptions.make(denoise="off", scale=1)).notes
    forced = plan_for(noisy, EnhanceOptions.make(denoise=0.3, scale=1)).step("denoise")
    assert forced.params.strength == 0.3
    clean = diagnose(Photo(f32(real("coffee"))))
    assert plan_for(clean, EnhanceOptions.make(denoise=0.5, scale=1)).stage_names == ("denoise",)  # forced on
    cast = diagnose(degrade(real("coffee"), "cast", tmp_path))
    assert plan_for(cast, EnhanceOptions.make(color="off", scale=1)).stage_names == ()
    plan = plan_for(clean, EnhanceOptions.make(scale=2, model="realesr-animevideov3-x2", strength=0.5, tile=64))
    up = plan.step("upscale").params
    assert (up.scale, up.model, up.tile) == (2, "realesr-animevideov3-x2", 64)
    assert plan.step("fidelity").params.strength == 0.5
    assert plan.output_size == (1200, 800)


@pytest.mark.parametrize("bad", [dict(scale=0), dict(scale=20), dict(sharpen="on"), dict(color="lots"), dict(look="soft"),
                                 dict(denoise="lots"), dict(denoise=1.5), dict(strength=-0.1)])
def test_invalid_options_are_refused(bad, astronaut):
    diagnosis = diagnose(Photo(f32(astronaut[:64, :64])))
    with pytest.raises(InvalidParameter):
        plan_for(diagnosis, EnhanceOptions.make(**bad))  # field values at once, stage settings when planned


def test_a_registered_face_stage_is_planned_before_upscaling(astronaut):
    diagnosis = diagnose(Photo(f32(astronaut)))
    assert diagnosis.faces.count == 1
    without = StageRegistry(tuple(s for s in default_stages() if s.name != "faces"))
    plan = plan_for(diagnosis, stages=without)
    assert "faces" not in plan.stage_names
    assert any("1 face found" in n and "later version" in n for n in plan.notes)  # the planner's own fallback

    plan = plan_for(diagnosis)  # the face stage is registered: it speaks for itself
    assert "faces" not in plan.stage_names  # no face model installed
    assert not any("later version" in n for n in plan.notes)
    assert any("1 face found" in n and "revive models pull gfpgan-1.4" in n for n in plan.notes)

    face_model = fake_spec("gfpgan-test", 1, "restore-face")
    caps = Capabilities(installed=(face_model,), known=(face_model,))
    plan = plan_for(diagnosis, capabilities=caps)
    assert plan.stage_names == ("faces", "upscale", "fidelity")  # before upscaling, guarded
    assert plan.step("faces").params.model == "gfpgan-test"
    assert not any("face found" in n for n in plan.notes)


def test_store_models_take_over_from_classical_filters(tmp_path):
    noisy = diagnose(degrade(real("astronaut"), "noise15", tmp_path))
    caps = Capabilities(installed=(fake_spec("scunet-test", 1, "denoise"),))
    step = plan_for(noisy, capabilities=caps).step("denoise")
    assert step.params.model == "scunet-test" and step.track == "both"
    assert "scunet-test" in step.reason
    assert "fidelity" in plan_for(noisy, EnhanceOptions.make(scale=1), caps).stage_names  # a model step is guarded


def test_plan_is_data(tmp_path):
    plan = plan_for(diagnose(degrade(real("rocket"), "noise15", tmp_path)))
    data = json.loads(json.dumps(plan.to_dict()))
    assert [s["stage"] for s in data["steps"]] == ["denoise", "upscale", "fidelity"]
    assert data["steps"][0]["params"]["sigma"] > 10 and data["steps"][0]["track"] == "both"
    assert data["steps"][2]["params"]["tolerance"] > 4.0  # the guard allows for the grain the model removes
    assert data["diagnosis"]["noise"]["attention"] is True
    text = plan.explain()
    assert "1. denoise" in text and "2. upscale" in text and "noise σ≈" in text and "findings:" in text


# --- running plans -----------------------------------------------------------------------------


def fake_context(**kwargs) -> StageContext:
    """Nearest-neighbour stand-ins for the embedded upscale models, declaring what the real ones do."""
    specs = [s for s in ModelRegistry(BUILTIN_MODELS) if s.embedded and s.purpose == "upscale"]
    return StageContext(engine=FakeEngine(*(NearestModel(s.scale, s.name, s.options) for s in specs)), **kwargs)


def test_runner_events_timings_and_reference_track(astronaut):
    x = f32(astronaut[100:164, 150:214])
    noisy = np.clip(x + np.random.default_rng(3).normal(0, 15 / 255, x.shape), 0, 1).astype(np.float32)
    events = []
    result = enhance_photo(Photo(noisy), EnhanceOptions.make(look="sharp"), fake_context(), on_event=events.append)
    assert result.plan.stage_names == ("denoise", "upscale", "fidelity")
    assert [(e.kind, e.stage) for e in events] == [
        ("start", "denoise"), ("done", "denoise"), ("start", "upscale"), ("done", "upscale"),
        ("start", "fidelity"), ("done", "fidelity")]
    assert [t.stage for t in result.timings] == ["diagnose", "denoise", "upscale", "fidelity"]
    assert result.photo.pixels.shape == (256, 256, 3)
    # --look sharp trusts Real-ESRGAN to remove the noise and denoises only the guard's reference. This
    # fake (nearest ×4) keeps the grain: it invents nothing, so the guard keeps it, blended at 0.8 with
    # the cleaned reference — closer to the clean photo than the raw result.
    assert result.plan.step("denoise").track == "reference"
    raw = np.repeat(np.repeat(noisy, 4, 0), 4, 1)
    assert result.fidelity is not None and result.fidelity.strength_used == 0.8
    clean = resize(x, 256, 256)
    assert np.abs(result.photo.pixels - clean).mean() < np.abs(raw - clean).mean()
    assert result.psnr_vs_input is not None and result.ssim_vs_input is not None
    json.dumps(result.to_dict())


def test_strength_0_runs_no_model_and_cleans_the_photo_itself(astronaut):
    """The model's share would be nothing: it is not run (a 100 s wait for nothing), the plain resample is
    the result, and the cleanup the model would have done is done by the filters on the photo itself."""
    x = f32(astronaut[100:164, 150:214])
    noisy = Photo(np.clip(x + np.random.default_rng(3).normal(0, 15 / 255, x.shape), 0, 1).astype(np.float32))
    plan = plan_for(diagnose(noisy), EnhanceOptions.make(strength=0))
    assert plan.stage_names == ("denoise", "upscale")  # nothing to guard
    assert plan.step("denoise").track == "both" and plan.step("upscale").track == "plain"
    assert "--strength 0" in plan.step("upscale").reason and "not run" in plan.explain()
    context = fake_context()
    result = run_plan(noisy, plan, context)
    assert all(m.calls == [] for m in context.engine.models.values())
    denoised = DenoiseStage(plan.step("denoise").params).run(noisy, StageContext()).pixels
    w, h = plan.output_size
    plain = back_project(resize(denoised, w, h), denoised, BACK_PROJECTION_ROUNDS)  # a back-projected Lanczos
    np.testing.assert_allclose(result.photo.pixels, plain, atol=1e-6)
    lanczos_alone = np.abs(resize(resize(denoised, w, h), 64, 64) - denoised).max()
    assert np.abs(resize(result.photo.pixels, 64, 64) - denoised).max() < lanczos_alone  # consistent with the photo
    assert result.fidelity is None


def test_runner_cancels_between_steps(astronaut):
    photo = Photo(f32(astronaut[:64, :64]))
    plan = plan_for(diagnose(photo))
    with pytest.raises(Cancelled):
        run_plan(photo, plan, fake_context(cancel=lambda: True))


def test_new_stages_plug_in_without_touching_the_runner(astronaut):
    @dataclass(frozen=True)
    class InvertParams:
        amount: float = 1.0

    class InvertStage:
        name = "invert"

        def __init__(self, params: InvertParams) -> None:
            self.params = params

        def run(self, photo: Photo, context: StageContext) -> Photo:
            return photo.evolve(pixels=(1.0 - photo.pixels).astype(np.float32))

    registry = default_stages()
    info = StageInfo("invert", InvertParams, InvertStage, summary="test", phase=50)
    registry.add(info)
    with pytest.raises(InvalidParameter):
        registry.add(info)  # no duplicates
    photo = Photo(f32(astronaut[:32, :32]))
    plan = Plan((Step("invert", InvertParams(), "test"),), (), (32, 32), (32, 32))
    result = run_plan(photo, plan, fake_context(), stages=registry)
    np.testing.assert_allclose(result.photo.pixels, 1.0 - photo.pixels, atol=1e-6)
    with pytest.raises(InvalidParameter):
        run_plan(photo, plan, fake_context(), stages=StageRegistry())  # unknown params: refused up front


def test_make_plan_sees_the_runtime(astronaut):
    plan = make_plan(Photo(f32(astronaut[:64, :64])), EnhanceOptions(), fake_context())
    assert plan.step("upscale").params == UpscaleParams(model="waifu2x-photo-x2-noise0", scale=8.0)
    assert isinstance(plan.step("fidelity").params, FidelityParams)
    assert not isinstance(plan.steps[0].params, (DenoiseParams, ColorParams)) or plan.steps[0].track == "reference"
    x4plus = ModelRegistry(BUILTIN_MODELS).get(DEFAULT_UPSCALE_MODEL)
    only_x4 = StageContext(engine=FakeEngine(NearestModel(4, DEFAULT_UPSCALE_MODEL, x4plus.options)))
    plan = make_plan(Photo(f32(astronaut[:64, :64])), EnhanceOptions(), only_x4)  # no faithful model installed
    assert plan.step("upscale").params == UpscaleParams(model=DEFAULT_UPSCALE_MODEL, scale=4.0)
    assert "no faithful model" in plan.step("upscale").reason


# --- the real model: never darker, never shifted -----------------------------------------------

CROPS = {"astronaut": (30, 180), "coffee": (60, 250), "chelsea": (80, 150)}


@pytest.mark.parametrize("name", list(CROPS))
@pytest.mark.parametrize("noise", [0, 12])
def test_enhance_never_darkens_or_shifts_mean_colour(name, noise):
    """Real Real-ESRGAN on 64 px crops, colour step off (it changes colour on purpose).

    Tolerance: the result, area-downscaled to the input size, keeps each channel's mean within
    2/255 of the input's and is never darker than the input by more than 1 L* (CIE lightness).
    """
    y, x = CROPS[name]
    u8 = real(name)[y : y + 64, x : x + 64]
    img = f32(u8)
    if noise:
        img = np.clip(img + np.random.default_rng(5).normal(0, noise / 255, img.shape), 0, 1).astype(np.float32)
    result = enhance_photo(Photo(img), EnhanceOptions.make(color="off"), StageContext())
    assert "upscale" in result.plan.stage_names and result.fidelity is not None
    small = resize(result.photo.pixels, 64, 64)
    shift = (small.mean(axis=(0, 1)) - img.mean(axis=(0, 1))) * 255
    assert np.abs(shift).max() <= 2.0, shift
    lightness = lambda v: cv2.cvtColor(v, cv2.COLOR_RGB2Lab)[:, :, 0].mean()  # noqa: E731
    assert lightness(small) >= lightness(img) - 1.0


def test_gray_and_transparent_photos_go_through_every_stage(astronaut):
    gray = cv2.cvtColor(astronaut[:64, :64], cv2.COLOR_RGB2GRAY)
    noisy = np.clip(f32(gray) + np.random.default_rng(4).normal(0, 20 / 255, gray.shape), 0, 1)[:, :, None]
    dark = (noisy * 0.3).astype(np.float32)
    result = enhance_photo(Photo(dark), EnhanceOptions(), fake_context())
    assert result.photo.pixels.shape == (512, 512, 1)
    assert {"denoise", "upscale", "color", "fidelity"} <= set(result.plan.stage_names)

    rgba = np.dstack([astronaut[:64, :64], np.full((64, 64), 255, np.uint8)])
    rgba[:20, :20, 3] = 0
    result = enhance_photo(Photo.from_array(rgba), EnhanceOptions.make(scale=4), fake_context())
    assert result.photo.alpha is not None and result.photo.alpha.shape == (256, 256)
    assert result.photo.alpha[:70, :70].max() < 0.05 and result.photo.alpha[100:, 100:].min() > 0.95


def test_what_hides_under_transparent_pixels_does_not_count(astronaut):
    """Editors leave anything under alpha 0; the guard and the report judge only what shows."""
    rgba = np.dstack([astronaut[100:164, 150:214], np.full((64, 64), 255, np.uint8)])
    rgba[:, :24, 3] = 0
    rgba[:, :24, :3] = (255, 0, 255)  # magenta leftovers nobody sees
    result = enhance_photo(Photo.from_array(rgba), EnhanceOptions.make(denoise="off", color="off"), fake_context())
    assert result.fidelity is not None and result.fidelity.action == "kept"
    assert result.fidelity.color_shift < 1.0
    assert result.psnr_vs_input > 30 and result.ssim_vs_input > 0.9


def test_the_guard_judges_the_model_not_the_contrast_stretch(tmp_path):
    """A washed-out, noisy JPEG of a retina (96 px, real model): colour and light come after the guard.

    Stretched and white-balanced by each track's own measurements before the guard, the faithful
    upscale and its reference differed by SSIM 0.68 and the model was softened; judged before, 0.91.
    """
    img = real("retina")
    y, x = (img.shape[0] - 384) // 2, (img.shape[1] - 384) // 2
    small = cv2.resize(img[y : y + 384, x : x + 384], (96, 96), interpolation=cv2.INTER_AREA).astype(float)
    small = np.clip(np.round(small + np.random.default_rng(0).normal(0, 10, small.shape)), 0, 255).astype(np.uint8)
    Image.fromarray(small).save(tmp_path / "retina.jpg", quality=40)
    result = enhance_photo(imageio.read(tmp_path / "retina.jpg"), EnhanceOptions(), StageContext())
    assert result.plan.stage_names[:3] == ("deblock", "upscale", "fidelity")
    assert result.fidelity is not None and result.fidelity.action == "kept" and result.fidelity.ssim_unguarded > 0.85

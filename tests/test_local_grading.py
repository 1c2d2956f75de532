"""Local grading (sky, skin, foliage), relight and colour transfer on real photos: each changes pixels
only where its mask (or light) reaches, is planned only for what the diagnosis finds, and obeys its option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from revive import api
from revive.analysis import diagnose
from revive.analysis.face_detect import detect_faces
from revive.cli import app
from revive.colorimetry import linear_to_srgb, srgb_to_linear
from revive.errors import InvalidParameter
from revive.pipeline.autopilot import EnhanceOptions, plan_for
from revive.stages.base import StageContext
from revive.stages.color_transfer import ColorTransferParams, ColorTransferStage
from revive.stages.foliage import FoliageParams, FoliageStage
from revive.stages.regional import subject_masks, to_lab
from revive.stages.relight import CEILING, RelightParams, RelightStage, parse_light
from revive.stages.skin import SkinParams, SkinStage, hue_turn_for
from revive.stages.sky import SkyParams, SkyStage
from revive.types import Photo

DATA = Path(__file__).parent / "data" / "masks"
CONTEXT = StageContext()


def f32(u8: np.ndarray) -> np.ndarray:
    return (u8 / 255.0).astype(np.float32)


@pytest.fixture(scope="module")
def china() -> Photo:
    return api.read(DATA / "china.jpg")


def changed_only_under(before: Photo, after: Photo, mask: np.ndarray) -> None:
    moved = np.any(after.pixels != before.pixels, axis=2)
    assert moved.any(), "the grading changed nothing"
    assert not np.any(moved & (mask == 0)), "pixels changed where the mask is 0"


@pytest.mark.parametrize("fix", ["blown", "dull"])
def test_sky_grading_changes_pixels_only_under_the_sky_mask(china, fix):
    mask = subject_masks(china, ("sky",), CONTEXT)["sky"]
    after = SkyStage(SkyParams(fix=fix, strength=1.0)).run(china, CONTEXT)
    changed_only_under(china, after, mask)
    sky = mask > 0.9
    before_l, after_l = to_lab(china.pixels)[:, :, 0][sky].mean(), to_lab(after.pixels)[:, :, 0][sky].mean()
    before_c = np.hypot(*to_lab(china.pixels)[:, :, 1:].transpose(2, 0, 1))[sky].mean()
    after_c = np.hypot(*to_lab(after.pixels)[:, :, 1:].transpose(2, 0, 1))[sky].mean()
    if fix == "blown":
        assert after_l < before_l - 2 and after_c > before_c  # toned down, tinted
    else:
        assert after_c > 1.3 * before_c


def test_skin_grading_changes_only_the_skin(astronaut):
    photo = Photo(f32(astronaut))
    mask = subject_masks(photo, ("skin",), CONTEXT)["skin"]
    after = SkinStage(SkinParams(turn=-15.0, strength=1.0)).run(photo, CONTEXT)
    changed_only_under(photo, after, mask)
    face = mask > 0.9
    hue = lambda p: np.degrees(np.arctan2(*to_lab(p)[:, :, [2, 1]][face].mean(axis=0)))  # noqa: E731
    assert hue(after.pixels) < hue(photo.pixels) - 8  # turned toward red by most of the 15°
    background = to_lab(photo.pixels)[:100, 400:].mean(axis=(0, 1))
    assert np.array_equal(to_lab(after.pixels)[:100, 400:].mean(axis=(0, 1)), background)


def test_foliage_grading_lifts_green_only_under_its_mask(china):
    mask = subject_masks(china, ("foliage",), CONTEXT)["foliage"]
    after = FoliageStage(FoliageParams(strength=1.0)).run(china, CONTEXT)
    changed_only_under(china, after, mask)
    leaves = mask > 0.9
    chroma = lambda p: np.hypot(*to_lab(p)[:, :, 1:].transpose(2, 0, 1))[leaves].mean()  # noqa: E731
    assert 1.1 * chroma(china.pixels) < chroma(after.pixels) < 1.4 * chroma(china.pixels)  # gently


def test_skin_hue_band():
    assert hue_turn_for(55.0) == 0.0 and hue_turn_for(80.0) == -12.0 and hue_turn_for(30.0) == 12.0


# --- planning ------------------------------------------------------------------------------------

def test_the_landscape_gets_sky_and_foliage_steps_with_their_masks_and_strengths(china):
    plan = plan_for(diagnose(china), EnhanceOptions.make(scale=1))
    assert plan.stage_names == ("sky", "foliage")
    sky = plan.step("sky")
    assert sky.params.fix == "blown" and sky.params.strength == 0.7 and "sky mask" in sky.reason
    assert "foliage mask" in plan.step("foliage").reason


def test_each_local_move_is_overridable(china):
    d = diagnose(china)
    assert plan_for(d, EnhanceOptions.make(scale=1, sky="off")).stage_names == ("foliage",)
    plan = plan_for(d, EnhanceOptions.make(scale=1, sky=0.3, foliage="off"))
    assert plan.stage_names == ("sky",) and plan.step("sky").params.strength == 0.3
    with pytest.raises(InvalidParameter, match="--skin takes"):
        plan_for(d, EnhanceOptions.make(skin="warm"))


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
def test_clean_photos_get_no_local_grading(name):
    from conftest import photo_u8

    plan = plan_for(diagnose(Photo(f32(photo_u8(name)))), EnhanceOptions.make(scale=1))
    assert not {"sky", "skin", "foliage", "deblur"} & set(plan.stage_names)


def test_a_photo_wide_cast_comes_before_local_grading(china, astronaut):
    from dataclasses import replace

    yellow = Photo(linear_to_srgb(srgb_to_linear(f32(astronaut)) * np.array([1.0, 1.0, 0.6], np.float32)))
    cast = diagnose(yellow).color_cast
    assert cast.attention
    plan = plan_for(replace(diagnose(china), color_cast=cast), EnhanceOptions.make(scale=1))
    assert "color" in plan.stage_names and "sky" not in plan.stage_names
    assert any("sky reads blown" in n and "cast comes first" in n for n in plan.notes)


def test_enhance_runs_the_local_steps(china):
    result = api.process(china, api.EnhanceRequest(EnhanceOptions.make(scale=1))).result
    assert [s.name for s in result.stages] == ["sky", "foliage"]
    assert not np.array_equal(result.photo.pixels, china.pixels)


# --- relight -------------------------------------------------------------------------------------

@pytest.mark.parametrize("light", ["left", "right", "top"])
def test_relight_lights_the_subject_side_and_leaves_the_rest(astronaut, light):
    photo = Photo(f32(astronaut))
    after = RelightStage(RelightParams(light=light, strength=1.0)).run(photo, CONTEXT)
    subject = subject_masks(photo, ("subject",), CONTEXT)["subject"]
    h, w = subject.shape
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = (xs * subject).sum() / subject.sum(), (ys * subject).sum() / subject.sum()
    lit = {"left": xs < cx, "right": xs > cx, "top": ys < cy}[light]
    outside = ~lit
    delta = np.abs(after.pixels[outside].mean(axis=0) - photo.pixels[outside].mean(axis=0))
    assert delta.max() <= 2 / 255
    gain = (after.pixels - photo.pixels)[lit & (subject > 0.9)].mean()
    assert gain > 4 / 255  # the lit side did get light
    was_clear = photo.pixels.max(axis=2) < 254.5 / 255
    assert after.pixels.max(axis=2)[was_clear].max() < 254.5 / 255  # nothing newly clipped
    assert np.array_equal(after.pixels[~was_clear], photo.pixels[~was_clear])


def test_relight_never_clips_a_bright_subject(astronaut):
    bright = Photo(np.clip(f32(astronaut) * 1.6, 0, 1).astype(np.float32))
    after = RelightStage(RelightParams(light="left", strength=1.0, fill=1.0)).run(bright, CONTEXT)
    was_clear = bright.pixels.max(axis=2) < 254.5 / 255
    assert srgb_to_linear(after.pixels.max(axis=2)[was_clear]).max() < CEILING
    assert np.array_equal(after.pixels[~was_clear], bright.pixels[~was_clear])


def test_fill_lifts_the_subjects_shadows_only(astronaut):
    photo = Photo(f32(astronaut))
    after = RelightStage(RelightParams(light="left", strength=0.0, fill=1.0)).run(photo, CONTEXT)
    subject = subject_masks(photo, ("subject",), CONTEXT)["subject"]
    moved = np.any(after.pixels != photo.pixels, axis=2)
    assert moved.any() and not np.any(moved & (subject == 0))
    assert (after.pixels - photo.pixels).min() >= 0


def test_light_positions_parse_and_faces_shape_the_light(astronaut):
    assert parse_light("0.1, 0.2") == ("point", (0.1, 0.2)) and parse_light("TOP")[0] == "direction"
    with pytest.raises(InvalidParameter, match="--light takes"):
        RelightParams(light="north")
    assert detect_faces(f32(astronaut))  # the face drives the ellipsoid normals in the test above


# --- colour transfer -----------------------------------------------------------------------------

def test_color_transfer_moves_the_palette_toward_the_reference(astronaut, tmp_path):
    reference = DATA / "china.jpg"
    photo = Photo(f32(astronaut))
    after = ColorTransferStage(ColorTransferParams(str(reference), 1.0)).run(photo, CONTEXT)
    target = to_lab(api.read(reference).pixels).reshape(-1, 3).mean(axis=0)
    before_d = np.abs(to_lab(photo.pixels).reshape(-1, 3).mean(axis=0) - target)
    after_d = np.abs(to_lab(after.pixels).reshape(-1, 3).mean(axis=0) - target)
    assert np.all(after_d < 0.25 * before_d + 1.0)
    half = ColorTransferStage(ColorTransferParams(str(reference), 0.5)).run(photo, CONTEXT)
    assert np.allclose(half.pixels, 0.5 * (photo.pixels + after.pixels), atol=1e-5)


def test_enhance_takes_a_color_reference(astronaut):
    d = diagnose(Photo(f32(astronaut)))
    options = EnhanceOptions.make(scale=1, color_reference=str(DATA / "china.jpg"))
    plan = plan_for(d, options)
    assert plan.stage_names == ("color-transfer",) and "china.jpg" in plan.step("color-transfer").reason
    assert plan_for(d, EnhanceOptions.make(scale=1, color_reference="x.jpg", **{"color-transfer": "off"})).stage_names == ()


def test_relight_and_color_transfer_commands(tmp_path, astronaut):
    source = tmp_path / "astro.png"
    Image.fromarray(astronaut[::2, ::2]).save(source)
    lit = CliRunner().invoke(app, ["relight", str(source), "--light", "right", "--strength", "0.8", "--fill", "0.2",
                                   "-o", str(tmp_path / "lit.png")])
    assert lit.exit_code == 0, lit.output
    assert np.asarray(Image.open(tmp_path / "lit.png")).shape == (256, 256, 3)
    assert api.imageio.read_record(tmp_path / "lit.png").stages[0].name == "relight"
    matched = CliRunner().invoke(app, ["color-transfer", str(source), "-r", str(DATA / "china.jpg"),
                                       "-o", str(tmp_path / "matched.png")])
    assert matched.exit_code == 0, matched.output
    bad = CliRunner().invoke(app, ["relight", str(source), "--light", "north"])
    assert bad.exit_code == 2 and "--light takes" in bad.output

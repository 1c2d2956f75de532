"""Face restoration end to end on real photos, with stand-in restorers (the real architectures are in
test_face_models.py): what changes, what does not, identity flags, skipped faces, planning."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from conftest import group_photo_u8, photo_u8, portrait_u8

from revive import api
from revive.analysis import diagnose
from revive.analysis.face_detect import detect_faces
from revive.operations import EnhanceRequest, FacesRequest, default_operations
from revive.pipeline.autopilot import EnhanceOptions, plan_for
from revive.stages import default_stages
from revive.stages.base import StageContext
from revive.stages.faces import FaceParams, FacesStage
from revive.stages.planning import Capabilities
from revive.testing import FakeEngine, FunctionModel, NearestModel, fake_spec
from revive.types import Photo


def sharpen(crop: np.ndarray) -> np.ndarray:
    """A faithful 'restorer': more detail (coarse enough to survive the way back to a small face), same face."""
    return np.clip(crop + 1.5 * (crop - cv2.GaussianBlur(crop, (0, 0), 5.0)), 0, 1)


def mirror(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[:, ::-1])


def shift(crop: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(crop, np.float32([[1, 0, 40], [0, 1, 0]]), (crop.shape[1], crop.shape[0]),
                          borderMode=cv2.BORDER_REFLECT)


def engine(*extra) -> FakeEngine:
    models = [FunctionModel("faithful", sharpen), FunctionModel("mirror", mirror), FunctionModel("shift", shift),
              NearestModel(2, "nearest-x2"), NearestModel(4, "nearest-x4"), *extra]
    return FakeEngine(*models)


def run(photo: Photo, eng: FakeEngine | None = None, *, upscale: float = 1.0, **params):
    eng = eng or engine()
    request = FacesRequest(FaceParams(**{"model": "faithful", **params}), upscale=upscale,
                           upscale_model=f"nearest-x{int(upscale)}" if upscale > 1 else "nearest-x2")
    return default_operations().get("faces").run(photo, request, StageContext(engine=eng))


def f32(u8: np.ndarray) -> Photo:
    return Photo(u8.astype(np.float32) / 255.0)


PHOTOS = {
    "astronaut": lambda: photo_u8("astronaut"),
    "hopper.jpg": lambda: portrait_u8("hopper.jpg"),
    "grace_hopper.jpg": lambda: portrait_u8("grace_hopper.jpg"),
    "group": group_photo_u8,
}


def dilated_boxes(shape: tuple[int, int], boxes, grow: float = 0.5, scale: float = 1.0) -> np.ndarray:
    """Each face box grown by ``grow`` of its longer side on every side (then scaled), as one mask."""
    inside = np.zeros(shape, bool)
    for x, y, w, h in boxes:
        g = grow * max(w, h)
        x0, y0 = max(0, int((x - g) * scale)), max(0, int((y - g) * scale))
        x1, y1 = int(np.ceil((x + w + g) * scale)), int(np.ceil((y + h + g) * scale))
        inside[y0:y1, x0:x1] = True
    return inside


@pytest.mark.parametrize("name", PHOTOS)
def test_faces_are_restored_and_nothing_outside_them_changes(name):
    photo = f32(PHOTOS[name]())
    result = run(photo)
    faces = result.details["faces"]
    assert len(faces) == len(detect_faces(photo)) >= 1 and not result.details["skipped"]
    for face in faces:
        assert face["action"] == "restored" and face["strength"] == 0.75
        assert face["identity"]["passed"] and not face["identity"]["flagged"]
        assert set(face) >= {"box", "size", "confidence", "strength", "identity"}
    diff = np.abs(result.photo.pixels - photo.pixels).max(axis=2)
    near = dilated_boxes(diff.shape, [f["box"] for f in faces])
    assert diff[~near].max() <= 1 / 255
    for x, y, w, h in (f["box"] for f in faces):
        assert diff[y:y + h, x:x + w].mean() > 2 / 255  # the faces did change
    [record] = result.stages
    assert record.name == "faces" and record.model == "faithful" and record.generative
    assert record.params["faces"] == len(faces) and record.params["strength"] == 0.75


def test_strength_zero_returns_the_input_exactly():
    eng = engine()
    photo = f32(group_photo_u8())
    result = run(photo, eng, strength=0.0)
    assert np.array_equal(result.photo.pixels, photo.pixels)
    assert eng.models["faithful"].calls == 0 and result.stages == ()
    assert FacesStage(FaceParams(model="faithful", strength=0.0)).run(photo, StageContext(engine=eng)) is photo


@pytest.mark.parametrize("name", ["astronaut", "hopper.jpg", "grace_hopper.jpg"])
def test_a_restorer_that_draws_another_face_trips_the_identity_flag(name):
    photo = f32(PHOTOS[name]())
    moved = run(photo, model="shift")  # the face drawn 40 px (a third of the eye distance) to the side
    [face] = moved.details["faces"]
    assert face["identity"]["flagged"] and face["action"] == "dropped" and face["strength"] == 0
    assert np.array_equal(moved.photo.pixels, photo.pixels) and moved.stages == ()
    assert any("may not look like the person" in n for n in moved.notes)
    mirrored = run(photo, model="mirror")
    [face] = mirrored.details["faces"]
    assert face["identity"]["flagged"] and face["action"] in ("softened", "dropped")
    assert face["strength"] < 0.75
    assert "reason" in face


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_a_photo_without_faces_comes_back_unchanged_with_a_note(name):
    eng = engine()
    photo = f32(photo_u8(name))
    result = run(photo, eng)
    assert np.array_equal(result.photo.pixels, photo.pixels)
    assert result.details["faces"] == [] and result.details["skipped"] == []
    assert any("no face found" in n for n in result.notes)
    assert eng.models["faithful"].calls == 0


def test_skipped_faces_are_listed_with_their_reason():
    camera = f32(photo_u8("camera"))  # the cameraman, seen side on
    [skip] = run(camera).details["skipped"]
    assert "profile" in skip["reason"] and skip["box"] and skip["size"] and skip["confidence"]
    astronaut = f32(photo_u8("astronaut"))
    assert "too small: 90 px < --min-size 100" in run(astronaut, min_size=100).details["skipped"][0]["reason"]
    assert "not sure it is a face" in run(astronaut, min_score=0.99).details["skipped"][0]["reason"]
    grace = f32(portrait_u8("grace_hopper.jpg"))
    too_large = run(grace, upscale=4)
    assert "too large" in too_large.details["skipped"][0]["reason"]
    assert too_large.photo.width == 4 * grace.width  # the picture is still enlarged


def test_gray_photos_stay_gray_and_alpha_is_kept():
    u8 = photo_u8("astronaut")
    gray = Photo(cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY).astype(np.float32)[:, :, None] / 255)
    result = run(gray)
    assert result.photo.pixels.shape == gray.pixels.shape and result.details["faces"][0]["action"] == "restored"
    diff = np.abs(result.photo.pixels - gray.pixels)[:, :, 0]
    assert diff[~dilated_boxes(diff.shape, [result.details["faces"][0]["box"]])].max() <= 1 / 255
    alpha = np.tile(np.linspace(0.2, 1.0, 512, dtype=np.float32), (512, 1))
    rgba = Photo(u8.astype(np.float32) / 255, alpha)
    out = run(rgba).photo
    assert np.array_equal(out.alpha, alpha) and not np.array_equal(out.pixels, rgba.pixels)


def test_a_face_cut_by_the_photos_edge_is_restored_in_what_remains():
    photo = f32(photo_u8("astronaut")[:, 195:])
    result = run(photo)
    [face] = result.details["faces"]
    assert face["action"] == "restored"
    diff = np.abs(result.photo.pixels - photo.pixels).max(axis=2)
    assert diff[~dilated_boxes(diff.shape, [face["box"]])].max() <= 1 / 255


def test_a_rolled_face_is_restored():
    u8 = photo_u8("astronaut")
    turn = cv2.getRotationMatrix2D((223.0, 120.0), 30.0, 1.0)
    photo = f32(cv2.warpAffine(u8, turn, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
    [face] = run(photo).details["faces"]
    assert face["action"] == "restored" and face["identity"]["passed"]


def test_upscale_pastes_faces_restored_from_the_input_into_the_enlarged_picture():
    photo = f32(portrait_u8("hopper.jpg"))
    result = run(photo, upscale=2)
    assert (result.photo.width, result.photo.height) == (256, 256)
    background = np.repeat(np.repeat(photo.pixels, 2, axis=0), 2, axis=1)  # what nearest ×2 gives
    [face] = result.details["faces"]
    diff = np.abs(result.photo.pixels - background).max(axis=2)
    near = dilated_boxes(diff.shape, [face["box"]], scale=2.0)
    assert diff[~near].max() <= 1 / 255 and diff[near].mean() > 2 / 255
    assert [s.name for s in result.stages] == ["upscale", "faces"]
    assert result.stages[0].params["scale"] == 2.0 and result.details["upscale"] == 2.0


def test_non_commercial_weights_are_recorded_in_the_output_and_said():
    restricted = FunctionModel("restricted-face", sharpen)
    restricted.spec = dataclasses.replace(restricted.spec, license="NTU S-Lab License 1.0 (non-commercial use only)",
                                          non_commercial=True)
    result = run(f32(photo_u8("astronaut")), engine(restricted), model="restricted-face")
    [record] = result.stages
    assert record.params["non_commercial"] is True and "S-Lab" in record.params["weights_license"]
    assert any("non-commercial" in n for n in result.notes)


def test_fidelity_on_a_model_without_the_knob_is_said_to_be_ignored():
    notes = run(f32(portrait_u8("hopper.jpg")), fidelity=0.5).notes
    assert any("--fidelity is ignored" in n for n in notes)


def test_a_model_of_another_kind_is_refused_with_advice():
    with pytest.raises(api.InvalidParameter, match="faces need a face model.*models pull gfpgan-1.4"):
        run(f32(photo_u8("astronaut")), model="nearest-x2")


def test_restore_faces_returns_what_it_was_given():
    u8 = portrait_u8("hopper.jpg")
    out = api.restore_faces(u8, model="faithful", engine=engine())
    assert out.dtype == np.uint8 and out.shape == u8.shape and not np.array_equal(out, u8)


# --- planning ---------------------------------------------------------------------------------------

FACE_SPEC = fake_spec("gfpgan-1.4", 1, "restore-face")


def test_faces_are_planned_before_upscaling_when_a_face_model_is_installed():
    diagnosis = diagnose(f32(photo_u8("astronaut")))
    caps = Capabilities(installed=(*Capabilities().installed, FACE_SPEC), known=(*Capabilities().known,))
    plan = plan_for(diagnosis, capabilities=caps)
    assert plan.stage_names == ("faces", "upscale", "fidelity")
    step = plan.step("faces")
    assert step.params == FaceParams(model="gfpgan-1.4", strength=0.75)
    assert "1 face (90 px) → restore with gfpgan-1.4 at strength 0.75" in step.reason
    assert not any("face" in n for n in plan.notes)
    assert plan_for(diagnosis, EnhanceOptions.make(faces=0.5), caps).step("faces").params.strength == 0.5
    assert "faces" not in plan_for(diagnosis, EnhanceOptions.make(faces="off"), caps).stage_names
    plain = plan_for(diagnosis, EnhanceOptions.make(strength=0.0), caps).step("faces")
    assert plain.track == "plain" and "leave the faces as they are" in plain.reason


def test_without_a_face_model_the_plan_says_how_to_get_one():
    plan = plan_for(diagnose(f32(group_photo_u8())))
    assert "faces" not in plan.stage_names
    assert any("3 faces found" in n and "revive models pull gfpgan-1.4" in n for n in plan.notes)
    assert not plan_for(diagnose(f32(photo_u8("coffee")))).notes or not any(
        "face" in n for n in plan_for(diagnose(f32(photo_u8("coffee")))).notes)


def test_non_commercial_face_weights_are_chosen_last_and_named_in_the_reason():
    nc = dataclasses.replace(fake_spec("codeformer", 1, "restore-face"), non_commercial=True)
    diagnosis = diagnose(f32(photo_u8("astronaut")))
    only_nc = plan_for(diagnosis, capabilities=Capabilities(installed=(nc,), known=(nc,)))
    assert "non-commercial" in only_nc.step("faces").reason
    both = plan_for(diagnosis, capabilities=Capabilities(installed=(nc, FACE_SPEC), known=(nc, FACE_SPEC)))
    assert both.step("faces").params.model == "gfpgan-1.4"


def test_enhance_runs_the_faces_step_and_records_it():
    face = FunctionModel("gfpgan-1.4", sharpen)
    upscaler = NearestModel(4, "realesrgan-x4plus")
    eng = FakeEngine(face, upscaler)
    photo = f32(portrait_u8("hopper.jpg"))
    result = default_operations(default_stages()).get("enhance").run(
        photo, EnhanceRequest(EnhanceOptions.make(scale=1, color="off")), StageContext(engine=eng))
    assert result.details["steps"] == ["faces", "fidelity"] and face.calls >= 1
    assert not np.array_equal(result.photo.pixels, photo.pixels)
    [record] = [s for s in result.stages if s.name == "faces"]
    assert record.model == "gfpgan-1.4" and record.generative


# --- the command ------------------------------------------------------------------------------------


def test_revive_faces_restores_reports_and_records(tmp_path, monkeypatch):
    from PIL import Image
    from typer.testing import CliRunner

    from revive import imageio
    from revive.cli import app

    monkeypatch.setattr(api._defaults, "engine", engine(FunctionModel("gfpgan-1.4", sharpen)))
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(group_photo_u8()).save(inputs / "group.png")
    Image.fromarray(photo_u8("camera")).save(inputs / "side.png")
    Image.fromarray(photo_u8("coffee")).save(inputs / "cup.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["faces", str(inputs), "-o", str(out), "--strength", "0.6"])
    assert result.exit_code == 0, result.output
    assert "group.png → " in result.output and "(3 faces restored," in result.output
    assert "(0 faces restored, 1 skipped," in result.output and "in profile" in result.output
    assert "no face found" in result.output  # the cup: a note, and the photo written as it was
    record = imageio.read_record(out / "group_faces.png")
    [faces] = [s for s in record.stages if s.name == "faces"]
    assert faces.model == "gfpgan-1.4" and faces.generative and faces.params["strength"] == 0.6
    assert record.generative
    assert not imageio.read_record(out / "cup_faces.png").generative
    refused = CliRunner().invoke(app, ["faces", str(inputs / "cup.png"), "--model", "nearest-x2"])
    assert refused.exit_code == 2 and "faces need a face model" in refused.output

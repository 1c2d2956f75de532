"""Deblur: photos blurred by known straight motions come back sharper (PSNR and SSIM above the blurred
input in every case), sharp photos get no deblur step (focus blur: tests/test_focus_blur.py), and a deblur model from the
store (a spandrel NAFNet with random weights) is planned and run through the guard."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from revive.analysis import diagnose
from revive.analysis.motion import measure_motion, motion_kernel
from revive.errors import InvalidParameter
from revive.pipeline.autopilot import Capabilities, EnhanceOptions, plan_for
from revive.stages.base import StageContext
from revive.stages.deblur import DeblurParams, DeblurStage, deconvolve
from revive.types import Photo

MOTIONS = [(9, 0), (15, 30), (21, 45), (12, 90), (7, 120)]
SAME_SIZE = EnhanceOptions.make(scale=1)


def f32(u8: np.ndarray) -> np.ndarray:
    return (u8 / 255.0).astype(np.float32)


def shaken(img: np.ndarray, length: int, angle: int) -> np.ndarray:
    out = cv2.filter2D(img, -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
    return (np.round(out * 255) / 255).astype(np.float32)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "rocket"])
@pytest.mark.parametrize(("length", "angle"), MOTIONS)
def test_motion_blur_is_found_planned_and_removed(name, length, angle):
    from conftest import photo_u8

    sharp = f32(photo_u8(name))
    blurred = shaken(sharp, length, angle)
    motion = measure_motion(blurred)
    assert motion.attention and abs(motion.length_px - length) < 1.5
    assert abs((motion.angle_deg - angle + 90) % 180 - 90) < 4
    step = plan_for(diagnose(Photo(blurred)), SAME_SIZE).step("deblur")
    assert step is not None and step.params.model is None and step.track == "both"
    out = DeblurStage(step.params).run(Photo(blurred), StageContext()).pixels
    assert peak_signal_noise_ratio(sharp, out, data_range=1) > peak_signal_noise_ratio(sharp, blurred, data_range=1) + 1.5
    assert (structural_similarity(sharp, out, channel_axis=2, data_range=1)
            > structural_similarity(sharp, blurred, channel_axis=2, data_range=1) + 0.03)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "rocket", "chelsea", "camera"])
def test_sharp_photos_get_no_deblur_and_soft_ones_no_motion_kernel(name):
    from conftest import photo_u8

    sharp = f32(photo_u8(name))
    assert not measure_motion(sharp).attention
    assert "deblur" not in plan_for(diagnose(Photo(sharp)), SAME_SIZE).stage_names
    soft = Photo(cv2.GaussianBlur(sharp, (0, 0), 2.0))  # softness without spectral zeros: focus, not shake
    assert not measure_motion(soft.pixels).attention
    step = plan_for(diagnose(soft), SAME_SIZE).step("deblur")
    assert step is None or (step.params.length == 0 and step.params.sigma > 1.2)  # tests/test_focus_blur.py


def test_deblur_strength_forces_a_soft_photo_and_off_turns_it_off(coffee):
    soft = diagnose(Photo(cv2.GaussianBlur(f32(coffee), (0, 0), 2.0)))
    step = plan_for(soft, EnhanceOptions.make(scale=1, deblur=0.7)).step("deblur")
    assert step is not None and step.params.length == 0 and 1.5 < step.params.sigma < 3 and step.params.strength == 0.7
    blurred = diagnose(Photo(shaken(f32(coffee), 15, 30)))
    assert "deblur" not in plan_for(blurred, EnhanceOptions.make(scale=1, deblur="off")).stage_names
    sharp = plan_for(diagnose(Photo(f32(coffee))), EnhanceOptions.make(scale=1, deblur=0.5))
    assert sharp.stage_names == () and any("sharp" in n for n in sharp.notes)


def test_deconvolution_holds_ringing_to_the_local_range(astronaut):
    blurred = shaken(f32(astronaut), 21, 45)
    out = deconvolve(blurred, motion_kernel(21, 45))
    assert out.min() >= 0 and out.max() <= 1
    flat = np.full((64, 64, 3), 0.5, np.float32)
    assert np.allclose(deconvolve(flat, motion_kernel(9, 0)), 0.5, atol=1 / 255)  # nothing to invent on a flat field


def test_params_are_checked():
    with pytest.raises(InvalidParameter, match="length"):
        DeblurParams(length=500)
    with pytest.raises(InvalidParameter, match="strength"):
        DeblurParams(strength=2)


def test_a_deblur_model_from_the_store_is_planned_and_run(tmp_path, coffee):
    torch = pytest.importorskip("torch")
    pytest.importorskip("spandrel")
    from spandrel.architectures.NAFNet import NAFNet

    from revive.engine import Engine
    from revive.models import ModelStore
    from revive.models.importer import import_model
    from revive.models.loaders import LoadOptions
    from revive.pipeline.runner import run_plan

    torch.manual_seed(0)
    net = NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    torch.save(net.state_dict(), tmp_path / "nafnet_random.pth")
    store = ModelStore(tmp_path / "home")
    spec = import_model(store, tmp_path / "nafnet_random.pth", "nafnet-deblur", purpose="deblur")
    engine = Engine(store=store, options=LoadOptions(device="cpu"))
    photo = Photo(shaken(f32(coffee[100:228, 200:328]), 9, 0))
    plan = plan_for(diagnose(photo), SAME_SIZE, Capabilities.from_engine(engine))
    assert spec.architecture == "NAFNet" and plan.stage_names == ("deblur", "fidelity")
    assert plan.step("deblur").params.model == "nafnet-deblur"
    result = run_plan(photo, plan, StageContext(engine=engine))
    assert result.photo.pixels.shape == photo.pixels.shape and result.fidelity is not None
    plain = plan_for(diagnose(photo), EnhanceOptions.make(scale=1, strength=0), Capabilities.from_engine(engine))
    assert plain.stage_names == ("deblur",) and plain.step("deblur").params.model is None

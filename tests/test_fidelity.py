"""The fidelity guard's parts, tested directly on real photos: colour transfer, blend, consistency, guard."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from revive.errors import InvalidParameter
from revive.imageops import resize
from revive.pipeline.fidelity import (
    FidelityParams,
    consistency,
    guard,
    strength_blend,
    transfer_low_frequency_color,
)
from revive.types import Photo


def f32(u8: np.ndarray) -> np.ndarray:
    return (u8 / 255.0).astype(np.float32)


def up4(x: np.ndarray) -> np.ndarray:
    return resize(x, x.shape[1] * 4, x.shape[0] * 4)


def lab(x: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(x, cv2.COLOR_RGB2Lab)


def test_low_frequency_colour_is_transferred_and_detail_kept(astronaut):
    reference = f32(astronaut[:256, :256])
    detail = reference - cv2.GaussianBlur(reference, (0, 0), 2.0)
    # a "model" that shifted hue and brightness in the large but added its own fine detail
    shifted = np.clip(reference * np.array([1.12, 0.95, 0.85], np.float32) - 0.03 + 0.5 * detail, 0, 1)
    out, delta_e = transfer_low_frequency_color(shifted, reference)
    assert delta_e > 3.0
    mean_before = np.abs(lab(shifted).mean(axis=(0, 1)) - lab(reference).mean(axis=(0, 1)))
    mean_after = np.abs(lab(out).mean(axis=(0, 1)) - lab(reference).mean(axis=(0, 1)))
    assert (mean_after < 0.25 * mean_before + 0.3).all() and mean_after.max() < 1.0  # Lab units
    hf = lambda v: v - cv2.GaussianBlur(v, (0, 0), 2.0)  # noqa: E731
    assert np.corrcoef(hf(out).ravel(), hf(shifted).ravel())[0, 1] > 0.95  # the fine detail stays the model's


def test_colour_transfer_is_a_no_op_on_an_already_faithful_result(coffee):
    x = f32(coffee[:200, :300])
    out, delta_e = transfer_low_frequency_color(x, x)
    assert delta_e < 1e-3
    assert out is x  # nothing to correct: not even a Lab round trip


def test_colour_transfer_gray():
    rng = np.random.default_rng(0)
    ref = np.full((64, 64, 1), 0.5, np.float32)
    darker = (ref - 0.1 + 0.01 * rng.standard_normal(ref.shape)).astype(np.float32)
    out, _ = transfer_low_frequency_color(darker, ref)
    assert abs(float(out.mean()) - 0.5) < 0.005


def test_strength_blend():
    a, b = np.full((4, 4, 3), 1.0, np.float32), np.zeros((4, 4, 3), np.float32)
    assert strength_blend(a, b, 1.0) is a
    np.testing.assert_allclose(strength_blend(a, b, 0.8), 0.8)
    np.testing.assert_allclose(strength_blend(a, b, 0.0), 0.0)


def test_consistency_numbers(chelsea):
    x = f32(chelsea[:128, :128])
    p, s = consistency(up4(x), x, (128, 128))
    assert p > 35 and s > 0.97  # a plain resample is consistent with its input
    noise = np.random.default_rng(1).normal(0, 0.15, (512, 512, 3)).astype(np.float32)
    p2, s2 = consistency(np.clip(up4(x) + cv2.GaussianBlur(noise, (0, 0), 3), 0, 1), x, (128, 128))
    assert p2 < p - 10 and s2 < s


def test_guard_keeps_a_faithful_result(astronaut):
    x = f32(astronaut[100:196, 150:246])
    reference = Photo(up4(x))
    sharpened = np.clip(reference.pixels + 0.5 * (reference.pixels - cv2.GaussianBlur(reference.pixels, (0, 0), 1.5)), 0, 1)
    out, report = guard(Photo(sharpened), reference, FidelityParams(strength=0.8), (96, 96))
    assert report.action == "kept" and report.strength_used == 0.8
    assert report.psnr >= report.psnr_unguarded  # the blend only moves toward the reference
    assert out.pixels.shape == reference.pixels.shape
    assert "consistent" in report.message


def test_guard_softens_then_drops_an_inconsistent_result(astronaut, coffee):
    x = f32(astronaut[100:196, 150:246])
    reference = Photo(up4(x))
    rng = np.random.default_rng(2)
    texture = cv2.GaussianBlur(rng.normal(0, 0.5, reference.pixels.shape).astype(np.float32), (0, 0), 4)
    hallucinated = Photo(np.clip(reference.pixels + texture, 0, 1))  # invented texture everywhere
    out, report = guard(hallucinated, reference, FidelityParams(min_psnr=28, min_ssim=0.9), (96, 96))
    assert report.action == "softened" and report.softened_share > 0.9  # the local check took it back everywhere
    assert report.psnr >= 28 and report.ssim >= 0.9 and report.psnr > report.psnr_unguarded + 4
    assert report.worst_window_psnr_guarded > report.worst_window_psnr
    assert "softened" in report.message and "of the picture" in report.message

    unrelated = Photo(up4(f32(coffee[:96, :96])))
    out, report = guard(unrelated, reference, FidelityParams(), (96, 96))
    assert report.action == "dropped" and report.strength_used == 0.0
    np.testing.assert_allclose(out.pixels, reference.pixels, atol=1e-6)
    assert "dropped" in report.message


def planted(x: np.ndarray, centre: tuple[int, int], radius: int) -> tuple[Photo, Photo]:
    """A faithful ×4 result (the reference, sharpened) with a bright blob pasted in: an invention."""
    reference = up4(x)
    sharpened = np.clip(reference + 0.5 * (reference - cv2.GaussianBlur(reference, (0, 0), 1.5)), 0, 1)
    blob = np.zeros(reference.shape[:2], np.float32)
    cv2.circle(blob, centre, radius, 1.0, -1)
    invented = np.clip(sharpened + 0.8 * cv2.GaussianBlur(blob, (0, 0), 2)[:, :, None], 0, 1).astype(np.float32)
    return Photo(invented), Photo(reference)


def test_the_local_guard_softens_a_planted_invention_and_nothing_else(chelsea):
    """A bright blob (6 input px across) pasted into an otherwise faithful result of a real photo: the
    guard takes the blob back to the reference and leaves the rest at full strength."""
    x = f32(chelsea[60:156, 120:216])  # 96 px of fur, eye and whiskers
    result, reference = planted(x, (100, 260), 12)
    out, report = guard(result, reference, FidelityParams(strength=1.0), (96, 96))
    strength = report.strength_map
    assert strength is not None and strength.shape == (96, 96)
    assert strength[65, 25] < 0.05  # the blob (output 260, 100 → input 65, 25)
    far = np.ones((96, 96), bool)
    far[40:90, 0:50] = False
    assert strength[far].min() > 0.99  # everywhere else the model keeps its full share
    blob = np.s_[250:270, 90:110]
    assert np.abs(out.pixels[blob] - reference.pixels[blob]).mean() < 0.1 * np.abs(result.pixels[blob] - reference.pixels[blob]).mean()
    rest = np.s_[:, 250:]
    np.testing.assert_allclose(out.pixels[rest], result.pixels[rest], atol=2e-2)  # only the colour correction
    assert report.action == "softened" and 0.0 < report.softened_share < 0.2
    (bx, by, bw, bh), = report.softened_regions[:1]
    assert bx <= 25 <= bx + bw and by <= 65 <= by + bh
    assert report.worst_window_psnr < 30 < report.worst_window_psnr_guarded
    data = report.to_dict()
    assert "strength_map" not in data and data["softened_regions"][0] == [bx, by, bw, bh]


def test_faces_are_held_closer_than_the_rest(astronaut):
    """Where a face is, half the tolerance: a change the guard lets through on the shoulder it softens
    on the face (the astronaut's face, as YuNet finds it)."""
    from revive.analysis.face_detect import detect_faces

    x = f32(astronaut[:128, 128:256])
    faces = tuple(f.box for f in detect_faces(x))
    assert len(faces) == 1
    reference = up4(x)
    rng = np.random.default_rng(5)
    change = cv2.GaussianBlur(rng.normal(0, 1, reference.shape).astype(np.float32), (0, 0), 6)
    change *= (6.5 / 255.0) / float(np.sqrt(np.mean(change**2)))  # RMS 6.5 (8-bit), smooth: it survives the downscale
    result = Photo(np.clip(reference + change, 0, 1).astype(np.float32))
    plain = guard(result, Photo(reference), FidelityParams(strength=1.0, tolerance=8.0, color=False), (128, 128))[1]
    held = guard(result, Photo(reference), FidelityParams(strength=1.0, tolerance=8.0, color=False, faces=faces),
                 (128, 128))[1]
    fx, fy, fw, fh = faces[0]
    face = np.s_[fy + fh // 4 : fy + 3 * fh // 4, fx + fw // 4 : fx + 3 * fw // 4]
    assert plain.strength_map[face].mean() > 0.9  # within tolerance: kept
    assert held.strength_map[face].mean() < 0.6  # on the face: held toward the reference
    assert held.strength_map[100:, :20].mean() > 0.9  # away from it, as before


def test_guard_keeps_alpha_and_handles_gray(chelsea):
    x = f32(cv2.cvtColor(chelsea[:64, :64], cv2.COLOR_RGB2GRAY))[:, :, None]
    alpha = np.ones((256, 256), np.float32)
    result = Photo(up4(x)[:, :, None] if up4(x).ndim == 2 else up4(x), alpha)
    out, report = guard(result, Photo(up4(x) if up4(x).ndim == 3 else up4(x)[:, :, None]), FidelityParams(), (64, 64))
    assert out.alpha is alpha and out.pixels.shape == (256, 256, 1)
    assert report.action == "kept"


def test_params_are_validated():
    with pytest.raises(InvalidParameter):
        FidelityParams(strength=1.2)
    with pytest.raises(InvalidParameter):
        FidelityParams(min_ssim=-0.1)


def test_guard_judges_only_what_shows_under_alpha(coffee):
    """Whatever hides under transparent pixels (the model sees bled colour, the reference the file's
    leftovers) neither tints visible pixels near the edge nor makes a faithful result look inconsistent."""
    x = f32(coffee[100:196, 200:296])
    alpha = np.ones((384, 384), np.float32)
    alpha[:, :160] = 0.0  # the left part is transparent
    faithful = up4(x)
    reference = faithful.copy()
    reference[:, :160] = (1.0, 0.0, 1.0)  # magenta leftovers under the transparent part
    out, report = guard(Photo(faithful, alpha), Photo(reference, alpha), FidelityParams(), (96, 96))
    assert report.action == "kept" and report.strength_used == 0.8
    assert report.color_shift < 0.5 and report.psnr_unguarded > 40
    visible = np.s_[:, 160:200]  # the 10 input pixels beside the edge
    assert np.abs(lab(out.pixels[visible]) - lab(faithful[visible])).mean(axis=(0, 1)).max() < 0.5


def test_guard_on_a_photo_too_small_for_ssim_decides_by_psnr(astronaut):
    """Under 11 px a side SSIM is unknown, not zero: a faithful 8×8 result is kept, an unrelated one dropped."""
    x = f32(astronaut[100:108, 200:208])
    sharper = np.clip(up4(x) * 1.02, 0, 1)
    out, report = guard(Photo(sharper), Photo(up4(x)), FidelityParams(), (8, 8))
    assert report.action == "kept" and report.strength_used == 0.8
    assert np.isnan(report.ssim) and report.to_dict()["ssim"] is None and "n/a" in report.message
    unrelated = Photo(np.ascontiguousarray(1.0 - up4(x)[:, ::-1], dtype=np.float32))
    assert guard(unrelated, Photo(up4(x)), FidelityParams(color=False), (8, 8))[1].action == "dropped"


def test_the_report_shows_where_the_guard_softened(chelsea):
    """The HTML report carries the local strength map as a heat map, and the JSON the share and places."""
    from revive.pipeline.autopilot import EnhanceOptions
    from revive.pipeline.report import heatmap_uri, render_html
    from revive.pipeline.runner import enhance_photo
    from revive.stages.base import StageContext

    photo = Photo(f32(chelsea[80:128, 150:198]))
    result = enhance_photo(photo, EnhanceOptions.make(scale=2), StageContext())
    assert result.fidelity is not None and result.fidelity.strength_map is not None
    data = result.to_dict()["fidelity"]
    assert {"softened_share", "softened_regions", "worst_window_psnr", "worst_window_psnr_guarded"} <= set(data)
    assert "strength_map" not in data
    page = render_html(result, photo)
    assert page.count("data:image/png;base64,") == 1 and "softened locally" in page
    invented, reference = planted(f32(chelsea[60:156, 120:216]), (100, 260), 12)
    report = guard(invented, reference, FidelityParams(strength=1.0), (96, 96))[1]
    uri = heatmap_uri(report.strength_map, report.strength_requested, reference)
    import base64
    import io

    from PIL import Image

    heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")).astype(int)
    assert heat.shape == (288, 288, 3)  # 96 px, ×3 blocks
    red = (heat[:, :, 0] - heat[:, :, 1]) > 100
    assert red[65 * 3, 25 * 3] and red.mean() < 0.2  # the blob, and little else

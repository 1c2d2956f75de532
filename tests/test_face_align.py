"""Face geometry on real photos: detection, alignment both ways, the paste mask, colour matching."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import group_photo_u8, photo_u8, portrait_u8

from revive.analysis import face_align as fa
from revive.analysis.face_detect import detect_faces
from revive.analysis.face_identity import check_identity


def f32(u8: np.ndarray) -> np.ndarray:
    return u8.astype(np.float32) / 255.0


PHOTOS = {
    "astronaut": lambda: photo_u8("astronaut"),
    "hopper.jpg": lambda: portrait_u8("hopper.jpg"),
    "grace_hopper.jpg": lambda: portrait_u8("grace_hopper.jpg"),
    "group": group_photo_u8,
}
EXPECTED_FACES = {"astronaut": 1, "hopper.jpg": 1, "grace_hopper.jpg": 1, "group": 3}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(1.0 / float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


@pytest.mark.parametrize("name", PHOTOS)
def test_every_face_is_found_with_both_eyes_inside_its_box(name):
    faces = detect_faces(f32(PHOTOS[name]()))
    assert len(faces) == EXPECTED_FACES[name]
    for face in faces:
        x, y, w, h = face.box
        for ex, ey in face.landmarks[:2]:
            assert x <= ex <= x + w and y <= ey <= y + h, (face.box, face.landmarks)
        assert face.landmarks[0][0] < face.landmarks[1][0]  # the detector's order: the image-left eye first


@pytest.mark.parametrize("name", ["astronaut", "hopper.jpg", "grace_hopper.jpg"])
def test_align_then_inverse_warp_reproduces_an_untouched_face(name):
    photo = f32(PHOTOS[name]())
    face = detect_faces(photo)[0]
    m = fa.alignment(face.landmarks)
    crop, inside = fa.align_face(photo, m)
    assert crop.shape == (512, 512, 3) and inside.min() >= 0 and inside.max() == pytest.approx(1.0)
    aligned = fa.apply(m, face.landmarks)
    error = np.linalg.norm(aligned - fa.FFHQ_TEMPLATE, axis=1) / fa.TEMPLATE_EYE_DISTANCE
    assert error.mean() < 0.1 and error.max() < 0.2  # five points, four degrees of freedom: close, not exact
    back = photo.copy()
    (x0, y0, x1, y1) = fa.paste_face(back, crop, m, 1.0)
    (_, weight) = fa.mask_in_photo(m, photo.shape[:2])
    face_area = weight > 0.5
    assert face_area.sum() > 0.3 * face.box[2] * face.box[3]
    assert psnr(back[y0:y1, x0:x1][face_area], photo[y0:y1, x0:x1][face_area]) >= 30.0


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper.jpg"])
@pytest.mark.parametrize("roll", [-25.0, 25.0, 40.0])
def test_a_rolled_face_is_aligned_like_the_upright_one(name, roll):
    """YuNet's own landmarks stay nearly level on the rolled astronaut (5° for a 25° roll); the
    alignment finds the roll (to within 8° of the upright photo's alignment turned by it)."""
    photo = f32(PHOTOS[name]())
    face = detect_faces(photo)[0]
    x, y, w, h = face.box
    turn = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), roll, 1.0)  # counter-clockwise about the face
    rolled = cv2.warpAffine(photo, turn, photo.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    [turned] = detect_faces(rolled)

    def angle(m) -> float:
        return math.degrees(math.atan2(m[1, 0], m[0, 0]))

    upright = angle(fa.upright_alignment(photo, face)[0])
    assert angle(fa.upright_alignment(rolled, turned)[0]) == pytest.approx(upright + roll, abs=8.0)
    if name == "astronaut":
        assert abs(angle(fa.alignment(turned.landmarks)) - upright - roll) > 15.0  # the detector's landmarks alone


def test_upright_faces_keep_the_detectors_landmarks():
    for name in ("astronaut", "hopper.jpg", "grace_hopper.jpg"):
        photo = f32(PHOTOS[name]())
        face = detect_faces(photo)[0]
        m, marks = fa.upright_alignment(photo, face)
        assert np.array_equal(marks, np.asarray(face.landmarks, np.float64))
        assert np.array_equal(m, fa.alignment(face.landmarks))


def test_profile_faces_are_told_apart_from_frontal_ones():
    camera = detect_faces(f32(np.stack([photo_u8("camera")[:, :, 0]] * 3, axis=2)))  # the cameraman, side on
    assert not 0.12 <= fa.frontal_position(camera[0].landmarks) <= 0.88
    for name in ("astronaut", "hopper.jpg", "grace_hopper.jpg"):
        face = detect_faces(f32(PHOTOS[name]()))[0]
        assert 0.35 <= fa.frontal_position(face.landmarks) <= 0.65


def _gradient_energy(image: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(image.astype(np.float64), axis=(0, 1))
    return (gx**2 + gy**2).sum(axis=2)


def test_the_mask_border_leaves_no_step():
    """Paste a face that differs everywhere (another texture, another brightness): the change the
    paste makes must fade out — its gradient along the mask's edge no higher than inside the face.
    A hard-edged mask fails the same measurement."""
    photo = f32(photo_u8("astronaut"))
    face = detect_faces(photo)[0]
    m = fa.alignment(face.landmarks)
    crop, _ = fa.align_face(photo, m)
    different = crop * np.float32(0.3)  # much darker: a hard edge would leave a step of 0.7 × the photo

    def border_and_inside(mask: np.ndarray | None) -> tuple[float, float]:
        out = photo.copy()
        fa.paste_face(out, different, m, 1.0, mask)
        (x0, y0, x1, y1), weight = fa.mask_in_photo(m, photo.shape[:2], mask=mask)
        energy = _gradient_energy(out - photo)[y0:y1, x0:x1]
        support = (weight > 0).astype(np.uint8)
        ring = (cv2.dilate(support, np.ones((3, 3))) - cv2.erode(support, np.ones((3, 3)))).astype(bool)
        edge = ring | ((weight > 0.02) & (weight < 0.98))
        inside = weight >= 0.98
        return float(energy[edge].mean()), float(energy[inside].mean())

    edge, inside = border_and_inside(None)
    assert edge <= inside, (edge, inside)
    hard = (fa.face_mask() > 0.5).astype(np.float32)
    hard_edge, hard_inside = border_and_inside(hard)
    assert hard_edge > 2 * hard_inside  # the measurement sees a seam when there is one


def test_the_mask_is_zero_near_the_crop_edge_and_one_over_the_face():
    mask = fa.face_mask()
    assert mask[:64].max() == 0 and mask[-64:].max() == 0 and mask[:, :64].max() == 0 and mask[:, -64:].max() == 0
    for x, y in fa.FFHQ_TEMPLATE:
        assert mask[round(y), round(x)] > 0.99  # eyes, nose and mouth fully covered
    assert not mask.flags.writeable


def test_low_frequency_colour_comes_back_and_detail_stays():
    photo = f32(photo_u8("astronaut"))
    m = fa.alignment(detect_faces(photo)[0].landmarks)
    crop, inside = fa.align_face(photo, m)
    detail = crop - cv2.GaussianBlur(crop, (0, 0), 2.0)
    restored = np.clip(crop * np.float32([1.25, 1.0, 0.75]) + detail, 0, 1)  # a tint and extra detail
    matched = fa.match_low_frequency(restored, crop, inside)
    mask = fa.face_mask() > 0.99
    low = [cv2.GaussianBlur(v, (0, 0), 16.0)[mask] for v in (crop, restored, matched)]
    assert np.abs(low[2] - low[0]).mean() < 0.25 * np.abs(low[1] - low[0]).mean()  # the tint is gone
    kept = matched - cv2.GaussianBlur(matched, (0, 0), 2.0)
    assert np.corrcoef(kept[mask].ravel(), (restored - cv2.GaussianBlur(restored, (0, 0), 2.0))[mask].ravel())[0, 1] > 0.95


def test_a_face_partly_outside_the_photo_is_aligned_with_the_fill_where_there_is_no_photo():
    photo = f32(photo_u8("astronaut"))[:, 195:]  # the face's left edge is cut off
    faces = detect_faces(photo, score_threshold=0.5)
    assert faces, "the cut face is still found"
    m = fa.alignment(faces[0].landmarks)
    crop, inside = fa.align_face(photo, m)
    assert inside.min() == 0.0 and inside.max() == pytest.approx(1.0)
    outside = cv2.erode((inside == 0).astype(np.uint8), np.ones((19, 19))).astype(bool)  # beyond the cubic kernel (2 px ×2.9)
    assert outside.any() and np.allclose(crop[outside], fa.CROP_FILL, atol=1e-6)
    out = photo.copy()
    fa.paste_face(out, crop, m, 1.0)  # nothing to write beyond the photo: no error, no wrap-around
    assert out.shape == photo.shape


IDENTITY_FAKES = {
    "sharpened": (lambda c: np.clip(c + (c - cv2.GaussianBlur(c, (0, 0), 2.0)), 0, 1), True),
    "jpeg q20": (lambda c: cv2.imdecode(cv2.imencode(".jpg", (c * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 20])[1],
                                        cv2.IMREAD_COLOR).astype(np.float32) / 255, True),
    "mirrored": (lambda c: np.ascontiguousarray(c[:, ::-1]), False),
    "shifted": (lambda c: cv2.warpAffine(c, np.float32([[1, 0, 26], [0, 1, 0]]), (512, 512), borderMode=cv2.BORDER_REFLECT), False),
    "rotated 10°": (lambda c: cv2.warpAffine(c, cv2.getRotationMatrix2D((256, 256), 10, 1), (512, 512),
                                             borderMode=cv2.BORDER_REFLECT), False),
}


@pytest.mark.parametrize("name", ["astronaut", "hopper.jpg", "grace_hopper.jpg"])
@pytest.mark.parametrize("fake", IDENTITY_FAKES)
def test_identity_check_tells_a_faithful_restorer_from_a_different_face(name, fake):
    photo = f32(PHOTOS[name]())
    face = detect_faces(photo)[0]
    m = fa.alignment(face.landmarks)
    crop, inside = fa.align_face(photo, m)
    fn, same = IDENTITY_FAKES[fake]
    check = check_identity(crop, np.ascontiguousarray(fn(crop), np.float32), inside, fa.apply(m, face.landmarks))
    assert check.passed is same, check

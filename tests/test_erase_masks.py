"""Masks for erase and fill: reading, fitting, refusing, crops with context, feathered paste-back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from revive.masks import (
    Box,
    Boxes,
    MaskError,
    WorkSize,
    feather,
    fill_masked,
    fill_regions,
    grow,
    photo_mask,
    plan_fill,
    read_mask,
)


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def disc(h: int, w: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_white_marks_what_to_replace_from_a_file_bytes_or_array(tmp_path):
    plane = np.zeros((40, 60), np.uint8)
    plane[10:20, 30:45] = 255
    (tmp_path / "m.png").write_bytes(png_bytes(plane))
    for source in (tmp_path / "m.png", str(tmp_path / "m.png"), png_bytes(plane), plane, plane > 0):
        mask = photo_mask(60, 40, source)
        assert mask.dtype == bool and mask.sum() == 150 and mask[10:20, 30:45].all()


def test_coloured_strokes_and_stroke_layers_with_alpha_count():
    red = np.zeros((20, 20, 3), np.uint8)
    red[5:10, 5:10] = (255, 0, 0)
    assert read_mask(red)[5:10, 5:10].min() == 1.0 and read_mask(red).sum() == 25
    layer = np.zeros((20, 20, 4), np.uint8)  # black strokes on a transparent layer: the alpha is the mask
    layer[2:4, :, 3] = 255
    assert photo_mask(20, 20, png_bytes(layer, "RGBA")).sum() == 40
    white_on_clear = np.zeros((20, 20, 4), np.uint8)  # white paint under zero alpha is not a stroke
    white_on_clear[..., :3] = 255
    white_on_clear[0:5, 0:5, 3] = 255
    assert photo_mask(20, 20, png_bytes(white_on_clear, "RGBA")).sum() == 25


def test_a_mask_of_another_size_is_fitted_but_not_of_other_proportions():
    small = np.zeros((30, 40), np.uint8)
    small[15:, 20:] = 255  # the lower right quarter
    fitted = photo_mask(400, 300, small)
    assert fitted.shape == (300, 400)
    assert fitted[160:, 210:].all() and not fitted[:140].any() and not fitted[:, :190].any()
    with pytest.raises(MaskError, match="40×30 but the photo is 300×400"):
        photo_mask(300, 400, small)


@pytest.mark.parametrize(("mask", "message"), [
    (np.zeros((10, 10), np.uint8), "the mask is empty"),
    (np.full((10, 10), 255, np.uint8), "covers the whole photo"),
    (b"this is a text file, not a picture", "cannot be read as an image"),
    (b"", "0 bytes"),
    (np.zeros((10, 10), np.int64), "mask array cannot be used"),
    (3.5, "not a float"),
])
def test_unusable_masks_are_refused_with_a_reason(mask, message):
    with pytest.raises(MaskError, match=message):
        photo_mask(10, 10, mask)


def test_a_missing_mask_file_says_so(tmp_path):
    with pytest.raises(MaskError, match="cannot be read"):
        photo_mask(10, 10, tmp_path / "nowhere.png")
    with pytest.raises(MaskError, match="give a mask image"):
        photo_mask(10, 10)


def test_boxes_parse_clip_and_join_a_mask():
    assert Boxes("1,2,3,4; 5,6,7,8") == Boxes("1,2,3,4 5, 6, 7, 8") == (Box(1, 2, 3, 4), Box(5, 6, 7, 8))
    assert Boxes([(1, 2, 3, 4), "5,6,7,8"]) == Boxes("1,2,3,4;5,6,7,8")
    assert str(Boxes("1,2,3,4;5,6,7,8")) == "1,2,3,4; 5,6,7,8"
    plane = np.zeros((20, 20), np.uint8)
    plane[0, 0] = 255
    mask = photo_mask(20, 20, plane, Boxes("15,15,10,10"))  # runs off the photo: cut
    assert mask.sum() == 1 + 25
    with pytest.raises(MaskError, match="outside"):
        photo_mask(20, 20, boxes=Boxes("30,30,5,5"))
    with pytest.raises(MaskError, match="x,y,width,height"):
        Box.parse("1,2,3")
    with pytest.raises(MaskError, match="positive"):
        Box.parse("1,2,0,3")


def test_feather_is_one_on_the_mask_zero_outside_the_grown_mask_and_between_on_the_ring():
    core = disc(64, 64, 32, 32, 10)
    grown = grow(core, 4)
    assert grown.sum() > core.sum() and (grown | core).sum() == grown.sum()
    weight = feather(core, grown)
    assert (weight[core] == 1).all() and (weight[~grown] == 0).all()
    ring = weight[grown & ~core]
    assert ring.min() > 0 and ring.max() < 1 and len(np.unique(ring)) > 2


def test_parts_far_apart_get_their_own_crops_and_near_ones_share_one():
    mask = np.zeros((400, 600), bool)
    mask[20:40, 20:40] = True
    mask[350:370, 550:580] = True
    far = fill_regions(mask, context=0.5)
    assert len(far) == 2
    for region in far:
        assert region.width == region.height  # square where the photo allows
        assert mask[region.slices].any()
    mask[45:60, 45:60] = True  # next to the first part: its crop overlaps, so they merge
    near = fill_regions(mask, context=0.5)
    assert len(near) == 2 and mask[near[0].slices].sum() == 400 + 225


def test_work_size_shrinks_enlarges_rounds_and_squares():
    assert WorkSize().for_crop(123, 77) == (123, 77)
    assert WorkSize(side=512, multiple_of=8).for_crop(200, 100) == (200, 96)  # small crops stay small
    assert WorkSize(side=512, enlarge=True, multiple_of=8).for_crop(200, 100) == (512, 256)
    assert WorkSize(side=512, multiple_of=8).for_crop(2000, 1000) == (512, 256)
    assert WorkSize(side=512, enlarge=True, multiple_of=512, square=True).for_crop(300, 200) == (512, 512)


def test_fill_masked_changes_only_the_grown_mask_and_blends_the_ring(astronaut):
    rgb = astronaut[:200, :200].astype(np.float32) / 255
    mask = disc(200, 200, 100, 120, 20)
    plan = plan_fill(mask, grow_px=5, context=0.5)
    seen = []

    def paint_green(crop, crop_mask):
        seen.append((crop.shape, crop_mask.shape, float(crop[crop_mask].std())))
        out = crop.copy()
        out[...] = (0.0, 1.0, 0.0)
        return out

    out = fill_masked(rgb, plan, paint_green, WorkSize(side=64, enlarge=True, multiple_of=8))
    assert seen[0][0] == (64, 64, 3) and seen[0][1] == (64, 64)
    assert seen[0][2] == 0  # the hidden pixels reach the fill as one flat value: nothing of the object leaks
    assert np.array_equal(out[~plan.grown], rgb[~plan.grown])  # bit-identical outside
    assert np.allclose(out[mask], (0.0, 1.0, 0.0), atol=0.02)
    ring = plan.grown & ~mask
    assert (out[ring][:, 1] > rgb[ring][:, 1] - 1e-6).all() and not np.allclose(out[ring], (0.0, 1.0, 0.0), atol=0.02)


def test_a_fill_of_the_wrong_size_is_a_bug_not_garbage(coffee):
    rgb = coffee[:64, :64].astype(np.float32) / 255
    plan = plan_fill(disc(64, 64, 32, 32, 5), grow_px=2)
    with pytest.raises(ValueError, match="returned"):
        fill_masked(rgb, plan, lambda crop, m: crop[:-1], WorkSize())

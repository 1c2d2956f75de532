"""The tiling engine: exact on identity/nearest models, seamless on the real embedded models."""

from __future__ import annotations

import numpy as np
import pytest

from revive.engine import Engine
from revive.errors import Cancelled, InvalidParameter, OutOfMemory
from revive.tiling import TileOptions, auto_tile_size, make_grid, process_tiled


def nearest(scale: int):
    return lambda t: np.repeat(np.repeat(t, scale, axis=0), scale, axis=1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def runtime() -> Engine:
    return Engine()


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
# (8, 32), (16, 32), (32, 32), (12, 64): tiles shorter than their context, so a tile's fade-in and
# fade-out would overlap if fades were not narrowed (weights summed to 0.6–1.4: seams on --tile 16).
@pytest.mark.parametrize("tile,overlap", [(8, 0), (16, 4), (24, 8), (40, 24), (512, 8), (8, 32), (16, 32), (32, 32), (12, 64)])
@pytest.mark.parametrize("blend", ["cosine", "linear"])
def test_nearest_model_is_reproduced_exactly(astronaut, scale, tile, overlap, blend):
    image = (astronaut[:157, :141] / 255.0).astype(np.float32)  # odd sizes on purpose
    out = process_tiled(image, nearest(scale), scale, TileOptions(tile=tile, overlap=overlap, blend=blend))
    reference = nearest(scale)(image)
    assert out.shape == reference.shape
    assert np.abs(out - reference).max() < 1e-6  # weights sum to one everywhere (float rounding only)
    assert np.array_equal(np.round(out * 255), np.round(reference * 255))


@pytest.mark.parametrize("tile,overlap", [(32, 32), (64, 16), (8, 32)])
def test_tiles_fade_only_where_they_have_context(tile, overlap):
    """Each tile's weight is zero within a quarter of the shared band from an inner edge."""
    from revive.tiling import _axis_weights

    grid = make_grid(400, 400, tile, overlap)
    n = len(grid.ys)
    for i in range(n):
        w = _axis_weights(grid.ys, grid.tile_h, 1, i, "cosine")
        if i > 0:
            band = grid.ys[i - 1] + grid.tile_h - grid.ys[i]
            assert np.all(w[: band // 4] == 0)
        if i + 1 < n:
            band = grid.ys[i] + grid.tile_h - grid.ys[i + 1]
            assert np.all(w[grid.tile_h - band // 4 :] == 0)


def test_grid_is_evened_and_covers_the_image():
    grid = make_grid(1000, 333, tile=200, overlap=16)
    assert grid.ys[0] == 0 and grid.ys[-1] + grid.tile_h == 1000
    assert grid.xs[0] == 0 and grid.xs[-1] + grid.tile_w == 333
    steps = np.diff(grid.ys)
    assert steps.max() - steps.min() <= 1  # evened: all tiles the same size, spread evenly
    assert all(grid.tile_h - s >= 32 for s in steps)  # neighbours share at least 2×overlap


def test_tiles_stream_one_at_a_time(astronaut):
    seen: list[tuple[int, int]] = []

    def fn(tile):
        seen.append(tile.shape[:2])
        return tile

    image = (astronaut[:200, :200] / 255.0).astype(np.float32)
    process_tiled(image, fn, 1, TileOptions(tile=48, overlap=8))
    assert len(seen) > 9 and max(h * w for h, w in seen) <= 64 * 64  # the model never sees more than one tile


def test_out_of_memory_halves_the_tile_and_retries(astronaut):
    calls: list[int] = []

    def fn(tile):
        calls.append(tile.shape[0])
        if tile.shape[0] > 64:
            raise OutOfMemory("too big")
        return nearest(2)(tile)

    image = (astronaut[:160, :160] / 255.0).astype(np.float32)
    out = process_tiled(image, fn, 2, TileOptions(tile=256, overlap=8))
    assert np.abs(out - nearest(2)(image)).max() < 1e-6
    # whole image (core 256 ≥ image) failed, then core 128 (evened to 88 with context), then core 64 fit
    assert calls[:2] == [160, 88] and set(calls[2:]) == {64}


def test_out_of_memory_at_the_smallest_tile_is_reported():
    def fn(tile):
        raise OutOfMemory("never fits")

    with pytest.raises(OutOfMemory, match="even with"):
        process_tiled(np.zeros((100, 100, 3), np.float32), fn, 1, TileOptions(tile=64, overlap=4))


def test_progress_and_cancel(astronaut):
    image = (astronaut[:128, :128] / 255.0).astype(np.float32)
    events: list[tuple[int, int]] = []
    process_tiled(image, nearest(1), 1, TileOptions(tile=32, overlap=4), progress=lambda d, t: events.append((d, t)))
    assert events[-1][0] == events[-1][1] == len(events) and len(events) > 4
    with pytest.raises(Cancelled):
        process_tiled(image, nearest(1), 1, TileOptions(tile=32, overlap=4), cancel=lambda: len(events) > 2)


def test_auto_tile_fits_the_budget():
    options = TileOptions(overlap=16)
    side = auto_tile_size(bytes_per_pixel=4096, budget=256 << 20, options=options)
    assert side % 8 == 0 and (side + 32) ** 2 * 4096 <= 256 << 20
    assert auto_tile_size(4096, 1, options) == options.min_tile


def test_padding_to_a_multiple_and_a_minimum_size(astronaut):
    shapes: list[tuple[int, int]] = []

    def fn(tile):
        shapes.append(tile.shape[:2])
        return nearest(2)(tile)

    image = (astronaut[:37, :29] / 255.0).astype(np.float32)
    out = process_tiled(image, fn, 2, TileOptions(tile=16, overlap=4, multiple_of=8, min_size=24))
    assert all(h % 8 == 0 and w % 8 == 0 and h >= 24 and w >= 24 for h, w in shapes)
    assert np.abs(out - nearest(2)(image)).max() < 1e-6


def test_bad_options_are_refused():
    with pytest.raises(InvalidParameter):
        TileOptions(tile=4)
    with pytest.raises(InvalidParameter):
        TileOptions(overlap=-1)


def test_compact_model_tiles_match_whole_image(runtime, coffee):
    """animevideov3 (Compact) has a bounded receptive field: with enough context tiles are exact."""
    model = runtime.load("realesr-animevideov3-x4")
    image = (coffee[100:196, 200:296] / 255.0).astype(np.float32)
    whole = model(image)
    tiled = process_tiled(image, model, 4, TileOptions(tile=24, overlap=20))
    assert psnr(tiled, whole) >= 60


def test_x4plus_tiles_quarter_size_match_whole_image_at_45db(runtime, astronaut):
    """The embedded default: tile = ¼ of the image side, default overlap, ≥ 45 dB and no seam lines."""
    model = runtime.load("realesrgan-x4plus")
    image = (astronaut[40:168, 160:288] / 255.0).astype(np.float32)
    whole = model(image)
    tiled = process_tiled(image, model, 4, TileOptions(tile=32))
    assert psnr(tiled, whole) >= 45
    # No seam: along every tile boundary, the error is not worse than the image-wide 99.9th percentile.
    err = np.abs(tiled - whole).mean(axis=2)
    grid = make_grid(128, 128, 32, TileOptions().overlap)
    for y in grid.ys[1:]:
        band = err[4 * y - 8 : 4 * y + 8]
        assert band.mean() < 0.01
    for x in grid.xs[1:]:
        assert err[:, 4 * x - 8 : 4 * x + 8].mean() < 0.01


def test_auto_tile_leaves_room_for_the_output(monkeypatch):
    """A big output array is part of the memory too: the tile budget is half of what it leaves."""
    from revive import tiling

    image = np.zeros((400, 400, 3), np.float32)
    output_bytes = 1600 * 1600 * 3 * 4  # ×4, float32
    monkeypatch.setattr(tiling, "available_memory", lambda: output_bytes + (64 << 20))
    sides: list[int] = []

    def fn(tile):
        sides.append(max(tile.shape[:2]))
        return nearest(4)(tile)

    process_tiled(image, fn, 4, TileOptions(overlap=8), bytes_per_pixel=4096)
    assert max(sides) ** 2 * 4096 <= 32 << 20  # fits half of the 64 MB left, not half of everything

"""How long a run will take, said before it starts (issue: a 0.87 MP photo once took 7 minutes unannounced).

The cost of a model is measured, not guessed: its loaded form runs on one small tile of the
photo (twice; the second run counts, the first warms caches) and the time per pixel is scaled
to the whole picture, the tile overlap and the number of passes. Classical steps cost seconds and
are left out. The figure is meant to say "about 3 minutes", not to be exact.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from ..models import ImageModel
from ..stages.base import StageContext
from ..stages.planning import Step
from ..stages.upscale import UpscaleParams, model_passes
from ..tiling import TileOptions, tile_for
from ..types import Photo

PROBE_SIDE = 48  # small enough to cost a fraction of a second even for big models on a CPU
WORTH_SAYING = 60.0  # runs expected to take longer than this get an estimate before they start
WORTH_PROBING = 100_000  # input pixels below which no model run takes a minute here: no probe


def seconds_per_pixel(model: ImageModel, photo: Photo) -> float:
    """Seconds per input pixel of one model pass, measured on a tile cut from the photo itself."""
    side = max(PROBE_SIDE, model.min_size)
    multiple = max(1, model.multiple_of)
    side += -side % multiple
    tile = np.ascontiguousarray(photo.rgb()[:side, :side])
    if tile.shape[0] < side or tile.shape[1] < side:
        tile = np.pad(tile, ((0, side - tile.shape[0]), (0, side - tile.shape[1]), (0, 0)), mode="reflect")
    model(tile)  # warm-up: first runs allocate and pick kernels
    started = time.perf_counter()
    model(tile)
    return (time.perf_counter() - started) / (side * side)


def tile_overhead(tile: int | None, overlap: int, height: int, width: int) -> float:
    """Work per core pixel when tiles borrow ``overlap`` pixels of context on each side."""
    if tile is None or tile >= max(height, width):
        return 1.0
    return ((tile + 2 * overlap) / tile) ** 2


def estimate_steps(steps: Iterable[Step], photo: Photo, context: StageContext) -> float:
    """Seconds the model steps of a plan will take on ``photo`` with this engine (0 when none run a model)."""
    total = 0.0
    width, height = photo.width, photo.height
    for step in steps:
        params = step.params
        model_name = getattr(params, "model", None)
        if step.track != "both" or model_name is None or model_name not in context.engine.registry:
            continue  # a diffusion step names a folder, not a registered model: it times itself as it runs
        model = context.engine.load(model_name)
        rate = seconds_per_pixel(model, photo)
        scale = getattr(params, "scale", None)
        passes = model_passes(model.scale, float(scale)) if isinstance(params, UpscaleParams) and scale else 1
        pixels, side_w, side_h = 0.0, width, height
        overlap = int(getattr(params, "tile_overlap", 0))
        for _ in range(passes):
            tile = getattr(params, "tile", None) or _auto_tile(model, side_w, side_h, overlap, context)
            pixels += side_w * side_h * tile_overhead(tile, overlap, side_h, side_w)
            side_w, side_h = side_w * model.scale, side_h * model.scale
        total += rate * pixels
        if isinstance(params, UpscaleParams) and scale:
            width, height = round(width * scale), round(height * scale)
    return total


def _auto_tile(model: ImageModel, width: int, height: int, overlap: int, context: StageContext) -> int:
    """The tile ``--tile auto`` will pick (see :func:`revive.tiling.process_tiled`)."""
    options = TileOptions(overlap=overlap, memory_budget=context.engine.memory_budget)
    return tile_for(height, width, model.scale, 3, model.bytes_per_input_pixel(), options)


def announce_estimate(steps: Iterable[Step], photo: Photo, context: StageContext) -> float | None:
    """Tell the context how long the model steps will take, when that may be long enough to matter."""
    steps = list(steps)
    if context.expect is None or photo.width * photo.height < WORTH_PROBING:
        return None
    if not any(s.track == "both" and getattr(s.params, "model", None) for s in steps):
        return None
    seconds = estimate_steps(steps, photo, context)
    context.expect(seconds)
    return seconds

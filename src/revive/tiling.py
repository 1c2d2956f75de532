"""The one tiling engine, shared by every model and runtime.

An image is cut into evened tiles of ``tile`` pixels, each widened by ``overlap`` pixels of context
on every side (as Real-ESRGAN's tile_pad); each goes through the model; the results are blended back with complementary feathered weights (per seam, tile ``i`` fades out exactly as tile
``i+1`` fades in), so weights sum to one everywhere and no weight map is needed. Tiles stream in
row order: memory is the output array plus one tile's working set.

On :class:`OutOfMemory` (or ``MemoryError``) the tile side is halved and the image restarted, down
to ``min_tile``. ``progress(done, total)`` is called after every tile and ``cancel()`` before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .errors import Cancelled, InvalidParameter, OutOfMemory

TileFn = Callable[[np.ndarray], np.ndarray]
ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
Blend = Literal["cosine", "linear"]


@dataclass(frozen=True)
class TileOptions:
    tile: int | None = None  # input-pixel side of a tile's core; None = pick from the memory budget
    overlap: int = 32  # context each tile borrows from each neighbour (neighbours share 2× this)
    blend: Blend = "cosine"
    min_tile: int = 32
    max_tile: int = 2048
    multiple_of: int = 1  # tiles are reflect-padded up to a multiple of this (window-based models)
    min_size: int = 1  # tiles smaller than this (tiny images) are reflect-padded up to it
    memory_budget: int | None = None  # bytes a run may use for tile="auto" (output included); None = half of what is free

    def __post_init__(self) -> None:
        if self.tile is not None and self.tile < 8:
            raise InvalidParameter(f"tile size {self.tile} is too small; use 'auto' or at least 8 pixels")
        if self.overlap < 0:
            raise InvalidParameter(f"tile overlap must be ≥ 0, got {self.overlap}")


@dataclass(frozen=True)
class TileGrid:
    """Tile starts and the (evened) tile length along each axis."""

    ys: tuple[int, ...]
    xs: tuple[int, ...]
    tile_h: int
    tile_w: int

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)


MIN_TILE_BUDGET = 64 << 20


def available_memory() -> int:
    """Bytes of RAM available now (Linux /proc/meminfo, else a conservative guess)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def auto_tile_size(bytes_per_pixel: int, budget: int, options: TileOptions) -> int:
    """The largest square tile core (multiple of 8) whose widened tile's working set fits the budget."""
    side = int(math.sqrt(max(budget, 1) / max(bytes_per_pixel, 1))) - 2 * options.overlap
    side = max(options.min_tile, min(options.max_tile, side))
    return max(options.min_tile, side - side % 8)


def tile_for(height: int, width: int, scale: int, channels: int, bytes_per_pixel: int, options: TileOptions) -> int:
    """The tile ``tile=None`` picks: the budget less the float32 output array, which is held whatever the tile."""
    output_bytes = height * scale * width * scale * channels * 4
    if options.memory_budget is not None:
        budget = max(options.memory_budget - output_bytes, MIN_TILE_BUDGET)
    else:
        budget = max(available_memory() - output_bytes, 0) // 2
    return auto_tile_size(bytes_per_pixel, budget, options)


def _axis_starts(length: int, tile: int, overlap: int) -> tuple[tuple[int, ...], int]:
    """Evenly spread starts so every tile has the same length and overlaps are ≥ ``overlap``."""
    if length <= tile:
        return (0,), length
    step = max(tile - overlap, 1)
    n = math.ceil((length - overlap) / step)
    evened = min(tile, math.ceil((length + (n - 1) * overlap) / n))
    starts = tuple(round(i * (length - evened) / (n - 1)) for i in range(n))
    return starts, evened


def make_grid(height: int, width: int, tile: int, overlap: int) -> TileGrid:
    """Tiles of core ``tile`` widened by ``overlap`` context per side: neighbours share 2×overlap."""
    span, shared = tile + 2 * overlap, 2 * overlap
    ys, th = _axis_starts(height, span, shared)
    xs, tw = _axis_starts(width, span, shared)
    return TileGrid(ys, xs, th, tw)


def _ramp(t: np.ndarray, blend: Blend) -> np.ndarray:
    """Fade-in weights 0 → 1 for positions ``t`` in [0, 1]."""
    return 0.5 - 0.5 * np.cos(np.pi * t) if blend == "cosine" else t


def _seams(starts: tuple[int, ...], length: int) -> list[tuple[float, float]]:
    """Centre and half-width (input pixels) of the cross-fade between each pair of neighbours.

    A fade covers the middle half of the neighbours' shared band, narrowed where tiles are so
    short next to their context that it would reach the next fade: fades never overlap, so each
    pixel is shared by at most two tiles and the complementary ramps sum to exactly one.
    """
    centres = [(a + b + length) / 2 for a, b in zip(starts, starts[1:], strict=False)]
    seams = []
    for k, centre in enumerate(centres):
        half = (starts[k] + length - starts[k + 1]) / 4
        if k > 0:
            half = min(half, (centre - centres[k - 1]) / 2)
        if k + 1 < len(centres):
            half = min(half, (centres[k + 1] - centre) / 2)
        seams.append((centre, max(half, 0.0)))
    return seams


def _fade_out(positions: np.ndarray, seam: tuple[float, float], scale: int, blend: Blend) -> np.ndarray:
    """Weight of the tile before ``seam`` at output pixel centres ``positions``: 1 before, 0 after."""
    centre, half = seam[0] * scale, seam[1] * scale
    if half <= 0:
        return (positions < centre).astype(np.float64)
    return 1.0 - _ramp(np.clip((positions - (centre - half)) / (2 * half), 0.0, 1.0), blend)


def _axis_weights(starts: tuple[int, ...], length: int, scale: int, index: int, blend: Blend) -> np.ndarray:
    """Weights of tile ``index`` along one axis, in output pixels: it fades in after the previous
    tile's seam and out before the next; neighbours use complementary ramps, so the sum is one."""
    seams = _seams(starts, length)
    positions = starts[index] * scale + np.arange(length * scale, dtype=np.float64) + 0.5
    w = np.ones(length * scale, dtype=np.float64)
    if index > 0:
        w *= 1.0 - _fade_out(positions, seams[index - 1], scale, blend)
    if index + 1 < len(starts):
        w *= _fade_out(positions, seams[index], scale, blend)
    return w


def _pad_to(tile: np.ndarray, options: TileOptions) -> tuple[np.ndarray, int, int]:
    h, w = tile.shape[:2]
    m = max(options.multiple_of, 1)
    th = max(options.min_size, -(-h // m) * m)
    tw = max(options.min_size, -(-w // m) * m)
    th, tw = -(-th // m) * m, -(-tw // m) * m
    if (th, tw) == (h, w):
        return tile, h, w
    mode: Literal["reflect", "symmetric"] = "reflect" if th - h < h and tw - w < w else "symmetric"
    return np.pad(tile, ((0, th - h), (0, tw - w), (0, 0)), mode=mode), h, w


def _run_one(fn: TileFn, tile: np.ndarray, scale: int, options: TileOptions) -> np.ndarray:
    padded, h, w = _pad_to(tile, options)
    out = fn(padded)
    expected = (padded.shape[0] * scale, padded.shape[1] * scale)
    if out.shape[:2] != expected:
        raise InvalidParameter(
            f"the model returned {out.shape[1]}x{out.shape[0]} for a {padded.shape[1]}x{padded.shape[0]} tile, "
            f"expected ×{scale}; is the model's scale set correctly?"
        )
    return out[: h * scale, : w * scale]


def process_tiled(
    image: np.ndarray,
    fn: TileFn,
    scale: int,
    options: TileOptions = TileOptions(),
    *,
    bytes_per_pixel: int = 4096,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Apply a ×``scale`` tile function to an HxWxC float32 image, seamlessly."""
    if image.ndim != 3:
        raise InvalidParameter(f"expected an HxWxC image, got shape {image.shape}")
    height, width = image.shape[:2]
    tile = options.tile if options.tile is not None else tile_for(height, width, scale, image.shape[2],
                                                                  bytes_per_pixel, options)
    while True:
        try:
            return _process_grid(image, fn, scale, make_grid(height, width, tile, options.overlap), options,
                                 progress, cancel)
        except (OutOfMemory, MemoryError) as err:
            smaller = tile // 2
            if smaller < options.min_tile:
                raise OutOfMemory(
                    f"out of memory even with {tile}px tiles; close other programs, use --device cpu, "
                    "or a smaller model"
                ) from err
            tile = smaller


def _process_grid(
    image: np.ndarray,
    fn: TileFn,
    scale: int,
    grid: TileGrid,
    options: TileOptions,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> np.ndarray:
    height, width, _ = image.shape
    total = len(grid)
    if total == 1:
        if cancel is not None and cancel():
            raise Cancelled("cancelled before the first tile")
        out = _run_one(fn, image, scale, options).astype(np.float32, copy=False)
        if progress is not None:
            progress(1, 1)
        return out
    result: np.ndarray | None = None
    wy = [_axis_weights(grid.ys, grid.tile_h, scale, i, options.blend) for i in range(len(grid.ys))]
    wx = [_axis_weights(grid.xs, grid.tile_w, scale, j, options.blend) for j in range(len(grid.xs))]
    done = 0
    for i, y in enumerate(grid.ys):
        for j, x in enumerate(grid.xs):
            if cancel is not None and cancel():
                raise Cancelled(f"cancelled after {done} of {total} tiles")
            out = _run_one(fn, image[y : y + grid.tile_h, x : x + grid.tile_w], scale, options)
            if result is None:
                result = np.zeros((height * scale, width * scale, out.shape[2]), dtype=np.float32)
            weight = (wy[i][:, None] * wx[j][None, :]).astype(np.float32)[:, :, None]
            ys, xs = slice(y * scale, (y + grid.tile_h) * scale), slice(x * scale, (x + grid.tile_w) * scale)
            result[ys, xs] += out * weight
            done += 1
            if progress is not None:
                progress(done, total)
    assert result is not None
    return result

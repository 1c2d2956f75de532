"""JPEG damage: the quality a JPEG was saved at, from its quantization tables or from its pixels.

With tables (``meta.jpeg_quantization``), the IJG quality scaling of the standard tables
(Annex K) is inverted by a best fit over q = 1..100; libjpeg, Pillow and OpenCV files come back
exactly, other encoders to the nearest IJG equivalent. Without tables (a JPEG saved again as
PNG), the 8×8 grid gives it away: luma steps across block boundaries are larger than inside
blocks. Only small steps count (below 20 levels): the large ones are the content's own edges, and
in a flat-colour drawing a few long straight edges that happen to fall on one phase would
otherwise read as a grid (a clean drawing read as quality 55). Their ratio ("blockiness", 1.0 =
none) maps to an approximate quality through a curve measured on skimage photos (q 90 →
1.05–1.12, q 50 → 1.30–1.43, q 20 → 1.54–1.86; clean photos and drawings 0.95–1.05).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._base import Measurement
from ._common import as_8bit_units, center_crop, luma

ATTENTION_QUALITY = 75  # at or below, ringing and 8×8 blocks show at 100 % view

# ITU-T T.81 Annex K, natural (row-major) order.
STD_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
])  # fmt: skip
STD_CHROMINANCE = np.array([17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66] + [99] * 4
                           + [24, 26, 56] + [99] * 5 + [47, 66] + [99] * 38)
_ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
])  # fmt: skip

# blockiness → quality, median over skimage photos (astronaut, coffee, chelsea, camera; whole and 256-px crops).
_BLOCKINESS = np.array([1.00, 1.09, 1.21, 1.38, 1.57, 1.75, 2.25])
_QUALITY = np.array([100.0, 90.0, 75.0, 50.0, 30.0, 20.0, 10.0])
_MAX_PIXELS = 4_000_000
_SHIFTED_GRID_DISCOUNT = 0.1
_EDGE_STEP = 20.0  # 8-bit luma steps this large are the content's edges, not block boundaries
_FLAT_FLOOR = 0.1  # 8-bit levels added to both sides of the ratio: flat areas' zero steps say nothing


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's ``jpeg_quality_scaling`` applied to a base table (baseline: entries 1..255)."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((base * scale + 50) // 100, 1, 255)


_TABLES = {q: (ijg_table(STD_LUMINANCE, q), ijg_table(STD_CHROMINANCE, q)) for q in range(1, 101)}


def quality_from_tables(tables: tuple[tuple[int, ...], ...] | list) -> tuple[int, float] | None:
    """Best IJG quality for the tables and the mean log2 misfit (0.0 = exactly IJG). None if unusable."""
    usable = [np.asarray(t, dtype=np.float64) for t in tables if len(t) == 64]
    if not usable:
        return None
    best: tuple[int, float] | None = None
    for order in (None, _ZIGZAG):  # natural order (Pillow ≥ 8.3) or file (zig-zag) order
        given = [t if order is None else t[np.argsort(order)] for t in usable[:2]]
        for q, refs in _TABLES.items():
            errs = [np.mean(np.abs(np.log2(np.maximum(g, 1)) - np.log2(r))) for g, r in zip(given, refs[: len(given)], strict=True)]
            err = float(errs[0] if len(errs) == 1 else 0.75 * errs[0] + 0.25 * errs[1])
            if best is None or err < best[1] - 1e-12:
                best = (q, err)
    return best


def blockiness(pixels: np.ndarray) -> float:
    """Mean small luma step across 8×8 block boundaries over the steps inside blocks (1.0 = no grid)."""
    y = luma(as_8bit_units(center_crop(pixels, _MAX_PIXELS)))
    ratios = []
    for img in (y, y.T):
        if img.shape[1] < 24 or img.shape[0] < 8:
            continue
        d = np.abs(np.diff(img, axis=1))
        n = d.shape[1] // 8 * 8
        d = d[:, :n].reshape(d.shape[0], n // 8, 8)
        small = d < _EDGE_STEP
        phases = np.where(small, d, 0.0).sum(axis=(0, 1)) / np.maximum(small.sum(axis=(0, 1)), 1)
        ratio = []
        for k in range(8):
            rest = float(np.median(np.delete(phases, k)))
            if rest < 1e-9:  # most phases never step at all: pixel-doubled (nearest upscaling), not an 8×8 grid
                ratio.append(1.0)
                continue
            ratio.append((phases[k] + _FLAT_FLOOR) / (max(rest, _FLAT_FLOOR) + _FLAT_FLOOR))
        # phase 7 is the grid of an uncropped JPEG; a shifted grid (cropped after decoding) counts
        # with a discount, since periodic textures and resampling can mimic it
        ratios.append(max(ratio[7], max(ratio) - _SHIFTED_GRID_DISCOUNT))
    return float(np.mean(ratios)) if ratios else 1.0


def quality_from_blockiness(value: float) -> int:
    return int(round(float(np.interp(value, _BLOCKINESS, _QUALITY))))


def damage_from_quality(quality: float) -> float:
    """0 for q ≥ 92 up to 1 for q ≤ 12: a linear, monotonic stand-in for visible JPEG damage."""
    return float(np.clip((92.0 - quality) / 80.0, 0.0, 1.0))


@dataclass(frozen=True)
class JpegReport(Measurement):
    """JPEG compression damage: the (estimated) quality and a 0..1 damage score."""

    quality: int | None  # from the tables when the source was a JPEG, else estimated from pixels
    source: Literal["tables", "pixels"]
    table_quality: int | None  # IJG quality best fitting the tables (None without tables)
    table_misfit: float | None  # mean |log2| table difference at that quality (0 = exactly IJG)
    blockiness: float  # grid step ratio from the pixels, 1.0 = no 8×8 grid
    pixel_quality: int  # the quality the blockiness points to
    damage: float  # 0 (none) .. 1 (severe), the worse of tables and pixels

    label = "JPEG"
    rule = f"estimated quality <= {ATTENTION_QUALITY} (from tables, or from pixel blockiness)"

    @property
    def attention(self) -> bool:
        return self.damage >= damage_from_quality(ATTENTION_QUALITY)

    def summary(self) -> str:
        where = "from tables" if self.source == "tables" else f"from pixels, blockiness {self.blockiness:.2f}"
        return f"JPEG quality≈{self.quality} ({where}), damage {self.damage:.2f}"

    def advice(self) -> str:
        return "heavy blocking and ringing, deblock first" if self.damage >= 0.6 else "visible compression artifacts"


def measure_jpeg(pixels: np.ndarray, tables: tuple[tuple[int, ...], ...] | None) -> JpegReport:
    block = blockiness(pixels)
    pixel_q = quality_from_blockiness(block)
    fit = quality_from_tables(tables) if tables else None
    if fit is not None:
        q, misfit = fit
        damage = max(damage_from_quality(q), damage_from_quality(pixel_q))
        return JpegReport(q, "tables", q, round(misfit, 4), round(block, 4), pixel_q, round(damage, 3))
    return JpegReport(pixel_q, "pixels", None, None, round(block, 4), pixel_q, round(damage_from_quality(pixel_q), 3))

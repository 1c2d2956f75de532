"""The time estimate from declared costs: scaled by pixels, passes and threads. How close it comes to a
real run is measured by bench/estimate.py and bench/model_cost.py, not by a timed test (load decides it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from revive.engine import Engine
from revive.models.loaders import LoadOptions
from revive.pipeline.cost import model_seconds
from revive.types import Photo

PHOTOS = Path(__file__).parent / "data" / "photos"


def photo(name: str, side: int) -> Photo:
    u8 = np.asarray(Image.open(PHOTOS / f"{name}.png").convert("RGB"))[:side, :side]
    return Photo(np.ascontiguousarray(u8, dtype=np.float32) / 255.0)


def test_model_cost_scales_with_pixels_passes_and_threads() -> None:
    one, two = Engine(options=LoadOptions(threads=1)), Engine(options=LoadOptions(threads=2))
    spec = one.registry.get("waifu2x-photo-x2")
    base = model_seconds(spec, 200, 200, 2.0, one, tile=400)
    assert model_seconds(spec, 200, 200, 2.0, two, tile=400) == base / 2
    assert 3.9 * base < model_seconds(spec, 400, 400, 2.0, one, tile=800) < 4.1 * base  # 4× the pixels
    assert model_seconds(spec, 200, 200, 4.0, one, tile=800) == base * 5  # a second pass on 4× the pixels
    tiled = model_seconds(spec, 400, 400, 2.0, one, tile=64, overlap=32)
    assert tiled > 2 * model_seconds(spec, 400, 400, 2.0, one, tile=800)  # context around small tiles costs
    heavy = one.registry.get("realesrgan-x4plus")
    assert model_seconds(heavy, 200, 200, 4.0, one, tile=400) > 15 * model_seconds(spec, 200, 200, 4.0, one, tile=800)

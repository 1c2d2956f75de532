"""The embedded waifu2x photo models: verified files, the runtime's declared padding, and a result
that matches a bare ncnn run of the same weights on a committed photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revive.engine import Engine
from revive.models import ModelStore
from revive.models.catalog import WAIFU2X_MODELS
from revive.pipeline.metrics import psnr
from revive.stages.base import StageContext
from revive.stages.upscale import UpscaleParams, UpscaleStage
from revive.types import Photo

PHOTOS = Path(__file__).parent / "data" / "photos"


def committed(name: str, box: tuple[int, int, int, int]) -> np.ndarray:
    y, x, h, w = box
    u8 = np.asarray(Image.open(PHOTOS / f"{name}.png").convert("RGB"))[y : y + h, x : x + w]
    return np.ascontiguousarray(u8, dtype=np.float32) / 255.0


def bare_ncnn(param: Path, weights: Path, rgb: np.ndarray) -> np.ndarray:
    """waifu2x as its authors run it: 7 px of edge padding, blob Input1 in, Eltwise4 out, one piece."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param(str(param)) == 0 and net.load_model(str(weights)) == 0
    padded = np.pad(rgb, ((7, 7), (7, 7), (0, 0)), mode="edge")
    chw = np.ascontiguousarray(padded.transpose(2, 0, 1))
    extractor = net.create_extractor()
    extractor.input("Input1", ncnn.Mat(chw))
    code, out = extractor.extract("Eltwise4")
    assert code == 0
    return np.clip(np.array(out).transpose(1, 2, 0), 0.0, 1.0)


def test_every_waifu2x_file_is_pinned_and_verified(tmp_path: Path) -> None:
    results = ModelStore(tmp_path).verify(WAIFU2X_MODELS)
    assert [r.status for r in results] == ["ok"] * len(WAIFU2X_MODELS)
    for spec in WAIFU2X_MODELS:
        assert spec.embedded and spec.license.startswith("MIT") and spec.scale == 2
        assert (spec.option("input"), spec.option("output"), spec.option("pad")) == ("Input1", "Eltwise4", "7")
        assert spec.option("training") == "fidelity" and spec.option("cpu_seconds_per_mp")


@pytest.mark.parametrize("name", ["waifu2x-photo-x2", "waifu2x-photo-x2-noise3"])
def test_the_faithful_model_matches_a_bare_ncnn_run(name: str) -> None:
    """Through the engine and the tiling engine (40 px tiles, so tile edges and the padding meet), the
    result of a committed photo equals the bare network's on the whole photo: ≥ 45 dB."""
    rgb = committed("chelsea", (40, 80, 96, 96))  # fur, an eye, whiskers
    engine = Engine()
    spec = engine.registry.get(name)
    param, weights = engine.store.locate(spec)
    expected = bare_ncnn(param, weights, rgb)
    assert expected.shape == (192, 192, 3)
    result = UpscaleStage(UpscaleParams(model=name, scale=2.0, tile=40)).run(Photo(rgb), StageContext(engine=engine))
    assert psnr(result.pixels, expected) >= 45.0
    bicubic_like = np.repeat(np.repeat(rgb, 2, 0), 2, 1)
    assert psnr(result.pixels, bicubic_like) < 40.0  # it did something


def test_four_times_is_two_passes_and_faithful_to_the_photo() -> None:
    """×4 runs the ×2 model twice; the result, shrunk back, is the photo (the model invents little)."""
    rgb = committed("astronaut", (60, 80, 64, 64))  # the face
    result = UpscaleStage(UpscaleParams(model="waifu2x-photo-x2", scale=4.0)).run(Photo(rgb), StageContext())
    assert result.pixels.shape == (256, 256, 3)
    from revive.imageops import resize

    assert psnr(resize(result.pixels, 64, 64), rgb) > 38.0

"""The PyTorch runtime on a CUDA GPU: half precision, channels-last, real out-of-memory back-off.

Run on a lent GPU machine (spandrel from .whl/ if it is not installed there):

    python3 -m pytest -q -m gpu tests/test_gpu.py
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spandrel")

from revive.engine import Engine  # noqa: E402
from revive.models import BUILTIN_MODELS, ModelFile, ModelRegistry, ModelSpec, ModelStore  # noqa: E402
from revive.models.loaders import LoadOptions  # noqa: E402
from revive.stages.base import StageContext  # noqa: E402
from revive.stages.upscale import UpscaleParams, UpscaleStage  # noqa: E402
from revive.types import Photo  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: torch.cuda.is_available() is False"),
]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _context(registry: ModelRegistry, store: ModelStore, device: str) -> StageContext:
    return StageContext(engine=Engine(registry=registry, store=store, options=LoadOptions(device=device)))


def _esrgan_store(tmp_path: Path, blocks: int = 4) -> tuple[ModelRegistry, ModelStore]:
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    folder = tmp_path / "models" / "rrdb"
    folder.mkdir(parents=True)
    torch.save(ESRGAN(num_filters=32, num_blocks=blocks, scale=4).state_dict(), folder / "rrdb.pth")
    spec = ModelSpec(name="rrdb", purpose="upscale", runtime="torch", architecture="ESRGAN", scale=4,
                     files=(ModelFile("rrdb.pth", "-"),), license="test")
    return ModelRegistry([spec]), ModelStore(tmp_path)


def test_fp16_channels_last_on_cuda_matches_cpu(tmp_path: Path, astronaut: np.ndarray) -> None:
    registry, store = _esrgan_store(tmp_path)
    gpu, cpu = _context(registry, store, "auto"), _context(registry, store, "cpu")
    model = gpu.engine.load("rrdb")
    assert model.device.startswith("cuda") and model.dtype == torch.float16
    assert model.memory_budget is not None and model.memory_budget > 0
    image = Photo.from_array(astronaut[100:228, 150:278])
    out = UpscaleStage(UpscaleParams(model="rrdb")).run(image, gpu).pixels
    ref = UpscaleStage(UpscaleParams(model="rrdb")).run(image, cpu).pixels
    assert psnr(out, ref) >= 40.0


def test_dat_light_runs_in_bfloat16_on_cuda(dat_light_x4: Path, tmp_path: Path, coffee: np.ndarray) -> None:
    spec = ModelRegistry(BUILTIN_MODELS).get("dat-light-x4")
    (tmp_path / "models" / spec.name).mkdir(parents=True)
    shutil.copy(dat_light_x4, tmp_path / "models" / spec.name / spec.files[0].name)
    registry, store = ModelRegistry(BUILTIN_MODELS), ModelStore(tmp_path)
    gpu, cpu = _context(registry, store, "cuda"), _context(registry, store, "cpu")
    assert gpu.engine.load(spec.name).dtype == torch.bfloat16  # DAT declares no fp16, but bf16
    image = Photo.from_array(coffee[100:164, 200:264])
    out = UpscaleStage(UpscaleParams(model=spec.name)).run(image, gpu).pixels
    ref = UpscaleStage(UpscaleParams(model=spec.name)).run(image, cpu).pixels
    assert psnr(out, ref) >= 30.0  # bf16 keeps 8 bits of mantissa


def test_real_cuda_out_of_memory_halves_the_tile(tmp_path: Path, chelsea: np.ndarray) -> None:
    registry, store = _esrgan_store(tmp_path, blocks=2)
    context = _context(registry, store, "cuda")
    model = context.engine.load("rrdb")
    image = Photo.from_array(np.ascontiguousarray(np.tile(chelsea, (3, 2, 1))[:768, :768]))
    sizes: list[int] = []
    descriptor = model.descriptor

    def recording(x):
        sizes.append(int(x.shape[-1]))
        return descriptor(x)

    model.descriptor = recording
    device = model.torch_device
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(device).total_memory
    cap = torch.cuda.memory_allocated() + (400 << 20)  # far less than a 768 px tile needs at ×4
    torch.cuda.set_per_process_memory_fraction(cap / total, device)
    try:
        out = UpscaleStage(UpscaleParams(model="rrdb", tile=768, tile_overlap=16)).run(image, context).pixels
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        model.descriptor = descriptor
        torch.cuda.empty_cache()
    assert out.shape == (768 * 4, 768 * 4, 3) and np.isfinite(out).all()
    assert sizes[0] == 768 and sizes[-1] < 768  # the whole-image tile failed; smaller ones finished

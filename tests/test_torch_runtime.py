"""The PyTorch runtime: official DAT-light weights end to end, devices, dtypes and out-of-memory."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
spandrel = pytest.importorskip("spandrel")

from PIL import Image  # noqa: E402

from revive.engine import Engine  # noqa: E402
from revive.errors import InvalidParameter, OutOfMemory, RuntimeUnavailable, UnsupportedModel  # noqa: E402
from revive.models import BUILTIN_MODELS, ModelFile, ModelRegistry, ModelSpec, ModelStore  # noqa: E402
from revive.models.loaders import LoadOptions, get_loader  # noqa: E402
from revive.models.torch_inspect import inspect_torch_file  # noqa: E402
from revive.models.torch_runtime import TorchModel, choose_dtype, resolve_device  # noqa: E402
from revive.pipeline.metrics import psnr as y_psnr  # noqa: E402  (BasicSR's convention)
from revive.stages.base import StageContext  # noqa: E402
from revive.stages.upscale import UpscaleParams, UpscaleStage  # noqa: E402
from revive.tiling import TileOptions, process_tiled  # noqa: E402
from revive.types import Photo  # noqa: E402

pytestmark = pytest.mark.torch


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of float images in [0, 1]."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def to_u8(pixels: np.ndarray) -> np.ndarray:
    return np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)


@pytest.fixture(scope="module")
def dat_context(dat_light_x4: Path, tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    """A store holding the official DAT-light x4 file, where ``ModelStore.locate`` looks for it."""
    home = tmp_path_factory.mktemp("store")
    spec = ModelRegistry(BUILTIN_MODELS).get("dat-light-x4")
    folder = home / "models" / spec.name
    folder.mkdir(parents=True)
    shutil.copy(dat_light_x4, folder / spec.files[0].name)
    store = ModelStore(home)
    return StageContext(engine=Engine(registry=ModelRegistry(BUILTIN_MODELS), store=store,
                                             options=LoadOptions(device="cpu")))


@pytest.fixture(scope="module")
def dat_reference(dat_light_x4: Path):
    """A plain spandrel run of the same file, loaded by spandrel itself."""
    descriptor = spandrel.ModelLoader().load_from_file(dat_light_x4).eval()

    def run(image: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            y = descriptor(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None])
        return y[0].permute(1, 2, 0).numpy()

    return run


def test_inspect_reads_the_official_dat_light_file(dat_light_x4: Path) -> None:
    info = inspect_torch_file(dat_light_x4)
    assert info["architecture"] == "DAT"
    assert info["scale"] == 4
    assert info["purpose"] == "upscale"
    assert info["supports_half"] is False and info["supports_bfloat16"] is True
    assert (info["input_channels"], info["output_channels"]) == (3, 3)
    assert info["size_requirements"] == {"minimum": 16, "multiple_of": 1, "square": False}


def test_catalog_model_loads_through_the_loader_registry(dat_context: StageContext) -> None:
    model = dat_context.engine.load("dat-light-x4")
    assert isinstance(model, TorchModel)
    assert (model.scale, model.device, model.dtype, model.architecture) == (4, "cpu", torch.float32, "DAT")
    assert model.min_size == 16 and model.multiple_of == 1 and model.tiling == "supported"
    assert model.memory_budget is None  # CPU: the tiling engine plans with system memory
    assert model.bytes_per_input_pixel() > 1000


@pytest.mark.parametrize(("tile", "overlap"), [(None, 24), (32, 8), (16, 8)], ids=["whole", "tile32", "tile16"])
def test_dat_light_through_upscale_stage_matches_plain_spandrel(
    dat_context: StageContext, dat_reference, astronaut: np.ndarray, tile: int | None, overlap: int
) -> None:
    crop = astronaut[100:164, 180:244].astype(np.float32) / 255.0  # a face: skin, eye, hair
    reference = dat_reference(crop)
    params = UpscaleParams(model="dat-light-x4", tile=tile, tile_overlap=overlap)
    out = UpscaleStage(params).run(Photo(crop), dat_context).pixels
    assert out.shape == (256, 256, 3) and out.dtype == np.float32
    assert psnr(out, reference) >= 50.0


def test_dat_light_beats_bicubic_on_real_photos(
    dat_context: StageContext, astronaut: np.ndarray, coffee: np.ndarray, chelsea: np.ndarray
) -> None:
    """×4 bicubic degradation (PIL BICUBIC, antialiased like MATLAB's imresize, which DAT trained on);
    Y-channel PSNR on uint8 with the border cropped by the scale, as BasicSR reports it."""
    crops = {
        "astronaut": astronaut[60:188, 160:288],
        "coffee": coffee[100:228, 200:328],
        "chelsea": chelsea[60:188, 120:248],
    }
    gains = {}
    for name, hr in crops.items():
        lr = np.asarray(Image.fromarray(hr).resize((32, 32), Image.BICUBIC))
        bicubic = np.asarray(Image.fromarray(lr).resize((128, 128), Image.BICUBIC))
        sr = to_u8(UpscaleStage(UpscaleParams(model="dat-light-x4")).run(Photo.from_array(lr), dat_context).pixels)
        gains[name] = y_psnr(sr, hr, crop_border=4, y_channel=True) - y_psnr(bicubic, hr, crop_border=4, y_channel=True)
    assert all(g >= 1.0 for g in gains.values()), gains


# --- devices, dtypes, threads ----------------------------------------------------------------------


def test_device_requests() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(RuntimeUnavailable, match="not 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(RuntimeUnavailable, match="no CUDA GPU"):
            resolve_device("cuda:1")
    else:
        with pytest.raises(RuntimeUnavailable, match="there is no cuda:99"):
            resolve_device("cuda:99")


def test_dtype_choice_is_declared_by_the_architecture() -> None:
    assert choose_dtype("cpu", True, True, None, "X") == torch.float32
    assert choose_dtype("cpu", True, True, True, "X") == torch.float32  # half is a GPU option
    assert choose_dtype("cuda", True, True, None, "X") == torch.float16
    assert choose_dtype("cuda", False, True, None, "DAT") == torch.bfloat16
    assert choose_dtype("cuda", False, False, None, "GFPGAN") == torch.float32
    assert choose_dtype("cuda", True, True, False, "X") == torch.float32
    with pytest.raises(InvalidParameter, match="cannot run in half precision"):
        choose_dtype("mps", False, False, True, "DAT")


def _compact_file(tmp_path: Path, scale: int = 2, channels: int = 3) -> Path:
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    net = Compact(num_in_ch=channels, num_out_ch=channels, num_feat=8, num_conv=2, upscale=scale)
    path = tmp_path / f"compact_x{scale}_{channels}ch.pth"
    torch.save(net.state_dict(), path)
    return path


def _spec(path: Path, scale: int) -> ModelSpec:
    return ModelSpec(name=path.stem.replace("_", "-"), purpose="upscale", runtime="torch", architecture="Compact",
                     scale=scale, files=(ModelFile(path.name, "0" * 64),), license="test")


def test_bf16_only_where_the_gpu_has_it_natively(monkeypatch: pytest.MonkeyPatch) -> None:
    """Volta and Turing only emulate bf16 (slower than fp32), though is_bf16_supported() says yes."""
    from revive.models import torch_runtime

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.version, "hip", None)
    asked: list[torch.device] = []
    for capability, native in (((7, 5), False), ((8, 6), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None, c=capability: asked.append(d) or c)
        assert torch_runtime._bf16_on(torch.device("cuda", 1)) is native
    assert asked == [torch.device("cuda", 1)] * 2  # the GPU the model runs on, not the current one
    assert torch_runtime._bf16_on(torch.device("cpu")) is False


def test_threads_option_applies_to_its_own_calls_only(tmp_path: Path) -> None:
    path = _compact_file(tmp_path)
    before = torch.get_num_threads()
    seen: list[int] = []
    one = get_loader("torch")(_spec(path, 2), [path], LoadOptions(device="cpu", threads=1))
    default = get_loader("torch")(_spec(path, 2), [path], LoadOptions(device="cpu"))
    for model in (one, default):
        run = model.descriptor
        model.descriptor = lambda x, run=run: seen.append(torch.get_num_threads()) or run(x)
    one(np.zeros((16, 16, 3), np.float32))
    assert torch.get_num_threads() == before  # torch's setting is process-wide: given back
    default(np.zeros((16, 16, 3), np.float32))
    assert seen == [1, before]


def test_a_damaged_store_file_is_named_as_the_cause(tmp_path: Path) -> None:
    from revive.errors import ChecksumMismatch
    from revive.models.importer import import_model

    store = ModelStore(tmp_path / "home")
    spec = import_model(store, _compact_file(tmp_path), name="mine")
    stored = store.locate(spec)[0]
    stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])  # a truncated copy
    with pytest.raises(ChecksumMismatch, match=rf"'mine' is damaged and was not loaded: {stored} is .*revive models remove mine"):
        Engine(store=store, options=LoadOptions(device="cpu")).load("mine")


def test_scale_in_spec_must_match_the_file(tmp_path: Path) -> None:
    path = _compact_file(tmp_path, scale=2)
    with pytest.raises(UnsupportedModel, match="×2 .* registered as ×4"):
        get_loader("torch")(_spec(path, 4), [path], LoadOptions(device="cpu"))


def test_grayscale_model_sees_luma_and_returns_rgb(tmp_path: Path, coffee: np.ndarray) -> None:
    path = _compact_file(tmp_path, scale=2, channels=1)
    model = get_loader("torch")(_spec(path, 2), [path], LoadOptions(device="cpu"))
    tile = coffee[:24, :40].astype(np.float32) / 255.0
    out = model(tile)
    assert out.shape == (48, 80, 3)
    assert np.array_equal(out[..., 0], out[..., 2])


# --- out of memory ---------------------------------------------------------------------------------


class _RaisesAbove:
    """Wraps a spandrel descriptor; raises ``error`` for input tiles wider than ``limit``."""

    def __init__(self, descriptor, limit: int, error: Exception) -> None:
        self.descriptor, self.limit, self.error, self.sizes = descriptor, limit, error, []

    def __call__(self, x):
        self.sizes.append(x.shape[-1])
        if x.shape[-1] > self.limit:
            raise self.error
        return self.descriptor(x)


@pytest.mark.parametrize(
    "error",
    [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB"),
     RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"),
     RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99999999 bytes")],
    ids=["cuda", "mps", "cpu"],
)
def test_out_of_memory_halves_the_tile_until_it_fits(tmp_path: Path, chelsea: np.ndarray, error: Exception) -> None:
    path = _compact_file(tmp_path)
    model = get_loader("torch")(_spec(path, 2), [path], LoadOptions(device="cpu"))
    image = chelsea[:96, :96].astype(np.float32) / 255.0
    whole = model(image)
    fake = _RaisesAbove(model.descriptor, 40, error)
    model.descriptor = fake
    with pytest.raises(OutOfMemory):
        model(image)
    out = process_tiled(image, model, 2, TileOptions(tile=96, overlap=4, min_tile=8))
    assert max(fake.sizes) == 96 and fake.sizes[-1] <= 40  # tried the big tile, then halved until it fit
    assert psnr(out, whole) >= 50.0  # Compact sees ±3 px: 4 px of overlap is exact


def test_other_runtime_errors_are_not_taken_for_out_of_memory(tmp_path: Path) -> None:
    path = _compact_file(tmp_path)
    model = get_loader("torch")(_spec(path, 2), [path], LoadOptions(device="cpu"))
    model.descriptor = _RaisesAbove(model.descriptor, 0, RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        model(np.zeros((16, 16, 3), np.float32))

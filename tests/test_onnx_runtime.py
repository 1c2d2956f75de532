"""The ONNX Runtime path: a real architecture exported from PyTorch must give PyTorch's pixels."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("spandrel")

from spandrel.architectures.Compact import Compact  # noqa: E402

from revive.engine import Engine  # noqa: E402
from revive.errors import OutOfMemory, RuntimeUnavailable, UnsupportedModel  # noqa: E402
from revive.models import ModelStore  # noqa: E402
from revive.models.importer import import_model  # noqa: E402
from revive.models.loaders import LoadOptions  # noqa: E402
from revive.models.onnx_runtime import OnnxModel, choose_providers  # noqa: E402
from revive.stages.base import StageContext  # noqa: E402
from revive.stages.upscale import UpscaleParams, UpscaleStage  # noqa: E402
from revive.types import Photo  # noqa: E402

SCALE = 4


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


@pytest.fixture(scope="module")
def compact() -> torch.nn.Module:
    """Real-ESRGAN's SRVGGNetCompact (the animevideov3 / general-x4v3 architecture), random weights."""
    torch.manual_seed(1)
    net = Compact(num_feat=16, num_conv=4, upscale=SCALE).eval()
    with torch.no_grad():  # PReLU slopes away from the default, so every op matters
        for p in net.parameters():
            p.mul_(1.0 + 0.5 * torch.rand_like(p))
    return net


class _Fp16Io(torch.nn.Module):
    """A model with float16 input and output, as fp16 ONNX exports have."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float()).half()


def export(net: torch.nn.Module, path: Path, *, fixed: int | None = None, fp16_io: bool = False) -> Path:
    model = _Fp16Io(net) if fp16_io else net
    side = fixed or 32
    example = torch.rand(1, 3, side, side, dtype=torch.float16 if fp16_io else torch.float32)
    dynamic = None if fixed else {"input": {2: "height", 3: "width"}, "output": {2: "out_height", 3: "out_width"}}
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated; onnxscript is not a dependency
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["output"],
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    return path


def torch_reference(net: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        y = net(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None])
    return y[0].clamp(0, 1).permute(1, 2, 0).numpy()


def _context(store: ModelStore) -> StageContext:
    return StageContext(engine=Engine(store=store, options=LoadOptions(device="cpu")))


def _torch_context(net: torch.nn.Module, tmp_path: Path) -> tuple[StageContext, str]:
    path = tmp_path / "compact.pth"
    torch.save(net.state_dict(), path)
    store = ModelStore(tmp_path / "torch-home")
    name = import_model(store, path, name="compact-torch").name
    return _context(store), name


@pytest.mark.parametrize("fp16_io", [False, True], ids=["fp32", "fp16-io"])
def test_dynamic_onnx_model_matches_torch_through_the_same_tiling(
    compact: torch.nn.Module, tmp_path: Path, astronaut: np.ndarray, fp16_io: bool
) -> None:
    onnx_path = export(compact, tmp_path / "compact.onnx", fp16_io=fp16_io)
    store = ModelStore(tmp_path / "home")
    spec = import_model(store, onnx_path, name="compact-onnx")  # revive models add
    assert (spec.runtime, spec.scale) == ("onnx", SCALE)
    context = _context(store)
    model = context.engine.load(spec.name)
    assert isinstance(model, OnnxModel) and model.fixed_size is None and model.device == "cpu"
    torch_context, torch_name = _torch_context(compact, tmp_path)

    image = Photo.from_array(astronaut[90:154, 170:250])  # 80×64
    for tile, overlap in ((None, 24), (32, 8)):
        out = UpscaleStage(UpscaleParams(model=spec.name, tile=tile, tile_overlap=overlap)).run(image, context)
        ref = UpscaleStage(UpscaleParams(model=torch_name, tile=tile, tile_overlap=overlap)).run(image, torch_context)
        assert out.pixels.shape == (64 * SCALE, 80 * SCALE, 3)
        floor = 40.0 if fp16_io else 50.0  # an fp16 output is only good to ~2⁻¹¹
        assert psnr(out.pixels, ref.pixels) >= floor
    assert model.bytes_per_input_pixel() > 0


def test_fixed_size_onnx_model_gets_tiles_of_exactly_its_size(
    compact: torch.nn.Module, tmp_path: Path, coffee: np.ndarray
) -> None:
    onnx_path = export(compact, tmp_path / "fixed48.onnx", fixed=48)
    store = ModelStore(tmp_path / "home")
    spec = import_model(store, onnx_path, name="compact-fixed", scale=SCALE)
    model = _context(store).engine.load(spec.name)
    assert model.fixed_size == 48
    crop = coffee[120:170, 200:270].astype(np.float32) / 255.0  # 70×50: neither fits 48 exactly
    out = UpscaleStage(UpscaleParams(model=spec.name)).run(Photo(crop), _context(store)).pixels
    assert out.shape == (50 * SCALE, 70 * SCALE, 3)
    ref = torch_reference(compact, crop)
    # 12 px of context covers Compact's 6 px reach. Only the last 6 px by the right and bottom edges
    # may differ: tiles padded up to 48 see reflected pixels there, the whole-image run sees zeros.
    edge = 6 * SCALE
    assert psnr(out[:-edge, :-edge], ref[:-edge, :-edge]) >= 50.0
    assert psnr(out, ref) >= 35.0
    small = coffee[:20, :30].astype(np.float32) / 255.0  # smaller than 48: padded up, cropped back
    assert model(small).shape == (20 * SCALE, 30 * SCALE, 3)


def test_non_square_fixed_size_is_refused(compact: torch.nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "wide.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(compact, (torch.rand(1, 3, 32, 48),), str(path), input_names=["input"],
                          output_names=["output"], opset_version=17, dynamo=False)
    store = ModelStore(tmp_path / "home")
    spec = import_model(store, path, name="wide", scale=SCALE)
    with pytest.raises(UnsupportedModel, match="only takes 48x32 images"):
        _context(store).engine.load(spec.name)


def test_out_of_memory_from_onnxruntime_becomes_out_of_memory(compact: torch.nn.Module, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "home")
    spec = import_model(store, export(compact, tmp_path / "c.onnx"), name="c")
    model = _context(store).engine.load(spec.name)

    class Session:
        def run(self, *args, **kwargs):
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : BFCArena::AllocateRawInternal "
                               "Failed to allocate memory for requested buffer of size 9663676416")

    model._session = Session()
    with pytest.raises(OutOfMemory):
        model(np.zeros((16, 16, 3), np.float32))


def test_provider_choice() -> None:
    cpu_only = ["CPUExecutionProvider"]
    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("auto", cpu_only) == (["CPUExecutionProvider"], "cpu")
    assert choose_providers("auto", cuda) == (["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda:0")
    assert choose_providers("cpu", cuda) == (["CPUExecutionProvider"], "cpu")
    assert choose_providers("cuda:1", cuda)[0][0] == ("CUDAExecutionProvider", {"device_id": 1})
    assert choose_providers("gpu", ["CoreMLExecutionProvider", "CPUExecutionProvider"])[1] == "coreml"
    with pytest.raises(RuntimeUnavailable, match="onnxruntime-gpu"):
        choose_providers("gpu", cpu_only)
    with pytest.raises(RuntimeUnavailable, match="not 'vulkan'"):
        choose_providers("vulkan", cuda)

"""Every architecture family revive claims, through the path a user's file takes.

Each model is built from spandrel's own architecture class with random weights and small
hyperparameters (architectures whose loader fixes the size, GFPGAN and LaMa, are saved in fp16 to
halve the file), saved like a user's download, imported with ``revive models add``'s
``import_model``, inspected, loaded by the runtime and — for upscalers — run on a real photo crop
through ``UpscaleStage``. Unsafe files must be refused without running anything.
"""

from __future__ import annotations

import math
import os
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
spandrel = pytest.importorskip("spandrel")

from revive.engine import Engine  # noqa: E402
from revive.errors import UnsafeModel, UnsupportedModel  # noqa: E402
from revive.models import ModelStore  # noqa: E402
from revive.models.importer import import_model  # noqa: E402
from revive.models.loaders import LoadOptions  # noqa: E402
from revive.models.torch_inspect import inspect_torch_file  # noqa: E402
from revive.stages.base import StageContext  # noqa: E402
from revive.stages.upscale import UpscaleParams, UpscaleStage  # noqa: E402
from revive.types import Photo  # noqa: E402

pytestmark = pytest.mark.torch


def _arch(module: str, name: str) -> Callable[..., torch.nn.Module]:
    import importlib

    return getattr(importlib.import_module(f"spandrel.architectures.{module}"), name)


@dataclass(frozen=True)
class Case:
    arch: str  # spandrel's architecture id
    build: Callable[[], torch.nn.Module]
    scale: int
    purpose: str | None
    run: bool = True  # run a photo crop end to end (upscalers, and the small face model)
    fp16_file: bool = False
    suffix: str = ".pth"


CASES = [
    Case("ESRGAN", lambda: _arch("ESRGAN", "ESRGAN")(num_filters=16, num_blocks=2, scale=4), 4, "upscale"),
    Case("Compact", lambda: _arch("Compact", "Compact")(num_feat=16, num_conv=4, upscale=2), 2, "upscale"),
    Case("SwinIR", lambda: _arch("SwinIR", "SwinIR")(
        img_size=32, embed_dim=24, depths=[2, 2], num_heads=[2, 2], window_size=8, mlp_ratio=2.0, upscale=2,
        upsampler="pixelshuffle"), 2, "upscale"),
    Case("DAT", lambda: _arch("DAT", "DAT")(
        img_size=32, embed_dim=32, depth=[2], num_heads=[2], split_size=[4, 8], expansion_factor=2.0, upscale=3),
        3, "upscale"),
    Case("SPAN", lambda: _arch("SPAN", "SPAN")(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=4), 4,
         "upscale", suffix=".safetensors"),
    Case("HAT", lambda: _arch("HAT", "HAT")(
        img_size=32, embed_dim=24, depths=[2], num_heads=[2], window_size=8, compress_ratio=3, squeeze_factor=8,
        mlp_ratio=2.0, upscale=2, num_feat=16), 2, "upscale"),
    Case("RealCUGAN", lambda: _arch("RealCUGAN", "UpCunet2x")(in_channels=3, out_channels=3), 2, "upscale"),
    Case("OmniSR", lambda: _arch("OmniSR", "OmniSR")(num_feat=16, block_num=1, window_size=8, res_num=1, up_scale=2),
         2, "upscale"),
    Case("SCUNet", lambda: _arch("SCUNet", "SCUNet")(in_nc=3, config=[1] * 7, dim=64), 1, "denoise", run=False),
    Case("NAFNet", lambda: _arch("NAFNet", "NAFNet")(width=8, middle_blk_num=1, enc_blk_nums=[1, 1],
                                                     dec_blk_nums=[1, 1]), 1, "denoise"),
    Case("FBCNN", lambda: _arch("FBCNN", "FBCNN")(nc=[16, 32, 64, 512], nb=2), 1, "deblock", run=False,
         fp16_file=True),
    Case("RestoreFormer", lambda: _arch("RestoreFormer", "RestoreFormer")(
        n_embed=64, embed_dim=32, ch=32, ch_mult=(1, 2), num_res_blocks=1, resolution=512, z_channels=32),
        1, "restore-face"),
    Case("GFPGAN", lambda: _arch("GFPGAN", "GFPGAN")(
        out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False, num_mlp=8,
        input_is_latent=True, different_w=True, narrow=1, sft_half=True), 1, "restore-face", run=False,
        fp16_file=True, suffix=".safetensors"),
    Case("LaMa", lambda: _arch("LaMa", "LaMa")(in_nc=4, out_nc=3), 1, "inpaint", run=False, fp16_file=True),
]


def save_weights(case: Case, folder: Path) -> Path:
    torch.manual_seed(0)
    state = case.build().state_dict()
    if case.fp16_file:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    path = folder / f"{case.arch.lower()}_random_x{case.scale}{case.suffix}"
    if case.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def _context(store: ModelStore) -> StageContext:
    return StageContext(engine=Engine(store=store, options=LoadOptions(device="cpu")))


@pytest.mark.parametrize("case", CASES, ids=[c.arch for c in CASES])
def test_user_file_is_detected_imported_and_run(case: Case, tmp_path: Path, coffee: np.ndarray) -> None:
    path = save_weights(case, tmp_path)
    info = inspect_torch_file(path)
    assert (info["architecture"], info["scale"], info["purpose"]) == (case.arch, case.scale, case.purpose)

    store = ModelStore(tmp_path / "home")
    spec = import_model(store, path, name=f"my-{case.arch.lower()}", purpose=case.purpose or "denoise")
    assert (spec.runtime, spec.architecture, spec.scale) == ("torch", case.arch, case.scale)
    assert spec.supports_half == info["supports_half"]
    context = _context(store)
    model = context.engine.load(spec.name)
    assert model.scale == case.scale and getattr(model, "purpose", None) == case.purpose
    if case.purpose == "inpaint":  # LaMa loads, but fills masks: it must not pose as an upscaler
        with pytest.raises(UnsupportedModel, match="inpainting model: it fills masked areas"):
            UpscaleStage(UpscaleParams(model=spec.name)).run(Photo(np.zeros((32, 32, 3), np.float32)), context)
    if not case.run:
        return
    crop = coffee[150:190, 200:248]  # 48 wide, 40 high: catches a swapped axis
    if case.purpose == "restore-face":  # no face pipeline yet: the raw call on an aligned-size tile
        tile = coffee[100:164, 200:264].astype(np.float32) / 255.0
        out = model(tile)
        assert out.shape == (64, 64, 3)
        return
    result = UpscaleStage(UpscaleParams(model=spec.name)).run(Photo.from_array(crop), context)
    assert result.pixels.shape == (40 * case.scale, 48 * case.scale, 3)
    assert np.isfinite(result.pixels).all() and 0.0 <= result.pixels.min() and result.pixels.max() <= 1.0


def test_runtime_output_equals_a_plain_spandrel_call(tmp_path: Path, chelsea: np.ndarray) -> None:
    case = next(c for c in CASES if c.arch == "SwinIR")  # windowed, size requirements, discouraged tiling
    path = save_weights(case, tmp_path)
    store = ModelStore(tmp_path / "home")
    spec = import_model(store, path, name="swinir-test")
    image = chelsea[100:150, 200:260].astype(np.float32) / 255.0
    out = UpscaleStage(UpscaleParams(model=spec.name)).run(Photo(image), _context(store)).pixels
    descriptor = spandrel.ModelLoader().load_from_file(path).eval()
    with torch.inference_mode():
        ref = descriptor(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None])[0]
    mse = float(np.mean((out - ref.permute(1, 2, 0).numpy()) ** 2))
    assert mse == 0 or 10 * math.log10(1 / mse) >= 50


def test_checkpoint_extras_torch_itself_loads_as_weights_are_accepted(tmp_path: Path) -> None:
    """What torch.load(weights_only=True) accepts: bytes, devices, parameters and tensors with attributes."""
    net = _arch("Compact", "Compact")(num_feat=8, num_conv=2, upscale=2)
    params = {k: torch.nn.Parameter(v, requires_grad=False) for k, v in net.state_dict().items()}
    first = next(iter(params))
    params[first].note = "ema"  # a Parameter with Python state
    torch.save({"params": params, "iter": 300_000, "tag": b"v1", "device": torch.device("cpu")}, tmp_path / "ckpt.pth")
    torch.load(tmp_path / "ckpt.pth", weights_only=True)  # torch's own safe loader takes it
    info = inspect_torch_file(tmp_path / "ckpt.pth")
    assert (info["architecture"], info["scale"]) == ("Compact", 2)


# --- files revive must refuse ------------------------------------------------------------------------


class _Exploit:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_pickle_that_would_run_a_command_is_refused_unrun(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    weights = _arch("Compact", "Compact")(num_feat=8, num_conv=2, upscale=2).state_dict()
    files = []
    for suffix, legacy in ((".pth", False), (".ckpt", True), (".pt", False), (".bin", False)):
        path = tmp_path / f"evil{suffix}"
        torch.save({**weights, "payload": _Exploit(sentinel)}, path, _use_new_zipfile_serialization=not legacy)
        files.append(path)
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(_Exploit(sentinel)))
    files.append(raw)
    store = ModelStore(tmp_path / "home")
    for path in files:
        with pytest.raises(UnsafeModel, match="posix.system|nt.system"):
            inspect_torch_file(path)
        with pytest.raises(UnsafeModel):
            import_model(store, path, name="evil", scale=2)
    assert not sentinel.exists()
    assert store.imported_specs() == [] and not (store.models_dir / "evil").exists()


def test_whole_pickled_module_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    torch.save(_arch("Compact", "Compact")(num_feat=8, num_conv=2, upscale=2), path)
    with pytest.raises(UnsafeModel, match="spandrel.architectures.*Compact.*only plain state_dicts"):
        inspect_torch_file(path)


def test_torchscript_is_refused_whatever_its_name(tmp_path: Path) -> None:
    net = _arch("Compact", "Compact")(num_feat=8, num_conv=2, upscale=2).eval()
    with warnings.catch_warnings():  # TorchScript is deprecated: all the more reason to refuse it
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(net, torch.zeros(1, 3, 16, 16))
        for name in ("traced.pt", "traced.pth"):
            torch.jit.save(traced, tmp_path / name)
    for name in ("traced.pt", "traced.pth"):
        with pytest.raises(UnsafeModel, match="TorchScript"):
            inspect_torch_file(tmp_path / name)


def test_unknown_and_damaged_files_say_what_is_wrong(tmp_path: Path) -> None:
    unknown = tmp_path / "mystery.pth"
    torch.save({"encoder.weight": torch.zeros(4, 4), "decoder.bias": torch.zeros(4)}, unknown)
    with pytest.raises(UnsupportedModel, match="mystery.pth: spandrel .* does not recognise"):
        inspect_torch_file(unknown)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x00" * 64)
    with pytest.raises(UnsupportedModel, match="damaged.safetensors is not a readable .safetensors"):
        inspect_torch_file(damaged)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UnsupportedModel, match="garbage.pth is not a readable PyTorch weights file"):
        inspect_torch_file(garbage)
    with pytest.raises(UnsupportedModel, match=r"\.pth, \.pt"):
        inspect_torch_file(tmp_path / "model.onnx")

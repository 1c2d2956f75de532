"""GPU check of revive's PyTorch runtime: fp16 x4plus throughput and out-of-memory back-off.

On a CUDA machine, from the repository root (spandrel is taken from ``.whl/`` when it is not
installed; it is pure Python, so the wheel itself goes on ``sys.path``):

    PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --json "$OUT/gpu_check.json"

Anywhere, in seconds, with a tiny model on whatever device there is (the CPU here):

    python bench/gpu_check.py --smoke

1. Throughput: the x4plus architecture (RRDBNet, 23 blocks, 64 features, ×4; random weights)
   through ``UpscaleStage`` with default settings (auto tiles) on a ~1024×1024 photo, against a
   bare loop of the same fp16 module over the very tiles revive cut (recorded on a warm-up run),
   both with the tiles already on the GPU and with the copies in and out. Output megapixels/s.
2. Memory: the CUDA peak of one tile per input pixel, next to the runtime's estimate.
3. Out of memory: the allocator is capped (``set_per_process_memory_fraction``) and a whole-image
   tile is forced; revive must halve the tile until it fits and finish the image.
"""

from __future__ import annotations

import argparse
import atexit
import glob
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
warnings.filterwarnings("ignore")

try:
    import spandrel  # noqa: F401
except ImportError:  # a bare GPU machine: unpack the carried pure-Python wheel (a zip) and use it
    import zipfile

    for wheel in sorted(glob.glob(str(ROOT / ".whl" / "spandrel-*-py3-none-any.whl"))):
        target = Path(tempfile.mkdtemp(prefix="revive-wheel-"))
        atexit.register(shutil.rmtree, target, ignore_errors=True)
        with zipfile.ZipFile(wheel) as z:
            z.extractall(target)  # not zipimport: spandrel's __arch folders are namespace packages
        sys.path.insert(0, str(target))
    import spandrel  # noqa: F401

import numpy as np  # noqa: E402
import torch  # noqa: E402

from revive.engine import Engine  # noqa: E402
from revive.errors import OutOfMemory  # noqa: E402
from revive.models import ModelFile, ModelRegistry, ModelSpec, ModelStore  # noqa: E402
from revive.models.loaders import LoadOptions  # noqa: E402
from revive.stages.base import StageContext  # noqa: E402
from revive.stages.upscale import UpscaleParams, UpscaleStage  # noqa: E402
from revive.types import Photo  # noqa: E402

NAME = "x4plus-random"


class Recorder:
    """Stands in for the spandrel descriptor: records tile shapes, optionally fails large tiles."""

    def __init__(self, descriptor, fail_above: int | None = None) -> None:
        self.descriptor, self.fail_above = descriptor, fail_above
        self.shapes: list[tuple[int, int]] = []
        self.failed: list[tuple[int, int]] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = (int(x.shape[-2]), int(x.shape[-1]))
        if self.fail_above is not None and max(shape) > self.fail_above:  # --smoke: a simulated OOM
            self.failed.append(shape)
            raise torch.OutOfMemoryError("simulated: CUDA out of memory")
        try:
            y = self.descriptor(x)
        except torch.OutOfMemoryError:
            self.failed.append(shape)
            raise
        self.shapes.append(shape)
        return y


def photo(size: int) -> np.ndarray:
    try:
        from skimage import data

        img = data.astronaut().astype(np.float32) / 255.0
    except ImportError:
        img = np.random.default_rng(0).random((512, 512, 3), dtype=np.float32)
    reps = math.ceil(size / img.shape[0])
    return np.ascontiguousarray(np.tile(img, (reps, reps, 1))[:size, :size])


def make_store(blocks: int, features: int) -> tuple[ModelStore, ModelSpec]:
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    net = ESRGAN(num_filters=features, num_blocks=blocks, scale=4)
    home = Path(tempfile.mkdtemp(prefix="revive-gpu-check-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    folder = home / "models" / NAME
    folder.mkdir(parents=True)
    torch.save(net.state_dict(), folder / "x4plus.pth")
    spec = ModelSpec(name=NAME, purpose="upscale", runtime="torch", architecture="ESRGAN", scale=4,
                     files=(ModelFile("x4plus.pth", "-"),), license="random weights")
    return ModelStore(home), spec


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, repeat: int, device: torch.device) -> float:
    times = []
    for _ in range(repeat):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny model and image; any device; seconds")
    parser.add_argument("--size", type=int, default=None, help="image side (default 1024, smoke 96)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    blocks, features = (2, 16) if args.smoke else (23, 64)
    size = args.size or (96 if args.smoke else 1024)
    started = time.perf_counter()
    summary: dict[str, object] = {"torch": torch.__version__, "spandrel": spandrel.__version__,
                                  "smoke": args.smoke, "size": size, "blocks": blocks, "features": features}
    if torch.cuda.is_available():
        summary["gpu"] = torch.cuda.get_device_name(0)
    elif not args.smoke:
        sys.exit("no CUDA GPU visible to torch; use --smoke for a CPU run of the script")

    store, spec = make_store(blocks, features)
    context = StageContext(engine=Engine(registry=ModelRegistry([spec]), store=store,
                                                options=LoadOptions(device=args.device)))
    model = context.engine.load(NAME)
    device = model.torch_device
    summary.update(device=str(device), dtype=str(model.dtype).replace("torch.", ""),
                   estimate_bytes_per_input_px=model.bytes_per_input_pixel())
    print(f"torch {torch.__version__}, spandrel {spandrel.__version__}, {summary.get('gpu', 'no GPU')}, "
          f"model on {device} in {summary['dtype']}, image {size}x{size}")

    image = photo(size)
    stage = UpscaleStage(UpscaleParams(model=NAME))
    descriptor = model.descriptor

    # 1. throughput: record revive's tiles on a warm-up run, then time both paths
    recorder = Recorder(descriptor)
    model.descriptor = recorder
    out = stage.run(Photo(image), context).pixels
    model.descriptor = descriptor
    tiles = list(recorder.shapes)
    out_mpix = out.shape[0] * out.shape[1] / 1e6
    revive_s = timed(lambda: stage.run(Photo(image), context), args.repeat, device)

    net = descriptor.model
    inputs = [model.to_tensor(image[: min(h, size), : min(w, size)]) for h, w in tiles]
    inputs = [x if tuple(x.shape[-2:]) == (h, w) else torch.nn.functional.pad(x, (0, w - x.shape[-1], 0, h - x.shape[-2]))
              for x, (h, w) in zip(inputs, tiles, strict=True)]
    host_tiles = [image[: min(h, size), : min(w, size)] for h, w in tiles]

    def bare_compute() -> None:
        with torch.inference_mode():
            for x in inputs:
                net(x)

    def bare_with_copies() -> None:
        with torch.inference_mode():
            for tile in host_tiles:
                model.to_array(net(model.to_tensor(tile)))

    bare_compute()
    bare_s = timed(bare_compute, args.repeat, device)
    bare_io_s = timed(bare_with_copies, args.repeat, device)
    summary.update(tiles=[list(t) for t in tiles], output_megapixels=round(out_mpix, 3),
                   revive_s=round(revive_s, 4), bare_compute_s=round(bare_s, 4), bare_with_copies_s=round(bare_io_s, 4),
                   revive_mpix_per_s=round(out_mpix / revive_s, 2), bare_mpix_per_s=round(out_mpix / bare_s, 2),
                   ratio_vs_compute=round(revive_s / bare_s, 3), ratio_vs_copies=round(revive_s / bare_io_s, 3))
    print(f"tiles {tiles}  output {out_mpix:.2f} MP")
    print(f"  revive UpscaleStage   {revive_s:8.3f} s  {out_mpix / revive_s:8.2f} MP/s")
    print(f"  bare {summary['dtype']:9} forward {bare_s:8.3f} s  {out_mpix / bare_s:8.2f} MP/s   ratio {revive_s / bare_s:.3f}")
    print(f"  bare + copies in/out  {bare_io_s:8.3f} s  {out_mpix / bare_io_s:8.2f} MP/s   ratio {revive_s / bare_io_s:.3f}")

    # 2. memory of one tile, per input pixel
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        h, w = tiles[0]
        model(image[:h, :w])
        per_px = (torch.cuda.max_memory_allocated() - base) / (h * w)
        summary["measured_cuda_bytes_per_input_px"] = round(per_px)
        print(f"CUDA peak per input pixel {per_px:,.0f} B (estimate {model.bytes_per_input_pixel():,} B)")

    # 3. out-of-memory back-off with a forced whole-image tile
    forced = UpscaleStage(UpscaleParams(model=NAME, tile=size, tile_overlap=16))
    recorder = Recorder(descriptor, fail_above=None if device.type == "cuda" else size * 3 // 4)
    model.descriptor = recorder
    capped = False
    try:
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            total = torch.cuda.get_device_properties(device).total_memory
            need = model.bytes_per_input_pixel() * (size + 32) ** 2
            cap = torch.cuda.memory_allocated() + max(need // 6, 256 << 20)  # a sixth of a whole-image tile
            torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), device)
            capped = True
            summary["memory_cap_gib"] = round(cap / 2**30, 2)
        t = time.perf_counter()
        backoff = forced.run(Photo(image), context).pixels
        backoff_s = time.perf_counter() - t
        ok = backoff.shape == out.shape and bool(np.isfinite(backoff).all()) and bool(recorder.failed)
        mse = float(np.mean((backoff.astype(np.float64) - out) ** 2))
        summary.update(oom_failed_tiles=[list(s) for s in recorder.failed],
                       oom_final_tile=list(recorder.shapes[-1]) if recorder.shapes else None,
                       oom_tiles_run=len(recorder.shapes), oom_backoff_ok=ok, oom_backoff_s=round(backoff_s, 3),
                       oom_psnr_vs_auto_db=round(10 * math.log10(1 / mse), 1) if mse else math.inf)
        print(f"OOM back-off: failed at {recorder.failed}, finished with {len(recorder.shapes)} tiles of "
              f"{recorder.shapes[-1] if recorder.shapes else None} in {backoff_s:.2f} s: {'OK' if ok else 'FAILED'}")
    except OutOfMemory as err:
        summary.update(oom_backoff_ok=False, oom_error=str(err), oom_failed_tiles=[list(s) for s in recorder.failed])
        print(f"OOM back-off FAILED: {err}")
    finally:
        model.descriptor = descriptor
        if capped:
            torch.cuda.set_per_process_memory_fraction(1.0, device)
            torch.cuda.empty_cache()

    summary["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary, indent=None))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    if not summary.get("oom_backoff_ok"):
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

"""revive upscale vs a bare whole-image ncnn call, same process, same model files.

    python bench/upscale_cpu.py [--size 256] [--repeat 3] [--tile auto|N]

Prints seconds, the ratio revive/bare (goal ≤ 1.10 at default settings) and peak RSS growth.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _memory import peak_rss  # noqa: E402

import revive  # noqa: E402
from revive.models import default_registry  # noqa: E402
from revive.models.store import ModelStore  # noqa: E402


def bare_ncnn(param: str, weights: str, threads: int):
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    net.load_param(param)
    net.load_model(weights)

    def run(image: np.ndarray) -> np.ndarray:
        chw = np.ascontiguousarray(image.transpose(2, 0, 1))
        ex = net.create_extractor()
        ex.input("data", ncnn.Mat(chw))
        _, out = ex.extract("output")
        return np.array(out).transpose(1, 2, 0)

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tile", default="auto")
    args = parser.parse_args()
    from skimage import data

    photo = data.astronaut()[:args.size, 120 : 120 + args.size]
    image = (photo / 255.0).astype(np.float32)
    threads = os.cpu_count() or 1
    spec = default_registry().get("realesrgan-x4plus")
    param, weights = (str(p) for p in ModelStore().locate(spec))
    bare = bare_ncnn(param, weights, threads)
    tile = None if args.tile == "auto" else int(args.tile)

    bare(image[:32, :32])  # warm both paths once
    revive.upscale(photo[:32, :32], device="cpu", threads=threads)
    bare_times, revive_times = [], []
    mem_bare: dict[str, int] = {}
    mem_revive: dict[str, int] = {}
    for i in range(args.repeat):
        with peak_rss(mem_bare if i == 0 else {}):
            t = time.perf_counter()
            reference = bare(image)
            bare_times.append(time.perf_counter() - t)
        with peak_rss(mem_revive if i == 0 else {}):
            t = time.perf_counter()
            ours = revive.upscale(photo, device="cpu", threads=threads, tile=tile)
            revive_times.append(time.perf_counter() - t)
    diff = ours.astype(np.float64) / 255.0 - np.clip(reference, 0, 1)
    psnr = 10 * np.log10(1.0 / max(np.mean(diff**2), 1e-20))
    b, r = statistics.median(bare_times), statistics.median(revive_times)
    print(f"image {args.size}x{args.size} → {ours.shape[1]}x{ours.shape[0]}, realesrgan-x4plus, ncnn CPU, {threads} threads, tile={args.tile}")
    print(f"bare ncnn whole image : {b:7.2f} s   peak RSS +{mem_bare['peak'] / 2**20:7.1f} MiB")
    print(f"revive.upscale        : {r:7.2f} s   peak RSS +{mem_revive['peak'] / 2**20:7.1f} MiB")
    print(f"ratio revive/bare     : {r / b:7.3f}   (goal ≤ 1.10)")
    print(f"parity PSNR (uint8 out vs bare float): {psnr:.1f} dB")
    estimate = revive.api.default_engine().load("realesrgan-x4plus").bytes_per_input_pixel()
    measured = mem_bare["peak"] / (args.size * args.size)
    print(f"working memory per input pixel: measured {measured / 1024:.1f} KB, catalog estimate {estimate / 1024:.1f} KB"
          f" ({'safe' if estimate >= measured * 0.95 else 'UNDERESTIMATE'} for --tile auto)")


if __name__ == "__main__":
    main()

"""What each step costs per megapixel on this machine: the numbers the time estimate is built from.

Each embedded upscale model runs on a photo crop as one tile (``--size`` px, default 128) with the
engine's threads; its cost is reported in thread-seconds per input megapixel (seconds × threads /
MP), the unit of the catalog's ``cpu_seconds_per_mp`` option. The classical stages (denoise,
deblock, colour) and the guard are timed on a 512-px crop, in seconds per megapixel at the
engine's threads (their ``seconds_per_mp``). Best of ``--repeat`` runs, so a busy machine
disturbs the numbers less.

    python bench/model_cost.py [--size 128] [--repeat 3] [--models waifu2x-photo-x2,...]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from revive.engine import Engine
from revive.imageops import resize
from revive.pipeline.fidelity import FidelityParams, guard
from revive.stages.base import StageContext
from revive.stages.color import ColorParams, ColorStage
from revive.stages.deblock import DeblockParams, DeblockStage
from revive.stages.denoise import DenoiseParams, DenoiseStage
from revive.stages.upscale import UpscaleParams, UpscaleStage
from revive.types import Photo


def photo(side: int) -> Photo:
    from skimage import data

    x = data.astronaut()[:side, :side].astype(np.float32) / 255.0
    return Photo(np.ascontiguousarray(x))


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default=None, help="model names (default: the embedded upscale models)")
    args = parser.parse_args()
    engine = Engine()
    context = StageContext(engine=engine)
    names = args.models.split(",") if args.models else [s.name for s in engine.registry if s.embedded]
    small = photo(args.size)
    mp = small.width * small.height / 1e6
    print(f"threads: {engine.threads}; models on {args.size}×{args.size} px, one tile")
    for name in names:
        engine.load(name)
        native = float(engine.registry.get(name).scale)
        stage = UpscaleStage(UpscaleParams(model=name, scale=native, tile=args.size))
        seconds = best(lambda: stage.run(small, context), args.repeat)  # noqa: B023
        print(f"  {name:<28} {seconds:7.2f} s   cpu_seconds_per_mp {seconds * engine.threads / mp:8.0f}")
    large = photo(512)
    mp = large.width * large.height / 1e6
    classical = {
        "denoise": DenoiseStage(DenoiseParams(sigma=10.0)),
        "deblock": DeblockStage(DeblockParams(quality=40)),
        "color": ColorStage(ColorParams(white_balance=0.5, exposure=0.5, contrast=0.5)),
    }
    print("classical steps on 512×512 px")
    for name, stage in classical.items():
        seconds = best(lambda: stage.run(large, context), args.repeat)  # noqa: B023
        print(f"  {name:<28} {seconds:7.2f} s   seconds_per_mp {seconds / mp:6.2f}")
    up = Photo(resize(large.pixels, 1024, 1024))
    seconds = best(lambda: guard(up, up, FidelityParams(back_projection=3), (512, 512)), args.repeat)
    print(f"  {'guard (per output MP)':<28} {seconds:7.2f} s   seconds_per_mp {seconds / (4 * mp):6.2f}")


if __name__ == "__main__":
    main()

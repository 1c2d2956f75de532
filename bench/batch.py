"""revive batch throughput: photos a minute with 1 and 2 workers, locally and on a private local Ray.

    python bench/batch.py [--photos 24] [--size 192] [--model realesr-animevideov3-x2] [--engines local,ray]

Each configuration runs the same folder of real photos (skimage crops) into a fresh output folder
and reports two rates: wall (everything: planning, starting workers or Ray, loading models) and
steady (from the first finished photo to the last). The scaling ratio is 2 workers over 1 with
the same engine; the machine's cores are shared among the workers (threads = cores / workers), so
it measures what a user gets from ``--workers 2`` over ncnn's own threading on one photo at a time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from revive import api

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat")


def make_folder(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        img = getattr(data, PHOTOS[i % len(PHOTOS)])()
        y = int(rng.integers(0, img.shape[0] - size))
        x = int(rng.integers(0, img.shape[1] - size))
        Image.fromarray(img[y:y + size, x:x + size, :3]).save(folder / f"p{i:03d}.png")


def run(folder: Path, out: Path, request: object, engine: str, workers: int) -> tuple[float, float, int]:
    finished: list[float] = []

    def on_event(event: api.BatchEvent) -> None:
        if event.kind in ("done", "failed"):
            finished.append(time.perf_counter())

    started = time.perf_counter()
    summary = api.run_batch(folder, out, request, api.BatchOptions(engine=engine, workers=workers, report=False),
                            on_event=on_event)
    wall = time.perf_counter() - started
    if summary.failed:
        raise SystemExit(f"{engine}×{workers}: {summary.failed[0]}")
    n = len(summary.done)
    steady = 60 * (n - 1) / (finished[-1] - finished[0]) if n > 1 and finished[-1] > finished[0] else float("nan")
    return 60 * n / wall, steady, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--model", default="realesr-animevideov3-x2")
    parser.add_argument("--engines", default="local,ray")
    args = parser.parse_args()
    request = api.UpscaleRequest(api.UpscaleParams(model=args.model))
    print(f"{args.photos} photos of {args.size}×{args.size} px, upscale with {args.model}, "
          f"{os.cpu_count()} cores on this machine")
    rates: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="revive-bench-") as tmp:
        folder = Path(tmp) / "in"
        make_folder(folder, args.photos, args.size)
        for engine in args.engines.split(","):
            for workers in (1, 2):
                wall, steady, n = run(folder, Path(tmp) / f"{engine}-{workers}", request, engine, workers)
                rates[engine, workers] = (wall, steady)
                print(f"  {engine:5s} {workers} worker{'s' if workers > 1 else ' '}: {wall:7.1f} photos/min wall, "
                      f"{steady:7.1f} steady ({n} photos)")
    for engine in args.engines.split(","):
        (w1, s1), (w2, s2) = rates[engine, 1], rates[engine, 2]
        print(f"  {engine}: 2 workers / 1 worker = {w2 / w1:.2f}× wall, {s2 / s1:.2f}× steady")
    if "local" in args.engines and "ray" in args.engines:
        for workers in (1, 2):
            print(f"  ray / local with {workers} worker{'s' if workers > 1 else ''}: "
                  f"{rates['ray', workers][0] / rates['local', workers][0]:.2f}× wall, "
                  f"{rates['ray', workers][1] / rates['local', workers][1]:.2f}× steady")


if __name__ == "__main__":
    main()

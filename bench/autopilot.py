"""Does the autopilot beat the obvious alternatives on real damaged photos?

Real photos from scikit-image are centre-cropped (``--size``, 256 px by default), downscaled ×4
with INTER_AREA and damaged (Gaussian noise σ 10, JPEG quality 40, or both, seeded), saved (PNG,
or JPEG for JPEG damage, as a user's file would be) and read back with revive. Each
damaged photo is brought back to the original size by: bicubic resampling, plain ``upscale``
(Real-ESRGAN x4plus, ×4) and ``enhance`` (the autopilot with its default options). The table
gives PSNR and SSIM against the undamaged original with the super-resolution literature's
conventions (BasicSR: Y channel, 4-pixel border cropped), and the averages.

Goal: ``enhance`` best on SSIM on average and never worst on any image.

    python bench/autopilot.py [--size 256] [--images astronaut,coffee,...] [--json out.json]

It takes about half a minute on two CPU cores at the default size (64 px inputs; the embedded
model runs twice per case), two minutes with ``--size 512`` and eight images.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from revive import imageio
from revive.engine import Engine
from revive.pipeline.autopilot import EnhanceOptions
from revive.pipeline.metrics import psnr, ssim
from revive.pipeline.runner import enhance_photo
from revive.stages.base import StageContext
from revive.stages.upscale import UpscaleParams, UpscaleStage
from revive.types import Photo

IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")
DAMAGE = {"noise10": (10.0, None), "jpeg40": (0.0, 40), "noise10+jpeg40": (10.0, 40)}
METHODS = ("bicubic", "upscale", "enhance")
CROP = 4  # border cropped for the metrics (= the scale factor, as BasicSR does)


def load(name: str, size: int) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=2)
    img = img[:, :, :3]
    h, w = img.shape[:2]
    s = min(size, h, w) // 4 * 4
    y, x = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(img[y : y + s, x : x + s])


def damage(hr: np.ndarray, sigma: float, quality: int | None, seed: int, folder: Path) -> Photo:
    """The damaged small photo, saved and read back as a user's file would be (a JPEG keeps its tables)."""
    h, w = hr.shape[:2]
    lr = cv2.resize(hr, (w // 4, h // 4), interpolation=cv2.INTER_AREA).astype(np.float64)
    if sigma:
        lr = lr + np.random.default_rng(seed).normal(0.0, sigma, lr.shape)
    lr8 = np.clip(np.round(lr), 0, 255).astype(np.uint8)
    path = folder / f"damaged-{seed}.{'jpg' if quality is not None else 'png'}"
    Image.fromarray(lr8).save(path, **({"quality": quality} if quality is not None else {}))
    return imageio.read(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="side of the original crops (default 256)")
    parser.add_argument("--images", default=",".join(IMAGES[:5]))
    parser.add_argument("--damage", default=",".join(DAMAGE))
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()

    context = StageContext(engine=Engine())
    upscale = UpscaleStage(UpscaleParams(scale=4.0))
    rows = []
    print(f"{'image':<22}{'damage':<16}" + "".join(f"{m:>16}" for m in METHODS) + f"{'plan':>30}")
    folder = Path(tempfile.mkdtemp(prefix="revive-bench-"))
    for i, name in enumerate(args.images.split(",")):
        hr = load(name, args.size)
        for j, key in enumerate(args.damage.split(",")):
            sigma, quality = DAMAGE[key]
            lr = damage(hr, sigma, quality, 100 * i + j, folder)
            h, w = hr.shape[:2]
            outputs: dict[str, np.ndarray] = {
                "bicubic": np.clip(cv2.resize(lr.pixels, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)
            }
            started = time.perf_counter()
            outputs["upscale"] = upscale.run(lr, context).pixels
            t_up = time.perf_counter() - started
            started = time.perf_counter()
            result = enhance_photo(lr, EnhanceOptions(), context)
            t_en = time.perf_counter() - started
            outputs["enhance"] = result.photo.pixels
            scores = {m: (psnr(o, hr, crop_border=CROP, y_channel=True), ssim(o, hr, crop_border=CROP, y_channel=True))
                      for m, o in outputs.items()}
            plan = "+".join(s.stage for s in result.plan.steps if s.stage != "fidelity")
            if result.fidelity is not None and result.fidelity.action != "kept":
                plan += f" ({result.fidelity.action} {result.fidelity.strength_used:.2f})"
            rows.append({"image": name, "damage": key, "plan": plan, "seconds": {"upscale": t_up, "enhance": t_en},
                         **{m: {"psnr": p, "ssim": s} for m, (p, s) in scores.items()}})
            print(f"{name:<22}{key:<16}" + "".join(f"{p:>9.2f}/{s:.3f}" for p, s in scores.values()) + f"{plan:>30}",
                  flush=True)
    print("-" * 100)
    means = {m: (np.mean([r[m]["psnr"] for r in rows]), np.mean([r[m]["ssim"] for r in rows])) for m in METHODS}
    print(f"{'mean':<38}" + "".join(f"{p:>9.2f}/{s:.3f}" for p, s in means.values()))
    best = max(METHODS, key=lambda m: means[m][1])
    worst_enhance = [f"{r['image']}/{r['damage']}" for r in rows
                     if r["enhance"]["ssim"] <= min(r[m]["ssim"] for m in METHODS)]
    print(f"best mean SSIM: {best}; cases where enhance is worst on SSIM: {', '.join(worst_enhance) or 'none'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "means": means}, f, indent=1)
    return 0 if best == "enhance" and not worst_enhance else 1


if __name__ == "__main__":
    sys.exit(main())

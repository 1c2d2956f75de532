"""Generative upscaling speed: seconds per output megapixel, against the faithful upscale in the same process.

    python bench/generative.py                                   # tiny pipeline, CPU, end to end
    python bench/generative.py --pipeline sd15 --device cuda --sizes 1024,2048 --json out.json

``tiny`` is the test suite's pipeline (tests/_diffusion.py: a 2-level UNet, 8× VAE, tile ControlNet),
saved to a temporary folder and run end to end through ``revive.process`` with a
:class:`CreativeRequest` — diagnosis, faithful upscale, guard and generation — next to the same
photo's faithful upscale alone (the reference ratio). ``sd15`` is a Stable Diffusion 1.5-shaped
pipeline with a ControlNet of its UNet's shape, random weights, built in memory (speed does not
depend on the weights) and run through :class:`revive.models.refiner.Refiner` on a faithful
picture of each size: the generation cost alone, in fp16 on CUDA. Creativity 0.5 runs 8 of 20 steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
warnings.filterwarnings("ignore")

from revive.models.diffusion import MemoryPlan  # noqa: E402
from revive.models.refiner import Generation, Refiner  # noqa: E402

STEPS, CREATIVITY = 20, 0.5


def photo(side: int) -> np.ndarray:
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)


def sd15_refiner(device: str) -> Refiner:
    """SD 1.5's UNet, VAE and CLIP text encoder shapes with a ControlNet from the UNet, random weights."""
    import torch
    from _diffusion import byte_vocab
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionControlNetImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(tempfile.mkdtemp(prefix="revive-bench-tok-"))
    (folder / "vocab.json").write_text(json.dumps(byte_vocab()))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(cross_attention_dim=768, sample_size=64)
    pipe = StableDiffusionControlNetImg2ImgPipeline(
        unet=unet,
        vae=AutoencoderKL(block_out_channels=[128, 256, 512, 512], latent_channels=4, sample_size=512,
                          down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                          layers_per_block=2),
        text_encoder=CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=768,
                                                  intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                                  vocab_size=514, max_position_embeddings=77)),
        tokenizer=CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77),
        scheduler=DDIMScheduler(steps_offset=1, clip_sample=False), controlnet=ControlNetModel.from_unet(unet),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    pipe.to(device, dtype)
    return Refiner(pipe, pipe.controlnet, torch.device(device), dtype, MemoryPlan(), None)


def bench_sd15(args: argparse.Namespace) -> dict[str, object]:
    import torch

    refiner = sd15_refiner(args.device)
    generation = Generation("a photo", "blurry", 1, STEPS, 0.8 * CREATIVITY, 5.0, 0.7)
    rows: dict[str, object] = {}
    for side in args.sizes:
        image = (photo(side) / 255.0).astype(np.float32)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        if not rows:
            refiner(image, Generation("a photo", "", 1, 2, 1.0, 5.0, 0.7))  # warm-up: kernels, allocator
        start = time.perf_counter()
        out = refiner(image, generation)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else float("nan")
        calls = refiner.model_calls(side, side, generation)
        mp = side * side / 1e6
        rows[str(side)] = {"seconds": round(seconds, 2), "s_per_mp": round(seconds / mp, 2), "model_calls": calls,
                           "ms_per_call": round(1000 * seconds / calls, 1), "peak_gib": round(peak, 2),
                           "finite": bool(np.isfinite(out).all())}
        print(f"sd15 {args.device} {side}² → {seconds:.1f} s, {seconds / mp:.2f} s/MP, {calls} UNet+ControlNet calls "
              f"({1000 * seconds / calls:.0f} ms each), peak {peak:.1f} GiB", flush=True)
    return rows


def bench_tiny(args: argparse.Namespace) -> dict[str, object]:
    from _diffusion import tiny_base_pipeline

    from revive import api
    from revive.engine import Engine
    from revive.models.loaders import LoadOptions

    base, controlnet = tiny_base_pipeline(Path(tempfile.mkdtemp(prefix="revive-bench-sd-")))
    engine = Engine(options=LoadOptions(threads=args.threads))
    rows: dict[str, object] = {}
    for side in args.sizes:
        small = photo(side // 2)
        settings = api.CreativeSettings(creativity=CREATIVITY, diffusion_model=str(base), controlnet=str(controlnet),
                                        seed=1, steps=STEPS)
        creative = api.CreativeRequest(scale=2, generation=settings)
        faithful = api.EnhanceRequest(api.EnhanceOptions.make(scale=2, look="faithful", color="off", denoise="off"))
        api.process(small, creative, engine=engine)  # warm-up: loading
        timings = {}
        for name, request in (("faithful", faithful), ("creative", creative)):
            start = time.perf_counter()
            result = api.process(small, request, engine=engine)
            assert result.ok, result.error
            timings[name] = time.perf_counter() - start
        mp = side * side / 1e6
        rows[str(side)] = {"creative_s": round(timings["creative"], 2), "faithful_s": round(timings["faithful"], 2),
                           "s_per_mp": round(timings["creative"] / mp, 2),
                           "ratio": round(timings["creative"] / timings["faithful"], 1)}
        print(f"tiny cpu {side // 2}² → {side}²: creative {timings['creative']:.1f} s ({timings['creative'] / mp:.1f} s/MP), "
              f"faithful alone {timings['faithful']:.1f} s: ratio {timings['creative'] / timings['faithful']:.1f}×",
              flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", choices=("tiny", "sd15"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="256,512", help="output sides in pixels")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    rows = bench_sd15(args) if args.pipeline == "sd15" else bench_tiny(args)
    if args.json:
        Path(args.json).write_text(json.dumps({"pipeline": args.pipeline, "device": args.device, "steps": STEPS,
                                               "creativity": CREATIVITY, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

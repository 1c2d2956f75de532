"""Erase and fill speed: seconds per megapixel of masked area for each engine, against OpenCV in the same process.

    python bench/erase.py                          # opencv, lama, mat, sd on the CPU
    python bench/erase.py --engines opencv,lama --threads 2
    python bench/erase.py --device cuda --probe-memory --json out.json   # on a GPU: also the diffusion memory constants

Models have random weights (speed does not depend on them): LaMa and MAT are saved and added to a
temporary store, then run through ``revive.erase`` like a user's file (crops, resizing and paste-back
included). ``sd`` is a Stable Diffusion 1.5-shaped inpainting pipeline (9-channel UNet, SD VAE, a
12-layer CLIP text encoder) built in memory; it runs ``--sd-steps`` steps and the time is scaled to
30 steps. ``--probe-memory`` measures the CUDA working memory per pixel of the UNet (with and without
attention slicing) and of the VAE decoder at 512 px in fp16, which ``revive.models.diffusion`` budgets with.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
warnings.filterwarnings("ignore")

from revive import api  # noqa: E402
from revive.engine import Engine  # noqa: E402
from revive.masks import WorkSize, fill_photo, plan_fill  # noqa: E402
from revive.models import ModelStore  # noqa: E402
from revive.models.importer import import_model  # noqa: E402
from revive.models.loaders import LoadOptions  # noqa: E402
from revive.types import Photo  # noqa: E402


def scene(side: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2
    from skimage import data

    photo = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:side, :side]
    mask = ((yy - 0.45 * side) / (0.12 * side)) ** 2 + ((xx - 0.55 * side) / (0.08 * side)) ** 2 <= 1.0
    return photo, mask


def timed(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: loading, first-call costs
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def store_model(store: ModelStore, folder: Path, name: str, module: object) -> str:
    import torch

    path = folder / f"{name}.pth"
    torch.save(module.state_dict(), path)  # type: ignore[attr-defined]
    return import_model(store, path, name).name


def sd15_inpainter(device: str) -> object:
    """An SD 1.5-shaped inpainting pipeline with random weights, as revive's Inpainter."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from revive.models.diffusion import Inpainter, MemoryPlan

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{chr(c): i + 2 for i, c in enumerate(range(33, 127))}}
    vocab.update({k + "</w>": len(vocab) + i for i, k in enumerate(list(vocab)[2:])})
    folder = Path(tempfile.mkdtemp(prefix="revive-bench-tok-"))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    pipe = StableDiffusionInpaintPipeline(
        unet=UNet2DConditionModel(in_channels=9, cross_attention_dim=768, sample_size=64),
        vae=AutoencoderKL(block_out_channels=[128, 256, 512, 512], latent_channels=4, sample_size=512,
                          down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                          layers_per_block=2),
        text_encoder=CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                                  num_attention_heads=12, vocab_size=len(vocab),
                                                  max_position_embeddings=77)),
        tokenizer=CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77),
        scheduler=DDIMScheduler(steps_offset=1, clip_sample=False), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    pipe.to(device, dtype)
    return Inpainter(pipe, torch.device(device), dtype, MemoryPlan())


def probe_memory(inpainter: object) -> dict[str, float]:
    """CUDA working memory per generated pixel at 512 px, fp16 (what plan_memory's constants say)."""
    import torch

    pipe = inpainter.pipe  # type: ignore[attr-defined]
    device = inpainter.torch_device  # type: ignore[attr-defined]
    pixels = 512 * 512

    def peak(run: Callable[[], object]) -> float:
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            run()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / pixels

    latents = torch.randn(2, 9, 64, 64, device=device, dtype=torch.float16)
    text = torch.randn(2, 77, 768, device=device, dtype=torch.float16)
    step = torch.tensor(500, device=device)
    unet = peak(lambda: pipe.unet(latents, step, encoder_hidden_states=text))
    pipe.enable_attention_slicing()
    unet_sliced = peak(lambda: pipe.unet(latents, step, encoder_hidden_states=text))
    pipe.disable_attention_slicing()
    vae = peak(lambda: pipe.vae.decode(latents[:1, :4]))
    return {"unet_bytes_per_pixel": round(unet), "unet_sliced_bytes_per_pixel": round(unet_sliced),
            "vae_bytes_per_pixel": round(vae)}


def bench_sd(args: argparse.Namespace, photo: np.ndarray, mask: np.ndarray, results: dict[str, dict[str, float | str]],
             report: Callable[[str, float, str], None]) -> None:
    inpainter = sd15_inpainter(args.device)
    if args.probe_memory and args.device.startswith("cuda"):
        probe = probe_memory(inpainter)
        results["memory_probe"] = probe  # type: ignore[assignment]
        print("memory per pixel at 512 px, fp16:", probe, flush=True)
    plan = plan_fill(mask, 4, 0.5)
    size = WorkSize(side=inpainter.native, enlarge=True, multiple_of=8)  # type: ignore[attr-defined]

    def run_sd(steps: int) -> float:
        start = time.perf_counter()
        fill_photo(Photo.from_array(photo), plan, lambda rgb, m: inpainter(  # type: ignore[operator]
            rgb, m, prompt="a wooden bench", negative_prompt="blurry", seed=0, steps=steps, guidance=7.5), size)
        return time.perf_counter() - start

    run_sd(1)  # warm-up
    one, more = run_sd(1), run_sd(1 + args.sd_steps)
    per_step = (more - one) / args.sd_steps  # the text encoder, VAE and paste-back cost the same at any step count
    report("sd", one + 29 * per_step, f"SD 1.5-shaped, 30 steps from runs of 1 and {1 + args.sd_steps} "
           f"({per_step:.2f} s per step, {one - per_step:.2f} s fixed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="opencv,lama,mat,sd")
    parser.add_argument("--side", type=int, default=1024, help="photo side in pixels")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sd-steps", type=int, default=2)
    parser.add_argument("--probe-memory", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    photo, mask = scene(args.side)
    masked_mp = mask.sum() / 1e6
    folder = Path(tempfile.mkdtemp(prefix="revive-bench-erase-"))
    store = ModelStore(folder / "store")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    results: dict[str, dict[str, float | str]] = {}
    print(f"{args.side}×{args.side} photo, {mask.sum()} masked pixels ({masked_mp:.3f} MP), device {args.device}, "
          f"{torch.get_num_threads()} threads")

    def report(name: str, seconds: float, note: str = "") -> None:
        per_mp = seconds / masked_mp
        ref = results.get("opencv", {}).get("s_per_masked_mp")
        ratio = f"  ×{per_mp / float(ref):,.0f} OpenCV" if isinstance(ref, float) and name != "opencv" else ""
        results[name] = {"seconds": round(seconds, 3), "s_per_masked_mp": round(per_mp, 3), "note": note}
        print(f"{name:8s} {seconds:8.2f} s   {per_mp:9.2f} s per masked MP{ratio}  {note}", flush=True)

    for name in engines:
        if name == "opencv":
            report(name, timed(lambda: api.erase(photo, mask, model=api.EMBEDDED_ERASE_MODEL), args.repeat))
        elif name in ("lama", "mat"):
            if name == "lama":
                from spandrel.architectures.LaMa import LaMa

                module = LaMa(in_nc=4, out_nc=3)
            else:
                from spandrel_extra_arches.architectures.MAT import MAT

                module = MAT()
            model = store_model(store, folder, f"bench-{name}", module)
            del module
            engine = Engine(store=store, options=LoadOptions(device=args.device, threads=args.threads))
            seconds = timed(lambda m=model, e=engine: api.erase(photo, mask, model=m, engine=e),  # type: ignore[misc]
                            args.repeat)
            report(name, seconds, "random weights, through the store and revive.erase")
        elif name == "sd":
            bench_sd(args, photo, mask, results, report)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""The generative refiner: Stable Diffusion img2img over overlapping latent tiles, held by a tile ControlNet.

Why this design and not the SD ×4 upscaler: the refiner starts from revive's *faithful* upscale
(any model, any factor) and only re-imagines detail on top of it, so creativity 0 is exactly the
faithful result and the fidelity tools (low-frequency lock, downscale consistency) apply to one
known image. The ×4 upscaler instead generates from the small photo at a fixed ×4, its latent
VAE decoder at 4× the size is the largest memory cost of any SD pipeline, and it has no
conditioning that holds it to a reference. A tile ControlNet (``control_v11f1e_sd15_tile`` and
the like) is optional: with it, resemblance is also the ControlNet's weight.

The whole picture is one latent. Each denoising step runs the UNet (and ControlNet) on overlapping
latent tiles of the model's native size and averages their noise predictions with smooth weights
before one scheduler step for the whole latent (MultiDiffusion, Bar-Tal et al. 2023): no tile is
ever decoded on its own, so no seam can form. The starting noise is drawn per fixed cell of the
latent grid from a seed derived from ``(seed, row, column)`` with NumPy on the CPU: the same seed
gives the same pixels on any device, tile layout and memory plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Cancelled, ReviveError, UnsupportedModel
from .diffusion import (
    VAE_TILE_PIXELS,
    LoadedPipeline,
    MemoryPlan,
    WeightsKind,
    _quiet,
    _short,
    device_and_dtype,
    fit_to_memory,
    import_diffusers,
    read_pipeline,
)
from .loaders import LoadOptions

COMMAND = "revive upscale --creative"
DEFAULT_BASE_MODEL = "stable-diffusion"  # a diffusers folder in the store's models folder
DEFAULT_CONTROLNET = "controlnet-tile"  # optional, likewise
BASE_WEIGHTS = WeightsKind(COMMAND, "Stable Diffusion 1.x/2.x weights (a base model, not an inpainting one)",
                           DEFAULT_BASE_MODEL, "stable-diffusion-v1-5, 2–4 GB; optionally a tile ControlNet such as "
                           f"control_v11f1e_sd15_tile in {DEFAULT_CONTROLNET}/ next to it")
NOISE_CELL = 64  # latent pixels per seeded noise cell (512 image pixels for SD 1.x)
TILE_OVERLAP = 0.25  # share of a latent tile shared with each neighbour


@dataclass(frozen=True)
class Generation:
    """One refinement's settings as the model sees them (the sliders are mapped in the stage)."""

    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    strength: float  # img2img denoising strength: the share of the schedule run from the noised faithful image
    guidance: float
    control_scale: float  # ControlNet weight (ignored without one)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of tiles of ``tile`` covering ``length`` with at least ``overlap`` shared, the last flush with the end."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    count = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_weight(height: int, width: int, ramp: int, sides: tuple[bool, bool, bool, bool] = (True,) * 4) -> np.ndarray:
    """A tile's blending weight: 1 inside, falling smoothly (raised cosine) towards 0 over ``ramp`` at each of
    its ``sides`` (top, bottom, left, right) that a neighbour shares; flat at the picture's own edges."""
    def axis(n: int, start: bool, end: bool) -> np.ndarray:
        w = np.ones(n, np.float32)
        r = min(ramp, n // 2)
        if r > 0:
            fade = 0.5 - 0.5 * np.cos(np.pi * (np.arange(r, dtype=np.float32) + 0.5) / r)
            if start:
                w[:r] = fade
            if end:
                w[n - r:] = fade[::-1]
        return w

    top, bottom, left, right = sides
    return np.outer(axis(height, top, bottom), axis(width, left, right))


def seeded_noise(seed: int, channels: int, height: int, width: int, cell: int = NOISE_CELL) -> np.ndarray:
    """Gaussian noise for a latent of ``height``×``width``, each ``cell``² block from its own seed (seed, row, col)."""
    noise = np.empty((channels, height, width), np.float32)
    for row in range(math.ceil(height / cell)):
        for col in range(math.ceil(width / cell)):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, row, col])))
            block = rng.standard_normal((channels, cell, cell), dtype=np.float32)
            h = min(cell, height - row * cell)
            w = min(cell, width - col * cell)
            noise[:, row * cell:row * cell + h, col * cell:col * cell + w] = block[:, :h, :w]
    return noise


class Refiner(LoadedPipeline):
    """A loaded img2img pipeline (and optional tile ControlNet) that refines a picture of any size."""

    def __init__(self, pipe: Any, controlnet: Any, device: Any, dtype: Any, plan: MemoryPlan, threads: int | None) -> None:
        super().__init__(pipe, device, dtype, plan, threads)
        self.controlnet = controlnet
        self.latent_tile = int(pipe.unet.config.sample_size)
        # latent sides must divide by the UNet's total downsampling
        self.latent_multiple = 2 ** (len(pipe.unet.config.block_out_channels) - 1)

    @property
    def multiple(self) -> int:
        """Image sides are padded to a multiple of this."""
        return self.vae_scale * self.latent_multiple

    def model_calls(self, height: int, width: int, generation: Generation) -> int:
        """UNet evaluations a refinement of an image this size makes (what progress counts)."""
        h, w = (-(-side // self.multiple) * self.multiple // self.vae_scale for side in (height, width))
        return len(self._boxes(h, w)) * len(self._timesteps(generation)[0])

    def _overlap(self) -> int:
        overlap = round(self.latent_tile * TILE_OVERLAP)
        return overlap - overlap % self.latent_multiple

    def _boxes(self, lh: int, lw: int) -> list[tuple[int, int, int, int]]:
        """The latent tiles (top, left, height, width) covering a latent of ``lh``×``lw``."""
        tile, overlap = self.latent_tile, self._overlap()
        return [(y, x, min(tile, lh), min(tile, lw)) for y in tile_starts(lh, tile, overlap)
                for x in tile_starts(lw, tile, overlap)]

    def _timesteps(self, generation: Generation) -> tuple[list[Any], Any]:
        from diffusers import DDIMScheduler

        # DDIM: deterministic, one model call per step, and exact for img2img's shortened schedule
        with _quiet():
            scheduler = DDIMScheduler.from_config(self.pipe.scheduler.config)
        scheduler.set_timesteps(generation.steps, device=self.torch_device)
        keep = min(generation.steps, int(generation.steps * generation.strength))
        timesteps = list(scheduler.timesteps[generation.steps - keep:]) if keep > 0 else []
        return timesteps, scheduler

    def __call__(self, image: np.ndarray, generation: Generation, *,
                 on_step: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> np.ndarray:
        """``image`` (float RGB HxWx3 in [0,1]) refined; unchanged when the strength leaves no step to run."""
        import torch

        from .torch_runtime import _cpu_threads

        timesteps, scheduler = self._timesteps(generation)
        if not timesteps:
            return image
        h, w = image.shape[:2]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        padded = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
        with _cpu_threads(self.threads), _quiet(), torch.inference_mode():
            out = self._refine(padded, generation, timesteps, scheduler, on_step, cancel)
        result = np.ascontiguousarray(out[:h, :w], dtype=np.float32)
        if not np.isfinite(result).all():
            raise ReviveError(f"the model produced invalid values (NaN) in {str(self.dtype).removeprefix('torch.')} on "
                              f"{self.device}; run it in float32 (--device cpu, or a VAE fixed for fp16)")
        self._check_safety(result)
        return result

    def _check_safety(self, result: np.ndarray) -> None:
        """The model's own safety checker, when its folder has one, judges the result as the pipeline would."""
        if getattr(self.pipe, "safety_checker", None) is None:
            return
        import torch

        with _quiet(), torch.inference_mode():
            _, flagged = self.pipe.run_safety_checker(result[None], self.torch_device, self.dtype)
        if flagged and any(flagged):
            raise ReviveError("the model's own safety checker flagged this result; nothing was written "
                              "(a different prompt or seed may pass)")

    def _refine(self, image: np.ndarray, g: Generation, timesteps: list[Any], scheduler: Any,
                on_step: Callable[[int, int], None] | None, cancel: Callable[[], bool] | None) -> np.ndarray:
        import torch

        pipe, device, dtype = self.pipe, self.torch_device, self.dtype
        guided = g.guidance > 1.0
        positive, negative = pipe.encode_prompt(g.prompt, device, 1, guided, g.negative_prompt or None)
        embeddings = torch.cat([negative, positive]) if guided else positive
        pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device, dtype)
        vae = pipe.vae
        if image.shape[0] * image.shape[1] > VAE_TILE_PIXELS:
            vae.enable_tiling()  # the whole picture goes through the VAE: tiled beyond one native tile
        else:
            vae.disable_tiling()
        scaling = float(vae.config.scaling_factor)
        latents = vae.encode(pixels * 2 - 1).latent_dist.mean * scaling  # the mean: no sampling noise in the start
        _, channels, lh, lw = latents.shape
        noise = torch.from_numpy(seeded_noise(g.seed, channels, lh, lw))[None].to(device, dtype)
        latents = scheduler.add_noise(latents, noise, timesteps[0].reshape(1))
        overlap = self._overlap()
        boxes = self._boxes(lh, lw)
        weights = [torch.from_numpy(tile_weight(th, tw, overlap, (y > 0, y + th < lh, x > 0, x + tw < lw))).to(device, dtype)
                   for y, x, th, tw in boxes]
        total, done = len(boxes) * len(timesteps), 0
        for t in timesteps:
            summed = torch.zeros_like(latents)
            norm = torch.zeros((1, 1, lh, lw), device=device, dtype=dtype)
            for (y, x, th, tw), weight in zip(boxes, weights, strict=True):
                if cancel is not None and cancel():
                    raise Cancelled("cancelled")
                crop = latents[:, :, y:y + th, x:x + tw]
                s = self.vae_scale
                control = pixels[:, :, y * s:(y + th) * s, x * s:(x + tw) * s]
                eps = self._predict(crop, t, embeddings, control, g, guided)
                summed[:, :, y:y + th, x:x + tw] += eps * weight
                norm[:, :, y:y + th, x:x + tw] += weight
                done += 1
                if on_step is not None:
                    on_step(done, total)
            latents = scheduler.step(summed / norm, t, latents).prev_sample
        decoded = vae.decode(latents / scaling).sample
        return ((decoded[0].float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy()

    def _predict(self, latents: Any, t: Any, embeddings: Any, control: Any, g: Generation, guided: bool) -> Any:
        """The noise prediction for one latent tile, with classifier-free guidance when ``guided``."""
        import torch

        model_input = torch.cat([latents, latents]) if guided else latents
        extra: dict[str, Any] = {}
        if self.controlnet is not None and g.control_scale > 0:
            cond = torch.cat([control, control]) if guided else control
            down, mid = self.controlnet(model_input, t, encoder_hidden_states=embeddings, controlnet_cond=cond,
                                        conditioning_scale=g.control_scale, return_dict=False)
            extra = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
        eps = self.pipe.unet(model_input, t, encoder_hidden_states=embeddings, return_dict=False, **extra)[0]
        if guided:
            uncond, cond_eps = eps.chunk(2)
            eps = uncond + g.guidance * (cond_eps - uncond)
        return eps


def check_base(pipe: Any, path: Path) -> None:
    """Refuse what the refiner cannot drive, with what to use instead."""
    config = pipe.unet.config
    if int(config.in_channels) != 4:
        raise UnsupportedModel(f"{path.name} is an inpainting (or otherwise conditioned) model with a "
                               f"{config.in_channels}-channel UNet; generative upscaling needs a base Stable Diffusion "
                               "1.x/2.x model (4 latent channels)")
    if getattr(config, "addition_embed_type", None) is not None:
        raise UnsupportedModel(f"{path.name} is an SDXL-class model (its UNet takes extra embeddings); generative "
                               "upscaling drives Stable Diffusion 1.x/2.x models: use one of those")
    if not hasattr(pipe, "encode_prompt"):
        raise UnsupportedModel(f"{path.name} loads as {type(pipe).__name__}, which has no text encoder to prompt")


def read_controlnet(path: Path, dtype: Any) -> Any:
    """A ControlNet from a local diffusers folder (``config.json`` + weights)."""
    diffusers = import_diffusers(COMMAND)
    if not (path / "config.json").is_file():
        raise UnsupportedModel(f"{path} is not a diffusers ControlNet folder (it has no config.json)")
    with _quiet():
        try:
            return diffusers.ControlNetModel.from_pretrained(path, torch_dtype=dtype, local_files_only=True)
        except Exception as err:  # a foreign or damaged folder: diffusers raises many kinds
            raise UnsupportedModel(f"{path} cannot be loaded as a ControlNet ({_short(err)})") from None


def load_refiner(path: Path, config: Path | None, controlnet: Path | None, options: LoadOptions,
                 memory: int | None, host_budget: int) -> Refiner:
    """The base model at ``path`` (with a ControlNet when given), on ``options.device``, fitted to memory."""
    diffusers = import_diffusers(COMMAND)
    device, dtype = device_and_dtype(options)
    pipe = read_pipeline(path, config, dtype, kind="image-to-image")
    check_base(pipe, path)
    net = None
    if controlnet is not None:
        net = read_controlnet(controlnet, dtype)
        if int(net.config.cross_attention_dim) != int(pipe.unet.config.cross_attention_dim):
            raise UnsupportedModel(f"the ControlNet {controlnet.name} was made for another base model "
                                   f"(cross-attention {net.config.cross_attention_dim}, the base model's "
                                   f"{pipe.unet.config.cross_attention_dim})")
        # as a pipeline component the ControlNet is moved and offloaded with the rest
        with _quiet():
            pipe = diffusers.StableDiffusionControlNetImg2ImgPipeline(**pipe.components, controlnet=net)
        pipe.set_progress_bar_config(disable=True)
    native = int(pipe.unet.config.sample_size) * int(getattr(pipe, "vae_scale_factor", 8))
    plan = fit_to_memory(pipe, device, dtype, native * native, memory, host_budget)
    return Refiner(pipe, net, device, dtype, plan, options.threads)

"""Stable Diffusion through diffusers (the ``revive-photo[gen]`` extra), from local files only.

This module holds what every diffusion use shares — finding the weights, reading a pipeline,
fitting it to memory — and the inpainter of ``revive fill``; :mod:`.refiner` builds the generative
upscaler on the same plumbing.

A pipeline comes from a diffusers folder (``model_index.json``, ``unet/``, ``vae/``…) or from a
single-file checkpoint with ``config`` naming a local diffusers folder of the same architecture
(diffusers would otherwise fetch that config from the hub). Nothing is downloaded, ever. The
pipeline fits a memory budget (:func:`plan_memory`: attention slicing, VAE tiling, CPU offload),
runs in half precision on CUDA and in float32 on the CPU, reports each denoising step, and is
deterministic for a seed (the noise is drawn on the CPU, so a seed means the same on any device).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import Cancelled, InvalidParameter, ModelNotFound, ReviveError, RuntimeUnavailable, UnsupportedModel
from .loaders import LoadOptions

GEN_EXTRA = 'pip install "revive-photo[gen]"'
# A diffusers folder of this name in the store's models folder is what `revive fill` uses by default.
DEFAULT_FILL_MODEL = "sd-inpainting"
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")

# Working memory per pixel of the image being generated, at 2 bytes per value (fp16), measured on an
# H200 with SD 1.5-shaped random models at 512 px (python bench/erase.py --device cuda --probe-memory):
# the UNet at guidance > 1 (a batch of 2) with PyTorch's fused attention 524 B, the same with diffusers'
# attention slicing 1274 B (slicing replaces the fused kernel: it only helps where there is none), and
# the VAE decoder 2440 B (tiled decoding caps it at one 512 px tile). Without fused attention the UNet
# also holds the 4096² attention maps of a 64×64 latent (about 2 KB per pixel more): estimated.
UNET_BYTES_PER_PIXEL = 600
UNET_UNFUSED_BYTES_PER_PIXEL = 2_600
UNET_SLICED_BYTES_PER_PIXEL = 1_300
VAE_BYTES_PER_PIXEL = 2_500
VAE_TILE_PIXELS = 512 * 512

Offload = Literal["none", "model", "sequential"]


@dataclass(frozen=True)
class MemoryPlan:
    """How a pipeline fits its budget: ``fits`` False means it runs anyway, with every saving on."""

    attention_slicing: bool = False
    vae_tiling: bool = False
    offload: Offload = "none"
    fits: bool = True

    def describe(self) -> str:
        parts = [name for on, name in ((self.attention_slicing, "attention slicing"), (self.vae_tiling, "VAE tiling"),
                                       (self.offload == "model", "model CPU offload"),
                                       (self.offload == "sequential", "sequential CPU offload")) if on]
        return ", ".join(parts) or "no memory savings needed"


def plan_memory(budget: int, weights: int, largest: int, pixels: int, dtype_bytes: int, device_type: str,
                fused_attention: bool = True) -> MemoryPlan:
    """The cheapest way to run a pipeline of ``weights`` bytes (``largest`` for its biggest part) on an image
    of ``pixels`` within ``budget`` bytes: VAE tiling, attention slicing (only where attention is not
    fused, since slicing replaces the fused kernel and then costs more), then CPU offload, which
    exists only for GPUs (the weights wait in host memory)."""
    def act(per_pixel: int, px: int = pixels) -> int:
        return px * per_pixel * dtype_bytes // 2

    unet = UNET_BYTES_PER_PIXEL if fused_attention else UNET_UNFUSED_BYTES_PER_PIXEL
    if weights + act(unet) + act(VAE_BYTES_PER_PIXEL) <= budget:
        return MemoryPlan()
    slicing = not fused_attention
    tiling = pixels > VAE_TILE_PIXELS
    lean_unet = UNET_SLICED_BYTES_PER_PIXEL if slicing else unet
    lean = act(lean_unet) + act(VAE_BYTES_PER_PIXEL, min(pixels, VAE_TILE_PIXELS))
    if weights + lean <= budget:
        return MemoryPlan(attention_slicing=slicing, vae_tiling=tiling)
    if device_type == "cuda":
        offload: Offload = "model" if largest + lean <= budget else "sequential"
        return MemoryPlan(attention_slicing=slicing, vae_tiling=tiling, offload=offload)
    return MemoryPlan(attention_slicing=slicing, vae_tiling=tiling, fits=False)


@dataclass(frozen=True)
class WeightsKind:
    """What a command needs from the user's weights, for finding them and for the message when they are missing."""

    command: str  # "revive fill"
    what: str  # "Stable Diffusion inpainting weights"
    default: str  # the folder in the store's models folder used when none is named
    example: str  # a published model of the kind, for the message
    option: str = "--model"

    def missing(self, store_models: Path) -> str:
        return (
            f"{self.command} needs {self.what}, which revive never downloads by itself: put a diffusers folder "
            f"(model_index.json with unet/, vae/, text_encoder/, tokenizer/, scheduler/; e.g. {self.example}) at "
            f"{store_models / self.default}, or pass {self.option} FOLDER, or {self.option} CHECKPOINT.safetensors "
            "with --config FOLDER (a diffusers folder of the same architecture)"
        )


INPAINTING = WeightsKind("revive fill", "Stable Diffusion inpainting weights", DEFAULT_FILL_MODEL,
                         "stable-diffusion-inpainting, 2–4 GB")


def no_weights_message(store_models: Path) -> str:
    return INPAINTING.missing(store_models)


def locate(model: str | None, store_models: Path, kind: WeightsKind = INPAINTING) -> Path:
    """The folder or file ``model`` names: a path, or a folder in the store's models folder."""
    if model is None:
        default = store_models / kind.default
        if (default / "model_index.json").is_file():
            return default
        raise ModelNotFound(kind.missing(store_models))
    found = find_named(model, store_models)
    if found is not None:
        return found
    raise ModelNotFound(f"no model at {model!r} (not a path, nor a folder in {store_models}); "
                        + kind.missing(store_models))


def find_named(name: str, store_models: Path) -> Path | None:
    """What ``name`` names: a file or folder on this computer, else a folder in the store's models folder."""
    for candidate in (Path(name).expanduser(), store_models / name):
        if candidate.exists():
            return candidate
    return None


def import_diffusers(command: str = "revive fill") -> Any:
    try:
        import diffusers
    except ImportError as err:
        raise RuntimeUnavailable(f"{command} needs diffusers and transformers ({err.name or err}); install them "
                                 f"with: {GEN_EXTRA}") from err
    return diffusers


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """diffusers and transformers log, warn and draw progress bars on stderr while loading; the library stays silent."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    saved = [(m, m.get_verbosity(), m.is_progress_bar_enabled()) for m in (dlog, tlog)]
    for module, _, _ in saved:
        module.set_verbosity_error()
        module.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for module, verbosity, bars in saved:
            module.set_verbosity(verbosity)
            if bars:
                module.enable_progress_bar()


def _short(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:240] if lines else type(err).__name__


# The auto-pipeline class that reads a folder (or single file) as each use needs it.
PIPELINE_KINDS = {"inpainting": "AutoPipelineForInpainting", "image-to-image": "AutoPipelineForImage2Image"}


def read_pipeline(path: Path, config: Path | None, dtype: Any, kind: str = "inpainting") -> Any:
    """A diffusers pipeline of ``kind`` (see :data:`PIPELINE_KINDS`) from local files (on the CPU)."""
    diffusers = import_diffusers()
    check_source(path, config)
    auto = getattr(diffusers, PIPELINE_KINDS[kind])
    with _quiet():
        try:
            if path.is_dir():
                pipe = auto.from_pretrained(path, torch_dtype=dtype, local_files_only=True)
            else:
                assert config is not None  # check_source refused a checkpoint without one
                pipe = auto.from_pipe(_single_file(diffusers, path, config, dtype))
        except ReviveError:
            raise
        except Exception as err:  # diffusers raises OSError, ValueError, KeyError… for a foreign or damaged folder
            raise UnsupportedModel(f"{path} cannot be loaded as a diffusers {kind} pipeline ({_short(err)})") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def check_source(path: Path, config: Path | None) -> None:
    """Refuse what cannot be a pipeline before anything is loaded: a folder without model_index.json,
    a file of another kind, a single-file checkpoint without a config folder."""
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise UnsupportedModel(f"{path} is not a diffusers folder (it has no model_index.json)")
        return
    if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
        raise UnsupportedModel(f"{path.name} is neither a diffusers folder nor a checkpoint ({', '.join(SINGLE_FILE_SUFFIXES)})")
    if config is None:
        raise InvalidParameter(f"{path.name} is a single-file checkpoint: pass --config FOLDER, a local diffusers folder "
                               "of the same architecture (its configs are read from there, offline)")
    if not (config / "model_index.json").is_file():
        raise InvalidParameter(f"--config {config} is not a diffusers folder (it has no model_index.json)")


def _single_file(diffusers: Any, path: Path, config: Path, dtype: Any) -> Any:
    index = config / "model_index.json"
    class_name = json.loads(index.read_text()).get("_class_name", "")
    cls = getattr(diffusers, str(class_name), None)
    if cls is None or not hasattr(cls, "from_single_file"):
        raise UnsupportedModel(f"{index} names the pipeline {class_name!r}, which diffusers cannot load from a single file")
    return cls.from_single_file(str(path), config=str(config), torch_dtype=dtype, local_files_only=True)


def modules_of(pipe: Any) -> list[Any]:
    import torch

    return [c for c in pipe.components.values() if isinstance(c, torch.nn.Module)]


def module_bytes(module: Any) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


class LoadedPipeline:
    """A diffusers pipeline on its device, in its precision, with its memory plan; ``native`` is the side it
    generates best at (the UNet's sample size in pixels)."""

    def __init__(self, pipe: Any, device: Any, dtype: Any, plan: MemoryPlan, threads: int | None = None) -> None:
        self.pipe = pipe
        self.torch_device = device
        self.device = str(device)
        self.dtype = dtype
        self.plan = plan
        self.threads = threads
        self.vae_scale = int(getattr(pipe, "vae_scale_factor", 8))
        self.native = int(pipe.unet.config.sample_size) * self.vae_scale


class Inpainter(LoadedPipeline):
    """A loaded diffusion inpainting pipeline."""

    def __init__(self, pipe: Any, device: Any, dtype: Any, plan: MemoryPlan, threads: int | None = None) -> None:
        super().__init__(pipe, device, dtype, plan, threads)
        self.takes_mask = True  # declared for the stages, as torch models declare it (MaskedImageModel)
        self.takes_prompt = True

    def __call__(self, image: np.ndarray, mask: np.ndarray, *, prompt: str, negative_prompt: str, seed: int,
                 steps: int, guidance: float, on_step: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> np.ndarray:
        import torch

        from .torch_runtime import _cpu_threads

        h, w = image.shape[:2]

        def step_end(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                on_step(i + 1, int(getattr(pipe, "num_timesteps", steps)))
            if cancel is not None and cancel():
                raise Cancelled("cancelled")
            return kwargs

        with _cpu_threads(self.threads), _quiet():
            out = self.pipe(
                prompt=prompt, negative_prompt=negative_prompt or None,
                image=image[None].astype(np.float32), mask_image=mask[None, :, :, None].astype(np.float32),
                height=h, width=w, num_inference_steps=steps, guidance_scale=guidance, strength=1.0,
                generator=torch.Generator("cpu").manual_seed(seed), output_type="np", callback_on_step_end=step_end,
            )
        flagged = getattr(out, "nsfw_content_detected", None)
        if flagged and any(flagged):
            raise ReviveError("the model's own safety checker blanked this result; nothing was written "
                              "(a different prompt or seed may pass)")
        result = np.ascontiguousarray(out.images[0], dtype=np.float32)
        if not np.isfinite(result).all():  # fp16 overflow in a VAE made for fp32 (SDXL's is known for it)
            raise ReviveError(f"the model produced invalid values (NaN) in {str(self.dtype).removeprefix('torch.')} on "
                              f"{self.device}; run it in float32 (--device cpu, or a VAE fixed for fp16)")
        return result


def load_inpainter(path: Path, config: Path | None, options: LoadOptions, memory: int | None,
                   host_budget: int) -> Inpainter:
    """Load a pipeline for ``options.device`` (fp16 on CUDA) and fit it to ``memory`` bytes (None: what is free)."""
    import_diffusers()
    device, dtype = device_and_dtype(options)
    pipe = read_pipeline(path, config, dtype)
    native = int(pipe.unet.config.sample_size) * int(getattr(pipe, "vae_scale_factor", 8))
    plan = fit_to_memory(pipe, device, dtype, native * native, memory, host_budget)
    return Inpainter(pipe, device, dtype, plan, options.threads)


def device_and_dtype(options: LoadOptions) -> tuple[Any, Any]:
    """The torch device ``options`` asks for and the precision a diffusion model runs in there (fp16 on CUDA)."""
    from .torch_runtime import choose_dtype, resolve_device

    device = resolve_device(str(options.device))
    return device, choose_dtype(device.type, True, False, options.half, "Stable Diffusion")


def fit_to_memory(pipe: Any, device: Any, dtype: Any, pixels: int, memory: int | None, host_budget: int) -> MemoryPlan:
    """Plan and apply the memory savings ``pipe`` needs to generate ``pixels`` at a time on ``device``
    within ``memory`` bytes (None: 90 % of what the GPU has free; the host budget on the CPU)."""
    import torch

    modules = modules_of(pipe)
    weights = sum(module_bytes(m) for m in modules)
    largest = max((module_bytes(m) for m in modules), default=0)
    budget = host_budget
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        budget = int(free * 0.9) if memory is None else min(memory, int(free * 0.9))
    fused = hasattr(torch.nn.functional, "scaled_dot_product_attention")  # diffusers uses it where it exists
    plan = plan_memory(budget, weights, largest, pixels, torch.finfo(dtype).bits // 8, device.type, fused)
    _apply(pipe, plan, device)
    return plan


def _apply(pipe: Any, plan: MemoryPlan, device: Any) -> None:
    if plan.attention_slicing:
        pipe.enable_attention_slicing()
    if plan.vae_tiling:
        pipe.vae.enable_tiling()
    if plan.offload == "none":
        pipe.to(device)
        return
    try:
        if plan.offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.enable_sequential_cpu_offload(device=device)
    except (ImportError, ValueError) as err:  # accelerate missing or too old
        raise RuntimeUnavailable(f"the model fits this GPU's memory only with CPU offload, which needs accelerate "
                                 f"({_short(err)}); install it with: {GEN_EXTRA}") from err

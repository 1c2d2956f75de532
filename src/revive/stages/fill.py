"""Generative fill: replace what a mask marks with what a prompt describes (Stable Diffusion inpainting).

The pipeline comes from local files (:mod:`revive.models.diffusion`, the ``revive-photo[gen]``
extra) and is kept warm by the engine. Each crop around the mask is generated at the model's
native size and pasted back with a feathered edge (:mod:`revive.masks`). Every result is marked as
generated in the output's record.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine import Engine
from ..masks import Boxes, MaskInput, WorkSize, default_grow, fill_photo, photo_mask, plan_fill
from ..models.diffusion import DEFAULT_FILL_MODEL, Inpainter
from ..types import Photo
from .base import NAME_ONLY, StageContext, StageInfo
from .erase import check_fill_settings
from .planning import check_generation


@dataclass(frozen=True)
class FillParams:
    """What to replace (a mask image and/or boxes), with what (the prompt), and how.

    ``negative_prompt`` steers away from what it names; it works only through classifier-free
    guidance, so it needs ``guidance`` above 1 (diffusers ignores it silently otherwise: refused here).
    ``seed`` None draws one (recorded in the output); the same seed gives the same result.
    ``model``: a diffusers folder, a single-file checkpoint (with ``config``, a local diffusers
    folder of the same architecture), or a folder name in the store; None: the store's ``sd-inpainting``.
    """

    prompt: str = ""
    mask: MaskInput | None = field(default=None, compare=False)
    boxes: Boxes = Boxes()
    negative_prompt: str = ""
    seed: int | None = None
    steps: int = 30
    guidance: float = 7.5
    model: str | None = field(default=None, metadata=NAME_ONLY)
    config: str | None = field(default=None, metadata=NAME_ONLY)
    grow: int | None = None
    context: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", Boxes(self.boxes))
        check_fill_settings(self.grow, self.context)
        check_generation(self.steps, self.guidance, self.seed, self.negative_prompt, usual_guidance=7.5)


@dataclass(frozen=True)
class Filled:
    photo: Photo
    model: str
    seed: int
    device: str
    seconds: float
    crops: int
    memory: str  # the memory plan, in words
    notes: tuple[str, ...] = ()


def check_ready(params: FillParams, engine: Engine) -> Path:
    """Where the pipeline's weights are, once the extra is known to be installed (before any slow work)."""
    from ..models.diffusion import check_source, import_diffusers, locate

    path = locate(params.model, engine.store.models_dir)
    check_source(path, _config(params))
    import_diffusers()
    return path


def _config(params: FillParams) -> Path | None:
    return None if params.config is None else Path(params.config).expanduser()


def load(params: FillParams, context: StageContext) -> Inpainter:
    """The pipeline for ``params``, loaded once per engine (device, threads and memory setting)."""
    from ..models.diffusion import load_inpainter, locate

    engine = context.engine
    path = locate(params.model, engine.store.models_dir)
    config = _config(params)
    key = ("diffusion", str(path.resolve()), str(config), engine.options, engine.memory)
    context.say(f"loading {path.name}")
    return engine.keep(key, lambda: load_inpainter(path, config, engine.options, engine.memory, engine.memory_budget))


def fill(photo: Photo, params: FillParams, context: StageContext) -> Filled:
    """The photo with its masked part generated from the prompt (crop ``i`` uses seed ``seed + i``)."""
    seed = params.seed if params.seed is not None else secrets.randbelow(2**32)
    mask = photo_mask(photo.width, photo.height, params.mask, params.boxes)
    inpainter = load(params, context)
    grow_px = params.grow if params.grow is not None else default_grow(photo.width, photo.height)
    plan = plan_fill(mask, grow_px, params.context, square=True)
    size = WorkSize(side=inpainter.native, enlarge=True, multiple_of=inpainter.vae_scale)
    crops = len(plan.regions)
    counter = itertools.count()
    started = time.perf_counter()

    def one_crop(rgb: np.ndarray, crop_mask: np.ndarray) -> np.ndarray:
        index = next(counter)
        label = "denoising" if crops == 1 else f"denoising {index + 1}/{crops}"
        context.say(f"{label}: {params.steps} steps at {rgb.shape[1]}×{rgb.shape[0]} on {inpainter.device}")
        return inpainter(rgb, crop_mask, prompt=params.prompt, negative_prompt=params.negative_prompt,
                         seed=seed + index, steps=params.steps, guidance=params.guidance,
                         on_step=context.tile_progress(label), cancel=context.cancel)

    result = fill_photo(photo, plan, one_crop, size)
    seconds = time.perf_counter() - started
    notes = []
    if inpainter.torch_device.type == "cpu":
        notes.append(f"generated on the CPU: {params.steps} steps took {seconds:.0f} s for {crops} crop(s); "
                     "a CUDA GPU takes seconds")
    if not inpainter.plan.fits:
        notes.append(f"the model needs more memory than the budget; it ran anyway ({inpainter.plan.describe()})")
    name = Path(params.model).name if params.model else DEFAULT_FILL_MODEL
    return Filled(result, name, seed, inpainter.device, seconds, crops, inpainter.plan.describe(), tuple(notes))


class FillStage:
    name = "fill"

    def __init__(self, params: FillParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        return fill(photo, self.params, context).photo


STAGE = StageInfo(
    name="fill", params_type=FillParams, build=FillStage, phase=16,
    summary="replace what a mask marks with what a prompt describes (Stable Diffusion inpainting, generated pixels)",
    runs_model=lambda params: True, plan=None, generative=True,
)

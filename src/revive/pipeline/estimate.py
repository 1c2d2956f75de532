"""How long a run will take: one estimator, two sources for a model's speed.

* **Declared** (the prior, no model loaded): each model declares its CPU cost in the catalog
  (``cpu_seconds_per_mp``: thread-seconds per input megapixel, measured with bench/model_cost.py),
  each stage the cost of its classical path (``StageInfo.seconds_per_mp``); diagnosis and the guard
  add theirs. Cheap enough for planning and dry runs; on a GPU the run is faster than this says.
* **Probed** (once a model is loaded): the model runs on one small tile of the photo itself (twice;
  the second run counts, the first warms caches) and its time per pixel replaces the declared cost.
  This is the "this will take about 3 minutes" note before a run (:func:`announce_estimate`, a
  phase's ``expect``); the prior decides whether a probe is worth running (issue: a 0.87 MP photo
  once took 7 minutes unannounced).

Either way a model step costs its speed times the pixels its tiles really cover (each tile borrows
``tile_overlap`` pixels of context per side; ``--tile auto`` tiles are cut from the engine's memory
budget as the tiling engine will cut them), over every pass. Meant to say "about 3 minutes".

    seconds = plan_seconds(plan, engine)                  # before anything is loaded
    seconds = announce_estimate(plan.steps, photo, context)  # probed, said before the run
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..engine import Engine
from ..models import ImageModel, ModelSpec
from ..stages import StageRegistry, default_stages
from ..stages.base import StageContext
from ..stages.planning import Step
from ..stages.upscale import model_passes, target_size
from ..tiling import TileOptions, make_grid, tile_for
from ..types import Photo
from .fidelity import FidelityParams

if TYPE_CHECKING:
    from .autopilot import Plan

UNKNOWN_MODEL_COST = 2000.0  # thread-s/MP for a model that declares none: an ESRGAN-sized network
UNKNOWN_BYTES_PER_PIXEL = 64 * 1024  # the same network's working memory per input pixel
DIAGNOSIS_SECONDS_PER_MP = 1.0  # bench/model_cost.py's neighbours: noise, blur, colour, faces
GUARD_SECONDS_PER_MP = 0.09  # per output megapixel (bench/model_cost.py, load 1.0)
PROBE_SIDE = 48  # small enough to cost a fraction of a second even for big models on a CPU
WORTH_SAYING = 60.0  # runs expected to take longer than this get an estimate before they start
# Declared costs were measured on one machine at one load: a run the prior puts within this factor
# of WORTH_SAYING gets a probe (a few model runs on a 48-px tile); shorter ones are not worth one.
PRIOR_DOUBT = 4.0


@dataclass(frozen=True)
class ModelSpeed:
    """What a model step costs: seconds per input pixel of one pass, and the working memory per
    input pixel that sets the tile ``--tile auto`` picks."""

    seconds_per_pixel: float
    bytes_per_pixel: int


def declared_speed(spec: ModelSpec, engine: Engine) -> ModelSpeed:
    """The catalog's word for ``spec`` on ``engine``'s CPU threads (no model loaded)."""
    cost = spec.option("cpu_seconds_per_mp")
    memory = spec.option("bytes_per_pixel")
    per_pixel = (float(cost) if cost else UNKNOWN_MODEL_COST) / 1e6 / max(1, engine.threads)
    return ModelSpeed(per_pixel, int(memory) if memory else UNKNOWN_BYTES_PER_PIXEL)


def seconds_per_pixel(model: ImageModel, photo: Photo) -> float:
    """Seconds per input pixel of one model pass, measured on a tile cut from the photo itself."""
    side = max(PROBE_SIDE, model.min_size)
    multiple = max(1, model.multiple_of)
    side += -side % multiple
    tile = np.ascontiguousarray(photo.rgb()[:side, :side])
    if tile.shape[0] < side or tile.shape[1] < side:
        tile = np.pad(tile, ((0, side - tile.shape[0]), (0, side - tile.shape[1]), (0, 0)), mode="reflect")
    model(tile)  # warm-up: first runs allocate and pick kernels
    started = time.perf_counter()
    model(tile)
    return (time.perf_counter() - started) / (side * side)


def probed_speed(model: ImageModel, photo: Photo) -> ModelSpeed:
    """``model``'s speed on this engine, timed on a sample tile of ``photo``."""
    return ModelSpeed(seconds_per_pixel(model, photo), model.bytes_per_input_pixel())


def model_seconds(speed: ModelSpeed, native: int, width: int, height: int, scale: float, engine: Engine, *,
                  tile: int | None = None, overlap: int = 32) -> float:
    """Seconds for a ×``native`` model to enlarge ``width``×``height`` by ``scale`` (all its passes)."""
    seconds = 0.0
    for _ in range(model_passes(native, scale)):
        side = tile
        if side is None:
            options = TileOptions(overlap=overlap, memory_budget=engine.memory_budget)
            side = tile_for(height, width, native, 3, speed.bytes_per_pixel, options)
        grid = make_grid(height, width, side, overlap)
        seconds += speed.seconds_per_pixel * len(grid) * grid.tile_h * grid.tile_w
        width, height = width * native, height * native
    return seconds


def _model_run(step: Step, stages: StageRegistry, engine: Engine) -> ModelSpec | None:
    """The registered model ``step`` runs on its track, or None: classical steps, plain counterparts,
    the guard, and steps naming a folder (diffusion pipelines time themselves as they run)."""
    name = getattr(step.params, "model", None)
    if name is None or step.track == "plain" or step.stage not in stages or name not in engine.registry:
        return None
    return engine.registry.get(name) if stages.get(step.stage).runs_model(step.params) else None


def estimate_seconds(steps: Iterable[Step], size: tuple[int, int], engine: Engine,
                     stages: StageRegistry | None = None, speeds: Mapping[str, ModelSpeed] | None = None) -> float:
    """Seconds ``steps`` should take on a ``size`` (width, height) photo with ``engine``: model steps at
    ``speeds`` (model name → probed speed) or else their declared speed, classical steps and the
    guard at their declared cost."""
    registry = stages if stages is not None else default_stages()
    speeds = speeds or {}
    width, height = size
    total = 0.0
    for step in steps:
        mp = width * height / 1e6
        if isinstance(step.params, FidelityParams):
            total += GUARD_SECONDS_PER_MP * mp
            continue
        if step.stage in registry:
            total += registry.get(step.stage).seconds_per_mp * mp
        name = getattr(step.params, "model", None)
        spec = engine.registry.get(name) if name is not None and name in engine.registry else None
        scale = getattr(step.params, "scale", None) or (float(spec.scale) if spec is not None else 1.0)
        if (run := _model_run(step, registry, engine)) is not None:
            speed = speeds.get(run.name) or declared_speed(run, engine)
            total += model_seconds(speed, run.scale, width, height, scale, engine,
                                   tile=getattr(step.params, "tile", None),
                                   overlap=getattr(step.params, "tile_overlap", 32))
        if step.track != "reference":
            width, height = target_size(width, height, scale)
    return total


def plan_seconds(plan: Plan, engine: Engine, stages: StageRegistry | None = None) -> float:
    """The declared seconds for the whole of ``plan`` (its diagnosis too) on ``engine``'s CPU."""
    width, height = plan.input_size
    return DIAGNOSIS_SECONDS_PER_MP * width * height / 1e6 + estimate_seconds(plan.steps, plan.input_size, engine, stages)


def announce_estimate(steps: Iterable[Step], photo: Photo, context: StageContext,
                      stages: StageRegistry | None = None) -> float | None:
    """Tell the context how long ``steps`` will take, probed, when the prior says it may matter."""
    steps = list(steps)
    registry = stages if stages is not None else default_stages()
    engine = context.engine
    runs = {spec.name for s in steps if (spec := _model_run(s, registry, engine)) is not None}
    if context.expect is None or not runs:
        return None
    size = (photo.width, photo.height)
    if estimate_seconds(steps, size, engine, registry) < WORTH_SAYING / PRIOR_DOUBT:
        return None
    speeds = {name: probed_speed(engine.load(name), photo) for name in sorted(runs)}
    seconds = estimate_seconds(steps, size, engine, registry, speeds)
    context.expect(seconds)
    return seconds

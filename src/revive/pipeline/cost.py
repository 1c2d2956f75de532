"""How long a plan will take on an engine's CPU from the costs models declare (no model runs).

The before-the-run note uses :mod:`.estimate`, which times a sample tile; this one needs no model loaded.

Each model declares what it costs in the catalog (``cpu_seconds_per_mp``: thread-seconds per
megapixel of input, measured with bench/model_cost.py); a model step costs that times the pixels
its tiles really cover (each tile borrows ``tile_overlap`` pixels of context per side, as the
tiling engine will cut them from the engine's memory budget), for every pass, divided by the
engine's threads. Classical steps add their stage's declared ``seconds_per_mp``; diagnosis and the
guard add theirs. On a GPU the run is faster than this says.

    seconds = estimate_seconds(plan, engine)   # the CLI says so before a run of over a minute
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine import Engine
from ..models import ModelSpec
from ..stages import StageRegistry, default_stages
from ..stages.upscale import model_passes, target_size
from ..tiling import TileOptions, make_grid, tile_for
from .fidelity import FidelityParams

if TYPE_CHECKING:
    from .autopilot import Plan

UNKNOWN_MODEL_COST = 2000.0  # thread-s/MP for a model that declares none: an ESRGAN-sized network
DIAGNOSIS_SECONDS_PER_MP = 1.0  # bench/model_cost.py's neighbours: noise, blur, colour, faces
GUARD_SECONDS_PER_MP = 0.3  # per output megapixel


def model_cost(spec: ModelSpec) -> float:
    """Thread-seconds per input megapixel, as the catalog declares it."""
    declared = spec.option("cpu_seconds_per_mp")
    return float(declared) if declared else UNKNOWN_MODEL_COST


def model_seconds(spec: ModelSpec, width: int, height: int, scale: float, engine: Engine, *,
                  tile: int | None = None, overlap: int = 32) -> float:
    """Seconds for ``spec`` to enlarge a ``width``×``height`` photo by ``scale`` (all its passes)."""
    seconds = 0.0
    for _ in range(model_passes(spec.scale, scale)):
        side = tile
        if side is None:
            bytes_per_pixel = int(spec.option("bytes_per_pixel") or 64 * 1024)
            options = TileOptions(overlap=overlap, memory_budget=engine.memory_budget)
            side = tile_for(height, width, spec.scale, 3, bytes_per_pixel, options)
        grid = make_grid(height, width, side, overlap)
        covered = len(grid) * grid.tile_h * grid.tile_w
        seconds += model_cost(spec) * covered / 1e6 / max(1, engine.threads)
        width, height = width * spec.scale, height * spec.scale
    return seconds


def estimate_seconds(plan: Plan, engine: Engine, stages: StageRegistry | None = None) -> float:
    """The seconds ``plan`` should take on ``engine``'s CPU (see the module docstring)."""
    registry = stages if stages is not None else default_stages()
    width, height = plan.input_size
    total = DIAGNOSIS_SECONDS_PER_MP * width * height / 1e6
    for step in plan.steps:
        mp = width * height / 1e6
        if isinstance(step.params, FidelityParams):
            total += GUARD_SECONDS_PER_MP * mp
            continue
        info = registry.get(step.stage) if step.stage in registry else None
        total += (info.seconds_per_mp if info is not None else 0.0) * mp
        name = getattr(step.params, "model", None)
        runs = info is not None and info.runs_model(step.params) and step.track != "plain"
        spec = engine.registry.get(name) if name is not None else None
        scale = getattr(step.params, "scale", None) or (float(spec.scale) if spec is not None else 1.0)
        if runs and spec is not None:
            total += model_seconds(spec, width, height, scale, engine, tile=getattr(step.params, "tile", None),
                                   overlap=getattr(step.params, "tile_overlap", 32))
        if step.track != "reference":
            width, height = target_size(width, height, scale)
    return total

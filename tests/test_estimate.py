"""The one time estimator: declared costs (no model loaded) and a probe on a sample tile, priced the
same way (pixels its tiles cover, passes, threads). How close either comes to a real run is measured
by bench/estimate.py and bench/model_cost.py, not by a timed test (load decides it)."""

from __future__ import annotations

import numpy as np
import pytest

from revive.engine import Engine
from revive.models.loaders import LoadOptions
from revive.pipeline.autopilot import Plan
from revive.pipeline.estimate import (
    DIAGNOSIS_SECONDS_PER_MP,
    GUARD_SECONDS_PER_MP,
    PROBE_SIDE,
    ModelSpeed,
    announce_estimate,
    declared_speed,
    estimate_seconds,
    model_seconds,
    plan_seconds,
)
from revive.pipeline.fidelity import FidelityParams
from revive.stages import default_stages
from revive.stages.base import StageContext
from revive.stages.color import ColorParams
from revive.stages.denoise import DenoiseParams
from revive.stages.planning import Step
from revive.stages.upscale import UpscaleParams
from revive.testing import FakeEngine, NearestModel
from revive.types import Photo


def test_declared_cost_scales_with_pixels_passes_and_threads() -> None:
    one, two = Engine(options=LoadOptions(threads=1)), Engine(options=LoadOptions(threads=2))
    spec = one.registry.get("waifu2x-photo-x2")

    def seconds(engine: Engine, side: int, scale: float, **tiles: int) -> float:
        return model_seconds(declared_speed(spec, engine), spec.scale, side, side, scale, engine, **tiles)

    base = seconds(one, 200, 2.0, tile=400)
    assert seconds(two, 200, 2.0, tile=400) == base / 2
    assert 3.9 * base < seconds(one, 400, 2.0, tile=800) < 4.1 * base  # 4× the pixels
    assert seconds(one, 200, 4.0, tile=800) == base * 5  # a second pass on 4× the pixels
    assert seconds(one, 400, 2.0, tile=64, overlap=32) > 2 * seconds(one, 400, 2.0, tile=800)  # tile context costs
    heavy = one.registry.get("realesrgan-x4plus")
    x4plus = model_seconds(declared_speed(heavy, one), heavy.scale, 200, 200, 4.0, one, tile=400)  # one pass too
    declared = float(heavy.option("cpu_seconds_per_mp") or 0) / float(spec.option("cpu_seconds_per_mp") or 1)
    assert x4plus == pytest.approx(base * declared) and declared > 10  # each model at its own declared cost


def test_a_probed_speed_replaces_the_declared_one_for_its_model_only() -> None:
    engine = FakeEngine(NearestModel(2, options=(("cpu_seconds_per_mp", "100"),)))
    engine.options = LoadOptions(threads=1)
    step = Step("upscale", UpscaleParams(model="nearest-x2", scale=2.0, tile=512), "")
    declared = estimate_seconds([step], (300, 200), engine)
    assert declared == pytest.approx(100 * 0.06)  # 100 thread-s/MP × 0.06 MP, one thread
    probed = estimate_seconds([step], (300, 200), engine, speeds={"nearest-x2": ModelSpeed(1e-3, 64)})
    assert probed == pytest.approx(1e-3 * 300 * 200)
    assert estimate_seconds([step], (300, 200), engine, speeds={"other": ModelSpeed(1e-3, 64)}) == declared


def test_a_plan_adds_diagnosis_classical_steps_and_the_guard_at_the_size_each_sees() -> None:
    engine = FakeEngine(NearestModel(2, options=(("cpu_seconds_per_mp", "100"),)))
    engine.options = LoadOptions(threads=1)
    stages = default_stages()
    steps = (
        Step("denoise", DenoiseParams(sigma=10.0), "", track="reference"),  # the reference only: same size after
        Step("upscale", UpscaleParams(model="nearest-x2", scale=2.0, tile=512), ""),
        Step("fidelity", FidelityParams(), ""),
        Step("color", ColorParams(exposure=0.5), ""),
    )
    plan = Plan(steps, (), (300, 200), (600, 400))
    mp, out_mp = 0.06, 0.24
    expected = (DIAGNOSIS_SECONDS_PER_MP * mp + stages.get("denoise").seconds_per_mp * mp + 100 * mp
                + GUARD_SECONDS_PER_MP * out_mp + stages.get("color").seconds_per_mp * out_mp)
    assert plan_seconds(plan, engine, stages) == pytest.approx(expected)
    plain = Step("upscale", UpscaleParams(model="nearest-x2", scale=2.0, tile=512), "", track="plain")
    assert estimate_seconds([plain], (300, 200), engine, stages) == 0.0  # the counterpart runs no model


def test_the_probe_runs_only_when_the_prior_says_the_wait_may_matter(astronaut) -> None:
    said: list[float] = []
    cheap = NearestModel(2, options=(("cpu_seconds_per_mp", "1"),))
    slow = NearestModel(4, options=(("cpu_seconds_per_mp", "100000"),))
    engine = FakeEngine(cheap, slow)
    context = StageContext(engine, expect=said.append)
    photo = Photo.from_array(np.ascontiguousarray(astronaut[:256, :256]))

    assert announce_estimate([Step("upscale", UpscaleParams(model="nearest-x2"), "")], photo, context) is None
    assert cheap.calls == [] and said == []  # a second of declared work: no probe, nothing said
    seconds = announce_estimate([Step("upscale", UpscaleParams(model="nearest-x4"), "")], photo, context)
    assert slow.calls == [(PROBE_SIDE, PROBE_SIDE)] * 2  # warm-up and the timed run
    assert seconds is not None and said == [seconds]
    assert seconds < 60  # the probe, not the declared 100 000 thread-s/MP, priced the run
    assert announce_estimate([Step("color", ColorParams(exposure=0.5), "")], photo, context) is None  # no model
    folder = Step("denoise", DenoiseParams(sigma=10.0, model="/models/a-diffusers-folder"), "")
    assert announce_estimate([folder], photo, context) is None  # not a registered model: it times itself
    assert estimate_seconds([folder], (256, 256), engine) == pytest.approx(0.065536 * default_stages().get("denoise").seconds_per_mp)

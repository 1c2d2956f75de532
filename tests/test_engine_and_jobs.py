"""The one engine and job runner under every front end (issue 9): requests, sources and sinks, errors,
stages that plug in, and the CLI as a thin shell over the public API."""

from __future__ import annotations

import ast
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import revive
from revive import api
from revive.cli import app
from revive.models import DEFAULT_UPSCALE_MODEL
from revive.testing import FakeEngine, NearestModel

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def fake_engine(monkeypatch):
    engine = FakeEngine(NearestModel(4, DEFAULT_UPSCALE_MODEL), NearestModel(2, "realesr-animevideov3-x2"))
    monkeypatch.setattr(api._defaults, "engine", engine)
    return engine


@pytest.fixture
def photo_file(tmp_path, coffee):
    path = tmp_path / "cup.png"
    Image.fromarray(coffee[100:132, 200:248]).save(path)
    return path


def test_cli_modules_import_only_the_public_api():
    allowed = {"revive", "revive.api"}
    problems = []
    for path in (REPO / "src" / "revive" / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module and node.module.startswith("revive") and node.module not in allowed:
                    problems.append(f"{path.name}: from {node.module}")
                if node.level == 1:
                    continue  # a sibling CLI module
                if node.level == 2 and node.module not in (None, "api"):
                    problems.append(f"{path.name}: from ..{node.module}")
                if node.level == 2 and node.module is None and any(a.name != "api" for a in node.names):
                    problems.append(f"{path.name}: from .. import {[a.name for a in node.names]}")
            elif isinstance(node, ast.Import):
                problems += [f"{path.name}: import {a.name}" for a in node.names
                             if a.name.startswith("revive.") and a.name not in allowed]
    assert not problems, problems


def test_a_stage_registered_from_a_test_module_appears_in_the_dry_run(monkeypatch, photo_file, fake_engine):
    @dataclass(frozen=True)
    class GrainParams:
        amount: float

    class GrainStage:
        name = "grain"

        def __init__(self, params: GrainParams) -> None:
            self.params = params

        def run(self, photo, context):
            return photo

    def plan_grain(ctx):
        if ctx.setting("grain") == "off":
            return []
        return [api.Step("grain", GrainParams(0.3), "film look → add grain at 0.3")]

    registry = api.StageRegistry(tuple(api.stages()))
    registry.add(api.StageInfo("grain", GrainParams, GrainStage, summary="film grain", phase=60, plan=plan_grain,
                               option=api.StageOption("grain", "Film grain: auto or off.")))
    monkeypatch.setattr(api._defaults, "stages", registry)
    monkeypatch.setattr(api._defaults, "operations", None)
    result = runner.invoke(app, ["enhance", str(photo_file), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "grain" in result.stdout and "film look → add grain at 0.3" in result.stdout
    result = runner.invoke(app, ["enhance", str(photo_file), "--dry-run", "--json", "--set", "grain=off"])
    assert result.exit_code == 0, result.output
    assert "grain" not in [s["stage"] for s in json.loads(result.stdout)["steps"]]
    result = runner.invoke(app, ["enhance", str(photo_file), "--dry-run", "--set", "grain=lots"])
    assert result.exit_code == 2 and "--grain takes auto, off" in result.stderr


def test_stdin_to_stdout_round_trip(tmp_path, coffee):
    data = io.BytesIO()
    Image.fromarray(coffee[:24, :32]).save(data, format="PNG")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "revive.cli", "upscale", "-", "-o", "-", "--model",
                           "realesr-animevideov3-x2", "-q"], input=data.getvalue(), capture_output=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    out = Image.open(io.BytesIO(done.stdout))
    assert out.format == "PNG" and out.size == (64, 48)
    assert done.stderr == b""
    done = subprocess.run([sys.executable, "-m", "revive.cli", "upscale", "-", "-o", "-", "--format", "jpg", "-q",
                           "--model", "realesr-animevideov3-x2"], input=data.getvalue(), capture_output=True, env=env,
                          timeout=120)
    assert done.returncode == 0 and Image.open(io.BytesIO(done.stdout)).format == "JPEG"


def test_one_output_file_for_several_inputs_is_an_error(tmp_path, photo_file, fake_engine):
    other = tmp_path / "b.png"
    other.write_bytes(photo_file.read_bytes())
    result = runner.invoke(app, ["upscale", str(photo_file), str(other), "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 2 and "names a file, but there are 2 inputs" in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_an_internal_error_is_one_line_and_the_other_files_still_run(monkeypatch, tmp_path, photo_file, fake_engine):
    model = fake_engine.models[DEFAULT_UPSCALE_MODEL]
    calls = {"n": 0}
    original = model.__call__

    def flaky(tile):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ZeroDivisionError("a bug")
        return original(tile)

    monkeypatch.setattr(type(model), "__call__", lambda self, tile: flaky(tile))
    second = tmp_path / "second.png"
    second.write_bytes(photo_file.read_bytes())
    result = runner.invoke(app, ["upscale", str(photo_file), str(second), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error: ZeroDivisionError: a bug" in lines[0] and "please report" in lines[0]
    assert (tmp_path / "out" / "second_x4.png").is_file()
    calls["n"] = 0
    result = runner.invoke(app, ["--debug", "upscale", str(photo_file), "-o", str(tmp_path / "again.png"), "-q"])
    assert result.exit_code == 1 and "Traceback" in result.stderr and "ZeroDivisionError" in result.stderr


def test_version_and_help_metavars():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"revive {revive.__version__}"
    for command in ("upscale", "enhance", "diagnose"):
        text = runner.invoke(app, [command, "--help"], terminal_width=200).stdout
        assert "<bool>" not in text and "list[" not in text and "IMAGE" in text


def test_print_size_picks_the_scale_that_fills_the_print(photo_file, fake_engine):
    size = api.PrintSize.parse("30x40cm@300")
    assert size.scale_for(48, 32) == pytest.approx(max(40 / 2.54 * 300 / 48, 30 / 2.54 * 300 / 32))
    assert api.PrintSize.parse("8x10").dpi == 300 and api.PrintSize.parse("8x10in@240").width_in == 8
    with pytest.raises(api.InvalidParameter):
        api.PrintSize.parse("big")
    plan = api.plan(photo_file, print_size=api.PrintSize.parse("2x3in@100"))
    assert plan.output_size[0] >= 300 and plan.output_size[1] >= 200  # 3 in × 100 dpi along the long side
    result = runner.invoke(app, ["upscale", str(photo_file), "--print", "2x3in@100", "--json", "-q"])
    assert result.exit_code == 0, result.output
    w, h = json.loads(result.stdout)["output_size"]
    assert w >= 300 and h >= 200


def test_memory_budget_leaves_room_and_is_settable(monkeypatch):
    from revive import engine as engine_module

    monkeypatch.setattr(engine_module, "available_memory", lambda: 8 << 30)
    assert api.Engine().memory_budget == 4 << 30  # half of what is free by default
    assert api.Engine(memory=api.parse_memory("2G")).memory_budget == 2 << 30
    for bad in ("lots", "1k", "-3G"):
        with pytest.raises(api.InvalidParameter):
            api.parse_memory(bad)


def test_tiles_are_sized_from_the_engine_budget(astronaut):
    sides: list[int] = []

    class Recording(NearestModel):
        def __call__(self, tile):
            sides.append(max(tile.shape[:2]))
            return super().__call__(tile)

    model = Recording(4, DEFAULT_UPSCALE_MODEL)
    small = FakeEngine(model)
    small.memory = api.parse_memory("300M")
    api.upscale(astronaut[:256, :256], engine=small)
    roomy = FakeEngine(Recording(4, DEFAULT_UPSCALE_MODEL))
    roomy.memory = api.parse_memory("8G")
    assert max(sides) < 256 + 64  # the small budget split the photo into tiles


def test_process_takes_any_source_and_gives_bytes(coffee, fake_engine):
    data = io.BytesIO()
    Image.fromarray(coffee[:16, :16]).save(data, format="PNG")
    done = api.process(data.getvalue(), api.UpscaleRequest(), format="png")
    assert isinstance(done.output, bytes) and Image.open(io.BytesIO(done.output)).size == (64, 64)
    done = api.process(coffee[:16, :16], api.EnhanceRequest(api.EnhanceOptions.make(scale=2, color="off")))
    assert done.result is not None and done.result.photo.width == 32
    with pytest.raises(revive.ReviveError, match="no data"):
        api.process(b"", api.UpscaleRequest())


def test_requests_from_text_fields_refuse_typos():
    request = api.request_from_fields(api.EnhanceRequest, {"scale": "2", "denoise": "0.4", "strength": "0.5"})
    assert request.options.scale == 2.0 and request.options.setting("denoise") == 0.4
    with pytest.raises(api.InvalidParameter, match="sacle"):
        api.request_from_fields(api.EnhanceRequest, {"sacle": "2"})
    with pytest.raises(api.InvalidParameter):
        api.request_from_fields(api.UpscaleRequest, {"scale": "-1"})


def test_sigterm_cleans_up_like_ctrl_c(tmp_path, astronaut):
    Image.fromarray(astronaut[:192, :192]).save(tmp_path / "in.png")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen([sys.executable, "-m", "revive.cli", "upscale", str(tmp_path / "in.png"), "-o",
                              str(tmp_path / "out.png"), "--tile", "32", "--threads", "1", "-q"],
                             env=env, stderr=subprocess.PIPE)
    time.sleep(4.0)  # reading, loading the model and the first tiles
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode in (130, 143), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]  # no output, no temporary file


def test_photo_repr_is_one_short_line(astronaut):
    text = repr(revive.Photo.from_array(astronaut))
    assert "\n" not in text and len(text) < 200


def test_every_output_records_what_revive_did(tmp_path, photo_file):
    target = tmp_path / "out.jpg"
    result = runner.invoke(app, ["enhance", str(photo_file), "-o", str(target), "--scale", "2", "-q",
                                 "--model", "realesr-animevideov3-x2"])
    assert result.exit_code == 0, result.output
    record = revive.imageio.read_record(target)
    assert record is not None and record.operation == "enhance" and not record.generative
    upscale = next(s for s in record.stages if s.name == "upscale")
    assert upscale.model == "realesr-animevideov3-x2" and upscale.model_sha256 and upscale.params["scale"] == 2.0
    guard = next(s for s in record.stages if s.name == "fidelity")
    assert guard.params["strength"] == 0.8  # the model's share is part of the record
    data = io.BytesIO()
    Image.open(photo_file).save(data, format="PNG")
    done = api.process(data.getvalue(), api.UpscaleRequest(api.UpscaleParams(model="realesr-animevideov3-x2")),
                       format="png")
    path = tmp_path / "bytes.png"
    path.write_bytes(done.output)
    assert revive.imageio.read_record(path).stages[0].model == "realesr-animevideov3-x2"


def test_two_runs_writing_one_report_never_interleave(tmp_path, photo_file, fake_engine):
    import threading

    report = tmp_path / "report.json"
    results = []

    def run(i: int) -> None:
        results.append(api.process(photo_file, api.EnhanceRequest(api.EnhanceOptions.make(scale=1, color="off")),
                                   tmp_path / f"out{i}.png", report=report,
                                   output=api.OutputOptions(overwrite=True)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    json.loads(report.read_text())  # one whole report, never a mix
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_long_run_is_announced_with_an_estimate_before_it_starts(monkeypatch, tmp_path, astronaut, fake_engine):
    from revive.pipeline import estimate

    Image.fromarray(astronaut[:400, :400]).save(tmp_path / "big.png")
    events: list[api.JobEvent] = []
    api.process(tmp_path / "big.png", api.UpscaleRequest(), on_event=events.append)
    estimates = [e for e in events if e.kind == "estimate"]
    assert len(estimates) == 1 and estimates[0].eta is not None and estimates[0].eta > 0
    first_tiles = next(i for i, e in enumerate(events) if e.kind == "progress")
    assert events.index(estimates[0]) < first_tiles  # before the run, not during it

    monkeypatch.setattr(estimate, "seconds_per_pixel", lambda model, photo: 1e-3)  # a slow machine
    result = runner.invoke(app, ["upscale", str(tmp_path / "big.png"), "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    assert "this will take about 2.7 min" in result.stderr  # 400² px × 1 ms
    small = tmp_path / "small.png"
    Image.fromarray(astronaut[:64, :64]).save(small)
    events.clear()
    api.process(small, api.UpscaleRequest(), on_event=events.append)
    assert not [e for e in events if e.kind == "estimate"]  # too small to be worth a probe

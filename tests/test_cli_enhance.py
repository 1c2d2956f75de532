"""`revive enhance`: dry runs, JSON lines, reports, overrides, errors and exit codes.

Most runs use a nearest-neighbour stand-in for the upscale model (the CLI is the point here); one
runs the embedded Real-ESRGAN on a 48 px photo end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import revive.api
from revive.cli import app
from revive.models import DEFAULT_UPSCALE_MODEL
from revive.testing import FakeEngine, NearestModel

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def fake_model(monkeypatch):
    fakes = FakeEngine(NearestModel(4, DEFAULT_UPSCALE_MODEL), NearestModel(2, "realesr-animevideov3-x2"))
    monkeypatch.setattr(revive.api._defaults, "engine", fakes)


@pytest.fixture
def photos(tmp_path, astronaut, coffee) -> tuple[Path, Path]:
    a, b = tmp_path / "face.png", tmp_path / "cup.png"
    Image.fromarray(astronaut[100:164, 150:214]).save(a)
    Image.fromarray(coffee[150:214, 250:314]).save(b)
    return a, b


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, photos, fake_model):
    before = sorted(tmp_path.iterdir())
    result = invoke("enhance", *photos, "--dry-run")
    assert result.exit_code == 0, result.output
    assert sorted(tmp_path.iterdir()) == before
    out = result.stdout
    assert "face.png → " in out and "cup.png → " in out and "dry run: nothing written" in out
    assert "1. " in out and "upscale ×4 with realesrgan-x4plus" in out and "fidelity" in out
    assert "findings:" in out and "64×64 → 256×256" in out
    assert out.count("time: about ") == 2  # the declared-cost prior: nothing is loaded in a dry run


def test_dry_run_json_is_the_plan_as_data(photos, fake_model):
    result = invoke("enhance", photos[0], "--dry-run", "--json", "--scale", "2", "--strength", "0.6")
    assert result.exit_code == 0, result.output
    lines = [json.loads(ln) for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    plan = lines[0]
    assert plan["dry_run"] is True and plan["output_size"] == [128, 128]
    steps = {s["stage"]: s for s in plan["steps"]}
    assert steps["upscale"]["params"]["scale"] == 2.0 and steps["fidelity"]["params"]["strength"] == 0.6
    assert all(s["reason"] for s in plan["steps"])
    assert "noise" in plan["diagnosis"] and "faces" in plan["diagnosis"]
    assert plan["estimated_seconds"] > 0


def test_overrides_reach_the_plan(tmp_path, astronaut, fake_model):
    noisy = np.clip(astronaut[:128, :128] + np.random.default_rng(0).normal(0, 20, (128, 128, 3)), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / "noisy.png")

    def stages(*args: str) -> list[str]:
        result = invoke("enhance", tmp_path / "noisy.png", "--dry-run", "--json", *args)
        assert result.exit_code == 0, result.output
        return [s["stage"] for s in json.loads(result.stdout)["steps"]]

    assert stages("--scale", "1") == ["denoise"]
    assert stages("--scale", "1", "--denoise", "off") == []
    assert stages("--denoise", "off", "--model", "realesr-animevideov3-x2", "--scale", "2") == ["upscale", "fidelity"]


def test_enhance_writes_output_and_html_report(tmp_path, photos, fake_model):
    result = invoke("enhance", photos[1], "-o", tmp_path / "out.png", "--report", tmp_path / "report.html")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == (256, 256)
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/jpeg;base64,") == 2  # before and after, embedded
    for part in ("Diagnosis", "Plan", "Fidelity guard", "Timings", "PSNR", "SSIM", 'type="range"'):
        assert part in page
    assert "cup.png → " in result.stdout and "report: " in result.stdout


def test_json_lines_and_json_reports_for_several_files(tmp_path, photos, fake_model):
    out = tmp_path / "out"
    result = invoke("enhance", *photos, "-o", out, "--json", "--report", tmp_path / "r" / "report.json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(ln) for ln in result.stdout.splitlines() if ln.strip()]
    assert [Path(line["output"]).name for line in lines] == ["face_enhanced.png", "cup_enhanced.png"]
    assert all(line["steps"][-1] == "fidelity" and line["fidelity"]["action"] for line in lines)
    report = json.loads((tmp_path / "r" / "report-face.json").read_text())
    assert report["input"].endswith("face.png") and report["output_size"] == [256, 256]
    assert [t["stage"] for t in report["timings"]][0] == "diagnose"
    assert report["plan"]["steps"] and report["diagnosis"]["resolution"]["width"] == 64
    assert {"psnr", "ssim", "action", "strength_used"} <= set(report["fidelity"])
    assert (tmp_path / "r" / "report-cup.json").is_file()


def test_strength_0_lists_the_plain_upscale_and_marks_it_in_the_report(tmp_path, photos, fake_model):
    result = invoke("enhance", photos[1], "-o", tmp_path / "plain.png", "--strength", "0",
                    "--report", tmp_path / "plain.html")
    assert result.exit_code == 0, result.output
    assert "(256×256; upscale;" in result.stdout  # the step that shaped the result is named
    assert Image.open(tmp_path / "plain.png").size == (256, 256)
    page = (tmp_path / "plain.html").read_text()
    assert "(plain, no model)" in page and "realesrgan-x4plus is not run" in page


def test_inputs_sharing_a_name_get_a_report_each(tmp_path, astronaut, coffee, fake_model):
    for folder, img in (("a", astronaut), ("b", coffee)):
        (tmp_path / folder).mkdir()
        Image.fromarray(img[:64, :64]).save(tmp_path / folder / "x.png")
    result = invoke("enhance", tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", "-o", tmp_path / "out",
                    "--report", tmp_path / "out" / "r.json")
    assert result.exit_code == 0, result.output
    reports = [json.loads((tmp_path / "out" / name).read_text()) for name in ("r-x.json", "r-x-1.json")]
    assert [Path(r["input"]).parent.name for r in reports] == ["a", "b"]
    assert reports[0]["output"] != reports[1]["output"]


def test_quiet_prints_nothing(tmp_path, photos, fake_model):
    result = invoke("enhance", photos[0], "-o", tmp_path / "q.png", "-q")
    assert result.exit_code == 0 and result.stdout == ""


def test_errors_and_exit_codes(tmp_path, photos, fake_model):
    missing = tmp_path / "missing.png"
    result = invoke("enhance", missing, photos[0], "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"revive: error: {missing}: ")
    assert (tmp_path / "out" / "face_enhanced.png").is_file()  # the others still ran

    result = invoke("enhance", photos[0], "-o", tmp_path / "out" / "face_enhanced.png")
    assert result.exit_code == 1 and "--overwrite" in result.stderr
    assert invoke("enhance", photos[0], "-o", tmp_path / "out" / "face_enhanced.png", "--overwrite").exit_code == 0

    for bad in (["--denoise", "lots"], ["--faces", "maybe"], ["--color", "lots"], ["--report", "r.txt"],
                ["--scale", "0"], ["--strength", "2"]):
        result = invoke("enhance", photos[0], "--dry-run", *bad)
        assert result.exit_code == 2, (bad, result.output)
    result = invoke("enhance", photos[0], "--dry-run", "--model", "no-such-model")
    assert result.exit_code == 1 and "no-such-model" in result.stderr


def test_real_model_end_to_end(tmp_path, chelsea):
    Image.fromarray(chelsea[100:148, 200:248]).save(tmp_path / "cat.png")
    result = invoke("enhance", tmp_path / "cat.png", "--scale", "4", "--report", tmp_path / "cat.json", "--json")
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["output_size"] == [192, 192] and "upscale" in line["steps"]
    assert Image.open(tmp_path / "cat_enhanced.png").size == (192, 192)
    report = json.loads((tmp_path / "cat.json").read_text())
    assert report["fidelity"]["action"] == "kept" and report["fidelity"]["ssim"] > 0.8


def _values(metavar: str) -> list[str]:
    """What a metavar such as ``auto|on|off|0-1`` advertises, as values to type ("0-1": three strengths)."""
    return [v for token in metavar.split("|") for v in (("0", "0.5", "1") if token == "0-1" else (token,))]


def test_stage_flags_advertise_exactly_what_the_library_accepts(tmp_path, photos, fake_model):
    """For every registered stage option: each value `enhance --help` shows is accepted (through the
    CLI too), each keyword the library accepts is shown, and nothing else passes (issue: --color said auto|off)."""
    import typer.main

    command = typer.main.get_command(app).commands["enhance"]  # type: ignore[attr-defined]
    flags = {opt[2:]: p for p in command.params for opt in p.opts if opt.startswith("--")}
    options = revive.api.stages().options()
    shown = {name: flags[name] for name in options if name in flags}
    assert {"faces", "denoise", "color", "deblur"} <= set(shown)
    for name, option in options.items():
        keywords = {a for a in option.accepts if a != "strength"}
        clause = option.help.rsplit(":", 1)[-1]  # "auto, on (…) or off": the values the help's prose lists
        assert {w for w in ("auto", "on", "off") if f" {w}" in f" {clause.replace(',', ' ')}"} == keywords, name
        assert ("0..1" in clause) == ("strength" in option.accepts), name  # "a strength 0..1", "a creativity 0..1"
        if name in shown:
            assert shown[name].metavar == option.metavar and option.help in (shown[name].help or ""), name
        advertised = _values(option.metavar)
        assert keywords <= set(advertised) and ("0.5" in advertised) == ("strength" in option.accepts), name
        for value in advertised:
            revive.api.check_options(revive.api.EnhanceOptions.make(**{name: value}))
        for value in {"auto", "on", "off", "0.5", "2"} - set(advertised):
            with pytest.raises(revive.api.InvalidParameter, match=f"--{name} takes"):
                revive.api.check_options(revive.api.EnhanceOptions.make(**{name: value}))
    columns = {name: _values(flag.metavar) for name, flag in shown.items()}
    for i in range(max(len(v) for v in columns.values())):
        chosen = [f"--{name}={values[min(i, len(values) - 1)]}" for name, values in columns.items()]
        result = invoke("enhance", photos[0], "--dry-run", *chosen)
        assert result.exit_code == 0, (chosen, result.output)
    for name in set(options) - set(shown):  # reached with --set (creative once clashed with an options field)
        result = invoke("enhance", photos[0], "--dry-run", "--set", f"{name}=off")
        assert result.exit_code == 0, (name, result.output)

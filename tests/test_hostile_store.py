"""The store under a hostile user: a damaged imported.json, names that point outside the store, a
REVIVE_HOME that cannot be used, failed pulls; and the declarations the rest of revive reads
(the runtime table, model capabilities, the thread bound).

Every failure is one `revive: …` line; the built-in models keep working; nothing outside the
store is ever touched; no lock and no unusable partial file is left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from _hostile import embedded_param, one_line, revive, tree

from revive.errors import ChecksumMismatch, DownloadError, InvalidParameter, ModelError, RuntimeUnavailable
from revive.models import ModelFile, ModelSource, ModelSpec, ModelStore
from revive.models.importer import DEFAULT_INSPECTORS, import_model
from revive.models.loaders import RUNTIMES, LoadOptions, Runtime, RuntimeTable, get_loader, max_threads
from revive.models.spec import ImageModel


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REVIVE_MODEL_MIRROR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


@pytest.fixture
def good_entry(home: Path) -> dict[str, object]:
    """A real imported model ("good"); its manifest entry, to build damaged ones from."""
    import_model(ModelStore(), embedded_param(), name="good")
    [entry] = json.loads((home / "models" / "imported.json").read_text())["models"]
    return entry


def write_manifest(home: Path, text: str | bytes) -> None:
    path = home / "models" / "imported.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def entries(*models: object) -> str:
    return json.dumps({"version": 1, "models": list(models)})


# --- 4. a damaged imported.json -------------------------------------------------------------------

DAMAGED_FILES: dict[str, str | bytes] = {
    "not-json": "{not json",
    "binary": bytes(range(256)) * 8,
    "deep-nesting": "[" * 200_000 + "]" * 200_000,
    "deep-in-an-entry": '{"models": [' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "]}",
    "a-5000-digit-number": '{"models": [{"name": "x", "scale": 1' + "0" * 5000 + "}]}",
    "models-not-a-list": '{"models": {"good": 1}}',
    "a-list": "[1, 2, 3]",
    "null": "null",
    "too-big": "{" + " " * (17 << 20) + '"models": []}',
}


@pytest.mark.parametrize("content", DAMAGED_FILES.values(), ids=DAMAGED_FILES.keys())
def test_a_damaged_manifest_is_one_note_and_the_builtins_work(content: str | bytes, home: Path) -> None:
    write_manifest(home, content)
    shown = revive("models", "list", "--json")
    one_line(shown, "imported.json", code=0)
    assert shown.stderr.startswith("revive: note: ") and "Traceback" not in shown.output
    assert {"realesrgan-x4plus", "dat-light-x4"} <= {row["name"] for row in json.loads(shown.stdout)}
    assert "REALESRGAN_X4PLUS_UP4X.bin" in revive("models", "path", "realesrgan-x4plus").stdout
    checked = revive("models", "verify")
    assert checked.exit_code == 1 and "unreadable imported.json" in checked.stdout and "Traceback" not in checked.output


def _bad_entries(good: dict[str, object]) -> dict[str, object]:
    file = dict(good["files"][0])  # type: ignore[index]
    return {
        "scale-1e400": {**good, "name": "a", "scale": 1e400},
        "scale-nan": {**good, "name": "b", "scale": float("nan")},
        "scale-true": {**good, "name": "c", "scale": True},
        "scale-huge": {**good, "name": "d", "scale": 10**30},
        "size-huge": {**good, "name": "e", "files": [{**file, "size": 10**30}]},
        "size-text": {**good, "name": "f", "files": [{**file, "size": "big"}]},
        "files-text": {**good, "name": "g", "files": "all of them"},
        "sha-short": {**good, "name": "h", "files": [{**file, "sha256": "abc"}]},
        "file-outside": {**good, "name": "i", "files": [{**file, "name": "../../outside.bin"}]},
        "options-number": {**good, "name": "j", "options": 5},
        "flag-text": {**good, "name": "k", "supports_half": "no"},
        "name-number": {**good, "name": 5},
        "an-int": 7,
        "a-list": [good],
        "duplicate": good,
    }


def test_damaged_entries_are_one_note_and_hide_only_themselves(good_entry: dict[str, object], home: Path) -> None:
    bad = _bad_entries(good_entry)
    write_manifest(home, entries(good_entry, *bad.values()))
    shown = revive("models", "list", "--json")
    line = one_line(shown, f"{len(bad)} entries of the imported-models manifest", code=0)
    names = {row["name"] for row in json.loads(shown.stdout)}
    assert "good" in names and "realesrgan-x4plus" in names and not names & set("abcdefghijk")
    assert len(line) < 2000
    one_line(revive("models", "path", "i"), "unknown model 'i'")  # its file name never became a path
    assert revive("models", "path", "good").exit_code == 0


@pytest.mark.parametrize("name", ["../../x", "a/../../x", "..", "/tmp/x", "x\\..\\..", "good/../../../x", "."])
def test_remove_never_touches_anything_outside_the_store(name: str, good_entry: dict[str, object], home: Path,
                                                         tmp_path: Path) -> None:
    outside = tmp_path / "x"
    outside.mkdir()
    (outside / "sentinel.txt").write_text("keep me")
    write_manifest(home, entries(good_entry, {**good_entry, "name": name}))
    before = tree(tmp_path)
    one_line(revive("models", "remove", name), "not a usable model name")
    one_line(revive("models", "list"), "imported.json", code=0)
    assert tree(tmp_path) == before


def test_a_link_where_a_model_folder_should_be_is_removed_not_followed(good_entry: dict[str, object], home: Path,
                                                                       tmp_path: Path) -> None:
    outside = tmp_path / "photos"
    outside.mkdir()
    (outside / "sentinel.txt").write_text("keep me")
    (home / "models" / "link").symlink_to(outside, target_is_directory=True)
    write_manifest(home, entries(good_entry, {**good_entry, "name": "link"}))
    assert revive("models", "remove", "link").exit_code == 0
    assert not (home / "models" / "link").exists() and (outside / "sentinel.txt").read_text() == "keep me"


# --- 5. a REVIVE_HOME that cannot be used ---------------------------------------------------------


def _unwritable(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        return folder / "home"
    target = Path("/sys/revive-test-home")  # root may write anywhere but sysfs
    try:
        target.mkdir()
    except OSError:
        return target
    target.rmdir()
    pytest.skip("no folder here refuses writes to this user")


@pytest.mark.parametrize("kind", ["a-file", "under-a-file", "unwritable"])
def test_a_home_that_cannot_be_used_is_one_clear_line(kind: str, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    target = {"a-file": tmp_path / "afile", "under-a-file": tmp_path / "afile" / "home"}.get(kind) or _unwritable(tmp_path)
    says = "afile is a file, not a folder" if kind != "unwritable" else "revive may not write to the model store"
    before = tree(tmp_path)
    for command in (("models", "pull", "dat-light-x2"), ("models", "add", str(embedded_param()), "--name", "mine")):
        one_line(revive(*command, REVIVE_HOME=str(target)), says, "set REVIVE_HOME to a folder")
    # nothing can be in a store that cannot exist; an empty one that cannot be written holds nothing either
    one_line(revive("models", "remove", "mine", REVIVE_HOME=str(target)),
             says if kind != "unwritable" else "unknown model 'mine'")
    listed = revive("models", "list", "--json", REVIVE_HOME=str(target))  # still lists the built-in models
    assert listed.exit_code == 0 and "realesrgan-x4plus" in listed.stdout and len(listed.stderr.splitlines()) <= 1
    assert tree(tmp_path) == before


# --- 10. a failed pull leaves no lock and nothing that blocks the next --------------------------------

PAYLOAD = bytes(range(256)) * 1024  # 256 KiB


class Server(BaseHTTPRequestHandler):
    fail = False
    wrong = False

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if Server.fail:
            self.send_error(500)
            return
        body = bytes(len(PAYLOAD)) if Server.wrong else PAYLOAD
        start = int(self.headers.get("Range", "bytes=0-").removeprefix("bytes=").split("-")[0])
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        try:
            self.wfile.write(body[start:])
        except OSError:
            pass


@pytest.fixture
def server() -> Iterator[str]:
    Server.fail = Server.wrong = False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/m.bin"
    httpd.shutdown()
    httpd.server_close()


def _spec(url: str) -> ModelSpec:
    file = ModelFile("m.bin", hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD), (ModelSource("url", url),))
    return ModelSpec("served", "upscale", "ncnn", "test", 2, (file,), "MIT")


def _left(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_a_failed_pull_leaves_no_lock_and_no_part(server: str, home: Path) -> None:
    store = ModelStore()
    Server.fail = True
    with pytest.raises(DownloadError, match="HTTP 500"):
        store.pull(_spec(server))
    assert _left(home) == []
    Server.fail, Server.wrong = False, True
    with pytest.raises(ChecksumMismatch, match="the file was discarded"):
        store.pull(_spec(server))
    assert _left(home) == []
    Server.wrong = False
    assert store.pull(_spec(server))[0].read_bytes() == PAYLOAD


def test_ctrl_c_in_a_pull_leaves_a_resumable_part_and_no_lock(server: str, home: Path) -> None:
    store = ModelStore()

    def ctrl_c_after_some_bytes(progress: object) -> None:
        if getattr(progress, "done", 0) > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.pull(_spec(server), progress=ctrl_c_after_some_bytes)
    assert _left(home) == ["models/.partial/served--m.bin.part"]  # the documented resume file, no lock
    assert store.pull(_spec(server))[0].read_bytes() == PAYLOAD
    assert _left(home) == ["models/.verified/served.json", "models/served/m.bin"]


def test_a_failed_pull_through_the_cli_is_one_line(server: str, tmp_path: Path) -> None:
    Server.fail = True
    before = tree(tmp_path)
    one_line(revive("models", "pull", "dat-light-x2", REVIVE_MODEL_MIRROR=server.rsplit("/", 1)[0]),
             "could not fetch DAT_light_x2.pth", "HTTP 500")
    assert tree(tmp_path) == before


# --- the declarations: runtime table, capabilities, threads ---------------------------------------


def test_one_runtime_table_names_every_runtime_and_its_files() -> None:
    assert RUNTIMES.names == ("ncnn", "torch", "onnx")
    every_suffix = {s for runtime in RUNTIMES for s in runtime.suffixes}
    assert every_suffix <= set(DEFAULT_INSPECTORS.suffixes)  # `models add` reads what the runtimes run
    table = RuntimeTable(RUNTIMES)
    with pytest.raises(InvalidParameter, match="'onnx' is already registered"):
        table.add(Runtime("onnx", "x", "load", "x", (), (".x",)))
    assert table.names == RUNTIMES.names
    table.add(Runtime("mine", "revive.testing", "NearestModel", "revive-photo", ("numpy",), (".mine",)))
    assert table.loader("mine").__name__ == "NearestModel" and "mine" not in RUNTIMES  # data, no side effects


def test_a_missing_runtime_package_is_not_supported_never_damaged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RuntimeUnavailable) as info:
        get_loader("onnx")
    assert str(info.value) == 'onnx models: not supported: needs onnxruntime (pip install "revive-photo[onnx]")'


def test_an_entry_for_a_runtime_this_revive_lacks_is_hidden_as_newer(good_entry: dict[str, object],
                                                                      home: Path) -> None:
    write_manifest(home, entries(good_entry, {**good_entry, "name": "rt", "runtime": "tensorrt"}))
    specs, problems = ModelStore().readable_imports()
    assert [s.name for s in specs] == ["good"]
    assert "'rt' this revive cannot read (runtime 'tensorrt' is not one of ncnn, torch, onnx)" in problems[0]


def test_models_declare_their_capabilities() -> None:
    from revive.testing import NearestModel

    store = ModelStore()
    spec = import_model(store, embedded_param(), name="declared")
    ncnn_model = get_loader("ncnn")(spec, store.locate(spec), LoadOptions(device="cpu"))
    fake = NearestModel(2)
    for model in (ncnn_model, fake):
        assert isinstance(model, ImageModel)
        assert (model.input_channels, model.output_channels, model.multiple_of, model.min_size) == (3, 3, 1, 1)
        assert (model.tiling, model.extra_inputs, model.memory_budget) == ("supported", (), None)
    assert ncnn_model.supports_half is True and fake.supports_half is False


@pytest.mark.parametrize("threads", [0, -1, max_threads() + 1, 10**9, True, 2.5, "4"])
def test_threads_are_bounded(threads: object) -> None:
    with pytest.raises(InvalidParameter, match=rf"threads must be a whole number from 1 to {max_threads()}"):
        LoadOptions(threads=threads)  # type: ignore[arg-type]
    assert LoadOptions(threads=1).threads == 1 and LoadOptions(threads=max_threads()).threads == max_threads()


def test_store_errors_are_model_errors_with_a_way_out(home: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    store = ModelStore(tmp_path / "afile")
    with pytest.raises(ModelError, match="set REVIVE_HOME to a folder revive may write to"):
        store.remove("good")


class Slow(BaseHTTPRequestHandler):
    """Sends a few bytes of a large file, then takes its time: a pull to interrupt."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "45728932")  # what the catalog says DAT_light_x2.pth weighs
        self.end_headers()
        try:
            for _ in range(600):
                self.wfile.write(bytes(1 << 16))
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT as a terminal does")
def test_ctrl_c_in_revive_models_pull_is_one_line_and_leaves_no_lock(tmp_path: Path, home: Path) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
           "REVIVE_MODEL_MIRROR": f"http://127.0.0.1:{httpd.server_address[1]}"}
    try:
        cli = subprocess.Popen([sys.executable, "-m", "revive.cli", "models", "pull", "dat-light-x2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        part = home / "models" / ".partial" / "dat-light-x2--DAT_light_x2.pth.part"
        deadline = time.monotonic() + 120
        while not (part.exists() and part.stat().st_size) and time.monotonic() < deadline and cli.poll() is None:
            time.sleep(0.1)
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert cli.returncode == 130
    assert err.decode().strip() == "revive: interrupted; run 'revive models pull dat-light-x2' again to resume"
    assert _left(home) == ["models/.partial/dat-light-x2--DAT_light_x2.pth.part"]  # resumable, no lock

"""Real face architectures (GFPGAN, RestoreFormer, CodeFormer) with random weights, saved to files and
added the way a user adds their own; the catalog's face models pulled from a local server."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import FACES_DIR, portrait_u8
from typer.testing import CliRunner

from revive import api
from revive.cli import app
from revive.engine import Engine
from revive.errors import ChecksumMismatch, DownloadError
from revive.models import BUILTIN_MODELS, ModelStore
from revive.models.importer import import_model
from revive.stages.base import StageContext
from revive.stages.faces import FaceParams, restore_faces_in
from revive.types import Photo

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REVIVE_MODEL_MIRROR", raising=False)
    monkeypatch.setattr(api._defaults, "engine", None)  # the CLI's engine reads this store, not an earlier test's
    return tmp_path / "home"


def save(net: torch.nn.Module, path: Path, *, half: bool = False) -> Path:
    """As a user's download; ``half`` stores fp16 (half the file) for architectures whose size is fixed."""
    state = net.state_dict()
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def restoreformer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RestoreFormer (spandrel's architecture) at a small width: spandrel reads the width from the weights."""
    from spandrel.architectures.RestoreFormer import RestoreFormer

    torch.manual_seed(0)
    net = RestoreFormer(ch=32, ch_mult=(1, 1, 1, 1, 1, 1), n_embed=64, embed_dim=32, z_channels=32, num_res_blocks=1)
    return save(net, tmp_path_factory.mktemp("rf") / "my_restoreformer.pth")


def hook_inputs(network: torch.nn.Module) -> list[tuple[torch.Tensor, dict]]:
    seen: list[tuple[torch.Tensor, dict]] = []
    network.register_forward_pre_hook(lambda module, args, kwargs: seen.append((args[0].detach().clone(), kwargs)),
                                      with_kwargs=True)
    return seen


def test_a_users_restoreformer_is_added_and_restores_faces_from_the_cli(restoreformer_file: Path, tmp_path: Path):
    added = runner.invoke(app, ["models", "add", str(restoreformer_file), "--name", "my-restoreformer"])
    assert added.exit_code == 0, added.output
    assert "added my-restoreformer: torch, x1, restore-face" in added.output
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["faces", str(FACES_DIR / "hopper.jpg"), "-o", str(out), "--model", "my-restoreformer",
                                 "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    [face] = line["faces"]
    assert face["box"] and face["size"] >= 40 and face["confidence"] > 0.8
    assert face["identity"]["flagged"]  # random weights draw no face at all: never pasted as one
    assert face["action"] == "dropped" and face["strength"] == 0
    assert out.is_file() and line["output_size"] == [128, 128]

    model = Engine(store=ModelStore()).load("my-restoreformer")
    seen = hook_inputs(model.descriptor.model)
    crop = np.random.default_rng(0).random((512, 512, 3), dtype=np.float32)
    restored = model.restore_face(crop)
    assert restored.shape == (512, 512, 3) and restored.dtype == np.float32
    assert 0.0 <= restored.min() and restored.max() <= 1.0 and not np.allclose(restored, crop, atol=0.05)
    [(x, _)] = seen
    assert x.min() < -0.9 and x.max() > 0.9  # the network saw [-1, 1], as it was trained


def test_gfpgan_with_random_weights_runs_through_the_users_path(tmp_path: Path):
    """Full size (spandrel builds GFPGAN with fixed hyperparameters, so it cannot be made smaller; the
    file holds fp16, half the size)."""
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    net = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                 num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    path = save(net, tmp_path / "GFPGAN-mine.pth", half=True)
    del net
    store = ModelStore()
    spec = import_model(store, path, "my-gfpgan")
    path.unlink()
    assert (spec.purpose, spec.architecture, spec.scale) == ("restore-face", "GFPGAN", 1)
    engine = Engine(store=store)
    seen = hook_inputs(engine.load("my-gfpgan").descriptor.model)
    photo = Photo(portrait_u8("hopper.jpg").astype(np.float32) / 255)
    result = restore_faces_in(photo, FaceParams(model="my-gfpgan"), StageContext(engine=engine))
    [face] = result.faces
    assert face.identity is not None and face.flagged and face.strength == 0.0
    [(x, kwargs)] = seen
    assert tuple(x.shape) == (1, 3, 512, 512) and x.min() < -0.5 and kwargs == {}


def test_codeformer_takes_the_fidelity_setting(tmp_path: Path):
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    torch.manual_seed(0)
    net = CodeFormer(dim_embd=64, n_head=8, n_layers=1, codebook_size=64, latent_size=256)
    path = save(net, tmp_path / "codeformer-mine.pth", half=True)
    del net
    store = ModelStore()
    spec = import_model(store, path, "my-codeformer")
    assert (spec.purpose, spec.architecture) == ("restore-face", "CodeFormer")
    model = Engine(store=store).load("my-codeformer")
    seen = hook_inputs(model.descriptor.model)
    crop = portrait_u8("grace_hopper.jpg")[:512, :512].astype(np.float32) / 255
    restored = model.restore_face(np.ascontiguousarray(crop), fidelity=0.3)
    assert restored.shape == (512, 512, 3) and np.isfinite(restored).all()
    [(_, kwargs)] = seen
    assert kwargs == {"weight": 0.3}


# --- the catalog ---------------------------------------------------------------------------------

FACE_CATALOG = {
    "gfpgan-1.4": ("GFPGANv1.4.pth", 348_632_874, "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad"),
    "gfpgan-1.3": ("GFPGANv1.3.pth", 348_632_874, "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70"),
    "restoreformer": ("RestoreFormer.pth", 290_785_322, "07404d446d62ca3d5ed38b1de09a947a1e77d46dbccec961a74d713a8f24ace0"),
    "codeformer": ("codeformer.pth", 376_637_898, "1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7"),
}


def test_face_models_in_the_catalog_are_pinned_and_codeformer_is_marked_non_commercial():
    specs = {s.name: s for s in BUILTIN_MODELS if s.purpose == "restore-face"}
    assert set(specs) == set(FACE_CATALOG)
    for name, (file, size, sha) in FACE_CATALOG.items():
        [f] = specs[name].files
        assert (f.name, f.size, f.sha256) == (file, size, sha)
        assert f.sources and all(s.url.startswith("https://github.com/") for s in f.sources)
    assert specs["codeformer"].non_commercial and not any(specs[n].non_commercial for n in specs if n != "codeformer")
    listed = runner.invoke(app, ["models", "list", "--json"])
    rows = {r["name"]: r for r in json.loads(listed.output)}
    assert rows["codeformer"]["non_commercial"] is True and "non-commercial" in rows["codeformer"]["license"]
    assert rows["gfpgan-1.4"]["status"] == "not downloaded" and rows["gfpgan-1.4"]["purpose"] == "restore-face"


class StandIn:
    """A local server for one file name; stops with the test."""

    def __init__(self, name: str, body: bytes) -> None:
        files = {"/" + name: body}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                data = files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def stand_in() -> Iterator[tuple[StandIn, bytes]]:
    body = np.random.default_rng(1).bytes(200_000)
    server = StandIn("GFPGANv1.4.pth", body)
    yield server, body
    server.httpd.shutdown()
    server.httpd.server_close()


def test_models_pull_gfpgan_enforces_size_and_sha256(stand_in, home: Path, monkeypatch: pytest.MonkeyPatch):
    server, body = stand_in
    monkeypatch.setenv("REVIVE_MODEL_MIRROR", server.url)  # the catalog's URLs, served from here
    pulled = runner.invoke(app, ["models", "pull", "gfpgan-1.4"])
    assert pulled.exit_code == 1
    assert "348632874" in pulled.output or "size" in pulled.output or "sha256" in pulled.output, pulled.output
    folder = home / "models" / "gfpgan-1.4"
    assert not folder.exists() or not any(folder.iterdir())

    catalog = api.default_registry().get("gfpgan-1.4")
    [f] = catalog.files
    same_size = dataclasses.replace(catalog, files=(dataclasses.replace(f, size=len(body)),))  # only the hash differs
    with pytest.raises((ChecksumMismatch, DownloadError), match="sha256|checksum"):
        ModelStore().pull(same_size)
    assert not folder.exists() or not any(folder.iterdir())

    right = dataclasses.replace(catalog, files=(dataclasses.replace(f, size=len(body),
                                                                    sha256=hashlib.sha256(body).hexdigest()),))
    [path] = ModelStore().pull(right)
    assert path == folder / "GFPGANv1.4.pth" and path.read_bytes() == body

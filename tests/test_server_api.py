"""The REST API on a real server bound to 127.0.0.1: jobs, events, results, diagnosis, plans, models, operations."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from _server import GatedModel, ReadPathRequest, decode, fake_engine, png_bytes, serving

from revive import api


@pytest.fixture(scope="module")
def server():
    with serving() as (url, app):
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, app


@pytest.fixture(scope="module")
def small(astronaut) -> np.ndarray:
    return np.ascontiguousarray(astronaut[100:164, 150:214])


def wait(client: httpx.Client, job_id: str, timeout: float = 30) -> dict:
    """Follow the job's SSE stream to its last event and return that event."""
    last = None
    with client.stream("GET", f"/api/jobs/{job_id}/events", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                last = json.loads(line[6:])
    assert last is not None
    return last


def submit(client: httpx.Client, image: bytes, name: str = "photo.png", content_type: str = "image/png", **fields):
    return client.post("/api/jobs", files={"image": (name, image, content_type)},
                       data={k: str(v) for k, v in fields.items()})


def test_upscale_job_streams_its_phases_and_returns_the_exact_result(server, small):
    client, _ = server
    answer = submit(client, png_bytes(small), "cup.png", operation="upscale")
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/api/jobs/{job['id']}"
    events = []
    with client.stream("GET", job["events"]) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "queued" and kinds[-1] == "done"
    phases = [e["phase"] for e in events if e["kind"] == "phase"]
    assert phases[0] == "reading" and "upscale" in phases and phases[-1] == "writing"
    assert any(e["kind"] == "progress" and e["done"] == e["of"] > 0 for e in events)
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    done = events[-1]
    assert done["result"]["output_size"] == [256, 256] and "output" not in done["result"]
    result = client.get(done["download"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert 'filename="cup_x4.png"' in result.headers["content-disposition"]
    assert np.array_equal(decode(result.content), np.repeat(np.repeat(small, 4, axis=0), 4, axis=1))


def test_no_options_run_enhance_and_status_reports_the_result(server, small):
    client, _ = server
    job = submit(client, png_bytes(small)).json()
    assert job["operation"] == "enhance"
    assert wait(client, job["id"])["kind"] == "done"
    status = client.get(f"/api/jobs/{job['id']}").json()
    assert status["status"] == "done" and status["input_size"] == [64, 64]
    assert status["result"]["steps"][0] == "upscale" and status["result"]["output_size"][0] > 64
    assert decode(client.get(status["download"]).content).shape[0] == status["result"]["output_size"][1]


def test_options_are_form_fields_and_the_format_is_chosen(server, small):
    client, _ = server
    job = submit(client, png_bytes(small), operation="enhance", scale="2", denoise="off", color="off",
                 strength="0.5", format="jpg", quality="90").json()
    assert wait(client, job["id"])["kind"] == "done"
    result = client.get(f"/api/jobs/{job['id']}/result")
    assert result.headers["content-type"] == "image/jpeg" and result.content[:3] == b"\xff\xd8\xff"
    assert decode(result.content).shape == (128, 128, 3)
    assert "_enhanced.jpg" in result.headers["content-disposition"]


def test_resuming_an_event_stream_gives_only_later_events(server, small):
    client, _ = server
    job = submit(client, png_bytes(small), operation="upscale").json()
    wait(client, job["id"])
    with client.stream("GET", job["events"], headers={"Last-Event-ID": "3"}) as stream:
        seqs = [int(line[4:]) for line in stream.iter_lines() if line.startswith("id: ")]
    assert seqs and min(seqs) == 4


def test_diagnose_and_plan_describe_the_photo_without_running_anything(server, small):
    client, _ = server
    image = {"image": ("p.png", png_bytes(small), "image/png")}
    diagnosis = client.post("/api/diagnose", files=image).json()
    assert diagnosis["input_size"] == [64, 64] and diagnosis["diagnosis"]["resolution"]["width"] == 64
    assert any("small" in f for f in diagnosis["findings"])
    plan = client.post("/api/plan", files=image, data={"scale": "3", "color": "off"}).json()
    assert plan["plan"]["output_size"] == [192, 192]
    assert [s["stage"] for s in plan["plan"]["steps"]][0] == "upscale"
    assert "192×192" in plan["explain"]
    bad = client.post("/api/plan", files=image, data={"sacle": "3"})
    assert bad.status_code == 422 and "sacle" in bad.json()["error"]


def test_operations_that_write_no_image_report_their_details(server, small):
    client, _ = server
    job = submit(client, png_bytes(small), operation="diagnose").json()
    done = wait(client, job["id"])
    assert done["kind"] == "done" and done["result"]["resolution"]["width"] == 64 and "download" not in done
    refused = client.get(f"/api/jobs/{job['id']}/result")
    assert refused.status_code == 409 and "writes no image" in refused.json()["error"]


def test_models_and_operations_are_listed_from_the_library(server):
    client, _ = server
    models = client.get("/api/models").json()["models"]
    assert {m["name"] for m in models} >= {api.DEFAULT_UPSCALE_MODEL}
    assert all(m["ready"] for m in models if m["name"] == api.DEFAULT_UPSCALE_MODEL)
    meta = client.get("/api/operations").json()
    ops = {op["name"]: op for op in meta["operations"]}
    assert meta["default"] == "enhance" and {"upscale", "enhance", "diagnose", "paint-out"} <= set(ops)
    enhance = {f["name"]: f for f in ops["enhance"]["fields"]}
    assert enhance["scale"]["kind"] == "number" and enhance["scale"]["optional"]
    assert enhance["model"]["model"] == "upscale"
    assert enhance["denoise"]["kind"] == "setting" and enhance["denoise"]["strength"]
    assert enhance["tile"]["advanced"] and not enhance["strength"]["advanced"]
    upscale = {f["name"]: f for f in ops["upscale"]["fields"]}
    assert upscale["alpha"]["kind"] == "choice" and upscale["alpha"]["choices"] == ["resample", "model"]
    mask = {f["name"]: f for f in ops["paint-out"]["fields"]}["mask"]
    assert mask["kind"] == "file" and mask["file"] == "photo" and not mask["optional"]


def test_an_operation_added_to_the_registry_runs_with_its_mask_file(server, small):
    client, app = server
    mask = np.zeros_like(small)
    mask[10:30, 20:40] = 255
    answer = client.post("/api/jobs", data={"operation": "paint-out"},
                         files={"image": ("p.png", png_bytes(small), "image/png"),
                                "mask": ("m.png", png_bytes(mask), "image/png")})
    assert answer.status_code == 202, answer.text
    assert app.state.revive.queue.get(answer.json()["id"]).job.request is None  # queued as files, decoded when run
    assert wait(client, answer.json()["id"])["result"]["masked"] == 400
    out = decode(client.get(f"/api/jobs/{answer.json()['id']}/result").content)
    inside = mask[..., 0] > 0
    assert np.array_equal(out[~inside], small[~inside])
    assert np.ptp(out[inside].astype(int), axis=0).max() <= 1  # one flat colour
    assert np.abs(out[inside].astype(int) - small[inside]).mean() > 5


def test_a_mask_for_an_operation_without_one_is_refused_cleanly(server, small):
    client, _ = server
    answer = client.post("/api/jobs", files={"image": ("p.png", png_bytes(small), "image/png"),
                                             "mask": ("m.png", png_bytes(small), "image/png")})
    assert answer.status_code == 422
    assert answer.json()["error"].startswith("enhance takes no file named 'mask'")  # and lists the ones it takes
    missing = client.post("/api/jobs", data={"operation": "paint-out"},
                          files={"image": ("p.png", png_bytes(small), "image/png")})
    assert missing.status_code == 422 and "needs mask" in missing.json()["error"]


def test_no_field_can_name_a_path_on_the_server(server, small, tmp_path):
    client, _ = server
    secret = tmp_path / "secret.txt"
    secret.write_text("x" * 123)
    refused = submit(client, png_bytes(small), operation="read-path", source=str(secret))
    assert refused.status_code == 422 and "source takes a file" in refused.json()["error"]
    # as a file it works: the request gets the server's own private copy
    answer = client.post("/api/jobs", data={"operation": "read-path"},
                         files={"image": ("p.png", png_bytes(small), "image/png"),
                                "source": ("s.txt", b"y" * 7, "text/plain")})
    assert answer.status_code == 202
    assert wait(client, answer.json()["id"])["result"]["bytes"] == 7
    with pytest.raises(api.InvalidParameter, match="takes a file"):
        api.request_from_fields(ReadPathRequest, {"source": "/etc/passwd"})


@pytest.mark.parametrize("fields, fragment", [
    ({"operation": "sharpen"}, "no operation named 'sharpen'"),
    ({"operation": "upscale", "scale": "-2"}, "scale must be a positive number"),
    ({"operation": "upscale", "model": "no-such-model"}, "no-such-model"),
    ({"scale": "lots"}, "scale: cannot use 'lots'"),
    ({"denoise": "very"}, "--denoise takes"),
    ({"format": "gif"}, "format must be one of"),
    ({"quality": "200"}, "quality must be between 1 and 100"),
])
def test_bad_options_get_422_with_the_reason(server, small, fields, fragment):
    client, _ = server
    answer = submit(client, png_bytes(small), **fields)
    assert answer.status_code == 422
    assert fragment in answer.json()["error"]


def test_unknown_jobs_and_unfinished_results_are_clear(server):
    client, _ = server
    missing = client.get("/api/jobs/nope")
    assert missing.status_code == 404 and "no job 'nope'" in missing.json()["error"]
    assert client.get("/api/jobs/nope/result").status_code == 404
    assert client.get("/api/jobs/nope/events").status_code == 404


def test_openapi_documents_the_jobs_form_from_the_operations(server):
    client, _ = server
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["image"] and schema["properties"]["image"]["format"] == "binary"
    assert {"upscale", "enhance", "paint-out"} <= set(schema["properties"]["operation"]["enum"])
    assert "enhance" in schema["properties"]["scale"]["description"]
    assert schema["properties"]["mask"]["format"] == "binary"
    assert {"/api/jobs/{job_id}", "/api/jobs/{job_id}/events", "/api/jobs/{job_id}/result", "/api/diagnose",
            "/api/models"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_a_full_queue_answers_503_and_cancelling_frees_the_files(small):
    gated = GatedModel("gated-x4")
    with serving(fake_engine(gated), queue_limit=2) as (url, app), httpx.Client(base_url=url, timeout=30) as client:
        image = png_bytes(small)
        first = submit(client, image, operation="upscale", model="gated-x4").json()
        assert gated.entered.wait(10)
        second = submit(client, image, operation="upscale", model="gated-x4").json()
        assert client.get(f"/api/jobs/{second['id']}").json()["position"] == 1
        third = submit(client, image, operation="upscale", model="gated-x4")
        assert third.status_code == 503 and third.headers["retry-after"]
        assert "busy" in third.json()["error"]
        queue = app.state.revive.queue
        folder = queue.get(second["id"]).folder
        assert client.delete(f"/api/jobs/{second['id']}").json()["status"] == "cancelled"
        assert not folder.exists() and client.get(f"/api/jobs/{second['id']}").status_code == 404
        gated.gate.set()
        assert wait(client, first["id"])["kind"] == "done"
        assert client.get("/api/health").json()["jobs"]["done"] == 1


def test_results_expire_and_nothing_is_left_when_the_server_stops(small):
    with serving(result_ttl=0.5, sweep_interval=0.1) as (url, app), httpx.Client(base_url=url, timeout=30) as client:
        queue = app.state.revive.queue
        job = submit(client, png_bytes(small), operation="upscale").json()
        wait(client, job["id"])
        folder = queue.get(job["id"]).folder
        assert [p.name for p in folder.iterdir()] == ["result.png"]  # the upload went when the job ended
        deadline = time.monotonic() + 10
        while client.get(f"/api/jobs/{job['id']}").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get(f"/api/jobs/{job['id']}/result").status_code == 404
        assert not folder.exists()
        running = submit(client, png_bytes(small), operation="upscale").json()
        root = queue.root
        assert isinstance(root, Path) and root.exists()
    assert not root.exists()
    assert queue.closed and running["id"]


def test_the_real_engine_enhances_through_the_server(small, tmp_path):
    """The embedded Real-ESRGAN model (ncnn), as `revive serve` runs it."""
    with serving(api.default_engine(), api.operations()) as (url, _), httpx.Client(base_url=url, timeout=120) as client:
        crop = np.ascontiguousarray(small[:48, :48])
        job = submit(client, png_bytes(crop), operation="enhance", scale="2").json()
        assert wait(client, job["id"], timeout=120)["kind"] == "done"
        out = decode(client.get(f"/api/jobs/{job['id']}/result").content)
        assert out.shape == (96, 96, 3)
        assert api.compare(np.repeat(np.repeat(crop, 2, 0), 2, 1), out).psnr > 20


def test_a_job_that_fails_while_running_says_why(server, small):
    client, app = server
    empty = np.zeros_like(small)
    answer = client.post("/api/jobs", data={"operation": "paint-out"},
                         files={"image": ("p.png", png_bytes(small), "image/png"),
                                "mask": ("m.png", png_bytes(empty), "image/png")})
    assert answer.status_code == 202  # the mask is a valid image: the operation itself finds it empty
    last = wait(client, answer.json()["id"])
    assert last["kind"] == "failed" and last["status"] == "failed"
    assert last["message"] == "the mask is empty: paint over what to remove"
    refused = client.get(f"/api/jobs/{answer.json()['id']}/result")
    assert refused.status_code == 409 and "the mask is empty" in refused.json()["error"]
    folder = app.state.revive.queue.get(answer.json()["id"]).folder
    assert list(folder.iterdir()) == []  # the photo and the mask went when the job ended


def test_cancelling_a_running_job_stops_it_between_tiles(small):
    gated = GatedModel("gated-x4")
    with serving(fake_engine(gated)) as (url, app), httpx.Client(base_url=url, timeout=30) as client:
        job = submit(client, png_bytes(small), operation="upscale", model="gated-x4", tile="16").json()
        assert gated.entered.wait(10)
        folder = app.state.revive.queue.get(job["id"]).folder
        assert client.delete(f"/api/jobs/{job['id']}").json()["status"] == "cancelled"
        gated.gate.set()
        deadline = time.monotonic() + 10
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not folder.exists()
        assert len(gated.calls) < 16  # 64×64 in 16-pixel tiles is 16 tiles; it stopped after the one running
        assert client.get("/api/health").json()["jobs"]["running"] == 0

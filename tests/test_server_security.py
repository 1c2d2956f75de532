"""The server's gate and its answers to bad uploads: refused with a clear 4xx, and the server stays healthy."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from _server import bomb_png, decode, png_bytes, serving

LIMIT = 1 << 20  # the upload cap in these tests


@pytest.fixture(scope="module")
def server():
    with serving(max_upload_bytes=LIMIT, max_pixels=400_000) as (url, app):
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, url


@pytest.fixture(scope="module")
def photo(coffee) -> bytes:
    return png_bytes(np.ascontiguousarray(coffee[100:148, 200:264]))


def still_healthy(client: httpx.Client, photo: bytes) -> None:
    assert client.get("/api/health").json()["ok"]
    job = client.post("/api/jobs", files={"image": ("p.png", photo, "image/png")}, data={"operation": "upscale"})
    assert job.status_code == 202
    with client.stream("GET", f"/api/jobs/{job.json()['id']}/events") as stream:
        last = [line for line in stream.iter_lines() if line.startswith("event: ")][-1]
    assert last == "event: done"


def truncated(photo: bytes) -> bytes:
    return photo[: len(photo) // 2]


@pytest.mark.parametrize("make, name, content_type, status, fragment", [
    (lambda p: b"just some text, honestly\n" * 20, "photo.png", "image/png", 422, "not an image"),
    (lambda p: b"%PDF-1.7\n" + b"0" * 500, "scan.jpg", "image/jpeg", 422, "a PDF document"),
    (truncated, "half.png", "image/png", 422, "half.png"),
    (lambda p: bomb_png(), "bomb.png", "image/png", 413, "100000x100000"),
    (lambda p: png_bytes(np.zeros((700, 700, 3), np.uint8)), "big.png", "image/png", 413, "more than the limit"),
    (lambda p: b"", "empty.png", "image/png", 422, "empty.png"),
])
def test_bad_uploads_get_4xx_and_leave_the_server_healthy(server, photo, make, name, content_type, status, fragment):
    client, _ = server
    for path in ("/api/jobs", "/api/diagnose"):
        answer = client.post(path, files={"image": (name, make(photo), content_type)})
        assert answer.status_code == status, answer.text
        message = answer.json()["error"]
        assert fragment in message
        assert "/tmp" not in message and "revive-serve" not in message  # no private paths in answers
    still_healthy(client, photo)


def test_content_is_sniffed_not_the_name_or_content_type(server, photo):
    client, _ = server
    answer = client.post("/api/jobs", files={"image": ("notes.txt", photo, "text/plain")}, data={"operation": "upscale"})
    assert answer.status_code == 202
    with client.stream("GET", f"/api/jobs/{answer.json()['id']}/events") as stream:
        assert [line for line in stream.iter_lines() if line.startswith("event: ")][-1] == "event: done"
    result = client.get(f"/api/jobs/{answer.json()['id']}/result")
    assert result.headers["content-type"] == "image/png" and decode(result.content).shape == (192, 256, 3)


def test_requests_that_are_not_multipart_or_lack_the_image_are_refused(server, photo):
    client, _ = server
    as_json = client.post("/api/jobs", json={"image": "x"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["error"]
    raw = client.post("/api/jobs", content=photo, headers={"content-type": "image/png"})
    assert raw.status_code == 415
    as_text = client.post("/api/jobs", data={"image": "not a file"}, files={"other": ("x", b"y", "text/plain")})
    assert as_text.status_code == 422 and "field named 'image'" in as_text.json()["error"]
    broken = client.post("/api/jobs", content=b"--xyz\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert 400 <= broken.status_code < 500
    still_healthy(client, photo)


def test_bodies_over_the_cap_get_413_with_or_without_a_length(server, photo):
    client, _ = server
    big = photo + b"\0" * LIMIT
    declared = client.post("/api/jobs", files={"image": ("p.png", big, "image/png")})
    assert declared.status_code == 413 and "upload limit of 1 MiB" in declared.json()["error"]

    built = httpx.Request("POST", "/api/jobs", files={"image": ("p.png", big, "image/png")})
    body = built.read()

    def chunks():  # no Content-Length: the body is counted as it streams
        for start in range(0, len(body), 1 << 16):
            yield body[start:start + (1 << 16)]

    streamed = client.post("/api/jobs", content=chunks(), headers={"content-type": built.headers["content-type"]})
    assert streamed.status_code == 413 and "upload limit" in streamed.json()["error"]
    still_healthy(client, photo)


def test_other_host_names_are_refused_against_dns_rebinding(server):
    client, url = server
    port = url.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "localhost.evil.example"):
        answer = client.get("/api/health", headers={"Host": host})
        assert answer.status_code == 421, host
        assert "does not answer to the host name" in answer.json()["error"]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200, host


def test_allowed_host_names_are_served():
    with serving(allowed_hosts=("photos.lan",)) as (url, _), httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/api/health", headers={"Host": "photos.lan"}).status_code == 200
        assert client.get("/api/health", headers={"Host": "other.lan"}).status_code == 421


def test_cross_origin_requests_that_change_state_are_refused(server, photo):
    client, url = server
    image = {"image": ("p.png", photo, "image/png")}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": url.replace("127.0.0.1", "localhost")},
                    {"Sec-Fetch-Site": "cross-site"}, {"Origin": url + ".evil.example"}):
        for method, path in (("POST", "/api/jobs"), ("POST", "/api/diagnose"), ("POST", "/api/plan"),
                             ("DELETE", "/api/jobs/anything")):
            answer = client.request(method, path, files=image if method == "POST" else None, headers=headers)
            assert answer.status_code == 403, (headers, path)
            assert "cross-origin request refused" in answer.json()["error"]
    same = client.post("/api/diagnose", files=image, headers={"Origin": url, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200


def test_no_cors_and_safe_headers_everywhere(server):
    client, url = server
    preflight = client.options("/api/jobs", headers={"Origin": "http://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    for path in ("/", "/api/health", "/static/app.js", "/api/jobs/x"):
        answer = client.get(path, headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in answer.headers
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cross-origin-resource-policy"] == "same-origin"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]

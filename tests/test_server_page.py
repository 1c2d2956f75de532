"""The page in a real browser (Debian's chromium driven by Playwright): pick a photo, see its plan, run with
progress, compare, zoom, download; paint a mask; errors as messages; keyboard, labels, dark theme, 200 % zoom.

Screenshots go to the test's tmp folder, and to $REVIVE_SCREENSHOTS when set (docs/ keeps one)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _server import decode, serving
from PIL import Image
from playwright.sync_api import expect

CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); Playwright downloads no browser
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright  # the page keeps its CSP: waits use locators, not eval

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=60_000)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def url():
    with serving() as (address, _):
        yield address


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory, astronaut) -> Path:
    path = tmp_path_factory.mktemp("page") / "astronaut.png"
    Image.fromarray(np.ascontiguousarray(astronaut[60:188, 160:288])).save(path)
    return path


@pytest.fixture
def page(browser, url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    page.wait_for_selector("#op-enhance", state="attached")
    yield page
    context.close()
    assert not errors, errors


def keep(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("REVIVE_SCREENSHOTS"):
        target = Path(os.environ["REVIVE_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / name)
    return path


def split_of(page) -> float:
    return float(page.eval_on_selector("#frame", "f => parseFloat(getComputedStyle(f).getPropertyValue('--split'))"))


def test_enhance_from_pick_to_download(page, photo_file, tmp_path):
    page.set_input_files("#file", str(photo_file))
    page.wait_for_selector("#steps li")
    assert "128×128" in page.inner_text("#photo-name")
    assert "small" in page.inner_text("#findings")
    page.fill("#opt-scale", "2")
    expect(page.locator("#plan-size")).to_contain_text("256×256")
    assert page.inner_text("#steps li:first-child").startswith("upscale")
    page.click("#run")
    page.wait_for_selector("#download:not([hidden])")
    assert page.inner_text("#status") == "Done."
    assert page.eval_on_selector("#bar", "b => b.value") == 1
    assert "128×128 → 256×256" in page.inner_text("#result-info")

    # the slider: keyboard, then a drag on the photo
    page.focus("#split")
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    assert split_of(page) == 40
    assert "40 % original" in page.get_attribute("#split", "aria-valuetext")
    box = page.locator("#frame").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert abs(split_of(page) - 25) <= 1
    keep(page, tmp_path, "serve-enhance.png")

    # 100 %: one image pixel per screen pixel
    page.click("#zoom")
    assert page.get_attribute("#zoom", "aria-pressed") == "true"
    assert page.locator("#frame").bounding_box()["width"] == pytest.approx(256, abs=1)
    page.click("#zoom")
    assert page.locator("#frame").bounding_box()["width"] > 600

    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "astronaut_enhanced.png"
    data = Path(download.path()).read_bytes()
    image = Image.open(io.BytesIO(data))
    image.verify()
    assert image.format == "PNG" and image.size == (256, 256)


def test_the_brush_paints_a_mask_that_the_operation_receives(page, photo_file, tmp_path):
    assert page.is_hidden("#brush")
    page.set_input_files("#file", str(photo_file))
    page.check("#op-paint-out")
    page.wait_for_selector("#brush:not([hidden])")
    assert page.is_visible("#mask")
    box = page.locator("#mask").bounding_box()
    x0, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=8)
    page.mouse.up()
    keep(page, tmp_path, "serve-mask.png")
    with page.expect_response("**/api/jobs") as sent:
        page.click("#run")
    assert sent.value.status == 202 and sent.value.json()["operation"] == "paint-out"  # it needs a mask to be taken
    page.wait_for_selector("#download:not([hidden])")
    with page.expect_download() as info:
        page.click("#download")
    out = decode(Path(info.value.path()).read_bytes())
    original = np.asarray(Image.open(photo_file).convert("RGB"))
    changed = np.abs(out.astype(int) - original).sum(axis=2) > 0
    row = changed[64]  # the stroke's row: painted from 30 % to 70 % of the width, with round ends
    assert row[45:83].all() and not row[:30].any() and not row[100:].any()
    assert not changed[:40].any() and not changed[90:].any()


def test_painting_nothing_is_refused_on_the_page(page, photo_file):
    page.set_input_files("#file", str(photo_file))
    page.check("#op-paint-out")
    page.wait_for_selector("#brush:not([hidden])")
    page.click("#run")
    assert "Paint over what to remove" in page.inner_text("#message")


def test_errors_are_messages_on_the_page(page, photo_file, tmp_path):
    bogus = tmp_path / "holiday.png"
    bogus.write_text("these are my notes, not a photo\n" * 10)
    page.set_input_files("#file", str(bogus))
    expect(page.locator("#message-text")).to_contain_text("holiday.png: not an image")
    assert page.get_attribute("#message", "role") == "alert"
    page.set_input_files("#file", str(photo_file))
    expect(page.locator("#message")).to_be_hidden()
    page.check("#op-upscale")
    page.fill("#opt-scale", "-3")
    page.click("#run")
    expect(page.locator("#message-text")).to_contain_text("scale")
    assert page.is_visible("#pick") and page.is_enabled("#run")


def test_keyboard_and_labels(page, photo_file):
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, button, a[href]')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
                     && !e.textContent.trim())
        .map(e => e.id || e.outerHTML)""")
    assert unnamed == []
    choosers = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))  # listening from the start: Chromium intercepts the dialog then
    focused = []
    for _ in range(4):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert "file" in focused
    while page.evaluate("document.activeElement.id") != "file":
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    for _ in range(100):
        if choosers:
            break
        page.wait_for_timeout(50)
    assert choosers, "Enter on the focused file picker opened no file chooser"
    choosers[0].set_files(str(photo_file))
    page.wait_for_selector("#steps li")
    page.focus("#run")
    page.keyboard.press("Enter")
    page.wait_for_selector("#download:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "download"  # focus moves to the result's action


@pytest.mark.parametrize("scheme, zoom", [("dark", 1), ("light", 2)])
def test_dark_theme_and_200_percent_zoom(browser, url, photo_file, tmp_path, scheme, zoom):
    # 200 % browser zoom of a 1280-pixel window is a 640-CSS-pixel viewport at two device pixels each
    context = browser.new_context(viewport={"width": 1280 // zoom, "height": 900 // zoom}, device_scale_factor=zoom,
                                  color_scheme=scheme)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(url)
        page.wait_for_selector("#op-enhance", state="attached")
        page.set_input_files("#file", str(photo_file))
        page.wait_for_selector("#steps li")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(18, 19, 20)") == (scheme == "dark")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{overflow} px of horizontal scrolling at {zoom * 100} %"
        run = page.locator("#run").bounding_box()
        assert run["x"] >= 0 and run["x"] + run["width"] <= 1280 // zoom
        page.click("#run")
        page.wait_for_selector("#download:not([hidden])")
        keep(page, tmp_path, f"serve-{scheme}-{zoom * 100}.png")
    finally:
        context.close()

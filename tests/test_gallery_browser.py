"""The gallery in a real browser: Debian's headless Chromium driven by Playwright (.ci/install-browser).

The page is opened from file:// in the folder extracted from the run's zip, as a person who got the zip
would open it: no server, no network.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from testing.browser import chromium_path
from testing.helpers import encode, gradient_image, scene_jpeg
from testing.synth import PersonSpec

pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency: pip install -e '.[dev]'")
if chromium_path() is None:
    pytest.skip("no chromium on PATH: run .ci/install-browser (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory, masked_pair_jpeg: bytes) -> Path:
    """A small album run through the real pipeline, its zip extracted somewhere else."""
    root = tmp_path_factory.mktemp("gallery")
    album = root / "trip"
    (album / "day 1").mkdir(parents=True)
    (album / "day 1" / "pair #1 100%.jpg").write_bytes(masked_pair_jpeg)
    (album / "day 1" / "solo.jpg").write_bytes(scene_jpeg([PersonSpec(200, asset=1)], size=(700, 560), seed=4))
    (album / "sea.png").write_bytes(encode(gradient_image((480, 320)), "PNG"))
    (album / "broken.jpg").write_bytes(masked_pair_jpeg[:2500])
    (album / "notes.txt").write_text("bring masks\n")
    out = root / "out"
    result = CliRunner().invoke(app, ["run", str(album), "--out", str(out), "--workers", "1", "--seed", "2"])
    assert result.exit_code == 1, result.output  # broken.jpg
    site = root / "unzipped"
    with zipfile.ZipFile(out / "trip-masked.zip") as zf:
        zf.extractall(site)
    return site


@pytest.fixture(scope="module")
def browser():
    from testing.browser import browser as launch

    with launch() as b:
        yield b


@pytest.fixture
def page(browser, site: Path):
    context = browser.new_context(viewport={"width": 1280, "height": 2400})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.goto((site / "index.html").as_uri())
    page.wait_for_function("window.MASKALBUM_READY === true")
    page.problems = problems
    yield page
    context.close()


def _manifest(site: Path) -> pd.DataFrame:
    return pd.read_csv(site / "manifest.csv", keep_default_na=False)


def _visible_cards(page) -> list[str]:
    return page.eval_on_selector_all(".card figcaption .name", "els => els.map(e => e.title)")


def test_loads_from_file_with_every_thumbnail_and_no_console_error(page, site: Path):
    page.wait_for_function("[...document.images].filter(i => i.src).every(i => i.complete)")
    sizes = page.eval_on_selector_all(".card img", "imgs => imgs.map(i => [i.getAttribute('src'), i.naturalWidth])")
    # Three photos with an image (the masked pair and solo have before + after), special characters encoded.
    assert len(sizes) == 5
    assert all(width > 0 for _src, width in sizes), sizes
    assert any("pair%20%231%20100%25.jpg" in src for src, _w in sizes)
    assert page.problems == []
    summary = page.inner_text("#summary")
    assert "4 photos" in summary and "1 error" in summary and "1 other file skipped" in summary


def test_filters_show_the_matching_photos(page, site: Path):
    manifest = _manifest(site)
    assert sorted(_visible_cards(page)) == sorted(manifest[manifest["status"] != "skipped"]["path"])
    page.click("button.chip[data-filter='error']")
    assert _visible_cards(page) == ["broken.jpg"]
    assert "cannot decode" in page.inner_text(".card.error .placeholder") or page.inner_text(".card.error .placeholder")
    page.click("button.chip[data-filter='no_faces']")
    assert _visible_cards(page) == ["sea.png"]
    page.click("button.chip[data-filter='left_bare']")
    assert _visible_cards(page) == ["day 1/pair #1 100%.jpg"]  # the unmasked person in the pair
    page.click("button.chip[data-filter='masked']")
    assert sorted(_visible_cards(page)) == ["day 1/pair #1 100%.jpg", "day 1/solo.jpg"]
    page.click("button.chip[data-filter='skipped']")
    assert _visible_cards(page) == ["notes.txt"]
    assert page.evaluate("location.hash") == "#skipped"


def _shot(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"), np.float32)


def _like(shot: np.ndarray, thumb: Path) -> float:
    ref = np.asarray(Image.open(thumb).convert("RGB").resize((shot.shape[1], shot.shape[0])), np.float32)
    return float(np.abs(shot - ref).mean())


def test_press_and_hold_and_the_slider_show_before_and_after(page, site: Path):
    card = page.locator(".card", has=page.locator("[title='day 1/solo.jpg']"))
    before = card.locator("img.before")
    assert before.evaluate("e => getComputedStyle(e).opacity") == "0"
    card.locator(".pic").hover()
    page.mouse.down()
    assert before.evaluate("e => getComputedStyle(e).opacity") == "1"
    page.wait_for_timeout(400)  # a long press is a look, not a click
    page.mouse.up()
    assert before.evaluate("e => getComputedStyle(e).opacity") == "0"
    assert page.locator("#viewer").is_hidden()

    card.click()
    assert page.locator("#viewer").is_visible()
    frame = page.locator("#v-frame")
    page.wait_for_function(
        "document.getElementById('v-before').complete && document.getElementById('v-after').complete"
    )
    thumbs = site / "thumbs"
    page.fill("#v-slider", "0")  # all after
    after_shot = _shot(frame)
    page.fill("#v-slider", "100")  # all before
    before_shot = _shot(frame)
    a, b = thumbs / "after/day 1/solo.jpg.jpg", thumbs / "before/day 1/solo.jpg.jpg"
    assert _like(after_shot, a) < _like(after_shot, b)
    assert _like(before_shot, b) < _like(before_shot, a)
    page.keyboard.press("b")  # B swaps to the other side
    assert page.input_value("#v-slider") == "0"
    # Dragging across the photo moves the divider.
    box = frame.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.up()
    assert 20 <= int(page.input_value("#v-slider")) <= 30


def test_click_shows_the_manifest_row_and_faces(page, site: Path):
    row = _manifest(site).set_index("path").loc["day 1/pair #1 100%.jpg"]
    page.locator(".card", has=page.locator("[title='day 1/pair #1 100%.jpg']")).click()
    assert page.inner_text("#v-title") == "day 1/pair #1 100%.jpg"
    cells = dict(
        page.eval_on_selector_all("#v-row tr", "rows => rows.map(r => [r.cells[0].innerText, r.cells[1].innerText])")
    )
    assert cells["sha256"] == row["sha256"] and cells["status"] == "ok" and cells["faces_masked"] == "2"
    assert page.get_attribute("#v-full", "href") == "images/day%201/pair%20%231%20100%25.jpg"
    assert page.locator("#v-boxes .box").count() == 0
    page.keyboard.press("f")
    actions = page.eval_on_selector_all("#v-boxes .box", "bs => bs.map(b => b.className)")
    assert sorted(actions) == ["box left_bare", "box replaced", "box replaced"]
    assert page.locator(".card .box").count() == 3 + 1  # the grid outlines faces too (pair + solo)


def test_keyboard_navigation(page):
    page.locator(".card").first.focus()
    order = _visible_cards(page)
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.position") == "1"
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.dataset.position") == str(len(order) - 1)
    page.keyboard.press("Home")
    # Up and down move by rows of the justified grid.
    tops = page.eval_on_selector_all(".card", "cs => cs.map(c => Math.round(c.getBoundingClientRect().top))")
    assert len(set(tops)) >= 2, tops
    page.keyboard.press("ArrowDown")
    below = int(page.evaluate("document.activeElement.dataset.position"))
    assert tops[below] == sorted(set(tops))[1]
    page.keyboard.press("ArrowUp")
    assert tops[int(page.evaluate("document.activeElement.dataset.position"))] == tops[0]
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    assert page.inner_text("#v-title") == order[0]
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#v-title") == order[1]
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#v-title") == order[0]
    page.keyboard.press("Escape")
    assert page.locator("#viewer").is_hidden()
    assert page.evaluate("document.activeElement.dataset.position") == "0"  # focus back on the card


def test_missing_data_file_says_what_to_do(browser, site: Path, tmp_path: Path):
    (tmp_path / "index.html").write_bytes((site / "index.html").read_bytes())
    page = browser.new_page()
    page.goto((tmp_path / "index.html").as_uri())
    assert "maskalbum gallery" in page.inner_text("#notice")
    page.close()


def test_a_large_album_builds_cards_as_you_scroll_and_loads_images_lazily(browser, tmp_path: Path):
    from testing.gallery import synthetic_output

    index = synthetic_output(tmp_path, 600)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(index.as_uri())
    page.wait_for_function("window.MASKALBUM_READY === true")
    total = int(page.inner_text("button.chip[data-filter='all'] .n"))
    assert total == 600
    built = page.locator(".card").count()
    assert 0 < built < total  # a first chunk, not 600 cards
    page.wait_for_function("[...document.querySelectorAll('.card img.after')].some(i => i.complete && i.naturalWidth)")
    loaded = page.eval_on_selector_all(
        ".card img.after", "imgs => imgs.filter(i => i.complete && i.naturalWidth).length"
    )
    assert loaded < built  # off-screen thumbnails wait (loading=lazy)
    page.locator(".card").first.focus()
    page.keyboard.press("End")  # the last photo: every card up to it is built
    assert page.evaluate("document.activeElement.dataset.position") == str(total - 1)
    assert page.locator(".card").count() == total
    page.click("button.chip[data-filter='error']")
    assert page.locator(".card").count() == int(page.inner_text("button.chip[data-filter='error'] .n")) == 7
    assert errors == []
    page.close()

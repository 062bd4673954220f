"""The gallery's files: thumbnails made in the pipeline, the page and its data, `maskalbum gallery`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from batch_job.gallery import THUMB_PX, gallery_data, render_index, thumbnail
from batch_job.pipeline import process_photo
from cli.app import app
from testing.helpers import encode, gradient_image, scene_jpeg
from testing.synth import PersonSpec

runner = CliRunner()


def _data(index: Path) -> dict:
    text = (index.parent / "gallery-data.js").read_text(encoding="utf-8")
    assert text.startswith("window.MASKALBUM_DATA=") and text.rstrip().endswith(";")
    return json.loads(text[len("window.MASKALBUM_DATA=") : text.rstrip().rindex(";")])


def test_thumbnails_come_with_the_photo_before_and_after(ctx, masked_pair_jpeg):
    result = process_photo("a.jpg", masked_pair_jpeg, ctx.__class__(**{**ctx.__dict__, "thumbs": True}))
    assert result.row.faces_masked == 2 and result.thumbs is not None
    before = Image.open(io.BytesIO(result.thumbs.before))
    after = Image.open(io.BytesIO(result.thumbs.after))
    assert before.format == after.format == "JPEG" and before.size == after.size == (1024, 683)
    # The masks are in the after picture only: the masked faces differ, the rest of the photo does not.
    diff = np.abs(np.asarray(before, np.int16) - np.asarray(after, np.int16)).sum(axis=2)
    assert (diff > 60).mean() > 0.01
    assert np.median(diff) < 12
    assert len(result.thumbs.after) < 200_000
    # Without Context.thumbs (the LINE bot) none are made.
    assert process_photo("a.jpg", masked_pair_jpeg, ctx).thumbs is None


def test_unchanged_photo_has_one_thumbnail(ctx):
    png = encode(gradient_image((2400, 1600)), "PNG")
    result = process_photo("g.png", png, ctx.__class__(**{**ctx.__dict__, "thumbs": True}))
    assert result.row.status == "no_faces" and result.thumbs.before is None
    # Made from the detector's survey view (no second decode): 800 px on the long side here.
    w, h = Image.open(io.BytesIO(result.thumbs.after)).size
    assert 800 <= w <= THUMB_PX and abs(w / h - 1.5) < 0.01


def test_thumbnail_keeps_small_images_and_grey():
    small = thumbnail(Image.new("RGB", (300, 200), (10, 200, 30)))
    assert Image.open(io.BytesIO(small)).size == (300, 200)
    grey = Image.open(io.BytesIO(thumbnail(Image.new("RGB", (300, 200), (90, 90, 90)), grey=True)))
    assert grey.mode == "L"


def test_page_is_self_contained_and_escapes_the_album_name():
    page = render_index("<b>trip</b> /*SCRIPT*/ {{TITLE}}")
    assert "&lt;b&gt;trip&lt;/b&gt;" in page and "<b>trip" not in page
    assert page.count("MASKALBUM_DATA") >= 1 and 'src="gallery-data.js"' in page
    # No network: nothing is loaded from another origin.
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert "/*STYLE*/" not in page


def test_gallery_written_by_run_and_rebuilt(tmp_path: Path, masked_pair_jpeg: bytes):
    album = tmp_path / "trip"
    album.mkdir()
    (album / "a b#1.jpg").write_bytes(masked_pair_jpeg)
    (album / "notes.txt").write_text("x")
    (album / "bare.jpg").write_bytes(scene_jpeg([PersonSpec(200, masked=False, asset=1)], size=(640, 480), seed=5))
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", str(album), "--out", str(out), "--workers", "1", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # bare.jpg is "ok" (a face, left bare) but not a masked photo; notes.txt is not a photo.
    assert (summary["files"], summary["photos"], summary["ok"], summary["masked"]) == (3, 2, 2, 1)
    data = _data(out / "index.html")
    assert data["album"] == "trip"
    assert data["counts"]["photos"] == 2 and data["counts"]["skipped"] == 1 and data["counts"]["masks"] == 2
    assert data["counts"]["left_bare"] == 2
    rows = {r[0]: r for r in data["rows"]}
    assert rows["a b#1.jpg"][-2] == 3  # both thumbnails exist
    assert len(rows["a b#1.jpg"][-1]) == 3  # three faces
    assert (out / "thumbs/before/a b#1.jpg.jpg").is_file()
    # Rebuild: the page comes back, and a thumbnail lost since is made again from images/.
    (out / "index.html").unlink()
    (out / "thumbs/after/a b#1.jpg.jpg").unlink()
    rebuilt = runner.invoke(app, ["gallery", str(out)], catch_exceptions=False)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert (out / "index.html").is_file() and (out / "thumbs/after/a b#1.jpg.jpg").is_file()
    assert _data(out / "index.html")["rows"] == data["rows"]
    missing = runner.invoke(app, ["gallery", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "manifest.csv" in missing.output


def test_gallery_data_counts_left_bare_and_masked():
    import pandas as pd

    manifest = pd.DataFrame(
        [
            {"path": "a.jpg", "output": "a.jpg", "status": "ok", "faces_found": "2", "faces_masked": "1"},
            {"path": "b.jpg", "output": "b.jpg", "status": "ok", "faces_found": "1", "faces_masked": "0"},
            {"path": "c.txt", "output": "", "status": "skipped", "faces_found": "0", "faces_masked": "0"},
        ]
    )
    faces = pd.DataFrame(
        [
            {"image": "a.jpg", "face": "0", "action": "replaced", "mask": "cat"},
            {"image": "a.jpg", "face": "1", "action": "left_bare", "mask": ""},
            {"image": "b.jpg", "face": "0", "action": "left_bare", "mask": ""},
        ]
    )
    data = gallery_data("x", manifest, faces, ["thumbs/after/a.jpg.jpg", "thumbs/before/a.jpg.jpg"])
    assert data["counts"] == {
        "photos": 2,
        "masked": 1,
        "left_bare": 2,
        "no_faces": 0,
        "error": 0,
        "skipped": 1,
        "masks": 1,
        "faces": 3,
    }
    assert [r[-2] for r in data["rows"]] == [3, 0, 0]
    # A "before" left by an earlier run in which b.jpg was masked is not offered (nor zipped).
    again = gallery_data("x", manifest, faces, ["thumbs/after/b.jpg.jpg", "thumbs/before/b.jpg.jpg"])
    assert [r[-2] for r in again["rows"]] == [0, 1, 0]

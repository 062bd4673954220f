"""`maskalbum run` on a single photo or a .zip of an album, `--open`, and help text a newcomer can read."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from testing.helpers import encode, gradient_image

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["run", *args, "--workers", "1", "--json"], catch_exceptions=False)


def test_a_zip_of_an_album(tmp_path: Path, masked_pair_jpeg: bytes):
    archive = tmp_path / "trip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Choshi 2021/day 1/a.jpg", masked_pair_jpeg)
        zf.writestr("Choshi 2021/sea.png", encode(gradient_image((320, 240)), "PNG"))
        zf.writestr("__MACOSX/Choshi 2021/._a.jpg", b"\x00\x05\x16\x07")  # macOS resource forks are not photos
    result = _run(str(archive))
    assert result.exit_code == 0, result.output
    out = tmp_path / "trip-masked"  # beside the zip, named after it
    manifest = pd.read_csv(out / "manifest.csv", keep_default_na=False).set_index("path")
    # The zip's one folder is the album, as if that folder had been given.
    assert set(manifest.index) == {"day 1/a.jpg", "sea.png"}
    assert manifest.loc["day 1/a.jpg", "faces_masked"] == 2
    assert (out / "images/day 1/a.jpg").is_file() and (out / "index.html").is_file()
    assert [p.name for p in out.glob("*.zip")] == ["trip-masked.zip"]
    assert json.loads(result.stdout)["photos"] == 2


def test_a_zip_that_escapes_its_folder_is_refused(tmp_path: Path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.png", encode(gradient_image((32, 32)), "PNG"))
        zf.writestr("../../escaped.png", b"x")
    result = _run(str(archive))
    assert result.exit_code == 2 and "unsafe" in result.output
    assert not (tmp_path / "escaped.png").exists() and not (tmp_path / "evil-masked").exists()


def test_a_zip_larger_than_the_free_space_is_refused_before_extracting(tmp_path: Path, monkeypatch):
    import shutil
    from collections import namedtuple

    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.png", encode(gradient_image((64, 48)), "PNG"))
        zf.writestr("zeros.bin", b"\0" * 2_000_000)  # 2 MB that compresses to almost nothing
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1_000_000, 1_000_000))
    result = _run(str(archive))
    assert result.exit_code == 2 and "TMPDIR" in result.output and "to extract" in result.output
    assert not (tmp_path / "big-masked").exists()


def test_a_single_photo(tmp_path: Path, masked_pair_jpeg: bytes):
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(masked_pair_jpeg)
    result = _run(str(photo), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["masked"] == 1
    assert (tmp_path / "out/images/IMG_0001.jpg").read_bytes() != masked_pair_jpeg
    assert photo.read_bytes() == masked_pair_jpeg  # the original is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.jpg", "out"]


def test_open_opens_the_gallery(tmp_path: Path, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    album = tmp_path / "a"
    album.mkdir()
    (album / "sea.png").write_bytes(encode(gradient_image((64, 48)), "PNG"))
    result = _run(str(album), "--open")
    assert result.exit_code == 0, result.output
    assert opened == [(tmp_path / "a-masked" / "index.html").as_uri()]


def test_download_open_extracts_and_opens_the_gallery(tmp_path: Path, monkeypatch, masked_pair_jpeg: bytes):
    from testing.aws_fakes import aws_env, moto_server

    # A real run's zip, as the Batch finalize writes it (the same finalize code).
    album = tmp_path / "trip"
    album.mkdir()
    (album / "a.jpg").write_bytes(masked_pair_jpeg)
    assert _run(str(album), "--out", str(tmp_path / "local")).exit_code == 0
    blob = (tmp_path / "local" / "trip-masked.zip").read_bytes()
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    with moto_server() as endpoint:
        for key, value in aws_env(endpoint).items():
            monkeypatch.setenv(key, value)
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="gallery-test")
        prefix = "albums/trip-20261201-abcdef/output/"
        s3.put_object(Bucket="gallery-test", Key=prefix + "album.zip", Body=blob)
        s3.put_object(
            Bucket="gallery-test",
            Key=prefix + "summary.json",
            Body=json.dumps({"photos": 1, "files": 1, "ok": 1, "error": 0}).encode(),
        )
        dest = tmp_path / "downloads"
        result = runner.invoke(
            app, ["download", "trip-20261201-abcdef", "--bucket", "gallery-test", "--dest", str(dest), "--open"]
        )
    assert result.exit_code == 0, result.output
    page = dest / "trip-20261201-abcdef" / "index.html"
    assert page.is_file() and (page.parent / "thumbs/before/a.jpg.jpg").is_file()
    assert opened == [page.as_uri()]


@pytest.mark.parametrize("command", ["run", "gallery", "download", "submit"])
def test_help_has_real_metavars_and_defaults(command: str):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = result.output
    for placeholder in ("<bool>", "<int>", "<str>", "<path>", "list[str]", "{"):
        assert placeholder not in text, (placeholder, text)
    if command == "run":
        assert "0 = all cores" in text
        for default in ("2048", "256 MP", "default 0", "default: local"):
            assert default in text, default

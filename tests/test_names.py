"""Every name the file system gives: bytes that are not UTF-8, NFD twins, case twins, format-change twins, links.

Albums are made on the real file system with bytes paths, and run through the CLI.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from batch_job.album import OutputNames, fold, readable_key, scan
from cli.app import app
from testing.helpers import encode, gradient_image, scene_jpeg
from testing.synth import PersonSpec

runner = CliRunner()


def _run(album: Path, out: Path, *args: str):
    return runner.invoke(
        app, ["run", str(album), "--out", str(out), "--workers", "1", "--json", *args], catch_exceptions=False
    )


def _write(album: Path, name: str | bytes, data: bytes) -> None:
    folder = os.fsencode(album)
    raw = name if isinstance(name, bytes) else name.encode()
    path = os.path.join(folder, raw)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _manifest(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "manifest.csv", keep_default_na=False, dtype=str)


def _zip_names(out: Path) -> list[str]:
    [zpath] = out.glob("*.zip")
    with zipfile.ZipFile(zpath) as zf:
        assert zf.testzip() is None
        return zf.namelist()


def _picture(seed: int) -> bytes:
    return encode(gradient_image((96 + seed, 64)), "PNG")


def _assert_outputs_unique(out: Path) -> None:
    names = _zip_names(out)
    assert len(names) == len(set(names))
    assert len({fold(n) for n in names}) == len(names), "two zip members are one file on macOS/Windows"
    outputs = [o for o in _manifest(out)["output"] if o]
    assert len({fold(o) for o in outputs}) == len(outputs)


def test_names_that_are_not_utf8_are_kept_shown_readably(tmp_path: Path):
    album = tmp_path / "album"
    album.mkdir()
    sjis = "写真.png".encode("cp932")  # b'\x8e\xca\x90^.png'
    latin = "café.png".encode("latin-1")
    garbage = b"\x81\x8d.png"  # neither Shift-JIS (no kana or kanji) nor cp1252 (undefined there)
    for i, name in enumerate((sjis, latin, garbage, b"ok.png")):
        _write(album, name, _picture(i))
    out = tmp_path / "out"
    result = _run(album, out)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["photos"] == 4 and summary["no_faces"] == 4
    rows = _manifest(out).set_index("path")
    assert set(rows.index) == {"写真.png", "café.png", "\\x81\\x8d.png", "ok.png"}
    assert "Shift-JIS" in rows.loc["写真.png", "notes"] and "Windows-1252" in rows.loc["café.png", "notes"]
    # Written under readable, valid UTF-8 names, byte for byte (no faces), recorded in the manifest.
    for path, raw in (("写真.png", sjis), ("café.png", latin), ("\\x81\\x8d.png", garbage)):
        output = rows.loc[path, "output"]
        assert (out / "images" / output).read_bytes() == (album / os.fsdecode(raw)).read_bytes()
    # The photos and CSVs (the gallery's index.html, data and thumbnails ride along).
    assert sorted(n for n in _zip_names(out) if n.startswith("images/") or n.endswith(".csv")) == sorted(
        ["faces.csv", "manifest.csv", "images/ok.png", "images/写真.png", "images/café.png", "images/_x81_x8d.png"]
    )
    # A rerun reuses all four (the keys are stable).
    assert json.loads(_run(album, out).stdout)["resumed"] == 4


def test_a_guessed_name_equal_to_a_real_one_keeps_both(tmp_path: Path):
    album = tmp_path / "album"
    album.mkdir()
    _write(album, "写真.png".encode("cp932"), _picture(1))
    _write(album, "写真.png", _picture(2))
    out = tmp_path / "out"
    assert _run(album, out).exit_code == 0
    rows = _manifest(out)
    assert len(rows) == 2 and rows["path"].is_unique and rows["output"].is_unique
    assert set(rows["path"]) == {"写真.png", "\\x8eʐ^.png"}  # exact: 0xca 0x90 is UTF-8 for ʐ
    _assert_outputs_unique(out)


def test_nfd_names_and_their_nfc_twins_are_all_kept(tmp_path: Path):
    album = tmp_path / "album"
    album.mkdir()
    nfc, nfd = unicodedata.normalize("NFC", "パン.png"), unicodedata.normalize("NFD", "パン.png")
    assert nfc != nfd
    _write(album, nfc, _picture(1))
    _write(album, nfd, _picture(2))
    _write(album, unicodedata.normalize("NFD", "Café/été.png"), _picture(3))  # an NFD folder too
    out = tmp_path / "out"
    result = _run(album, out)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["photos"] == 3 and summary["error"] == 0
    rows = _manifest(out).set_index("path")
    assert rows.loc[nfc, "output"] == nfc  # the NFC spelling keeps its name
    assert rows.loc[nfd, "output"] == "パン (2).png" and "NFC" in rows.loc[nfd, "notes"]
    assert rows.loc["Café/été.png", "status"] == "no_faces"  # listed in NFC, read by its NFD bytes
    contents = {(out / "images" / o).read_bytes() for o in rows["output"]}
    assert len(contents) == 3  # three different pictures, none overwritten
    _assert_outputs_unique(out)


def test_case_twins_get_names_that_survive_macos_and_windows(tmp_path: Path):
    album = tmp_path / "album"
    album.mkdir()
    for i, name in enumerate(("beach.png", "Beach.png", "BEACH.PNG", "day/x.png", "Day/X.png", "trail. .png")):
        _write(album, name, _picture(i))
    out = tmp_path / "out"
    assert _run(album, out).exit_code == 0
    rows = _manifest(out)
    assert len(rows) == 6
    _assert_outputs_unique(out)
    assert len({(out / "images" / o).read_bytes() for o in rows["output"]}) == 6


def test_windows_device_names_get_names_windows_can_write(tmp_path: Path):
    album = tmp_path / "album"
    album.mkdir()
    names = ("CON.png", "aux/nul.png", "com1.tar.png", "console.png", "_CON.png")
    for i, name in enumerate(names):
        _write(album, name, _picture(i))
    out = tmp_path / "out"
    assert _run(album, out).exit_code == 0
    rows = _manifest(out).set_index("path")
    assert rows.loc["CON.png", "output"] != "CON.png" and rows.loc["aux/nul.png", "output"] == "_aux/_nul.png"
    assert rows.loc["com1.tar.png", "output"] == "_com1.tar.png" and rows.loc["console.png", "output"] == "console.png"
    devices = {"con", "prn", "aux", "nul", "com1", "lpt1"}
    for output in rows["output"]:
        assert not any(part.split(".")[0].casefold() in devices for part in output.split("/")), output
    _assert_outputs_unique(out)
    assert len({(out / "images" / o).read_bytes() for o in rows["output"]}) == len(names)  # none lost


@pytest.fixture(scope="module")
def masked_heic() -> bytes:
    jpeg = scene_jpeg([PersonSpec(180, asset=0)], size=(640, 480), seed=11)
    import batch_job.imaging  # noqa: F401 - registers pillow-heif's HEIF writer

    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, "HEIF", quality=90)
    return buffer.getvalue()


def test_format_change_never_overwrites_another_photo(tmp_path: Path, masked_heic: bytes):
    album = tmp_path / "album"
    album.mkdir()
    _write(album, "IMG.HEIC", masked_heic)
    _write(album, "IMG.jpg", encode(gradient_image((100, 80)), "JPEG"))
    _write(album, "IMG.HEIC.jpg", encode(gradient_image((90, 70)), "JPEG"))
    _write(album, "other.heic", masked_heic)
    out = tmp_path / "out"
    result = _run(album, out, "--seed", "3")
    assert result.exit_code == 0, result.output
    rows = _manifest(out).set_index("path")
    assert rows.loc["IMG.HEIC", "status"] == "ok" and rows.loc["IMG.HEIC", "faces_masked"] == "1"
    assert rows.loc["IMG.HEIC", "output"] == "IMG (2).jpg"  # IMG.jpg and IMG.HEIC.jpg are both taken
    assert rows.loc["other.heic", "output"] == "other.jpg"
    assert rows.loc["IMG.jpg", "output"] == "IMG.jpg" and rows.loc["IMG.HEIC.jpg", "output"] == "IMG.HEIC.jpg"
    assert (out / "images/IMG.jpg").read_bytes() == (album / "IMG.jpg").read_bytes()
    assert (out / "images/IMG.HEIC.jpg").read_bytes() == (album / "IMG.HEIC.jpg").read_bytes()
    assert Image.open(out / "images/IMG (2).jpg").format == "JPEG"
    _assert_outputs_unique(out)
    first = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
    # Reruns do not flip which photo holds which name.
    for _ in range(2):
        again = json.loads(_run(album, out, "--seed", "3").stdout)
        assert again["resumed"] == 4
        assert {p.name: p.read_bytes() for p in (out / "images").iterdir()} == first
    # A photo added later that takes a converted photo's name moves it, and the old file goes.
    _write(album, "other.jpg", encode(gradient_image((80, 60)), "JPEG"))
    again = json.loads(_run(album, out, "--seed", "3").stdout)
    rows = _manifest(out).set_index("path")
    assert rows.loc["other.jpg", "output"] == "other.jpg" and rows.loc["other.heic", "output"] == "other.heic.jpg"
    assert (out / "images/other.jpg").read_bytes() == (album / "other.jpg").read_bytes()
    assert again["resumed"] == 3
    _assert_outputs_unique(out)


def test_linked_folders_are_followed_once_and_loops_get_a_row(tmp_path: Path):
    album = tmp_path / "album"
    (album / "day1").mkdir(parents=True)
    _write(album, "day1/a.png", _picture(1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _write(elsewhere, "b.png", _picture(2))
    (album / "linked").symlink_to(elsewhere)  # a folder of photos kept outside the album
    (album / "again").symlink_to(album / "day1")  # the same folder twice
    (album / "day1" / "loop").symlink_to(album)  # a loop
    (album / "gone").symlink_to(tmp_path / "nowhere")  # dangling
    out = tmp_path / "out"
    result = _run(album, out)
    rows = _manifest(out).set_index("path")
    assert rows.loc["linked/b.png", "status"] == "no_faces"
    assert rows.loc["day1/a.png", "status"] == "no_faces"
    assert rows.loc["again", "status"] == "skipped" and "already included (day1)" in rows.loc["again", "reason"]
    assert rows.loc["day1/loop", "status"] == "skipped" and "already included (.)" in rows.loc["day1/loop", "reason"]
    assert rows.loc["gone", "status"] == "error"
    assert result.exit_code == 1  # the dangling link is an error row, as any unreadable file
    # A link to the output folder is never walked (the run would read its own outputs).
    (album / "results").symlink_to(out)
    rows = _manifest(out).set_index("path") if _run(album, out).exit_code == 1 else None
    assert rows is not None and rows.loc["results", "status"] == "skipped"
    assert not [p for p in rows.index if p.startswith("results/")]


def test_readable_key_guesses_only_plausible_encodings():
    assert readable_key(os.fsdecode("写真/旅行.jpg".encode("cp932")))[0] == "写真/旅行.jpg"
    assert readable_key(os.fsdecode("Résumé.jpg".encode("latin-1")))[0] == "Résumé.jpg"
    assert readable_key(unicodedata.normalize("NFD", "ガ.jpg")) == ("ガ.jpg", "")
    assert readable_key(os.fsdecode(b"\x81\x00x.jpg"))[0].startswith("\\x81")


names = st.lists(
    st.text(alphabet=st.sampled_from("aAbB.é\u0301ガ/ "), min_size=1, max_size=6).map(lambda s: s.strip("/") or "x")
    .map(lambda s: "/".join(p or "_" for p in s.split("/")))
    .flatmap(lambda stem: st.sampled_from([".jpg", ".JPG", ".heic", ".png", ".jpeg", ""]).map(lambda suf: stem + suf)),
    max_size=12,
    unique=True,
)  # fmt: skip


@settings(max_examples=200, deadline=None, database=None)
@given(keys=names)
def test_output_names_are_unique_by_construction(keys):
    plan = OutputNames(keys)
    claimed: dict[str, str] = {}
    for key in keys:
        mine = {plan.same[key], plan.converted[(key, ".jpg")], plan.converted[(key, ".png")]}
        for name in mine:
            assert name == unicodedata.normalize("NFC", name)
            owner = claimed.setdefault(fold(name), key)
            assert owner == key, f"{key!r} and {owner!r} can both write {name!r}"
    assert OutputNames(reversed(keys)).same == plan.same  # the order the files are listed in does not matter


def test_scan_is_the_same_for_str_and_for_the_files_it_lists(tmp_path: Path):
    album = tmp_path / "a"
    album.mkdir()
    for i, name in enumerate(
        itertools.islice(("x.png", "写真.png".encode("cp932"), unicodedata.normalize("NFD", "é.png")), 3)
    ):
        _write(album, name, _picture(i))
    entries = scan(album)
    for entry in entries:
        assert (album / entry.path).is_file()
        entry.key.encode("utf-8")  # every key is valid UTF-8 (S3 keys, CSV, zip members)


def test_a_folder_that_cannot_be_listed_still_gets_a_row(tmp_path: Path, monkeypatch):
    album = tmp_path / "a"
    (album / "locked").mkdir(parents=True)
    _write(album, "locked/x.png", _picture(1))
    _write(album, "y.png", _picture(2))
    real_scandir = os.scandir

    def scandir(path="."):
        # EACCES as a non-root user gets it from a chmod 000 folder (root reads through chmod).
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "out"
    result = _run(album, out)
    assert result.exit_code == 1
    rows = _manifest(out).set_index("path")
    assert rows.loc["locked", "status"] == "error"
    assert rows.loc["locked", "reason"] == "cannot list this folder: Permission denied"
    assert rows.loc["y.png", "status"] == "no_faces"

"""The mask catalog, choosing masks, and users' own mask files (good and bad)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from batch_job.errors import MaskArtError, UsageError
from cli.app import app
from masks.catalog import ANCHOR_NAMES, LevelCache, load_catalog, load_user_mask, pick


def test_catalog_has_nine_valid_masks(catalog):
    assert len(catalog.masks) >= 8
    assert {"respirator", "grin", "breather"} <= set(catalog.names())
    for template in catalog.masks:
        image = Image.open(io.BytesIO(template.png))
        assert image.mode == "RGBA" and image.width >= 1024, template.name
        assert set(template.anchors) == set(ANCHOR_NAMES)
        assert template.tags and template.title and template.description
        alpha = np.asarray(image.getchannel("A"))
        # Soft (anti-aliased) edges: some partly transparent pixels, a clear transparent border.
        assert ((alpha > 0) & (alpha < 255)).sum() > 500, template.name
        assert alpha[:12].max() == 0 and alpha[-12:].max() == 0 and alpha[:, :12].max() == 0, template.name
        # Shaded, not flat: the opaque part has many distinct colours.
        rgb = np.asarray(image.convert("RGB"))[alpha == 255]
        assert len(np.unique(rgb[:: max(1, len(rgb) // 20000)], axis=0)) > 2000, template.name
    tags = set(catalog.tags())
    assert {"cute", "scary", "funny"} <= tags


def test_pick_is_deterministic_and_varied(catalog):
    pool = catalog.masks
    picks = [pick(pool, 7, "ab" * 32, i).name for i in range(40)]
    assert picks == [pick(pool, 7, "ab" * 32, i).name for i in range(40)]
    assert len(set(picks)) >= 5
    assert picks != [pick(pool, 8, "ab" * 32, i).name for i in range(40)]


def test_choose_pool_by_name_and_tag(catalog):
    assert [m.name for m in catalog.choose_pool(["cat", "bear"])] == ["cat", "bear"]
    cute = catalog.choose_pool(tags=["cute"])
    assert cute and all("cute" in m.tags for m in cute)
    with pytest.raises(UsageError, match="respirator"):
        catalog.choose_pool(["nope"])
    with pytest.raises(UsageError, match="cute"):
        catalog.choose_pool(tags=["nope"])


def _png(tmp_path: Path, image: Image.Image, name: str = "mine.png") -> Path:
    path = tmp_path / name
    image.save(path)
    return path


def _user_art(size=(600, 500)) -> Image.Image:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    inner = Image.new("RGBA", (size[0] - 100, size[1] - 100), (200, 30, 60, 255))
    image.paste(inner, (50, 50))
    return image


def test_user_mask_anchors_from_its_opaque_box(tmp_path):
    template = load_user_mask(_png(tmp_path, _user_art()))
    (lx, _), (rx, _) = template.anchors["cheek_left"], template.anchors["cheek_right"]
    assert lx == pytest.approx(50, abs=0.5) and rx == pytest.approx(550, abs=0.5)
    assert template.anchors["nose_bridge"][1] == pytest.approx(50, abs=0.5)
    assert template.anchors["eye_left"][1] < 50  # the eyes sit above the mask
    assert template.name == "file:mine"


def test_user_mask_anchor_override(tmp_path):
    anchors = tmp_path / "a.json"
    anchors.write_text(json.dumps({"chin": [300, 470]}))
    template = load_user_mask(_png(tmp_path, _user_art()), anchors)
    assert template.anchors["chin"] == (300.0, 470.0)
    anchors.write_text(json.dumps({"snout": [1, 2]}))
    with pytest.raises(MaskArtError, match="snout"):
        load_user_mask(_png(tmp_path, _user_art()), anchors)


def test_bad_user_masks_are_refused_clearly(tmp_path):
    with pytest.raises(MaskArtError, match="no transparency"):
        load_user_mask(_png(tmp_path, Image.new("RGB", (300, 200), (9, 9, 9)), "rgb.png"))
    with pytest.raises(MaskArtError, match="no transparency"):
        load_user_mask(_png(tmp_path, Image.new("RGB", (300, 200), (9, 9, 9)), "flat.jpg"))
    with pytest.raises(MaskArtError, match="fully transparent"):
        load_user_mask(_png(tmp_path, Image.new("RGBA", (300, 200), (0, 0, 0, 0)), "empty.png"))
    with pytest.raises(MaskArtError, match="4096"):
        load_user_mask(_png(tmp_path, Image.new("LA", (5000, 10), (0, 0)), "huge.png"))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(_png(tmp_path, _user_art(), "ok.png").read_bytes()[:200])
    with pytest.raises(MaskArtError, match="not a readable image"):
        load_user_mask(corrupt)
    with pytest.raises(MaskArtError, match="cannot read"):
        load_user_mask(tmp_path / "missing.png")
    # A palette PNG with a transparent colour is fine.
    pal = _user_art().convert("P")
    template = load_user_mask(_png(tmp_path, pal, "pal.png"))
    assert template.tags == ("custom",)


def test_masks_command_lists_and_renders_gallery(tmp_path):
    runner = CliRunner()
    listing = runner.invoke(app, ["masks", "--json"])
    assert listing.exit_code == 0
    names = [m["name"] for m in json.loads(listing.stdout)]
    assert names == load_catalog().names()
    sheet = tmp_path / "gallery.png"
    result = runner.invoke(app, ["masks", "--gallery", str(sheet)])
    assert result.exit_code == 0, result.output
    image = Image.open(sheet)
    assert image.width >= 900 and image.height >= 900


def test_run_with_a_user_mask_file(tmp_path, masked_pair_jpeg):
    album = tmp_path / "album"
    album.mkdir()
    (album / "a.jpg").write_bytes(masked_pair_jpeg)
    art = _png(tmp_path, _user_art())
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(album), "--workers", "1", "--mask-file", str(art), "--json"])
    assert result.exit_code == 0, result.output
    faces = (tmp_path / "album-masked" / "faces.csv").read_text()
    assert "file:mine" in faces
    bad = runner.invoke(app, ["run", str(album), "--workers", "1", "--mask-file", str(tmp_path / "nope.png")])
    assert bad.exit_code == 2 and "cannot read mask file" in bad.output


# -- the art's levels ----------------------------------------------------------------------------


def _reference_level(template, k: int, blur: float) -> np.ndarray:
    """Level k made straight from the drawn art, as the catalog made every level before it kept them."""
    from PIL import ImageFilter

    art = Image.open(io.BytesIO(template.png)).convert("RGBA").convert("RGBa")
    if template.flipped:
        art = art.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    size = (round(art.width / 2**k), round(art.height / 2**k))
    level = art.resize(size, Image.Resampling.LANCZOS) if k else art
    return np.asarray(level.filter(ImageFilter.GaussianBlur(blur)) if blur >= 0.3 else level).astype(int)


def _blur(k: int) -> float:
    # The feather paint asks for (paint._level): ~1.9 px at full size, halving, at least 0.47.
    return round(max(1.89 / 2**k, 0.47), 2)


@pytest.mark.parametrize("name", ["respirator", "cat"])
def test_a_level_made_from_a_held_larger_one_looks_like_one_made_from_the_art(catalog, name):
    template = catalog.get(name)
    chained = LevelCache()
    for k in range(5):  # each level from the one above it (the art only for level 0)
        level, ratio = chained.level(template.png, False, k, _blur(k))
        reference = _reference_level(template, k, _blur(k))
        assert level.mode == "RGBa" and level.size == reference.shape[1::-1]
        assert ratio == pytest.approx(level.width / 1024)
        diff = np.abs(np.asarray(level).astype(int) - reference)
        # Measured: mean 0.1-1.0 and 99.9th percentile 2-13 levels of 255 (Lanczos vs area, chained blurs).
        assert diff.mean() < 1.5 and np.percentile(diff, 99.9) <= 20, (k, diff.mean())
    # Made alone, straight from the art, a level is as close (no drift down the chain).
    alone = LevelCache().level(template.png, False, 4, _blur(4))[0]
    diff = np.abs(np.asarray(alone).astype(int) - _reference_level(template, 4, _blur(4)))
    assert diff.mean() < 1.5


def test_a_mirrored_mask_is_its_art_flipped_with_its_anchors(catalog):
    template = catalog.get("grin")
    mirror = template.mirrored()
    assert mirror.flipped and mirror.png is template.png  # no second copy of the art
    assert mirror.mirrored().flipped is False and mirror.digest != template.digest
    (x, y) = template.anchors["eye_right"]
    assert mirror.anchors["eye_left"] == pytest.approx((1024 - x, y))
    cache = LevelCache()
    for k in (0, 2):
        plain = np.asarray(cache.level(template.png, False, k, _blur(k))[0])
        flipped = np.asarray(cache.level(template.png, True, k, _blur(k))[0])
        assert np.array_equal(flipped, plain[:, ::-1])
        diff = np.abs(flipped.astype(int) - _reference_level(mirror, k, _blur(k)))
        assert diff.mean() < 1.5
    occupied, _cell = mirror.occupancy()
    assert np.array_equal(occupied, template.occupancy()[0][:, ::-1])


def test_the_level_cache_is_bounded_in_bytes_over_a_long_album():
    arts = []
    for i in range(6):  # six masks' art, 320 x 280 (400 KB as levels: a third of the catalog's)
        art = _user_art((320, 280))
        art.putpixel((10 + i, 10), (i, 0, 0, 255))
        buffer = io.BytesIO()
        art.save(buffer, "PNG")
        arts.append(buffer.getvalue())
    cache = LevelCache(max_bytes=1 << 20)
    rng = np.random.default_rng(3)
    for _face in range(200):  # faces of every size, every mask, both ways round
        png = arts[int(rng.integers(len(arts)))]
        k, flipped = int(rng.integers(0, 5)), bool(rng.integers(2))
        level, _ratio = cache.level(png, flipped, k, _blur(k))
        assert level.size == (round(320 / 2**k), round(280 / 2**k))
        assert cache.bytes <= 1 << 20
        # What was just handed out is held: the next face of that size finds it.
        assert cache.level(png, flipped, k, _blur(k))[0] is level
    held = sum(image.width * image.height * 4 for image in cache._items.values())
    assert cache.bytes == held and len(cache) >= 2

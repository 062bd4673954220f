"""No work twice: one full decode per photo at most, none when nothing needs it; models load once per worker."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from PIL import Image, ImageFile

from batch_job.imaging import Photo
from batch_job.pipeline import process_photo
from testing.helpers import gradient_image, scene_jpeg
from testing.synth import PersonSpec


@pytest.fixture
def decodes(monkeypatch) -> list[tuple[int, int]]:
    """The size of every JPEG decode Pillow does (draft copies decode smaller than the file)."""
    seen: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def spy(self):
        if self.tile:  # pixels still to decode
            seen.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_a_photo_without_faces_is_never_decoded_at_full_size(ctx, decodes):
    data = _jpeg(gradient_image((4032, 3024)))
    result = process_photo("plain.jpg", data, ctx)
    assert result.row.status == "no_faces" and result.copy_source
    assert decodes and all(size != (4032, 3024) for size in decodes)


def test_a_bare_face_the_survey_reads_is_never_decoded_at_full_size(ctx, decodes, monkeypatch):
    # One unmasked face large enough for the survey copy to give FaceMesh its own 192 px and the
    # wearing check its detail, in a scene whose survey leaves no window to read (seeds 0, 2, 4 and 5
    # do: a window is read from the full photo), so nothing needs the full decode.
    full_calls = []
    monkeypatch.setattr(Photo, "full", lambda self: full_calls.append(1) or pytest.fail("full decode"))
    data = scene_jpeg([PersonSpec(face_width=760, masked=False)], size=(3200, 2400), seed=1)
    result = process_photo("bare.jpg", data, ctx)
    assert result.row.faces_found == 1 and result.row.faces_masked == 0, result.row
    assert [f.action for f in result.faces] == ["left_bare"]
    assert full_calls == [] and (3200, 2400) not in decodes


def test_a_painted_photo_is_decoded_at_full_size_once(ctx, decodes, masked_pair_jpeg):
    result = process_photo("pair.jpg", masked_pair_jpeg, ctx)
    assert result.row.faces_masked >= 1
    full = Image.open(io.BytesIO(masked_pair_jpeg)).size
    assert decodes.count(full) == 1


def test_a_copy_no_draft_scale_can_make_reuses_the_full_decode(decodes):
    # 2048 px of a 4032 px photo has no 1/2^k DCT scale: that decode is the full one, and painting
    # reuses it (it used to be decoded twice: once for the fine pass, once for painting).
    photo = Photo(_jpeg(gradient_image((4032, 3024))))
    photo.at_most(800)
    image, scale = photo.at_most(2048)
    assert image.size == (2048, 1536) and scale == pytest.approx(2048 / 4032)
    photo.full()
    assert decodes.count((4032, 3024)) == 1 and photo.full_decodes == 1
    assert len(decodes) == 2  # the survey's reduced copy, then the full photo


def test_a_png_is_decoded_once_whatever_sizes_are_asked():
    buffer = io.BytesIO()
    gradient_image((1800, 1200)).save(buffer, "PNG")
    photo = Photo(buffer.getvalue())
    photo.at_most(800)
    photo.at_most(1000)
    photo.full()
    assert photo.full_decodes == 1


def test_models_load_once_per_worker_across_photos(tmp_path, monkeypatch):
    from batch_job import wearing
    from batch_job.detect import local
    from batch_job.runner import WorkSpec, local_layout, process_entries
    from batch_job.settings import Settings

    loaded: Counter[str] = Counter()
    real = local.onnx_session

    def counting(name, *args, **kwargs):
        loaded[name] += 1
        return real(name, *args, **kwargs)

    monkeypatch.setattr(local, "onnx_session", counting)
    wearing._classifier.cache_clear()
    album = tmp_path / "album"
    album.mkdir()
    for i in range(3):
        (album / f"P{i}.jpg").write_bytes(scene_jpeg([PersonSpec(face_width=160)], size=(900, 700), seed=i))
    spec = WorkSpec(str(album), str(tmp_path / "out"), local_layout("album"), Settings(seed=1), frozenset())
    records = process_entries(sorted(p.name for p in album.iterdir()), spec, 1)
    wearing._classifier.cache_clear()  # later tests load the real one again
    assert sum(r["row"]["faces_masked"] for r in records) >= 3
    assert loaded == {"centerface.onnx": 1, "facemesh.onnx": 1, "wearing.onnx": 1}


def test_the_after_thumbnail_is_the_before_one_with_the_painted_windows_reduced_again():
    import numpy as np

    from batch_job.gallery import THUMB_PX, thumb_patched, thumb_pixels

    rng = np.random.default_rng(5)
    # 3101 px: reduced by 4 to 776 px, whole blocks short of both edges.
    photo = Image.fromarray(rng.integers(0, 256, (2003, 3101, 3), dtype=np.uint8))
    before = thumb_pixels(photo)
    assert before.size == (776, 501) and max(before.size) <= THUMB_PX
    boxes = [(101, 203, 587, 650), (2990, 1900, 3101, 2003), (-5, 1990, 40, 2100), (1000, 1000, 1001, 1001)]
    for x0, y0, x1, y1 in boxes:  # "paint": new pixels inside each box only
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(3101, x1), min(2003, y1)
        photo.paste(Image.fromarray(rng.integers(0, 256, (y1 - y0, x1 - x0, 3), dtype=np.uint8)), (x0, y0))
    after = thumb_patched(before, photo, boxes)
    assert after is not None and np.array_equal(np.asarray(after), np.asarray(thumb_pixels(photo)))
    assert not np.array_equal(np.asarray(after), np.asarray(before))
    # A photo whose thumbnail is resized, not reduced by a whole factor, is not patched.
    small = Image.new("RGB", (1500, 1000))
    assert thumb_patched(thumb_pixels(small), small, boxes) is None


def test_a_painted_photo_has_both_thumbnails_and_the_after_one_shows_the_masks(ctx):
    import dataclasses

    import numpy as np

    data = scene_jpeg([PersonSpec(420), PersonSpec(380, asset=1)], size=(3200, 2400), seed=2)
    result = process_photo("two.jpg", data, dataclasses.replace(ctx, thumbs=True))
    assert result.row.faces_masked == 2 and result.thumbs is not None and result.thumbs.before is not None
    before, after = (Image.open(io.BytesIO(b)).convert("RGB") for b in (result.thumbs.before, result.thumbs.after))
    written = Image.open(io.BytesIO(result.output)).convert("RGB").reduce(4)
    original = Image.open(io.BytesIO(data)).convert("RGB").reduce(4)
    assert before.size == after.size == written.size == (800, 600)

    def diff(a: Image.Image, b: Image.Image) -> np.ndarray:
        return np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max(axis=2)

    # Each thumbnail is its photo (up to JPEG's rounding), and they differ where the masks are.
    assert diff(after, written).mean() < 2.5 and diff(before, original).mean() < 2.5
    assert (diff(after, written) > 40).mean() < 0.001 and (diff(after, before) > 40).mean() > 0.01

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

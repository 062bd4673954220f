"""Bad and unusual inputs through the real pipeline: each ends as a clear row, never a crash."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from batch_job.pipeline import process_photo
from testing.helpers import encode, gradient_image, scene_jpeg
from testing.synth import PersonSpec, make_scene

DATE = "2021:08:14 10:31:07"


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "maskalbum-test-camera"  # Make
    exif.get_ifd(0x8769)[0x9003] = DATE  # DateTimeOriginal
    if orientation:
        exif[0x0112] = orientation
    return exif


# Stored pixels for each EXIF orientation, given the upright picture (inverse of exif_transpose).
_STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.fixture(scope="module")
def upright_scene():
    return make_scene([PersonSpec(160, asset=1), PersonSpec(140, asset=0, yaw=-10)], size=(800, 560), seed=11)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_and_reset(ctx, upright_scene, orientation):
    upright = upright_scene.image
    method = _STORE[orientation]
    stored = upright.transpose(method) if method is not None else upright
    data = encode(stored, "JPEG", quality=90, exif=_exif(orientation))
    result = process_photo("rot.jpg", data, ctx)
    assert result.row.status == "ok", result.row.reason
    assert (result.row.width, result.row.height) == upright.size
    assert result.row.faces_masked == 2
    out = Image.open(io.BytesIO(result.output))
    assert out.size == upright.size
    exif = out.getexif()
    assert exif.get(0x0112, 1) == 1  # upright pixels, orientation reset
    assert exif.get(0x010F) == "maskalbum-test-camera"
    assert exif.get_ifd(0x8769).get(0x9003) == DATE
    # Faces were found where they are in the upright picture.
    for truth in upright_scene.faces:
        tx, ty, tw, th = truth.box
        assert any(abs((f.x + f.w / 2) - (tx + tw / 2)) < tw / 2 for f in result.faces)
    # Output matches the upright original away from the faces (no rotation slip).
    a = np.asarray(out.convert("RGB"), dtype=np.int16)[:60, :]
    b = np.asarray(upright, dtype=np.int16)[:60, :]
    assert np.abs(a - b).mean() < 4


def test_jpeg_quality_subsampling_icc_kept(ctx, upright_scene):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(upright_scene.image, "JPEG", quality=77, subsampling="4:4:4", icc_profile=icc, exif=_exif())
    src = Image.open(io.BytesIO(data))
    result = process_photo("q.jpg", data, ctx)
    out = Image.open(io.BytesIO(result.output))
    assert out.format == "JPEG"
    assert out.quantization == src.quantization
    from PIL import JpegImagePlugin

    assert JpegImagePlugin.get_sampling(out) == JpegImagePlugin.get_sampling(src) == 0  # 4:4:4
    assert out.info.get("icc_profile") == icc


def test_photo_without_faces_is_copied_unchanged(ctx):
    data = encode(gradient_image(), "JPEG", quality=85, exif=_exif(6))
    result = process_photo("plain.jpg", data, ctx)
    assert result.row.status == "no_faces"
    assert result.copy_source and result.output is None
    assert result.row.output == "plain.jpg"


def test_png_with_alpha_stays_png_with_its_alpha(ctx, upright_scene):
    rgba = upright_scene.image.convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    alpha.paste(0, (0, 0, 100, 100))
    rgba.putalpha(alpha)
    result = process_photo("a.png", encode(rgba, "PNG"), ctx)
    assert result.row.status == "ok"
    out = Image.open(io.BytesIO(result.output))
    assert out.format == "PNG" and out.mode == "RGBA"
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(alpha))
    assert result.row.output == "a.png"


def test_sixteen_bit_png(ctx, upright_scene):
    grey = np.asarray(upright_scene.image.convert("L"), dtype=np.uint16) * 257
    data = encode(Image.fromarray(grey.astype("<u2")), "PNG")
    result = process_photo("deep.png", data, ctx)
    assert result.row.status == "ok", result.row.reason
    assert "16-bit" in result.row.notes
    out = Image.open(io.BytesIO(result.output))
    assert out.format == "PNG" and out.mode == "L"


def test_cmyk_jpeg(ctx, upright_scene):
    data = encode(upright_scene.image.convert("CMYK"), "JPEG", quality=90)
    result = process_photo("print.jpg", data, ctx)
    assert result.row.status == "ok", result.row.reason
    assert result.row.faces_masked >= 1
    out = Image.open(io.BytesIO(result.output))
    assert out.mode == "RGB" and "CMYK" in result.row.notes


def test_greyscale_photo_gets_a_greyscale_mask(ctx, upright_scene):
    data = encode(upright_scene.image.convert("L"), "JPEG", quality=90)
    result = process_photo("bw.jpg", data, ctx)
    assert result.row.status == "ok"
    assert result.row.faces_masked >= 1
    assert Image.open(io.BytesIO(result.output)).mode == "L"


def test_palette_png(ctx, upright_scene):
    data = encode(upright_scene.image.convert("P", palette=Image.Palette.ADAPTIVE, colors=256), "PNG")
    result = process_photo("pal.png", data, ctx)
    assert result.row.status == "ok"
    out = Image.open(io.BytesIO(result.output))
    assert out.format == "PNG" and out.mode == "RGB"


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animations_are_skipped_with_reason(ctx, fmt):
    frames = [gradient_image((120, 90)), gradient_image((120, 90)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = process_photo(f"anim.{fmt.lower()}", data, ctx)
    assert result.row.status == "skipped"
    assert "animated" in result.row.reason and "2 frames" in result.row.reason
    assert result.output is None and not result.copy_source


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_without_decoding(ctx):
    result = process_photo("bomb.png", _png_declaring(60000, 60000), ctx)
    assert result.row.status == "error"
    assert "60000x60000" in result.row.reason and "limit" in result.row.reason
    assert result.row.ms < 2000


def test_truncated_jpeg_is_an_error_row(ctx, upright_scene):
    data = encode(upright_scene.image, "JPEG", quality=90)
    result = process_photo("cut.jpg", data[: len(data) // 2], ctx)
    assert result.row.status == "error"
    assert "truncated" in result.row.reason or "decode" in result.row.reason


def test_zero_byte_and_text_named_jpg(ctx):
    empty = process_photo("empty.jpg", b"", ctx)
    assert (empty.row.status, empty.row.reason) == ("error", "empty file (0 bytes) (named .jpg)")
    text = process_photo("notes.jpg", b"shopping list: masks, tickets\n", ctx)
    assert text.row.status == "error" and "text" in text.row.reason
    plain = process_photo("notes.txt", b"shopping list\n", ctx)
    assert plain.row.status == "skipped" and "text" in plain.row.reason


def test_video_is_skipped(ctx):
    mov = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + b"\x00" * 64
    result = process_photo("clip.mov", mov, ctx)
    assert result.row.status == "skipped" and "video" in result.row.reason


def test_heic_becomes_jpeg_with_exif(ctx, upright_scene):
    pillow_heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    heif = pillow_heif.from_pillow(upright_scene.image)
    heif.save(buffer, quality=90, exif=_exif().tobytes())
    result = process_photo("trip/IMG_0001.HEIC", buffer.getvalue(), ctx)
    assert result.row.status == "ok", result.row.reason
    assert result.row.output == "trip/IMG_0001.jpg"
    out = Image.open(io.BytesIO(result.output))
    assert out.format == "JPEG"
    assert out.getexif().get_ifd(0x8769).get(0x9003) == DATE


def test_thirty_faces_in_one_photo(ctx):
    rng = np.random.default_rng(5)
    people, positions = [], []
    for row in range(4):
        for col in range(8):
            people.append(PersonSpec(110, asset=(row + col) % 2, yaw=float(rng.uniform(-20, 20)), colour="white"))
            positions.append((150 + col * 300, 170 + row * 330))
    data = make_scene(people, size=(2500, 1400), seed=8, positions=positions).jpeg()
    result = process_photo("crowd.jpg", data, ctx)
    assert result.row.status == "ok"
    assert result.row.faces_found >= 30
    assert result.row.faces_masked >= 28
    assert len(result.faces) == result.row.faces_found


def test_tiny_faces_are_left_alone(ctx):
    data = scene_jpeg([PersonSpec(20), PersonSpec(200, asset=1)], size=(900, 600), seed=2)
    result = process_photo("small.jpg", data, ctx)
    actions = {f.action for f in result.faces if f.w < ctx.settings.min_face_px}
    assert actions <= {"too_small"}


def test_original_bytes_are_never_modified(ctx, masked_pair_jpeg):
    before = bytes(masked_pair_jpeg)
    process_photo("x.jpg", masked_pair_jpeg, ctx)
    assert masked_pair_jpeg == before


def test_exif_transpose_roundtrip_helper_matches_pillow():
    # Guard for the test table above: storing with _STORE then exif_transpose gives back the upright picture.
    upright = gradient_image((40, 30))
    for orientation, method in _STORE.items():
        stored = upright.transpose(method) if method is not None else upright
        img = Image.open(io.BytesIO(encode(stored, "PNG", exif=_exif(orientation))))
        assert ImageOps.exif_transpose(img).size == upright.size

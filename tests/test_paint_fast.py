"""The fast painting paths (one cv2.remap per art copy, the 8-bit blend, the grain tile) against
slow references written out plainly here, on real pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from batch_job import composite
from batch_job.warp import Mesh, _inverse_affines, sample_bilinear, warp, warp_pixels

FACES = Path(__file__).resolve().parents[1] / "testing" / "faces"

# A bent mesh: five source points to a skewed, squeezed quad with its centre pulled off-centre.
SRC = np.array([[0, 0], [240, 0], [240, 260], [0, 260], [120, 130]], float)
DST = np.array([[14.3, 9.7], [201.2, 31.4], [187.6, 228.9], [6.1, 210.5], [121.8, 97.3]])
TRIS = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])


def _astronaut_rgba() -> np.ndarray:
    rgb = np.asarray(Image.open(FACES / "astronaut.png").convert("RGB").resize((240, 260)))
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _reference(
    source: np.ndarray, mesh: Mesh, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel centre: the triangle it lies in (barycentric test, no rasteriser), its inverse
    affine, numpy bilinear sampling. Returns the image, where a pixel centre is strictly inside
    (a fiftieth of the way in from every edge) and that triangle's index (-1 elsewhere)."""
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[y0:y1, x0:x1]
    px, py = xs.ravel() + 0.5, ys.ravel() + 0.5
    mats, _ = _inverse_affines(mesh)
    out = np.zeros((px.size, source.shape[2]), np.float32)
    inside = np.zeros(px.size, bool)
    which = np.full(px.size, -1)
    for i, tri in enumerate(mesh.triangles):
        a, b, c = mesh.dst[tri]
        den = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        la = ((b[1] - c[1]) * (px - c[0]) + (c[0] - b[0]) * (py - c[1])) / den
        lb = ((c[1] - a[1]) * (px - c[0]) + (a[0] - c[0]) * (py - c[1])) / den
        here = (la > 0.02) & (lb > 0.02) & (1 - la - lb > 0.02) & ~inside
        m = mats[i]
        sx = m[0, 0] * px[here] + m[0, 1] * py[here] + m[0, 2] - 0.5
        sy = m[1, 0] * px[here] + m[1, 1] * py[here] + m[1, 2] - 0.5
        out[here] = sample_bilinear(source.astype(np.float32), sx, sy)
        inside |= here
        which[here] = i
    shape = (y1 - y0, x1 - x0)
    return out.reshape(*shape, -1), inside.reshape(shape), which.reshape(shape)


def test_fast_warp_agrees_with_a_reference_sampler_on_a_real_image():
    source = _astronaut_rgba()
    mesh = Mesh(SRC, DST, TRIS)
    box = (3, 5, 215, 236)
    fast = warp_pixels(source, mesh, box).astype(np.float32)
    ref, inside, _ = _reference(source, mesh, box)
    diff = np.abs(fast - ref)[inside]
    # cv2.remap interpolates in 1/32 px steps and rounds to 8 bits; a wrong offset or a
    # transposed map would differ by tens of levels on this detailed image.
    assert diff.mean() < 0.6
    assert np.percentile(diff, 99.9) <= 3


def test_fast_float_warp_agrees_with_the_reference_too():
    source = _astronaut_rgba().astype(np.float32) / 255
    mesh = Mesh(SRC, DST, TRIS)
    box = (0, 0, 220, 240)
    ref, inside, _ = _reference(source, mesh, box)
    assert np.abs(warp(source, mesh, box) - ref)[inside].max() < 0.02


def test_warp_covers_the_triangles_and_nothing_else():
    """Alpha is opaque over every pixel centre inside the mesh and zero a pixel away from it."""
    flat = np.full((260, 240, 4), 255, np.uint8)
    mesh = Mesh(SRC, DST, TRIS)
    box = (0, 0, 220, 240)
    alpha = warp_pixels(flat, mesh, box)[..., 3]
    _, inside, _ = _reference(flat, mesh, box)
    assert alpha[inside].min() == 255
    outline = Image.new("L", (220, 240), 0)
    ImageDraw.Draw(outline).polygon([tuple(p - 0.5) for p in DST[:4]], fill=255, outline=255)
    grown = np.asarray(outline.filter(ImageFilter.MaxFilter(3))) > 0
    assert alpha[~grown].max() == 0


def test_a_finer_copy_paints_only_its_own_triangles():
    """Triangles picking a reduced copy read it (darker here); the others read the source."""
    bright = np.full((260, 240, 4), 255, np.uint8)
    dim = np.full((130, 120, 4), 100, np.uint8)
    mesh = Mesh(SRC, DST, TRIS)
    box = (0, 0, 220, 240)
    out = warp_pixels(bright, mesh, box, [(dim, 0.5)], np.array([0, 1, 0, 0]))
    _, _, which = _reference(bright, mesh, box)
    assert (out[which == 1, 0] == 100).all()
    assert (out[(which >= 0) & (which != 1), 0] == 255).all()
    assert (which == 1).sum() > 1000


def _float_blend(window: np.ndarray, art: np.ndarray, region: np.ndarray, face_width: float) -> np.ndarray:
    """The blend as it was written in float (before the 8-bit path), grain off: the reference."""
    w = window.astype(np.float32) / 255
    a = art.astype(np.float32) / 255
    alpha = a[..., 3]
    light = composite.estimate_lighting(w, alpha, region, face_width)
    rgb = a[..., :3] * (light.gain if light.field is None else light.field[..., None] * light.gain)
    soft = composite.soft_map(alpha, max(1.0, face_width * 0.045))
    shift = max(1, int(round(face_width * 0.02)))
    shadow = np.zeros_like(soft)
    shadow[shift:] = soft[:-shift]
    shadow = np.clip(shadow - alpha, 0.0, 1.0) * region
    keep = (1.0 - composite.SHADOW_STRENGTH * shadow) * (1.0 - alpha)
    return np.clip(w * keep[..., None] + rgb, 0, 1) * 255


@pytest.mark.parametrize("white_mask", [False, True])
def test_the_8_bit_blend_matches_the_float_blend(white_mask, monkeypatch):
    """On a real face, grain off (so both are deterministic): within a level or two everywhere,
    with the light field (a white worn mask as the probe) and without."""
    monkeypatch.setattr(composite, "noise_level", lambda window: 0.0)
    rgb = np.asarray(Image.open(FACES / "hopper.png").convert("RGB").resize((300, 340)))
    window = rgb.copy()
    h, w = window.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    lower = (((xx - 150) / 95.0) ** 2 + ((yy - 250) / 70.0) ** 2) < 1
    if white_mask:
        shade = np.clip(0.7 + 0.5 * xx / w, 0, 1.2)[..., None]  # light from the right across the worn mask
        window[lower] = np.clip(230 * shade[lower], 0, 255).astype(np.uint8)
    art = np.zeros((h, w, 4), np.uint8)
    alpha = (lower * 255).astype(np.uint8)
    alpha = np.asarray(Image.fromarray(alpha).filter(ImageFilter.GaussianBlur(2)))
    colour = np.array([180, 60, 40], np.float32)
    art[..., :3] = (colour[None, None, :] * alpha[..., None] / 255).astype(np.uint8)
    art[..., 3] = alpha
    region = (((xx - 150) / 130.0) ** 2 + ((yy - 190) / 160.0) ** 2) < 1
    out, got_alpha = composite.blend_mask(window, art, region, 200.0, np.random.default_rng(0))
    ref = _float_blend(window, art, region, 200.0)
    diff = np.abs(out.astype(np.float32) - ref)
    assert composite.estimate_lighting(window, got_alpha, region, 200.0).source == ("mask" if white_mask else "face")
    assert diff.max() <= 2.5 and diff.mean() < 0.5
    assert np.allclose(got_alpha, alpha / 255, atol=1e-6)


def test_grain_is_the_photos_own():
    """On a noisy photo the painted mask carries noise of the photo's strength (not none, not double)."""
    rng = np.random.default_rng(3)
    h, w = 300, 320
    window = np.clip(120 + rng.normal(0, 6.0, (h, w, 3)), 0, 255).astype(np.uint8)
    art = np.zeros((h, w, 4), np.uint8)
    art[60:240, 60:260] = (150, 150, 150, 255)
    region = np.ones((h, w), bool)
    grain = composite.noise_level(window)
    assert 0.015 < grain < 0.035  # 6 levels of 255, read back
    out, _ = composite.blend_mask(window, art, region, 200.0, np.random.default_rng(1))
    inner = out[80:220, 80:240]
    assert abs(composite.noise_level(inner) / grain - 1) < 0.3
    # The same seed draws the same grain; another seed draws other grain.
    again, _ = composite.blend_mask(window, art, region, 200.0, np.random.default_rng(1))
    other, _ = composite.blend_mask(window, art, region, 200.0, np.random.default_rng(2))
    assert np.array_equal(out, again) and not np.array_equal(out, other)


def test_grain_field_wraps_for_windows_larger_than_its_tile():
    big = composite.grain_field((composite.GRAIN_TILE + 300, 700), np.random.default_rng(5))
    assert big.shape == (composite.GRAIN_TILE + 300, 700)
    assert abs(float(big.std()) - 1) < 0.05 and abs(float(big.mean())) < 0.05


def _big_face_window(h: int = 1300, w: int = 1150) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A real face scaled up to a large window (grain, a white worn mask as the light probe), art below."""
    rgb = np.asarray(Image.open(FACES / "hopper.png").convert("RGB").resize((w, h)))
    rng = np.random.default_rng(9)
    window = np.clip(rgb + rng.normal(0, 5.0, rgb.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    lower = (((xx - w / 2) / (0.32 * w)) ** 2 + ((yy - 0.72 * h) / (0.2 * h)) ** 2) < 1
    window[lower] = np.clip(window[lower].astype(int) // 4 + 180, 0, 255).astype(np.uint8)
    alpha = np.asarray(Image.fromarray((lower * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(3)))
    art = np.zeros((h, w, 4), np.uint8)
    art[..., :3] = (np.array([40, 160, 90], np.float32) * alpha[..., None] / 255).astype(np.uint8)
    art[..., 3] = alpha
    region = (((xx - w / 2) / (0.45 * w)) ** 2 + ((yy - 0.55 * h) / (0.5 * h)) ** 2) < 1
    return window, art, region


def test_the_blend_in_bands_of_rows_is_the_blend_in_one_pass(monkeypatch):
    """Bands bound the blend's memory (not the face's size); every pass is pointwise, so the pixels are
    the same to the bit: light field, shadow rows reaching across a band edge, grain wrapping its tile."""
    window, art, region = _big_face_window()
    face_width = 900.0  # shadow shift 18 rows, soft blur over 40 px
    monkeypatch.setattr(composite, "BLEND_ROWS", 10**6)
    whole, whole_alpha = composite.blend_mask(window, art, region, face_width, np.random.default_rng(4))
    assert composite.estimate_lighting(window, whole_alpha, region, face_width).source == "mask"
    monkeypatch.setattr(composite, "BLEND_ROWS", 100)
    banded, banded_alpha = composite.blend_mask(window, art, region, face_width, np.random.default_rng(4))
    assert np.array_equal(whole, banded) and np.array_equal(whole_alpha, banded_alpha)
    assert np.abs(whole.astype(int) - window).max() > 50  # something was painted


def test_the_warp_in_bands_of_rows_agrees_with_one_pass(monkeypatch):
    from batch_job import warp as warp_module

    source = _astronaut_rgba()
    mesh = Mesh(SRC * 1.0, DST * 6.0, TRIS)  # a 1,300 px window from a 260 px source
    box = (10, 20, 1290, 1390)
    monkeypatch.setattr(warp_module, "WARP_ROWS", 10**6)
    whole = warp_pixels(source, mesh, box).astype(int)
    monkeypatch.setattr(warp_module, "WARP_ROWS", 97)
    banded = warp_pixels(source, mesh, box).astype(int)
    # The maps' float32 offsets are folded per band: a sample may move by 1/32 px, a level at most.
    diff = np.abs(whole - banded)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    assert (whole[..., 3] == 255).mean() > 0.5

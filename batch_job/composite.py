"""Pixels: light the fitted mask like the face it sits on, seat it with a contact shadow, blend it in.

Works on a float window around one face, never on the whole photo, so a
12 MP photo with one small face costs little. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from batch_job.stages import timed

# A clean white surgical mask in good light reads about this bright (0..1) at
# its 75th percentile; the template art is drawn for that light.
WHITE_REFERENCE = 0.86
SKIN_REFERENCE = 0.72  # 90th-percentile brightness of a well-lit face without a white mask
SHADOW_STRENGTH = 0.38
# A white or pale mask's 75th-percentile brightness over the face skin's 90th
# (same light): about 1.2 for white (0.86 / 0.72). Under 0.9 it is a grey or
# dark mask, not a light probe.
WHITE_OVER_SKIN = 0.9


@dataclass(frozen=True)
class Lighting:
    """Per-channel gain applied to the mask art (brightness x colour temperature)."""

    gain: np.ndarray  # (3,)
    source: str  # "mask" (a white mask was the light probe) or "face"
    field: np.ndarray | None = None  # (H, W) relative brightness across the face (shade, side light)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of RGB in 0..1."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def estimate_lighting(
    window: np.ndarray, cover: np.ndarray, face_region: np.ndarray, face_width: float = 100.0
) -> Lighting:
    """Light falling on this face, from the photo around it (not the whole photo).

    ``window`` is the photo (H x W x 3, 0..1 float or 8-bit) around the face; ``cover`` the
    fitted mask's alpha; ``face_region`` a boolean map of the face. A white or
    pale surgical mask is a near-perfect grey card: where one is under our mask
    we read brightness and colour temperature straight off it, and how the
    light varies across it (half the face in shade, light from one side) as a
    smooth brightness field. Otherwise the face's own highlights give the
    brightness, and colour stays neutral.

    Light varies slowly, so all of this is read off a copy reduced to about
    160 px across (a 1000 px face costs the same as a 160 px one).
    """
    step = max(1, int(min(window.shape[:2]) // 160))
    full_shape = window.shape[:2]
    window = np.ascontiguousarray(window[::step, ::step])
    if window.dtype == np.uint8:
        window = window.astype(np.float32) * np.float32(1 / 255)
    cover, face_region = cover[::step, ::step], face_region[::step, ::step]
    face_width /= step
    luma_map = luma(window)
    r, g, b = window[..., 0], window[..., 1], window[..., 2]
    chroma_map = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)  # max(axis=2) is 5x slower
    pale_map = (luma_map > 0.12) & (chroma_map < np.maximum(0.08, 0.3 * luma_map))
    covered = cover > 0.6
    skin = window[face_region & (cover < 0.3)]
    skin_level = float(np.percentile(luma(skin), 90)) if skin.size >= 30 else None
    probe_mask = covered & pale_map
    level = float(np.percentile(luma_map[probe_mask], 75)) if probe_mask.sum() >= 30 else 0.0
    # A grey card only if it is white: a white mask reads brighter than the skin
    # in the same light. A black or grey cloth mask passes the "grey" test too,
    # and read as a card it lit the monster mask at a quarter of the light.
    white = skin_level is None or level >= WHITE_OVER_SKIN * skin_level
    if covered.sum() >= 30 and pale_map[covered].mean() > 0.5 and white:
        probe = window[probe_mask]
        colour = np.median(probe, axis=0)
        colour = colour / max(float(colour.mean()), 1e-3)
        # Pale-blue masks are blue by themselves: trust only half the tint, bounded.
        colour = np.clip(1 + (colour - 1) * 0.5, 0.9, 1.1)
        gain = np.clip(level / WHITE_REFERENCE, 0.25, 1.15) * colour
        # Normalised convolution: the probe's brightness, smoothed over about a
        # fifth of the face and carried into the straps where there is no probe.
        sigma = max(2.0, 0.2 * face_width)
        weight = probe_mask.astype(np.float32)
        num = blur_map(luma_map * weight, sigma)
        den = blur_map(weight, sigma)
        field = np.where(den > 0.04, num / np.maximum(den, 1e-3) / max(level, 1e-3), 1.0)
        field = np.clip(field, 0.45, 1.5).astype(np.float32)
        if step > 1:
            field = cv2.resize(field, (full_shape[1], full_shape[0]), interpolation=cv2.INTER_LINEAR)
        return Lighting(gain.astype(np.float32), "mask", field)
    if skin_level is not None:
        gain = np.full(3, np.clip(skin_level / SKIN_REFERENCE, 0.45, 1.1), np.float32)
        return Lighting(gain, "face")
    return Lighting(np.ones(3, np.float32), "none")


def blur_map(channel: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a 0..1 map, in float32 (edges extended, as Pillow's blur did).

    OpenCV's Gaussian is a true kernel, 8 sigma wide: a wide one (the light field's fifth of a
    face) runs on a copy reduced to 3 px per sigma, as soft_map does (Pillow's box
    approximation cost the same for any sigma; a 40 px kernel in full was 5 ms a face).
    """
    if sigma < 0.3:
        return channel
    channel = np.asarray(channel, np.float32)
    if sigma >= 6.0:
        return soft_map(channel, sigma)
    return cv2.GaussianBlur(channel, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def noise_level(window: np.ndarray) -> float:
    """Sensor/JPEG grain of the photo (0..1 float or 8-bit) here: robust std of a fine high-pass (0..1 units)."""
    h, w = window.shape[:2]
    # A central 256 px patch has plenty of samples for a median; grain is per pixel, so no reduction.
    y0, x0 = max(0, h // 2 - 128), max(0, w // 2 - 128)
    patch = window[y0 : y0 + 256, x0 : x0 + 256]
    if min(patch.shape[:2]) < 8:
        return 0.0
    grey = np.asarray(cv2.cvtColor(patch.astype(np.float32), cv2.COLOR_RGB2GRAY), np.float32)  # Rec. 601, as luma()
    if patch.dtype == np.uint8:
        grey *= np.float32(1 / 255)
    hp = grey[1:-1, 1:-1] * 4 - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    mad = float(np.median(np.abs(hp - np.median(hp))))
    # For white noise the Laplacian's std is sqrt(20) x the pixel std; MAD -> std is 1.4826.
    return mad * 1.4826 / math.sqrt(20)


# The warped art itself is about this soft (bilinear sampling from a level at 1-2x).
ART_SIGMA = 0.8
# Edge-based blur estimates read this much on a sharp photo (measured on the
# testing/faces portraits at native size: 1.18 and 1.25).
SHARP_READING = 0.5


# The right half of the face must be this much brighter than the left before
# we call the light "from the right" (skin, hair and glasses are not symmetric).
SIDE_LIGHT_RATIO = 1.12


def lit_from_right(grey: np.ndarray, axis: np.ndarray, origin: np.ndarray) -> bool:
    """Is the face lit from the image's right? From the upper face beside the eyes.

    ``grey`` is a patch (rows, cols) of the upper face, ``origin`` the eye
    midpoint in patch pixels and ``axis`` the unit eye-line direction.
    """
    if grey.size < 64:
        return False
    ys, xs = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]]
    side = (xs - origin[0]) * axis[0] + (ys - origin[1]) * axis[1]
    left, right = grey[side < 0], grey[side > 0]
    if left.size < 16 or right.size < 16:
        return False
    return float(np.median(right)) > SIDE_LIGHT_RATIO * max(float(np.median(left)), 1e-3)


def estimate_blur(grey: np.ndarray) -> float:
    """Gaussian blur (px) of a photo patch, from its sharpest edges.

    A step edge of contrast C blurred by sigma has a peak gradient of
    C / (sigma * sqrt(2 pi)). Measured on the portraits blurred by known
    amounts (0, 1, 2, 4 px) the reading rises monotonically with the blur.
    """
    if min(grey.shape) < 6:
        return 0.0
    gy, gx = np.gradient(grey.astype(np.float32))
    peak = float(np.percentile(np.hypot(gx, gy), 99))
    lo, hi = np.percentile(grey, [3, 97])
    contrast = float(hi - lo)
    if contrast < 0.08 or peak < 1e-4:
        return 0.0  # a flat patch says nothing about focus
    return max(0.0, contrast / (peak * math.sqrt(2 * math.pi)) - SHARP_READING)


def feather_sigma(face_width: float) -> float:
    """Gaussian sigma (px) of the mask's cut edge: in proportion to the face, so a
    big face is not razor-edged and a small one not smeared."""
    return float(np.clip(face_width * 0.0025, 0.35, 2.5))


def level_feather(face_width_at_level: float) -> float:
    """The feather in a mask level's own pixels, for art whose face is this wide there.

    A level serves faces drawn at 0.5-1x its size, and the feather scales with
    the face, so in level pixels it is nearly the same for every face that uses
    the level: it is blurred in once, when the level is cached, not per face.
    """
    nominal = 0.75  # output pixels per level pixel, mid-range
    return feather_sigma(face_width_at_level * nominal) / nominal


def soften(art: Image.Image | np.ndarray, face_width: float, photo_blur: float = 0.0) -> np.ndarray:
    """Match the photo's focus on the warped 8-bit premultiplied art (already
    feathered, see level_feather); 8-bit RGBA out (blend_mask goes to float).

    ``photo_blur`` is the photo's own softness around the face (estimate_blur):
    a crisp mask on a soft face is the first thing that looks pasted on.
    """
    art = np.asarray(art)
    focus = math.sqrt(max(0.0, photo_blur**2 - ART_SIGMA**2))
    sigma = min(focus, 0.025 * face_width, 6.0)
    if sigma >= 0.35 and min(art.shape[:2]) > 0:
        # Such a blur leaves no detail finer than 2 (4) px: blur a half (quarter) size copy.
        # OpenCV's 8-bit Gaussian slows with the kernel: at sigma 6 on a 400 px face
        # 13 ms at full size, 2.7 ms at half, 1 ms at a quarter.
        f = 1 if sigma < 1.5 else (2 if sigma < 3.0 else 4)
        if f == 1:
            art = cv2.GaussianBlur(art, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        else:
            small = cv2.GaussianBlur(_reduce(art, f), (0, 0), sigma / f, borderType=cv2.BORDER_REPLICATE)
            art = _expand(small, f, art.shape[:2])
    return art


def _reduce(image: np.ndarray, f: int) -> np.ndarray:
    """``image`` box-averaged by the whole factor ``f``, its edge pixels repeated to whole blocks.

    OpenCV's area resize to a size that is not an exact fraction (a 523 px window halved to 262)
    takes its general path, 10-20x slower (2.3 ms against 0.12 for a 400 px face's art).
    """
    h, w = image.shape[:2]
    if h % f or w % f:
        image = cv2.copyMakeBorder(image, 0, -h % f, 0, -w % f, cv2.BORDER_REPLICATE)
    return cv2.resize(image, (image.shape[1] // f, image.shape[0] // f), interpolation=cv2.INTER_AREA)


def _expand(small: np.ndarray, f: int, shape: tuple[int, ...]) -> np.ndarray:
    """``small`` (a ``_reduce`` by ``f``) back to full size ``shape[:2]``, bilinearly: block centres stay put."""
    big = cv2.resize(small, (small.shape[1] * f, small.shape[0] * f), interpolation=cv2.INTER_LINEAR)
    return big if big.shape[:2] == tuple(shape[:2]) else np.ascontiguousarray(big[: shape[0], : shape[1]])


def blend_mask(
    window: np.ndarray,
    art: np.ndarray,
    face_region: np.ndarray,
    face_width: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Composite premultiplied, softened 8-bit ``art`` (H x W x 4) onto the 8-bit ``window`` (H x W x 3).

    Returns the new 8-bit window and the mask's final alpha (0..1 float, for coverage checks).

    The maps (alpha, light field, grain, shadow) are float and single-channel; the
    three-channel passes are 8-bit OpenCV products of the window and the art with those
    maps quantised to 8 bits (the light to 1/128, the rest to 1/255: at most a level of
    difference, below the photo's own grain). In float the same blend was 2x slower,
    all of it memory traffic: a 400 px face's window is 0.5 MP, 5 MB per float copy.
    """
    alpha = art[..., 3].astype(np.float32) * np.float32(1 / 255)
    with timed("paint.light"):
        lighting = estimate_lighting(window, alpha, face_region, face_width)
    with timed("paint.shadow"):
        # Contact shadow: occlusion where the mask meets the face, a little below it
        # (light mostly comes from above), only outside the mask itself.
        soft = soft_map(alpha, max(1.0, face_width * 0.045))
        shift = max(1, int(round(face_width * 0.02)))
    with timed("paint.grain"):
        grain = noise_level(window)
        noise = _grain_source(alpha.shape, rng) if grain > 0.002 else None
    out = np.empty_like(window)
    # The per-pixel passes run in bands of rows: every one is pointwise (the shadow reads ``shift``
    # rows up), so the pixels are those of one pass over the window, without its ten full-size
    # temporaries (162 MB for a 1,200 px face's 5 MP window in one pass).
    for top in range(0, window.shape[0], BLEND_ROWS):
        rows = slice(top, min(window.shape[0], top + BLEND_ROWS))
        a = alpha[rows]
        with timed("paint.light"):
            rgb = cv2.cvtColor(art[rows], cv2.COLOR_RGBA2RGB)
            if lighting.field is None:
                lit = cv2.transform(rgb, np.diag(lighting.gain).astype(np.float32))  # rounded, saturated
            else:
                # 8-bit gain maps at 1/128 steps: up to 2x brighter, which field x gain never reaches (1.5 x 1.15).
                field = lighting.field[rows]
                light = cv2.merge([cv2.convertScaleAbs(field, alpha=float(g) * 128) for g in lighting.gain])
                lit = cv2.multiply(rgb, light, scale=1 / 128)
        with timed("paint.shadow"):
            shadow = np.zeros_like(a)
            first = max(rows.start, shift)  # rows above ``shift`` have no shadow from above
            if first < rows.stop:
                shadow[first - rows.start :] = soft[first - shift : rows.stop - shift]
            shadow = np.clip(shadow - a, 0.0, 1.0) * face_region[rows]
        with timed("paint.blend"):
            # Background weight per pixel, then one 3-channel pass (8-bit products saturate, as the old clip did).
            keep = cv2.convertScaleAbs((1.0 - SHADOW_STRENGTH * shadow) * (1.0 - a), alpha=255.0)
            band = cv2.add(cv2.multiply(window[rows], cv2.merge([keep] * 3), scale=1 / 255), lit)
        with timed("paint.grain"):
            if noise is not None:
                # Grain: the photo's own noise on the mask so it does not look cleaner than the face.
                dots = noise(rows) * (np.float32(grain * 255) * a)
                dots = np.rint(dots, out=dots).astype(np.int16)
                band = cv2.add(band, cv2.merge([dots] * 3), dtype=cv2.CV_8U)
        out[rows] = band
    return out, alpha


# Rows of a face's window blended at a time: 40 bytes of temporaries a pixel, ~20 MB for the widest face.
BLEND_ROWS = 256


# A tile of white Gaussian noise, made once per process (4 MB) and read at a random offset per
# face: drawing fresh normals for every pixel of a 400 px face cost 4-8 ms, as much as the rest
# of the blend. Windows larger than the tile (faces over ~600 px) wrap around it.
GRAIN_TILE = 1024


def grain_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Unit white Gaussian noise of ``shape`` (float32), the same for the same ``rng`` state."""
    return _grain_source(shape, rng)(slice(0, shape[0]))


def _grain_source(shape: tuple[int, int], rng: np.random.Generator) -> Callable[[slice], np.ndarray]:
    """``grain_field(shape, rng)`` a band of rows at a time (the same draws from ``rng``, the same noise)."""
    tile = _grain_tile()
    h, w = shape
    oy, ox = (int(v) for v in rng.integers(0, GRAIN_TILE, 2))
    if rng.integers(0, 2):
        tile = tile.T  # transposed too: 2 x 1024^2 offsets, no two faces side by side share grain
    wraps = h + oy > GRAIN_TILE or w + ox > GRAIN_TILE
    cols = (np.arange(w) + ox) % GRAIN_TILE

    def rows(band: slice) -> np.ndarray:
        start, stop = band.start + oy, band.stop + oy
        if not wraps:
            return tile[start:stop, ox : ox + w]
        return tile[np.ix_(np.arange(start, stop) % GRAIN_TILE, cols)]

    return rows


_TILE: list[np.ndarray] = []


def _grain_tile() -> np.ndarray:
    if not _TILE:
        _TILE.append(np.random.default_rng(0x6A41).standard_normal((GRAIN_TILE, GRAIN_TILE), dtype=np.float32))
    return _TILE[0]


def soft_map(channel: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur of a 0..1 map, computed on a reduced copy (a soft shadow has no detail)."""
    step = max(1, int(sigma // 3))
    if step == 1:
        return cv2.GaussianBlur(np.asarray(channel, np.float32), (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    small = cv2.GaussianBlur(_reduce(channel, step), (0, 0), sigma / step, borderType=cv2.BORDER_REPLICATE)
    return _expand(small, step, channel.shape)


def face_region_map(shape: tuple[int, int], polygon: np.ndarray, origin: tuple[int, int], grow: float) -> np.ndarray:
    """Boolean map of a face polygon (target pixels) inside a window at ``origin``, grown by ``grow`` px."""
    from PIL import ImageDraw

    h, w = shape
    centre = polygon.mean(axis=0)
    offsets = polygon - centre
    lengths = np.maximum(np.linalg.norm(offsets, axis=1, keepdims=True), 1e-6)
    # Pushing each vertex outward from the centre is a cheap dilation for a convex-ish outline.
    grown = polygon + offsets / lengths * grow
    image = Image.new("L", (w, h), 0)
    ImageDraw.Draw(image).polygon([(float(x - origin[0]), float(y - origin[1])) for x, y in grown], fill=255)
    return np.asarray(image) > 127

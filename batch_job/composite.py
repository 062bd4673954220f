"""Pixels: light the fitted mask like the face it sits on, seat it with a contact shadow, blend it in.

Works on a float window around one face, never on the whole photo, so a
12 MP photo with one small face costs little. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

# A clean white surgical mask in good light reads about this bright (0..1) at
# its 75th percentile; the template art is drawn for that light.
WHITE_REFERENCE = 0.86
SKIN_REFERENCE = 0.72  # 90th-percentile brightness of a well-lit face without a white mask
SHADOW_STRENGTH = 0.38


@dataclass(frozen=True)
class Lighting:
    """Per-channel gain applied to the mask art (brightness x colour temperature)."""

    gain: np.ndarray  # (3,)
    source: str  # "mask" (a white mask was the light probe) or "face"


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def estimate_lighting(window: np.ndarray, cover: np.ndarray, face_region: np.ndarray) -> Lighting:
    """Light falling on this face, from the photo around it (not the whole photo).

    ``window`` is the photo (H x W x 3, 0..1) around the face; ``cover`` the
    fitted mask's alpha; ``face_region`` a boolean map of the face. A white or
    pale surgical mask is a near-perfect grey card: where one is under our mask
    we read brightness and colour temperature straight off it. Otherwise the
    face's own highlights give the brightness, and colour stays neutral.
    """
    under = window[cover > 0.6]
    if under.size >= 30:
        luma = _luma(under)
        chroma = under.max(axis=1) - under.min(axis=1)
        pale = (luma > 0.35) & (chroma < 0.22)
        if pale.mean() > 0.5:
            probe = under[pale]
            level = float(np.percentile(_luma(probe), 75))
            colour = np.median(probe, axis=0)
            colour = colour / max(float(colour.mean()), 1e-3)
            # Pale-blue masks are blue by themselves: trust only half the tint, bounded.
            colour = np.clip(1 + (colour - 1) * 0.5, 0.9, 1.1)
            gain = np.clip(level / WHITE_REFERENCE, 0.25, 1.15) * colour
            return Lighting(gain.astype(np.float32), "mask")
    skin = window[face_region & (cover < 0.3)]
    if skin.size >= 30:
        level = float(np.percentile(_luma(skin), 90))
        gain = np.full(3, np.clip(level / SKIN_REFERENCE, 0.45, 1.1), np.float32)
        return Lighting(gain, "face")
    return Lighting(np.ones(3, np.float32), "none")


def _box_sizes(sigma: float, passes: int = 3) -> list[int]:
    """Box widths whose repeated application approximates a Gaussian (Kovesi's method)."""
    ideal = math.sqrt(12 * sigma * sigma / passes + 1)
    lower = int(ideal) - (1 if int(ideal) % 2 == 0 else 0)
    upper = lower + 2
    m = round((12 * sigma * sigma - passes * lower * lower - 4 * passes * lower - 3 * passes) / (-4 * lower - 4))
    return [lower if i < m else upper for i in range(passes)]


def _box_blur(a: np.ndarray, width: int, axis: int) -> np.ndarray:
    if width <= 1:
        return a
    r = width // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r + 1, r)
    padded = np.pad(a, pad, mode="edge")
    c = np.cumsum(padded, axis=axis, dtype=np.float64)
    n = a.shape[axis]
    hi = np.take(c, np.arange(width, width + n), axis=axis)
    lo = np.take(c, np.arange(0, n), axis=axis)
    return ((hi - lo) / width).astype(np.float32)


def blur(channel: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-like blur of a float map (three box passes per axis: O(pixels) at any sigma)."""
    if sigma < 0.3:
        return channel.astype(np.float32)
    out = channel.astype(np.float32)
    if sigma < 1.0:
        # Boxes cannot express sub-pixel sigmas; a 3-tap Gaussian can.
        k = np.exp(-0.5 * (np.array([-1.0, 0.0, 1.0]) / sigma) ** 2)
        k /= k.sum()
        for axis in (0, 1):
            p = np.pad(out, [(1, 1) if ax == axis else (0, 0) for ax in (0, 1)], mode="edge")
            sl = [slice(None)] * 2
            parts = []
            for j in range(3):
                sl[axis] = slice(j, j + out.shape[axis])
                parts.append(p[tuple(sl)] * k[j])
            out = (parts[0] + parts[1] + parts[2]).astype(np.float32)
        return out
    for width in _box_sizes(sigma):
        out = _box_blur(out, width, 0)
        out = _box_blur(out, width, 1)
    return out


def noise_level(window: np.ndarray) -> float:
    """Sensor/JPEG grain of the photo here: robust std of a fine high-pass (0..1 units)."""
    luma = _luma(window)
    if min(luma.shape) < 8:
        return 0.0
    hp = luma[1:-1, 1:-1] * 4 - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
    mad = float(np.median(np.abs(hp - np.median(hp))))
    # For white noise the Laplacian's std is sqrt(20) x the pixel std; MAD -> std is 1.4826.
    return mad * 1.4826 / math.sqrt(20)


def blend_mask(
    window: np.ndarray,
    art: np.ndarray,
    face_region: np.ndarray,
    face_width: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Composite premultiplied ``art`` (H x W x 4) onto ``window`` (H x W x 3, 0..1).

    Returns the new window and the mask's final alpha (for coverage checks).
    """
    alpha = art[..., 3]
    lighting = estimate_lighting(window, alpha, face_region)
    # Feather: soften the cut edge in proportion to the face, as a lens would.
    sigma = float(np.clip(face_width * 0.0025, 0.35, 2.5))
    if sigma >= 0.35:
        art = np.stack([blur(art[..., c], sigma) for c in range(4)], axis=2)
        alpha = art[..., 3]
    rgb = art[..., :3] * lighting.gain[None, None, :]
    # Grain: the photo's own noise on the mask so it does not look cleaner than the face.
    grain = noise_level(window)
    if grain > 0.002:
        rgb = rgb + rng.normal(0.0, grain, alpha.shape).astype(np.float32)[..., None] * alpha[..., None]
    # Contact shadow: occlusion where the mask meets the face, a little below it
    # (light mostly comes from above), only outside the mask itself.
    soft = blur(alpha, max(1.0, face_width * 0.045))
    shift = max(1, int(round(face_width * 0.02)))
    shadow = np.zeros_like(soft)
    shadow[shift:] = soft[:-shift]
    shadow = np.clip(shadow - alpha, 0.0, 1.0) * face_region.astype(np.float32)
    shaded = window * (1.0 - SHADOW_STRENGTH * shadow)[..., None]
    out = shaded * (1.0 - alpha[..., None]) + rgb
    return np.clip(out, 0.0, 1.0), alpha


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

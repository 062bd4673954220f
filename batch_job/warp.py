"""Piecewise-affine warping: map an RGBA image through a triangle mesh. Pure numpy + Pillow + OpenCV, no I/O.

Each output pixel finds the triangle it lies in (a triangle-index raster drawn
with Pillow), maps back through that triangle's affine transform into the
source and samples it bilinearly (one ``cv2.remap`` for the whole window).
Neighbouring triangles share their edges' transforms, so the result is
continuous: no seams along triangle edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

# The album runs one worker process per core: OpenCV's own thread pool would only fight them
# for the same cores (and measured no faster per face on 2 busy cores).
cv2.setNumThreads(1)
# Where a pixel outside every triangle reads from: so far outside the source that it samples 0.
_OUTSIDE = -1.0e5
# cv2.remap takes at most 4 channels at a time.
_REMAP_CHANNELS = 4
# Rows of the output warped at a time (memory: 24 bytes of maps a pixel; a 400 px face is 2 bands).
WARP_ROWS = 256


@dataclass(frozen=True)
class Mesh:
    """Matching source and target vertices (N x 2, pixels) and triangles (M x 3 vertex indices)."""

    src: np.ndarray
    dst: np.ndarray
    triangles: np.ndarray

    def scaled_src(self, k: float) -> Mesh:
        return Mesh(self.src * k, self.dst, self.triangles)


def _inverse_affines(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle, the 2x3 matrix taking target pixels to source pixels; plus a validity flag."""
    tri = mesh.triangles
    d = mesh.dst[tri]  # (M, 3, 2)
    s = mesh.src[tri]
    ones = np.ones((len(tri), 3, 1))
    dst_h = np.concatenate([d, ones], axis=2)  # (M, 3, 3)
    det = np.linalg.det(dst_h)
    valid = np.abs(det) > 1e-9
    mats = np.zeros((len(tri), 2, 3))
    if valid.any():
        # Solve dst_h @ X = s for X (3x2): x_src = [x y 1] @ X.
        sol = np.linalg.solve(dst_h[valid], s[valid])  # (V, 3, 2)
        mats[valid] = np.transpose(sol, (0, 2, 1))
    return mats, valid


def warp(source: np.ndarray, mesh: Mesh, out_box: tuple[int, int, int, int]) -> np.ndarray:
    """Render ``source`` (H x W x C float32, premultiplied if it has alpha) through ``mesh``.

    ``out_box`` = (x0, y0, x1, y1) of the output window in target pixels; the
    result has shape (y1 - y0, x1 - x0, C) and is zero outside every triangle.
    Target pixel centres are at integer + 0.5, as Pillow and the detectors use.
    Bilinear, zero outside the source (a sample half a pixel out reads half the edge pixel).
    """
    x0, y0, x1, y1 = out_box
    width, height = x1 - x0, y1 - y0
    channels = source.shape[2]
    if width <= 0 or height <= 0:
        return np.zeros((max(height, 0), max(width, 0), channels), np.float32)
    mats, valid = _inverse_affines(mesh)
    idx = _index_raster(mesh, valid, out_box)
    map_x, map_y = _maps(mats, idx, (x0, y0))
    source = np.ascontiguousarray(source, dtype=np.float32)
    parts = [
        _remap(np.ascontiguousarray(source[..., c : c + _REMAP_CHANNELS]), map_x, map_y)
        for c in range(0, channels, _REMAP_CHANNELS)
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)


def warp_pixels(
    source: Image.Image | np.ndarray,
    mesh: Mesh,
    out_box: tuple[int, int, int, int],
    finer: Sequence[tuple[Image.Image | np.ndarray, float]] | None = None,
    pick: np.ndarray | None = None,
) -> np.ndarray:
    """The warp for 8-bit premultiplied "RGBa" art: an H x W x 4 uint8 array.

    ``finer`` and ``pick`` let single triangles sample other copies of the art:
    triangle i reads ``finer[pick[i] - 1]`` (an image and its scale relative to
    ``source``) when ``pick[i] > 0``. A triangle squeezed far more than the rest
    (the far cheek of a face in profile) reads a more reduced copy, so its art is
    area-averaged instead of aliased into jagged stripes.

    One remap per art copy over the whole window, each reading only its own
    triangles: 8 bits per channel lose nothing visible on mask art, and this is
    ~10x cheaper than a Pillow affine transform and stencil paste per triangle.
    """
    x0, y0, x1, y1 = out_box
    width, height = max(0, x1 - x0), max(0, y1 - y0)
    if width == 0 or height == 0:
        return np.zeros((height, width, 4), np.uint8)
    mats, valid = _inverse_affines(mesh)
    idx = _index_raster(mesh, valid, out_box)
    copies: list[tuple[Image.Image | np.ndarray, float]] = [(source, 1.0), *(finer or [])]
    which = np.zeros(len(mats), np.int64) if pick is None or not finer else np.asarray(pick, np.int64)
    out = np.zeros((height, width, 4), np.uint8)
    dst = mesh.dst - np.array([x0, y0])
    for level, (image, k) in enumerate(copies):
        use = valid & (which == level)
        if not use.any():
            continue
        # Only the box of this copy's own triangles (the few squeezed ones of a profile are a sliver).
        pts = dst[mesh.triangles[use]].reshape(-1, 2)
        bx0, by0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 1, 0)
        bx1, by1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 2, (width, height))
        if bx1 <= bx0 or by1 <= by0:
            continue
        cols = slice(bx0, bx1)
        pixels = np.asarray(image)
        # In bands of rows: the six float maps of a whole 5 MP window (a 1,200 px face) were 125 MB.
        for top in range(by0, by1, WARP_ROWS):
            rows = slice(top, min(by1, top + WARP_ROWS))
            map_x, map_y = _maps(mats, idx[rows, cols], (x0 + bx0, y0 + top), k, use)
            piece = _remap(pixels, map_x, map_y)
            # The copies' triangles do not overlap (one index per pixel): each pixel has one nonzero term.
            np.add(out[rows, cols], piece, out=out[rows, cols])
    return out


def warp_image(
    source: Image.Image,
    mesh: Mesh,
    out_box: tuple[int, int, int, int],
    finer: list[tuple[Image.Image, float]] | None = None,
    pick: np.ndarray | None = None,
) -> Image.Image:
    """``warp_pixels`` as an "RGBa" image."""
    px = warp_pixels(source, mesh, out_box, finer, pick)
    return Image.frombytes("RGBa", (px.shape[1], px.shape[0]), px.tobytes())


def _index_raster(mesh: Mesh, valid: np.ndarray, out_box: tuple[int, int, int, int]) -> np.ndarray:
    """Per output pixel, 1 + the index of the triangle it lies in (0: none; a later triangle wins a shared edge).

    8-bit when the mesh has under 256 triangles (every fitted mask mesh): cv2.LUT then reads
    the per-triangle coefficients, 10x faster than numpy's gather.
    """
    x0, y0, x1, y1 = out_box
    index = Image.new("L" if len(mesh.triangles) < 256 else "I", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(index)
    pts = (mesh.dst - np.array([x0 + 0.5, y0 + 0.5])).tolist()  # Python floats: 3x less overhead per call
    for i, (a, b, c) in enumerate(mesh.triangles.tolist()):
        if valid[i]:
            # Pillow fills pixels whose centres lie inside; the outline closes the
            # half-pixel gaps between neighbours (both sides map the same there).
            draw.polygon([*pts[a], *pts[b], *pts[c]], fill=i + 1, outline=i + 1)
    return np.asarray(index)


def _maps(
    mats: np.ndarray,
    idx: np.ndarray,
    origin: tuple[int, int],
    k: float = 1.0,
    use: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap's maps: per pixel of ``idx`` (whose top left is target pixel ``origin``), the source pixel
    (index coordinates, scaled by ``k``) its triangle reads.

    Pixels of no triangle, or of a triangle not in ``use``, read from far outside (zero).
    """
    x0, y0 = origin
    table = np.zeros((len(mats) + 1, 2, 3))
    table[0, :, 2] = _OUTSIDE
    on = np.ones(len(mats), bool) if use is None else use
    m = mats[on] * k
    # Target pixel (col, row) of the window has its centre at (x0 + col + 0.5, y0 + row + 0.5) and
    # source pixel centres sit at +0.5: fold both offsets into the constant term, in float64.
    table[1:][on, :, :2] = m[:, :, :2]
    table[1:][on, :, 2] = m[:, :, 0] * (x0 + 0.5) + m[:, :, 1] * (y0 + 0.5) + m[:, :, 2] - 0.5
    table[1:][~on, :, 2] = _OUTSIDE
    coef = table.reshape(-1, 6).astype(np.float32)
    if idx.dtype == np.uint8:
        lut = np.zeros((256, 6), np.float32)
        lut[: len(coef)] = coef
        a, b, c, d, e, f = (np.asarray(cv2.LUT(idx, np.ascontiguousarray(lut[:, i])), np.float32) for i in range(6))
    else:
        a, b, c, d, e, f = (np.take(np.ascontiguousarray(coef[:, i]), idx) for i in range(6))
    cols = np.arange(idx.shape[1], dtype=np.float32)[None, :]
    rows = np.arange(idx.shape[0], dtype=np.float32)[:, None]
    a *= cols
    a += c
    b *= rows
    a += b
    d *= cols
    d += f
    e *= rows
    d += e
    return a, d


def _remap(source: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    out = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out if out.ndim == source.ndim else out[..., None]


def sample_bilinear(source: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Bilinear samples at (sx, sy) (pixel-index coordinates); zero outside the source.

    Plain numpy, per point: the reference the remap paths are tested against (tests/test_paint_fast.py).
    """
    h, w = source.shape[:2]
    # Pad by one transparent pixel so samples just outside fade out instead of clamping.
    padded = np.zeros((h + 2, w + 2, source.shape[2]), np.float32)
    padded[1:-1, 1:-1] = source
    fx = np.clip(sx + 1, 0, w + 0.999)
    fy = np.clip(sy + 1, 0, h + 0.999)
    ix = np.floor(fx).astype(np.int64)
    iy = np.floor(fy).astype(np.int64)
    ax = (fx - ix)[:, None].astype(np.float32)
    ay = (fy - iy)[:, None].astype(np.float32)
    ix1 = np.minimum(ix + 1, w + 1)
    iy1 = np.minimum(iy + 1, h + 1)
    top = padded[iy, ix] * (1 - ax) + padded[iy, ix1] * ax
    bottom = padded[iy1, ix] * (1 - ax) + padded[iy1, ix1] * ax
    return top * (1 - ay) + bottom * ay


def minification(mesh: Mesh) -> np.ndarray:
    """Per triangle, source pixels per target pixel along its most squeezed direction (0 if degenerate)."""
    mats, valid = _inverse_affines(mesh)
    out = np.zeros(len(mesh.triangles))
    if valid.any():
        out[valid] = np.linalg.svd(mats[valid][:, :, :2], compute_uv=False)[:, 0]
    return out


def map_points(mesh: Mesh, points: np.ndarray) -> np.ndarray:
    """Forward-map source points through the mesh (barycentric in their source triangle).

    Points outside every source triangle map with the nearest triangle's affine transform.
    """
    tri = mesh.triangles
    s = mesh.src[tri]  # (M, 3, 2)
    d = mesh.dst[tri]
    out = []
    for p in np.atleast_2d(points):
        v0, v1, v2 = s[:, 0], s[:, 1], s[:, 2]
        den = (v1[:, 1] - v2[:, 1]) * (v0[:, 0] - v2[:, 0]) + (v2[:, 0] - v1[:, 0]) * (v0[:, 1] - v2[:, 1])
        den = np.where(np.abs(den) < 1e-12, 1e-12, den)
        a = ((v1[:, 1] - v2[:, 1]) * (p[0] - v2[:, 0]) + (v2[:, 0] - v1[:, 0]) * (p[1] - v2[:, 1])) / den
        b = ((v2[:, 1] - v0[:, 1]) * (p[0] - v2[:, 0]) + (v0[:, 0] - v2[:, 0]) * (p[1] - v2[:, 1])) / den
        c = 1 - a - b
        outside = np.maximum(0, -a) + np.maximum(0, -b) + np.maximum(0, -c)
        k = int(np.argmin(outside))
        out.append(a[k] * d[k, 0] + b[k] * d[k, 1] + c[k] * d[k, 2])
    return np.array(out)

#!/usr/bin/env python3
"""Procedurally draw the maskalbum monster-mask art.

Run from the repository root::

    python -m masks.art_src.draw            # draw every mask + catalog.json
    python -m masks.art_src.draw cat oni    # redraw only some masks (catalog is still rewritten)
    python -m masks.art_src.draw -j1        # no worker processes (default -j2)
    python -m masks.art_src.draw --coverage-wins   # see EYE_CLEARANCE_WINS
    python -m masks.art_src.draw --check    # draw into a temp dir, compare with the committed files

This is source, not runtime: the wheel ships masks/ without art_src/ (the
committed PNGs and catalog.json are what the pipeline reads).

Everything is drawn with numpy + Pillow only.  Each mask is modelled as a
2.5-D relief: a height field sitting on a generic "face dome", per-pixel
material maps (albedo, specular strength/shininess, metalness, environment
reflection) and a coverage mask.  A small shader then lights the relief
(Lambert + Blinn-Phong + a studio environment for glossy materials), adds
multi-scale ambient occlusion and ray-marched cast shadows, and the result is
drawn at SS x resolution and downsampled with LANCZOS for anti-aliased edges.

All randomness comes from fixed seeds, so reruns give byte-identical PNGs.

Geometry: template coordinates are in units of the eye distance d, origin at
the midpoint of the pupils, x to the right, y down (the canonical layout,
anchors and coverage contract are masks/catalog.py's, which the pipeline uses).  Template pixels are
``px = 512 + 360 * x``, ``py = 120 + 360 * y`` on a 1024 x 900 canvas.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from masks.catalog import CANONICAL, EYE_CLEAR_RADIUS, coverage_polygon

MASKS_DIR = Path(__file__).resolve().parent.parent
ART_DIR = MASKS_DIR / "art"
CATALOG = MASKS_DIR / "catalog.json"

# --------------------------------------------------------------------------
# canvas geometry / contract
# --------------------------------------------------------------------------
W, H = 1024, 900  # template size in pixels
D = 360.0  # eye distance in template pixels
OX, OY = 512.0, 120.0  # eye midpoint in template pixels
SS = 3  # supersampling factor
SW, SH = W * SS, H * SS
K = D * SS  # supersampled pixels per d unit
F32 = np.float32

# The anchors (CANONICAL), the area that must be opaque (COVERAGE_HALF, mirrored) and the
# eye clearance (alpha 0 within EYE_CLEAR_RADIUS) are the catalog's contract, imported above.
EYE_CUT = EYE_CLEAR_RADIUS + 1.5 / D  # cut a little wider so the AA band sits outside the clearance
# The coverage polygon and the eye-clearance circles overlap (~9.8k template px just under
# each eye, 0.15-0.28 d below the eye line): both rules cannot hold there.
#   True  -> eye clearance wins: alpha 0 inside r = 0.28 d; opaque on the rest of the polygon.
#   False -> coverage wins: the whole polygon is opaque; eyes are cleared only outside it.
# Switch from the command line with --coverage-wins.
EYE_CLEARANCE_WINS = True
BORDER = 12  # transparent border in template px
X_MAX = (W / 2 - BORDER - 2) / D  # furthest |x| art may reach (straps)


def anchors_px(overrides=None):
    a = dict(CANONICAL)
    a.update(overrides or {})
    return {k: [round(OX + D * x, 1), round(OY + D * y, 1)] for k, (x, y) in a.items()}


def cover_polygon_d():
    return [(float(x), float(y)) for x, y in coverage_polygon()]


# --------------------------------------------------------------------------
# small numeric helpers
# --------------------------------------------------------------------------
def sstep(e0, e1, x):
    d = np.asarray(e1 - e0, dtype=F32)
    d = np.where(np.abs(d) < 1e-9, 1e-9, d)
    t = np.clip((x - e0) / d, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def lerp(a, b, t):
    return a + (b - a) * t


def normalize3(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _box_axis(a, r, axis):
    """Box filter of radius r (window 2r+1) along axis (0 or 1), edge padded."""
    if r <= 0:
        return a
    if axis == 1:
        return _box_axis(a.T, r, 0).T
    p = np.concatenate([np.repeat(a[:1], r + 1, axis=0), a, np.repeat(a[-1:], r, axis=0)], axis=0)
    c = np.cumsum(p, axis=0, dtype=np.float64)
    n = a.shape[0]
    return ((c[2 * r + 1 : 2 * r + 1 + n] - c[:n]) * (1.0 / (2 * r + 1))).astype(F32)


def _resize(a, size, resample):
    return np.asarray(Image.fromarray(np.ascontiguousarray(a, dtype=F32), "F").resize(size, resample))


def blur(a, sigma):
    """Approximate Gaussian blur (3 box passes).  sigma in array pixels."""
    a = np.asarray(a, dtype=F32)
    if sigma < 0.4:
        return a
    if sigma > 8:
        # blur a box-downsampled copy and upsample with a smooth (bicubic) kernel so the
        # result has continuous derivatives (shading normals come from these fields)
        f = max(2, int(sigma // 4))
        h, w = a.shape
        sh, sw = max(2, -(-h // f)), max(2, -(-w // f))
        small = _resize(a, (sw, sh), Image.BOX)
        small = blur(small, math.sqrt(max(sigma * sigma - (f * f) / 12.0, 0.25)) / f)
        return _resize(small, (w, h), Image.BICUBIC)
    r = max(1, int(round((math.sqrt(12 * sigma * sigma / 3 + 1) - 1) / 2)))
    out = a
    for _ in range(3):
        out = _box_axis(out, r, 0)
        out = _box_axis(out, r, 1)
    return out


def catmull(pts, closed=True, n=24):
    """Catmull-Rom spline through pts (list of (x, y)); returns dense (M, 2)."""
    p = np.asarray(pts, dtype=np.float64)
    if closed:
        p = np.vstack([p[-1:], p, p[:2]])
    else:
        p = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out = []
    t = np.linspace(0, 1, n, endpoint=False)[:, None]
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (
                (2 * p1)
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t * t * t
            )
        )
    if not closed:
        out.append(p[-2][None, :])
    return np.vstack(out)


def mirror_outline(right):
    """Right-half outline from top centre to bottom centre -> closed outline."""
    left = [(-x, y) for x, y in reversed(right[1:-1])]
    return list(right) + left


# --------------------------------------------------------------------------
# windows: rectangular sub-areas of the supersampled canvas
# --------------------------------------------------------------------------
class Win:
    def __init__(self, x0, y0, x1, y1):
        i0 = int(math.floor((OX + D * x0) * SS))
        i1 = int(math.ceil((OX + D * x1) * SS))
        j0 = int(math.floor((OY + D * y0) * SS))
        j1 = int(math.ceil((OY + D * y1) * SS))
        self.i0, self.i1 = max(0, i0), min(SW, i1)
        self.j0, self.j1 = max(0, j0), min(SH, j1)
        self.sl = (slice(self.j0, self.j1), slice(self.i0, self.i1))
        self.shape = (self.j1 - self.j0, self.i1 - self.i0)
        self.X = ((((np.arange(self.i0, self.i1) + 0.5) / SS) - OX) / D).astype(F32)[None, :]
        self.Y = ((((np.arange(self.j0, self.j1) + 0.5) / SS) - OY) / D).astype(F32)[:, None]

    def zeros(self):
        return np.zeros(self.shape, F32)

    def px(self, x, y):
        """d coords -> pixel coords inside this window (PIL convention)."""
        return ((OX + D * x) * SS - self.i0 - 0.5, (OY + D * y) * SS - self.j0 - 0.5)

    def poly(self, pts):
        img = Image.new("L", (self.shape[1], self.shape[0]), 0)
        ImageDraw.Draw(img).polygon([self.px(x, y) for x, y in pts], fill=255)
        return np.asarray(img, F32) / 255.0

    def lines(self, segs, width_d, value=255):
        img = Image.new("L", (self.shape[1], self.shape[0]), 0)
        dr = ImageDraw.Draw(img)
        w = max(1, int(round(width_d * K)))
        for seg in segs:
            dr.line([self.px(x, y) for x, y in seg], fill=value, width=w, joint="curve")
        return np.asarray(img, F32) / 255.0

    def ellipse(self, cx, cy, rx, ry=None):
        ry = rx if ry is None else ry
        return (((self.X - cx) / rx) ** 2 + ((self.Y - cy) / ry) ** 2 <= 1.0).astype(F32)

    def noise(self, seed, freq, octaves=1, gain=0.5, aspect=(1.0, 1.0)):
        """fBm value noise in [0, 1]; freq = cells per d unit."""
        rng = np.random.default_rng(seed)
        h, w = self.shape
        total = np.zeros(self.shape, F32)
        amp, norm = 1.0, 0.0
        for o in range(octaves):
            fx = freq * (2**o) * aspect[0]
            fy = freq * (2**o) * aspect[1]
            cx, cy = K / fx, K / fy  # pixels per cell
            nx, ny = int(w / cx) + 5, int(h / cy) + 5
            g = rng.random((ny, nx)).astype(F32)
            tw, th = int(round(nx * cx)), int(round(ny * cy))
            if tw * th > 60e6:  # tiny cells: fine noise directly
                g = rng.random(self.shape).astype(F32)
                up = g
            else:
                up = _resize(g, (tw, th), Image.BICUBIC)
                ox, oy = int(cx * 2), int(cy * 2)
                up = up[oy : oy + h, ox : ox + w]
            total += amp * up
            norm += amp
            amp *= gain
        return np.clip(total / norm, 0, 1)

    def curve_field(self, pts, maxd=0.08):
        """Distance (d units), arc-length position and side (+1/-1) to a polyline.

        Only pixels within maxd of the curve get exact values (others: inf)."""
        pts = np.asarray(pts, dtype=np.float64)
        best = np.full(self.shape, np.inf, F32)
        tpos = np.zeros(self.shape, F32)
        side = np.zeros(self.shape, F32)
        cum = 0.0
        Xf, Yf = self.X[0], self.Y[:, 0]
        for i in range(len(pts) - 1):
            ax, ay = pts[i]
            bx, by = pts[i + 1]
            ex, ey = bx - ax, by - ay
            L2 = ex * ex + ey * ey
            if L2 < 1e-12:
                continue
            L = math.sqrt(L2)
            x0, x1 = min(ax, bx) - maxd, max(ax, bx) + maxd
            y0, y1 = min(ay, by) - maxd, max(ay, by) + maxd
            i0, i1 = np.searchsorted(Xf, x0), np.searchsorted(Xf, x1)
            j0, j1 = np.searchsorted(Yf, y0), np.searchsorted(Yf, y1)
            if i1 <= i0 or j1 <= j0:
                cum += L
                continue
            X = self.X[:, i0:i1]
            Y = self.Y[j0:j1, :]
            u = np.clip(((X - ax) * ex + (Y - ay) * ey) / L2, 0, 1)
            dx = X - (ax + u * ex)
            dy = Y - (ay + u * ey)
            d2 = dx * dx + dy * dy
            b = best[j0:j1, i0:i1]
            sel = (d2 < b) & (d2 <= maxd * maxd)
            b[sel] = d2[sel]
            tpos[j0:j1, i0:i1][sel] = (cum + u * L)[sel]
            sd = np.sign(ex * (Y - ay) - ey * (X - ax))
            side[j0:j1, i0:i1][sel] = np.broadcast_to(sd, sel.shape)[sel]
            cum += L
        return np.sqrt(np.minimum(best, 100.0)), tpos, side, cum


FULL = None


def full():
    global FULL
    if FULL is None:
        FULL = Win(-OX / D, -OY / D, (W - OX) / D, (H - OY) / D)
    return FULL


def bevel(m, sigma, power=2.0):
    """0 at the edge of binary mask m rising to 1 about 2*sigma inside (rounded)."""
    b = np.clip(blur(m, sigma) * 2.0 - 1.0, 0.0, 1.0)
    return (1.0 - (1.0 - b) ** power) * (m > 0.5)


# --------------------------------------------------------------------------
# the relief surface + shader
# --------------------------------------------------------------------------
LIGHT = normalize3((-0.38, -0.58, 0.72))
VIEW = np.array([0.0, 0.0, 1.0])


def face_dome(X, Y):
    """Generic head surface (height in SS pixels) the masks wrap around."""
    r = 1.0 - (X / 1.5) ** 2 - ((Y - 0.72) / 1.62) ** 2
    return (K * 0.62 * np.sqrt(np.clip(r, 0.015, None))).astype(F32)


class Surf:
    """Height + material maps for a whole canvas (supersampled)."""

    def __init__(self):
        fw = full()
        self.a = np.zeros((SH, SW), F32)
        self.h = face_dome(fw.X, fw.Y)
        self.alb = np.zeros((SH, SW, 3), F32)
        self.ks = np.zeros((SH, SW), F32)  # specular strength
        self.shin = np.full((SH, SW), 20.0, F32)  # Blinn exponent
        self.kr = np.zeros((SH, SW), F32)  # environment reflection strength
        self.metal = np.zeros((SH, SW), F32)  # tint specular by albedo
        self.occl = np.ones((SH, SW), F32)  # extra baked occlusion (multiplies light)
        self.bump = np.zeros((SH, SW), F32)  # micro relief: shading only (no AO / shadows)
        self.grime = np.zeros((SH, SW), F32)  # how much dirt settles in crevices
        self.grime_col = np.array([0.55, 0.42, 0.28], F32)

    def dome(self, win):
        return self.h[win.sl]

    def put(self, win, m, h, alb, ks=0.2, shin=20.0, kr=0.0, metal=0.0, occl=None, alpha=None, bump=0.0):
        """Paint a part: where m (0..1) is set, replace height and materials."""
        m = np.asarray(m, F32)
        nz = m > 0
        rows = np.flatnonzero(nz.any(axis=1))
        if rows.size == 0:
            return
        cols = np.flatnonzero(nz.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        loc = (slice(r0, r1), slice(c0, c1))
        sl = (slice(win.j0 + r0, win.j0 + r1), slice(win.i0 + c0, win.i0 + c1))

        fh, fw = m.shape

        def crop(v):
            v = np.asarray(v, F32)
            if v.ndim >= 2:
                return np.broadcast_to(v, (fh, fw) + v.shape[2:])[loc]
            return v

        m = m[loc]
        h, alb, ks, shin, kr, metal, bump = (crop(v) for v in (h, alb, ks, shin, kr, metal, bump))
        occl = None if occl is None else crop(occl)
        alpha = None if alpha is None else crop(alpha)
        mm = m[..., None]

        def mix(dst, val):
            dst[sl] = dst[sl] * (1 - m) + np.asarray(val, F32) * m

        mix(self.h, h)
        mix(self.bump, bump)
        alb = np.asarray(alb, F32)
        if alb.ndim == 1:
            alb = alb[None, None, :]
        self.alb[sl] = self.alb[sl] * (1 - mm) + alb * mm
        mix(self.ks, ks)
        mix(self.shin, shin)
        mix(self.kr, kr)
        mix(self.metal, metal)
        mix(self.occl, 1.0 if occl is None else occl)
        a = m if alpha is None else np.asarray(alpha, F32) * m
        self.a[sl] = self.a[sl] + a * (1 - self.a[sl])


def _shift(a, dx, dy):
    """out[y, x] = a[y + dy, x + dx] (edge values outside)."""
    h, w = a.shape
    out = np.empty_like(a)
    ys = slice(max(0, -dy), min(h, h - dy))
    xs = slice(max(0, -dx), min(w, w - dx))
    ys2 = slice(max(0, dy), min(h, h + dy))
    xs2 = slice(max(0, dx), min(w, w + dx))
    out[:] = a.min()
    out[ys, xs] = a[ys2, xs2]
    return out


def cast_shadow(h, light=LIGHT, max_len=0.16, steps=22, soft=0.012, down=3):
    """Ray-march the height field towards the light; 1 = lit, 0 = shadowed."""
    hh, ww = h.shape
    sh, sw = hh // down, ww // down
    hs = _resize(h, (sw, sh), Image.BOX) / down  # heights in low-res pixels
    lxy = math.hypot(light[0], light[1])
    ux, uy = light[0] / lxy, light[1] / lxy
    tan_e = light[2] / lxy
    occ = np.zeros_like(hs)
    L = max_len * K / down
    for i in range(1, steps + 1):
        t = L * (i / steps) ** 1.5
        dx, dy = int(round(t * ux)), int(round(t * uy))
        if dx == 0 and dy == 0:
            continue
        tt = math.hypot(dx, dy)
        occ = np.maximum(occ, _shift(hs, dx, dy) - hs - tt * tan_e)
    s = 1.0 - sstep(0.0, soft * K / down, occ)
    s = blur(s, 1.0)
    return _resize(s, (ww, hh), Image.BILINEAR)


def env_light(rx, ry, rz):
    """Studio environment seen in reflection direction r (image y down)."""
    up = sstep(-0.6, 0.9, -ry)
    base = 0.05 + 0.42 * up
    box = 1.5 * np.exp(-(((rx + 0.45) / 0.26) ** 2 + ((ry + 0.5) / 0.3) ** 2))
    strip_l = 0.7 * np.exp(-(((rx + 0.66) / 0.08) ** 2)) * sstep(0.9, -0.3, ry)
    strip_r = 0.45 * np.exp(-(((rx - 0.72) / 0.07) ** 2)) * sstep(0.8, -0.4, ry)
    floor = 0.12 * sstep(0.3, 0.9, ry)
    return base + box + strip_l + strip_r + floor


def render(s, amb=0.36, dif=0.78, ao_amt=1.0, shadow_amt=0.85, shadow_len=0.16):
    h = s.h
    gy, gx = np.gradient(h + s.bump)
    inv = 1.0 / np.sqrt(1.0 + gx * gx + gy * gy)
    nx, ny, nz = -gx * inv, -gy * inv, inv
    del gx, gy
    lx, ly, lz = LIGHT
    ndl = np.clip(nx * lx + ny * ly + nz * lz, 0, 1)
    hv = normalize3(LIGHT + VIEW)
    ndh = np.clip(nx * hv[0] + ny * hv[1] + nz * hv[2], 0, 1)
    spec = s.ks * np.power(ndh, s.shin) * (0.4 + s.shin / 120.0)
    # reflection vector for a frontal viewer
    rx, ry, rz = 2 * nz * nx, 2 * nz * ny, 2 * nz * nz - 1
    fres = 0.06 + 0.94 * (1 - nz) ** 4
    env = env_light(rx, ry, rz)
    del rx, ry, rz
    # ambient occlusion from the height field (multi-scale "unsharp" cavity)
    ao = np.ones_like(h)
    for r, k in ((0.008, 0.9), (0.025, 0.7), (0.07, 0.5)):
        rr = r * K
        cav = np.clip((blur(h, rr) - h) / rr, 0, None)
        ao *= 1.0 / (1.0 + k * ao_amt * cav * 2.2)
    ao *= s.occl
    sh = cast_shadow(h, max_len=shadow_len)
    sh = 1.0 - shadow_amt * (1.0 - sh)
    light = (amb * ao + dif * ndl * sh * (0.55 + 0.45 * ao)) * (1.0 - 0.7 * s.metal)
    alb = s.alb
    if s.grime.any():
        cav = np.clip((1.0 - ao) * 2.5, 0, 1) * s.grime
        alb = alb * (1 - cav[..., None] * (1 - s.grime_col[None, None, :]))
    spec_w = (spec * sh * (0.3 + 0.7 * ao))[..., None]
    tint = s.metal[..., None]
    spec_col = (1 - tint) + tint * alb * 1.6
    refl = (s.kr * (fres * (1 - s.metal) + s.metal) * env * (0.35 + 0.65 * ao))[..., None]
    rgb = alb * light[..., None] + spec_w * spec_col + refl * spec_col
    return np.clip(rgb, 0, 1), dict(ao=ao, shadow=sh, nz=nz)


# --------------------------------------------------------------------------
# finishing: downsample, clean alpha, enforce transparency rules
# --------------------------------------------------------------------------
def finish(rgb, a):
    a = np.clip(a, 0, 1).astype(F32)
    chans = []
    for c in range(3):
        chans.append(_resize(rgb[..., c] * a, (W, H), Image.LANCZOS))
    al = _resize(a, (W, H), Image.LANCZOS)
    ab = _resize(a, (W, H), Image.BOX)
    al = np.where(ab <= 1e-4, 0.0, np.where(ab >= 0.9999, 1.0, np.clip(al, 0, 1)))
    # hard rules: eye clearance + transparent border
    ys, xs = np.mgrid[0:H, 0:W].astype(F32)
    X = (xs + 0.5 - OX) / D
    Y = (ys + 0.5 - OY) / D
    zone = np.zeros((H, W), bool)
    for ex in (-0.5, 0.5):
        zone |= (X - ex) ** 2 + Y**2 <= EYE_CLEAR_RADIUS**2
    if not EYE_CLEARANCE_WINS:
        img = Image.new("L", (W, H), 0)
        ImageDraw.Draw(img).polygon([(OX + D * x - 0.5, OY + D * y - 0.5) for x, y in cover_polygon_d()], fill=255)
        zone &= np.asarray(img) == 0
    al = np.where(zone, 0.0, al)
    al[:BORDER, :] = 0
    al[-BORDER:, :] = 0
    al[:, :BORDER] = 0
    al[:, -BORDER:] = 0
    a8 = np.round(al * 255).astype(np.uint8)
    af = np.maximum(al, 1e-6)
    out = np.zeros((H, W, 4), np.uint8)
    for c in range(3):
        v = np.clip(chans[c] / af, 0, 1)
        out[..., c] = np.where(a8 > 0, np.round(v * 255), 0).astype(np.uint8)
    out[..., 3] = a8
    return Image.fromarray(out, "RGBA")


# --------------------------------------------------------------------------
# shared construction helpers
# --------------------------------------------------------------------------
def outline_mask(win, right_pts, n=20, eye_cut=EYE_CUT, round_corners=0.006):
    pts = catmull(mirror_outline(right_pts), closed=True, n=n)
    m = win.poly(pts)
    m = cut_eyes(win, m, eye_cut)
    if round_corners > 0:
        m = (blur(m, round_corners * K) > 0.5).astype(F32)
        m = cut_eyes(win, m, eye_cut)
    return m


def cut_eyes(win, m, r=EYE_CUT):
    zone = np.zeros(win.shape, bool)
    for ex in (-0.5, 0.5):
        zone |= ((win.X - ex) ** 2 + win.Y**2) <= r * r
    if not EYE_CLEARANCE_WINS:
        keep = blur(win.poly(cover_polygon_d()), 2.0 * SS) > 0.02  # polygon grown by ~4 px
        zone &= ~keep
    return (m * ~zone).astype(F32)


def eye_clear(win, r=EYE_CUT):
    m = np.ones(win.shape, F32)
    return cut_eyes(win, m, r)


def rivet(s, cx, cy, r, alb=(0.62, 0.6, 0.56), height=0.55, ks=1.2, shin=60, kr=0.6, metal=0.9):
    """A domed rivet head placed on the current surface."""
    w = Win(cx - r * 1.2, cy - r * 1.2, cx + r * 1.2, cy + r * 1.2)
    d2 = ((w.X - cx) ** 2 + (w.Y - cy) ** 2) / (r * r)
    m = (d2 <= 1.0).astype(F32)
    base = s.h[w.sl].copy()
    hh = base + K * r * height * np.sqrt(np.clip(1 - d2, 0, 1))
    s.put(w, m, hh, alb, ks=ks, shin=shin, kr=kr, metal=metal)


def strap_path(side, y_in, y_out, x_in, x_out=X_MAX, sag=0.0, n=16):
    t = np.linspace(0, 1, n)
    xs = x_in + (x_out - x_in) * t
    ys = y_in + (y_out - y_in) * t + sag * np.sin(np.pi * t)
    return [(side * x, y) for x, y in zip(xs, ys, strict=True)]


def draw_strap(
    s,
    side,
    y_in,
    y_out,
    width,
    x_in=0.9,
    alb=(0.1, 0.085, 0.075),
    thick=0.016,
    ks=0.35,
    shin=18,
    kr=0.05,
    stitch=None,
    seed=0,
    texture="leather",
    fade=0.05,
    y_half=None,
):
    """A band from under the mask edge around to the template edge."""
    x_out = X_MAX
    pts = strap_path(side, y_in, y_out, x_in, x_out)
    xa, xb = sorted((side * x_in, side * x_out))
    ylo = min(y_in, y_out) - width
    yhi = max(y_in, y_out) + width
    w = Win(xa - 0.02, ylo, xb + 0.02, yhi)
    dist, tpos, sd, total = w.curve_field(pts, maxd=width)
    hw = width / 2
    m = (dist <= hw).astype(F32)
    # fade the far end: the band disappears around the head
    ax = np.abs(w.X)
    alpha = 1.0 - sstep(x_out - fade, x_out, ax)
    m = m * (ax <= x_out)
    across = np.clip(dist / hw, 0, 1)
    prof = np.sqrt(np.clip(1 - across**6, 0, 1))
    base = s.h[w.sl]
    hh = base + K * thick * prof
    # the band turns away from the viewer as it goes round the head
    turn = sstep(1.0, x_out, ax)
    hh = hh - K * 0.05 * turn * (dist / hw) * 0.0
    alb = np.asarray(alb, F32)[None, None, :]
    if texture == "leather":
        n1 = w.noise(seed + 1, 70, octaves=3)
        n2 = w.noise(seed + 2, 8, octaves=2)
        grain = np.abs(n1 - 0.5)
        hh = hh + K * 0.0016 * (grain * 2)
        col = alb * (0.85 + 0.3 * n2)[..., None] * (0.92 + 0.16 * n1)[..., None]
        # worn lighter edges
        col = col + (0.06 * sstep(0.75, 1.0, across) * n2)[..., None]
    elif texture == "elastic":
        # woven elastic: fine ribs along the band + cross weave
        rib = 0.5 + 0.5 * np.sin(dist / hw * np.pi * 7)
        weave = 0.5 + 0.5 * np.sin(tpos * K / 5.0)
        hh = hh + K * 0.0018 * rib + K * 0.0008 * weave
        n2 = w.noise(seed + 2, 10, octaves=2)
        col = alb * (0.85 + 0.15 * rib + 0.15 * (n2 - 0.5))[..., None]
    elif texture == "cord":
        # twisted silk cord: diagonal strands
        ph = (tpos * K / (width * K) * 2.2 + (dist * sd) / hw * 0.9) * np.pi * 2
        tw = 0.5 + 0.5 * np.cos(ph)
        hh = hh + K * 0.006 * tw
        col = alb * (0.6 + 0.55 * tw)[..., None]
    else:
        col = alb
    if stitch is not None:
        sd_ = np.abs(dist - hw * 0.72)
        dash = np.sin(tpos * K / (0.022 * K) * 2 * np.pi) > -0.2
        st = (sd_ < 0.0045) & dash
        col = np.where(st[..., None], np.asarray(stitch, F32)[None, None, :], col)
        hh = hh + K * 0.002 * st - K * 0.0015 * (sd_ < 0.008) * (~st)
    # darken as it turns away
    occl = 1.0 - 0.55 * turn
    s.put(w, m, hh, col, ks=ks, shin=shin, kr=kr, occl=occl, alpha=alpha)
    return w, m


# --------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------
def place_band(
    s, pts, width, height, alb, form, seed, ks=1.2, shin=50, kr=0.8, metal=0.9, rivets=(), rivet_r=0.016, win_pad=0.06
):
    """A flat metal band (bevelled edges) following a polyline, riveted."""
    pts = np.asarray(pts)
    w = Win(pts[:, 0].min() - win_pad, pts[:, 1].min() - win_pad, pts[:, 0].max() + win_pad, pts[:, 1].max() + win_pad)
    dist, tpos, sd, total = w.curve_field(pts, maxd=width)
    hw = width / 2
    m = (dist <= hw).astype(F32)
    across = np.clip(dist / hw, 0, 1)
    prof = np.sqrt(np.clip(1 - across**8, 0, 1))
    n1 = w.noise(seed, 12, octaves=3)
    streak = 0.5 + 0.5 * np.sin(dist * K * 0.9 + 9 * n1)
    hh = form(w.X, w.Y) + K * height * prof + K * 0.0006 * streak
    col = np.asarray(alb, F32)[None, None, :] * (0.85 + 0.2 * streak + 0.2 * (n1 - 0.5))[..., None]
    s.put(w, m, hh, col, ks=ks, shin=shin, kr=kr, metal=metal)
    seg = np.sqrt((np.diff(pts, axis=0) ** 2).sum(1))
    cum = np.concatenate([[0], np.cumsum(seg)])
    for t in rivets:
        tt = t * cum[-1] if t <= 1 else t
        i = int(np.clip(np.searchsorted(cum, tt), 1, len(pts) - 1))
        f = (tt - cum[i - 1]) / max(seg[i - 1], 1e-9)
        x, y = pts[i - 1] + f * (pts[i] - pts[i - 1])
        rivet(s, x, y, rivet_r)
    return w, m


def mask_respirator():
    s = Surf()
    GUN = np.array([0.30, 0.30, 0.32], F32)
    STEEL = np.array([0.55, 0.56, 0.58], F32)

    def form(X, Y):
        muzzle = np.exp(-((X / 0.62) ** 2 + ((Y - 1.0) / 0.66) ** 2))
        nose = np.exp(-((X / 0.2) ** 2)) * sstep(-0.05, 0.5, Y) * np.exp(-(((Y - 0.55) / 0.35) ** 2))
        return face_dome(X, Y) + K * (0.14 * muzzle + 0.05 * nose)

    # ---- straps (behind the plate) ----
    for side in (-1, 1):
        draw_strap(s, side, 0.40, 0.40, 0.19, x_in=1.0, stitch=(0.42, 0.36, 0.3), seed=11)
        draw_strap(s, side, 1.17, 1.09, 0.21, x_in=0.9, stitch=(0.42, 0.36, 0.3), seed=12)

    # ---- leather / rubber face plate ----
    right = [
        (0, -0.03),
        (0.08, -0.02),
        (0.15, 0.05),
        (0.23, 0.095),
        (0.5, 0.11),
        (0.77, 0.10),
        (0.88, 0.06),
        (1.02, 0.06),
        (1.14, 0.16),
        (1.18, 0.42),
        (1.165, 0.68),
        (1.1, 0.96),
        (1.0, 1.19),
        (0.87, 1.43),
        (0.71, 1.65),
        (0.49, 1.84),
        (0.25, 1.955),
        (0, 1.99),
    ]
    w = Win(-1.3, -0.12, 1.3, 2.08)
    X, Y = w.X, w.Y
    m = outline_mask(w, right)
    bev = bevel(m, 0.010 * K)
    edge_b = blur(m, 0.006 * K)
    n_big = w.noise(101, 2.5, octaves=4)
    n_grain = w.noise(102, 110, octaves=1)
    n_mid = w.noise(103, 30, octaves=3)
    n_wr = w.noise(104, 4, octaves=3, aspect=(0.5, 2.2))
    grain = np.abs(n_grain - 0.5) * 2
    wrinkle = np.abs(n_wr - 0.5) * 2
    hh = form(X, Y) + K * (
        0.03 * bev
        + 0.0009 * grain
        + 0.0025 * (n_mid - 0.5)
        + 0.0025 * (1 - sstep(0.0, 0.1, wrinkle)) * sstep(0.5, 0.75, n_big)
    )
    # rolled edge binding with a stitch line
    bind = (edge_b < 0.985) & (m > 0.5)
    ang = np.arctan2(Y - 1.0, X)
    stitch_e = (np.abs(edge_b - 0.992) < 0.0035) & (np.sin(ang * 130) > -0.1) & (m > 0.5) & (Y > 0.06)
    hh = hh + K * 0.004 * bind * np.sin(np.clip((1 - edge_b) / 0.015, 0, 1) * np.pi) + K * 0.0015 * stitch_e
    # panel seams (grooves) with stitching
    seams = [
        catmull(
            [(0, 0.55), (0.32, 0.5), (0.6, 0.56), (0.68, 0.98), (0.62, 1.42), (0.3, 1.68), (0, 1.74)],
            closed=False,
            n=12,
        ),
        catmull([(0.68, 0.98), (0.9, 0.93), (1.15, 0.88)], closed=False, n=10),
        catmull([(0.0, 0.0), (0.0, 0.55)], closed=False, n=6),
    ]
    groove = w.zeros()
    stitch = np.zeros(w.shape, bool)
    for sg in seams:
        for sgn in (1, -1):
            pts = [(sgn * x, y) for x, y in sg]
            dist, tpos, sd, _ = w.curve_field(pts, maxd=0.03)
            groove = np.maximum(groove, np.exp(-((dist / 0.0055) ** 2)))
            dash = np.sin(tpos * K / (0.022 * K) * 2 * np.pi) > -0.1
            stitch |= (np.abs(dist - 0.015) < 0.0038) & dash
    hh = hh - K * 0.006 * groove + K * 0.0022 * stitch
    leather = np.array([0.135, 0.118, 0.108], F32)
    tone = (0.72 + 0.5 * n_big) * (0.93 + 0.14 * n_mid)
    col = leather[None, None, :] * tone[..., None]
    col = col * (1 - 0.35 * groove)[..., None]
    # scuffs: lighter, drier leather on the raised muzzle
    scuff = sstep(0.58, 0.8, w.noise(105, 9, octaves=3)) * sstep(0.3, 0.9, bev)
    col = col + (np.array([0.07, 0.06, 0.05], F32) * scuff[..., None])
    thread = np.array([0.44, 0.38, 0.3], F32)
    col = np.where((stitch | stitch_e)[..., None], thread, col)
    ks = 0.55 * (1 - 0.6 * scuff)
    s.put(w, m, hh, col, ks=ks, shin=16, kr=0.16)

    # ---- steel harness bands over the cheeks to the strap rings ----
    for side in (-1, 1):
        up = catmull(
            [(side * 0.52, 0.64), (side * 0.72, 0.52), (side * 0.92, 0.43), (side * 1.1, 0.40)], closed=False, n=10
        )
        lo = catmull(
            [(side * 0.5, 1.36), (side * 0.7, 1.25), (side * 0.88, 1.16), (side * 1.02, 1.12)], closed=False, n=10
        )
        place_band(s, up, 0.075, 0.03, GUN, form, 300 + side, rivets=(0.55, 0.88))
        place_band(s, lo, 0.075, 0.03, GUN, form, 310 + side, rivets=(0.55, 0.86))
        # strap rings (steel loops the leather passes through)
        for cx, cy, rh in ((side * 1.13, 0.40, 0.115), (side * 1.05, 1.12, 0.125)):
            rw = Win(cx - 0.08, cy - rh - 0.04, cx + 0.08, cy + rh + 0.04)
            u = (rw.X - cx) / 0.028
            v = (rw.Y - cy) / rh
            outer = (np.abs(u) ** 4 + np.abs(v) ** 4) <= 1
            inner = (np.abs(u / 0.45) ** 4 + np.abs(v / 0.8) ** 4) <= 1
            ring = (outer & ~inner).astype(F32)
            rr = np.clip(np.abs(u) ** 4 + np.abs(v) ** 4, 0, 1)
            hh = form(rw.X, rw.Y) + K * (0.035 + 0.02 * np.sqrt(1 - rr))
            s.put(rw, ring, hh, STEEL * 0.8, ks=1.5, shin=70, kr=1.0, metal=0.95)

    # ---- grille frame around the mouth ----
    frame_out = catmull(
        mirror_outline(
            [(0, 0.5), (0.25, 0.5), (0.5, 0.56), (0.6, 0.8), (0.6, 1.15), (0.5, 1.45), (0.28, 1.58), (0, 1.62)]
        ),
        closed=True,
        n=16,
    )
    frame_in = catmull(
        mirror_outline(
            [(0, 0.6), (0.24, 0.6), (0.42, 0.65), (0.5, 0.83), (0.5, 1.12), (0.42, 1.37), (0.25, 1.48), (0, 1.52)]
        ),
        closed=True,
        n=16,
    )
    w = Win(-0.7, 0.4, 0.7, 1.7)
    X, Y = w.X, w.Y
    mo = w.poly(frame_out)
    mi = w.poly(frame_in)
    ring = mo * (1 - mi)
    # perforated inner plate behind the bars
    pitch = 0.034
    gy = Y / (pitch * 0.866)
    row = np.floor(gy)
    gx = X / pitch + 0.5 * (row % 2)
    hx = (gx - np.round(gx)) * pitch
    hy = (gy - row - 0.5) * pitch * 0.866
    hole = (hx * hx + hy * hy) < (0.011**2)
    depth = sstep(0.0, 0.3, blur(mi, 0.03 * K))
    hh_void = form(X, Y) - K * 0.02 * depth - K * 0.006 * hole
    col = np.where(hole[..., None], np.array([0.0, 0.0, 0.0], F32), np.array([0.1, 0.1, 0.105], F32))
    s.put(w, mi, hh_void, col, ks=0.6, shin=30, kr=0.3, metal=0.7, occl=0.55 + 0.45 * (1 - depth))
    # vertical polished tubes, bowed forward
    xs = np.linspace(-0.36, 0.36, 7)
    rt = 0.036
    for xc in xs:
        top = 0.58 + 0.05 * (abs(xc) / 0.36) ** 2
        bot = 1.54 - 0.1 * (abs(xc) / 0.36) ** 2
        tw = Win(xc - rt * 1.5, top, xc + rt * 1.5, bot)
        dx = (tw.X - xc) / rt
        tm = (np.abs(dx) <= 1).astype(F32) * ((top < tw.Y) & (bot > tw.Y))
        bow = np.clip(1 - ((tw.Y - (top + bot) / 2) / ((bot - top) / 2 + 0.02)) ** 2, 0, 1)
        ht = form(tw.X, tw.Y) + K * (0.045 + 0.035 * bow + rt * np.sqrt(np.clip(1 - dx * dx, 0, 1)))
        s.put(tw, tm, ht, STEEL, ks=1.8, shin=90, kr=1.2, metal=1.0)
    brushed = w.noise(201, 20, octaves=3, aspect=(0.15, 2.6))
    pits = w.noise(202, 80, octaves=1)
    bev_r = bevel(ring, 0.010 * K, power=3)
    col = GUN[None, None, :] * (0.8 + 0.3 * brushed + 0.15 * (pits - 0.5))[..., None]
    hh_ring = form(X, Y) + K * (0.04 + 0.025 * bev_r + 0.0008 * brushed)
    s.put(w, ring, hh_ring, col, ks=1.3, shin=45, kr=0.9, metal=0.9)
    # rivets around the frame
    mid = catmull(
        mirror_outline(
            [(0, 0.55), (0.25, 0.55), (0.46, 0.605), (0.55, 0.81), (0.55, 1.13), (0.46, 1.41), (0.265, 1.53), (0, 1.57)]
        ),
        closed=True,
        n=40,
    )
    seg = np.sqrt((np.diff(mid, axis=0) ** 2).sum(1))
    cum = np.concatenate([[0], np.cumsum(seg)])
    for t in np.arange(0.06, cum[-1] - 0.05, 0.125):
        i = np.searchsorted(cum, t)
        x, y = mid[min(i, len(mid) - 1)]
        rivet(s, x, y, 0.016)
    # nose bridge plate
    nose = catmull(
        [(0, 0.02), (0.07, 0.05), (0.1, 0.3), (0.12, 0.5), (0, 0.53), (-0.12, 0.5), (-0.1, 0.3), (-0.07, 0.05)],
        closed=True,
        n=10,
    )
    w = Win(-0.2, -0.05, 0.2, 0.62)
    nm = w.poly(nose)
    bv = bevel(nm, 0.01 * K, power=3)
    brushed = w.noise(210, 20, octaves=3, aspect=(2.6, 0.15))
    s.put(
        w,
        nm,
        form(w.X, w.Y) + K * (0.018 + 0.012 * bv),
        GUN[None, None, :] * (0.6 + 0.25 * brushed)[..., None],
        ks=1.0,
        shin=40,
        kr=0.45,
        metal=0.9,
    )
    for y in (0.12, 0.42):
        rivet(s, 0.0, y, 0.018)
    return s


def gauss2(X, Y, cx, cy, sx, sy):
    return np.exp(-(((X - cx) / sx) ** 2 + ((Y - cy) / sy) ** 2))


def curve_pts(right, side=1):
    return [(side * x, y) for x, y in right]


def bristles(across, along, seed, n=12):
    """Brush-stroke texture: lines parallel to a stroke (across = signed distance)."""
    rng = np.random.default_rng(seed)
    acc = np.zeros(np.broadcast(across, along).shape, F32)
    for _ in range(n):
        f = rng.uniform(120, 700)
        ph = rng.uniform(0, 2 * np.pi)
        g = rng.uniform(4, 14)
        acc += np.sin(across * f + ph + 0.6 * np.sin(along * g + ph)).astype(F32) / math.sqrt(n)
    return (0.5 + 0.5 * np.tanh(acc)).astype(F32)


def mask_grin():
    """Pale greasepaint latex lower face with a huge smeared red grin and scars."""
    s = Surf()
    for side in (-1, 1):
        draw_strap(
            s,
            side,
            0.40,
            0.42,
            0.17,
            x_in=1.0,
            alb=(0.045, 0.045, 0.05),
            thick=0.010,
            texture="elastic",
            seed=21,
            ks=0.25,
            shin=12,
        )
        draw_strap(
            s,
            side,
            1.14,
            1.08,
            0.17,
            x_in=0.9,
            alb=(0.045, 0.045, 0.05),
            thick=0.010,
            texture="elastic",
            seed=22,
            ks=0.25,
            shin=12,
        )
    right = [
        (0, 0.0),
        (0.1, 0.03),
        (0.2, 0.09),
        (0.5, 0.12),
        (0.8, 0.12),
        (0.95, 0.09),
        (1.1, 0.16),
        (1.165, 0.4),
        (1.155, 0.66),
        (1.095, 0.96),
        (0.995, 1.19),
        (0.865, 1.43),
        (0.7, 1.655),
        (0.48, 1.845),
        (0.25, 1.955),
        (0, 1.985),
    ]
    w = Win(-1.3, -0.1, 1.3, 2.06)
    X, Y = w.X, w.Y
    ax = np.abs(X)
    m = outline_mask(w, right)
    bev = bevel(m, 0.008 * K)

    # ---- sculpted lower face ----
    MW = 0.33  # half width of the mouth
    ym = 1.0 - 0.085 * np.clip(ax / MW, 0, 1.3) ** 2  # grinning mouth line
    gap = 0.042 * np.clip(1 - (X / (MW - 0.01)) ** 2, 0, 1) ** 0.7  # half opening of the lips
    lip_u = 0.05 * np.clip(1 - (X / (MW + 0.04)) ** 2, 0, 1) ** 0.6
    lip_l = 0.065 * np.clip(1 - (X / (MW + 0.01)) ** 2, 0, 1) ** 0.6
    v = Y - ym
    upper_lip = (
        sstep(-gap - lip_u - 0.02, -gap - lip_u * 0.4, v)
        * (1 - sstep(-gap - 0.004, -gap + 0.002, v))
        * sstep(MW + 0.05, MW - 0.01, ax)
    )
    lower_lip = (
        sstep(gap + lip_l + 0.025, gap + lip_l * 0.4, v)
        * sstep(gap - 0.002, gap + 0.006, v)
        * sstep(MW + 0.03, MW - 0.02, ax)
    )
    opening = ((np.abs(v) < gap) & (ax < MW)).astype(F32)
    nose_ridge = np.exp(-((X / 0.085) ** 2)) * sstep(0.0, 0.45, Y) * (1 - sstep(0.52, 0.64, Y))
    tip = gauss2(X, Y, 0, 0.55, 0.115, 0.095)
    alae = gauss2(ax, Y, 0.125, 0.625, 0.075, 0.065)
    nostril = gauss2(ax, Y, 0.06, 0.675, 0.045, 0.024)
    cheek = gauss2(ax, Y, 0.56, 0.66, 0.25, 0.2)
    philtrum = gauss2(ax, Y, 0.035, 0.8, 0.02, 0.08)
    chin = gauss2(X, Y, 0, 1.5, 0.25, 0.2)
    sulcus = gauss2(X, Y, 0, 1.25, 0.2, 0.05)
    muzzle = gauss2(X, Y, 0, 0.98, 0.5, 0.45)
    fold = w.zeros()
    for side in (-1, 1):
        pts = catmull(
            [(side * 0.17, 0.65), (side * 0.28, 0.78), (side * 0.38, 0.9), (side * 0.44, 1.04), (side * 0.46, 1.18)],
            closed=False,
            n=8,
        )
        dist, tpos, sd, tot = w.curve_field(pts, maxd=0.16)
        fade = sstep(0.0, 0.1, tpos) * (1 - sstep(tot - 0.2, tot, tpos))
        outer = sstep(-0.01, 0.01, -sd * side)
        fold += fade * (
            -0.014 * np.exp(-((dist / 0.028) ** 2)) + 0.03 * np.exp(-(((dist - 0.065) / 0.05) ** 2)) * outer
        )
    form = face_dome(X, Y) + K * (
        0.085 * nose_ridge
        + 0.085 * tip
        + 0.05 * alae
        - 0.035 * nostril
        + 0.06 * cheek
        + 0.006 * philtrum
        + 0.06 * chin
        - 0.015 * sulcus
        + 0.07 * muzzle
        + fold
        + 0.03 * upper_lip
        + 0.035 * lower_lip
    )
    n1 = w.noise(401, 3, octaves=4)
    n2 = w.noise(402, 16, octaves=3)
    pores = w.noise(403, 110, octaves=1)
    hh = form + K * (0.012 * bev + 0.0005 * pores + 0.0012 * (n2 - 0.5))

    # ---- greasepaint base over pale skin ----
    white = np.array([0.94, 0.93, 0.89], F32)
    skin = np.array([0.86, 0.7, 0.62], F32)
    greeny = np.array([0.74, 0.78, 0.72], F32)
    smear = w.noise(404, 5, octaves=4, aspect=(0.75, 1.3))
    swipe = w.noise(414, 9, octaves=3, aspect=(0.6, 1.5))
    col = white[None, None, :] * (0.92 + 0.08 * n2)[..., None]
    # thin / wiped paint lets the skin through, mostly towards the edges of the mask
    thin = sstep(0.56, 0.74, 0.55 * smear + 0.45 * swipe) * (
        0.55 + 0.45 * sstep(0.9, 0.5, bev + 0.4 * (1 - sstep(0.7, 1.05, ax)))
    )
    col = lerp(col, skin[None, None, :] * (0.95 + 0.1 * n2)[..., None], (0.55 * thin)[..., None])
    col = lerp(col, greeny[None, None, :], (0.4 * sstep(0.6, 0.8, n1))[..., None])
    # streaky finger marks in the paint
    finger = w.noise(415, 7, octaves=3, aspect=(0.5, 1.8))
    hh = hh + K * 0.0015 * finger * (1 - thin)
    col = col * (0.97 + 0.05 * finger)[..., None]
    # charcoal bleeding down from the eyes, with a few runs
    de = np.minimum(np.hypot(X - 0.5, Y), np.hypot(X + 0.5, Y))
    runs = w.zeros()
    rng = np.random.default_rng(416)
    for side in (-1, 1):
        for k in range(3):
            x0 = side * rng.uniform(0.36, 0.68)
            y0 = math.sqrt(max(EYE_CUT**2 - (abs(x0) - 0.5) ** 2, 0)) + 0.005
            ln = rng.uniform(0.05, 0.22)
            wd = rng.uniform(0.005, 0.012)
            xs = x0 + 0.01 * np.sin((Y - y0) * 30 + k)
            runs = np.maximum(
                runs,
                np.exp(-(((X - xs) / wd) ** 2))
                * (y0 - 0.02 < Y)
                * sstep(y0 + ln, y0 + ln * 0.6, Y)
                * (1 + 0.6 * gauss2(X, Y, x0, y0 + ln, wd * 1.5, 0.015)),
            )
    soot = np.clip(sstep(0.5, 0.3, de) * (0.55 + 0.7 * n2) + 0.7 * runs * (0.6 + 0.4 * n2), 0, 1)
    col = lerp(col, np.array([0.09, 0.09, 0.12], F32)[None, None, :], (0.85 * soot)[..., None])

    # ---- red grin paint: lips + wide smeared extension along the scars ----
    red = np.array([0.64, 0.04, 0.05], F32)
    dark_red = np.array([0.34, 0.01, 0.025], F32)
    lips = np.clip(upper_lip + lower_lip, 0, 1)
    edge_noise = w.noise(409, 20, octaves=3)
    paint = sstep(
        0.12, 0.4, lips * 1.3 + 0.3 * (edge_noise - 0.5) + 0.5 * sstep(0.13, 0.0, np.abs(v)) * sstep(MW + 0.06, MW, ax)
    )
    scar_pts = []
    for side in (-1, 1):
        ext = catmull(
            [
                (side * 0.26, 0.955),
                (side * 0.36, 0.9),
                (side * 0.5, 0.81),
                (side * 0.63, 0.69),
                (side * 0.73, 0.55),
                (side * 0.79, 0.42),
            ],
            closed=False,
            n=10,
        )
        scar_pts.append(ext)
        dist, tpos, sd, tot = w.curve_field(ext, maxd=0.2)
        t = np.clip(tpos / tot, 0, 1)
        width = 0.12 * (1 - t) ** 0.9 + 0.022
        streak = bristles(dist * sd, tpos, 410 + side)
        band = sstep(width + 0.025, width - 0.02, dist + 0.04 * (edge_noise - 0.5) - 0.025 * (streak - 0.5))
        # dry-brush: the stroke breaks up along its bristle lines towards its end
        band = band * np.clip(1.25 - 1.3 * t * sstep(0.25, 0.75, streak), 0, 1)
        paint = np.maximum(paint, band)
    # a careless smear wiped down from the mouth corner onto the chin
    wipe = catmull([(-0.24, 1.1), (-0.2, 1.3), (-0.1, 1.5), (0.02, 1.62)], closed=False, n=10)
    dist, tpos, sd, tot = w.curve_field(wipe, maxd=0.1)
    t = np.clip(tpos / tot, 0, 1)
    smear_b = blur(bristles(dist * sd * 0.35, tpos, 417), 3.0)
    wipe_a = sstep(0.085, 0.015, dist + 0.02 * (edge_noise - 0.5)) * (0.5 - 0.4 * t) * (0.55 + 0.45 * smear_b) * m
    paint = np.clip(paint, 0, 1) * m
    thick = paint * (0.6 + 0.4 * w.noise(412, 40, octaves=2))
    hh = hh + K * 0.003 * thick
    col = lerp(col, np.array([0.62, 0.16, 0.16], F32)[None, None, :], wipe_a[..., None])
    col = lerp(
        col, lerp(dark_red[None, None, :], red[None, None, :], (0.5 + 0.5 * n2)[..., None]), (0.96 * paint)[..., None]
    )

    # ---- Glasgow-smile scars: raised ridges with suture marks ----
    scar_h = w.zeros()
    for ext in scar_pts:
        pts = ext[len(ext) // 10 :]
        dist, tpos, sd, tot = w.curve_field(pts, maxd=0.05)
        wob = 0.004 * np.sin(tpos * 80)
        ridge = np.exp(-(((dist + wob) / 0.009) ** 2)) * sstep(0, 0.03, tpos) * (1 - sstep(tot - 0.06, tot, tpos))
        ph = tpos / 0.036
        suture = (
            (np.abs(ph - np.round(ph)) < 0.1) * (dist < 0.026) * (dist > 0.006) * (tpos < tot - 0.05) * (tpos > 0.03)
        )
        scar_h = np.maximum(scar_h, ridge + 0.45 * suture)
    hh = hh + K * 0.009 * scar_h
    col = lerp(col, np.array([0.42, 0.05, 0.07], F32)[None, None, :], (0.55 * sstep(0.3, 0.9, scar_h))[..., None])

    # ---- teeth behind the parted lips ----
    tooth_w = 0.064
    tx = X / tooth_w
    ti = np.round(tx)
    tdx = tx - ti
    teeth_col = np.array([0.88, 0.82, 0.66], F32)[None, None, :] * (1 - 0.55 * (np.abs(tdx) > 0.43))[..., None]
    upper_teeth = (v < gap * 0.3) & (opening > 0)
    lower_teeth = (v > gap * 0.62) & (opening > 0) & (ax < MW * 0.8)
    mouth_dark = np.array([0.07, 0.0, 0.01], F32)[None, None, :]
    shade_t = 0.7 + 0.3 * sstep(-gap, -gap * 0.3, v)
    tcol = np.where(
        (upper_teeth | lower_teeth)[..., None],
        teeth_col * shade_t[..., None] * (1 - 0.35 * sstep(0.5, 1.0, ax / MW))[..., None],
        mouth_dark,
    )
    col = np.where((opening > 0)[..., None], tcol, col)
    bump = np.sqrt(np.clip(1 - (2 * tdx) ** 2, 0, 1)) * (upper_teeth | lower_teeth)
    hh = np.where(opening > 0, form - K * 0.012 + K * 0.006 * bump, hh)

    ks = 0.25 + 0.75 * paint + 0.5 * (opening > 0)
    shin = 16 + 60 * paint
    s.put(w, m, hh, col, ks=ks, shin=shin, kr=0.05 + 0.2 * paint)
    return s


def mask_breather():
    """Bone-white breathing mask with a skeletal grin and two ribbed hoses."""
    s = Surf()
    IVORY = np.array([0.87, 0.84, 0.75], F32)

    def form(X, Y):
        muzzle = gauss2(X, Y, 0, 1.02, 0.62, 0.62)
        nose = np.exp(-((X / 0.2) ** 2)) * sstep(-0.05, 0.5, Y) * np.exp(-(((Y - 0.5) / 0.35) ** 2))
        return face_dome(X, Y) + K * (0.17 * muzzle + 0.05 * nose)

    for side in (-1, 1):
        draw_strap(s, side, 0.38, 0.38, 0.18, x_in=1.0, alb=(0.07, 0.06, 0.055), seed=31, stitch=(0.3, 0.27, 0.24))
        draw_strap(s, side, 1.16, 1.06, 0.2, x_in=0.9, alb=(0.07, 0.06, 0.055), seed=32, stitch=(0.3, 0.27, 0.24))

    right = [
        (0, -0.04),
        (0.09, -0.02),
        (0.17, 0.06),
        (0.24, 0.1),
        (0.5, 0.12),
        (0.78, 0.11),
        (0.9, 0.05),
        (1.04, 0.07),
        (1.15, 0.18),
        (1.185, 0.42),
        (1.17, 0.7),
        (1.1, 0.98),
        (1.0, 1.2),
        (0.87, 1.44),
        (0.7, 1.66),
        (0.48, 1.85),
        (0.25, 1.965),
        (0, 1.995),
    ]
    w = Win(-1.3, -0.12, 1.3, 2.08)
    X, Y = w.X, w.Y
    ax = np.abs(X)
    m = outline_mask(w, right)
    bev = bevel(m, 0.014 * K)
    n1 = w.noise(501, 3, octaves=4)
    n2 = w.noise(502, 25, octaves=3)
    base = form(X, Y)
    hh = base + K * (0.03 * bev + 0.0012 * (n2 - 0.5))
    # sculpted nasal bone with a skull-like vent at its foot
    ridge = np.exp(-((X / 0.09) ** 2)) * sstep(-0.02, 0.2, Y) * (1 - sstep(0.45, 0.62, Y))
    flare = gauss2(ax, Y, 0.1, 0.5, 0.08, 0.1)
    vent = ((np.abs(X) < 0.1 * (Y - 0.44) / 0.2) & (Y > 0.44) & (Y < 0.63)).astype(F32)
    vent = vent * (1 - ((np.abs(X) < 0.012) & (Y > 0.47)))  # septum
    vent = (blur(vent, 0.006 * K) > 0.5).astype(F32)
    hh = hh + K * (0.05 * ridge + 0.025 * flare)
    # rib-like ridges sweeping over each cheek (spindle shaped, like real ribs)
    ribs = w.zeros()
    groove = w.zeros()
    for side in (-1, 1):
        for k in range(3):
            p0 = (side * (0.66 + 0.03 * k), 0.5 + 0.19 * k)
            p1 = (side * (0.9 + 0.02 * k), 0.38 + 0.17 * k)
            p2 = (side * (1.1 - 0.03 * k), 0.3 + 0.2 * k)
            pts = catmull([p0, p1, p2], closed=False, n=12)
            dist, tpos, sd, tot = w.curve_field(pts, maxd=0.06)
            t = np.clip(tpos / tot, 0, 1)
            rw = 0.036 * np.sqrt(np.clip(np.sin(np.pi * t), 0, 1)) + 0.002
            ribs = np.maximum(ribs, np.sqrt(np.clip(1 - (dist / rw) ** 2, 0, 1)))
            groove = np.maximum(groove, np.exp(-(((dist - rw - 0.006) / 0.006) ** 2)) * np.sin(np.pi * t))
    hh = hh + K * (0.022 * ribs - 0.006 * groove)

    # the grin window: a wide smile-shaped opening
    def window_mask(X, Y):
        xn = np.clip(X / 0.64, -1.2, 1.2)
        wm = ((np.abs(Y - (1.05 - 0.07 * xn**2)) < 0.37 * (1 - 0.32 * xn**2)) & (np.abs(X) < 0.64)).astype(F32)
        return (blur(wm, 0.025 * K) > 0.5).astype(F32)

    xn = np.clip(X / 0.64, -1.2, 1.2)
    ymid = 1.05 - 0.07 * xn**2
    half_h = 0.37 * (1 - 0.32 * xn**2)
    win_m = window_mask(X, Y)
    rim = np.clip(blur(win_m, 0.02 * K) * 2.4, 0, 1) * (1 - win_m)
    hh = hh + K * 0.028 * np.sin(rim * np.pi / 2) - K * 0.07 * win_m - K * 0.05 * vent
    yel = np.array([0.72, 0.6, 0.4], F32)
    col = IVORY[None, None, :] * (0.9 + 0.12 * n1)[..., None]
    col = lerp(col, yel[None, None, :], (0.4 * sstep(0.55, 0.85, n1))[..., None])
    inner = np.array([0.07, 0.035, 0.03], F32)
    col = np.where((win_m > 0.5)[..., None], inner, col)
    col = np.where((vent > 0.5)[..., None], inner * 0.5, col)
    # translucent plastic: thin rims glow slightly
    col = col * (1 + 0.1 * (1 - bev))[..., None]
    s.put(
        w,
        m,
        hh,
        col,
        ks=0.9 * (1 - 0.8 * vent),
        shin=70,
        kr=0.45,
        occl=1 - 0.5 * win_m * sstep(0.6, 0.2, np.abs(Y - ymid) / np.maximum(half_h, 1e-3)),
    )
    s.grime[w.sl] = np.maximum(s.grime[w.sl], 0.9 * m)

    # ---- big skeletal teeth ----
    tw_win = Win(-0.67, 0.55, 0.67, 1.55)
    TX, TY = tw_win.X, tw_win.Y
    rng = np.random.default_rng(503)
    stain = tw_win.noise(504, 12, octaves=3)
    clip_m = window_mask(TX, TY) > 0.5
    widths = [0.112, 0.1, 0.098, 0.094, 0.09, 0.085, 0.07]
    for side in (-1, 1):
        x = 0.004
        for i, wd in enumerate(widths):
            cx = side * (x + wd / 2)
            x += wd + 0.006
            xn_c = min(abs(cx) / 0.64, 1.0)
            mid_y = 1.05 - 0.07 * xn_c**2
            hh_c = 0.37 * (1 - 0.32 * xn_c**2)
            for upper in (True, False):
                jit = rng.uniform(-0.006, 0.006)
                canine = i == 2
                if upper:
                    y0, y1 = mid_y - hh_c - 0.03, mid_y - 0.004 + jit + (0.03 if canine else 0.0)
                    crown = sstep(y0 + 0.5 * (y1 - y0), y1 - 0.02, TY)  # 0 at root, 1 at biting edge
                    tipd = (TY - y1) / 0.03
                else:
                    y0, y1 = mid_y + 0.004 + jit - (0.02 if canine else 0.0), mid_y + hh_c + 0.03
                    crown = sstep(y1 - 0.5 * (y1 - y0), y0 + 0.02, TY)
                    tipd = (y0 - TY) / 0.03
                hwid = wd / 2 * (0.62 + 0.38 * crown)
                if canine:
                    hwid = hwid * (1 - 0.55 * sstep(-0.9, 0.0, tipd))
                dx = (TX - cx) / hwid
                inside = (np.abs(dx) <= 1) & (y0 <= TY) & (y1 >= TY)
                inside = inside & ((dx * dx + np.clip(tipd + 1, 0, None) ** 2) <= 1.0) & clip_m
                if not inside.any():
                    continue
                prof = np.sqrt(np.clip(1 - dx * dx, 0, 1))
                hb = form(TX, TY) - K * 0.045 + K * (0.03 * prof * (0.5 + 0.5 * crown) + 0.025 * crown)
                tc = lerp(np.array([0.6, 0.48, 0.3], F32), np.array([0.95, 0.92, 0.83], F32), crown[..., None])
                tc = tc * (0.86 + 0.22 * stain)[..., None]
                chip = np.exp(-(((dx + 0.4) / 0.12) ** 2)) * (1 - crown) * 0.25
                tc = tc * (1 - chip)[..., None]
                s.put(tw_win, inside.astype(F32), hb, tc, ks=0.9, shin=55, kr=0.3)

    # ---- ribbed hoses + fittings ----
    for side in (-1, 1):
        fx, fy = side * 0.76, 1.2
        path = catmull(
            [
                (fx, fy),
                (side * 0.93, 1.33),
                (side * 1.05, 1.58),
                (side * 1.03, 1.82),
                (side * 0.93, 1.98),
                (side * 0.82, 2.1),
            ],
            closed=False,
            n=14,
        )
        R = 0.07
        hw = Win(min(side * 0.6, side * 1.16), 1.08, max(side * 0.6, side * 1.16), 2.12)
        dist, tpos, sd, tot = hw.curve_field(path, maxd=R * 1.2)
        rib = 0.5 + 0.5 * np.cos(tpos / 0.036 * 2 * np.pi)
        Re = R * (0.9 + 0.1 * rib)
        hmask = dist <= Re
        across = np.clip(dist / Re, 0, 1)
        prof = np.sqrt(np.clip(1 - across**2, 0, 1))
        tnorm = np.clip(tpos / tot, 0, 1)
        h0 = form(np.float32(fx), np.float32(fy)) + K * 0.09 - K * 0.35 * tnorm**2
        hh = h0 + K * R * prof * (0.85 + 0.15 * rib)
        hc = np.array([0.085, 0.08, 0.078], F32)[None, None, :] * (0.8 + 0.4 * rib)[..., None]
        alpha = 1 - sstep(2.06, 2.1, hw.Y)
        s.put(hw, hmask.astype(F32), hh, hc, ks=0.8, shin=35, kr=0.35, occl=1 - 0.5 * tnorm**2, alpha=alpha)
        # collar clamping the hose onto the mask
        fw = Win(fx - 0.13, fy - 0.13, fx + 0.13, fy + 0.13)
        r = np.hypot(fw.X - fx, fw.Y - fy)
        fm = ((r <= 0.105) & (r >= 0.058)).astype(F32)
        ring = np.clip(1 - np.abs(r - 0.082) / 0.024, 0, 1)
        knurl = 0.5 + 0.5 * np.cos(np.arctan2(fw.Y - fy, fw.X - fx) * 24)
        hh = form(np.float32(fx), np.float32(fy)) + K * (0.1 + 0.03 * np.sqrt(ring) + 0.002 * knurl)
        s.put(fw, fm, hh, np.array([0.55, 0.5, 0.42], F32), ks=1.4, shin=60, kr=0.9, metal=0.9)
    # bolts
    for side in (-1, 1):
        for bx, by in ((0.7, 0.7), (0.6, 1.5), (1.05, 0.3), (1.02, 0.92), (0.13, 0.72)):
            rivet(s, side * bx, by, 0.02, alb=(0.5, 0.47, 0.42))
    return s


# --------------------------------------------------------------------------
# fur
# --------------------------------------------------------------------------
def draw_fur(
    win, roots, angle_fn, seed, length=0.05, width=3, spacing=0.009, curl=0.3, len_fn=None, jitter=0.18, bend_fn=None
):
    """Draw hair strands (tapered 3-segment polylines) rooted where roots > 0.5.

    Returns (val, cov): val = brightness/height of the top strand (0..1), cov = strand coverage.
    """
    rng = np.random.default_rng(seed)
    hgt, wid = win.shape
    area = float(roots.sum()) / (K * K)
    n = int(area / (spacing * spacing))
    x0 = (win.i0 / SS - OX) / D
    y0 = (win.j0 / SS - OY) / D
    wd, hd = wid / K, hgt / K
    xs = rng.uniform(x0, x0 + wd, int(n * wd * hd / max(area, 1e-6)) + 1)
    ys = rng.uniform(y0, y0 + hd, xs.size)
    ii = np.clip(((xs - x0) * K).astype(int), 0, wid - 1)
    jj = np.clip(((ys - y0) * K).astype(int), 0, hgt - 1)
    keep = roots[jj, ii] > 0.5
    xs, ys = xs[keep], ys[keep]
    order = np.argsort(rng.random(xs.size))
    xs, ys = xs[order], ys[order]
    ang = angle_fn(xs, ys) + rng.normal(0, jitter, xs.size)
    L = length * rng.uniform(0.65, 1.25, xs.size)
    if len_fn is not None:
        L = L * len_fn(xs, ys)
    bend = rng.normal(0, curl, xs.size)
    if bend_fn is not None:
        bend = bend + bend_fn(xs, ys)
    val = rng.uniform(0.5, 1.0, xs.size)
    img_v = Image.new("L", (wid, hgt), 0)
    img_c = Image.new("L", (wid, hgt), 0)
    dv = ImageDraw.Draw(img_v)
    dc = ImageDraw.Draw(img_c)
    for k in range(xs.size):
        a = ang[k]
        x, y = xs[k], ys[k]
        pts = [(x, y)]
        seg = L[k] / 3
        for _ in range(3):
            a = a + bend[k] / 3
            x, y = x + seg * math.cos(a), y + seg * math.sin(a)
            pts.append((x, y))
        pp = [win.px(px_, py_) for px_, py_ in pts]
        v = val[k]
        for j, (wj, fv) in enumerate(((width, 0.55), (max(1, width - 1), 0.8), (max(1, width - 2), 1.0))):
            seg_pts = [pp[j], pp[j + 1]]
            dv.line(seg_pts, fill=int(40 + 215 * v * fv), width=wj)
            dc.line(seg_pts, fill=255, width=wj)
    return np.asarray(img_v, F32) / 255.0, np.asarray(img_c, F32) / 255.0


def radial_angle(cx, cy, down_bias=0.0):
    def f(x, y):
        a = np.arctan2(y - cy, x - cx)
        if down_bias:
            # blend towards pointing down
            vx, vy = np.cos(a), np.sin(a) + down_bias
            a = np.arctan2(vy, vx)
        return a

    return f


def fur_body(
    s,
    w,
    m,
    form,
    base_col,
    seed,
    length=0.05,
    spacing=0.009,
    width=3,
    angle_fn=None,
    fuzz=True,
    fur_h=0.0035,
    len_fn=None,
    ks=0.12,
    shin=8,
    curl=0.3,
    edge_inset=0.012,
    tone_lo=0.78,
):
    """Fill mask m with furry material over the relief `form` (heights)."""
    core = (blur(m, edge_inset * K) > 0.75).astype(F32) if fuzz else m
    # keep the crisp eye-notch cut: the coverage contract needs it right up to the clearance circle
    de = np.minimum(np.hypot(w.X - 0.5, w.Y), np.hypot(w.X + 0.5, w.Y))
    core = np.maximum(core, m * (de < EYE_CUT + 0.03))
    # thick soft locks inside, finer strands along the outline
    inner = (blur(m, 0.04 * K) > 0.93).astype(F32)
    val, cov = draw_fur(w, inner, angle_fn, seed, length=length, width=width, spacing=spacing, curl=curl, len_fn=len_fn)
    val2, cov2 = draw_fur(
        w,
        m * (1 - inner),
        angle_fn,
        seed + 7,
        length=length * 0.75,
        width=max(2, width // 2),
        spacing=spacing * 0.7,
        curl=curl,
        len_fn=len_fn,
    )
    val = np.where(cov2 > 0, val2, val)
    cov = np.maximum(cov, cov2)
    cov = np.maximum(cov, core)
    if fuzz:
        cov = cut_eyes(w, cov)
    # fill the few gaps between strands with the local average so they do not speckle
    has = (val > 0).astype(F32)
    avg = blur(val, 6.0) / np.maximum(blur(has, 6.0), 1e-3)
    val = np.where(val > 0, val, avg)
    vb = blur(val, 2.0)
    micro = K * fur_h * vb
    tone = tone_lo + (1.08 - tone_lo) * vb
    col = base_col * tone[..., None]
    s.put(w, cov, form, col, ks=ks * (0.5 + vb), shin=shin, bump=micro)
    return cov


def cute_outline():
    return [
        (0, 0.02),
        (0.12, 0.05),
        (0.22, 0.1),
        (0.5, 0.12),
        (0.8, 0.12),
        (0.95, 0.09),
        (1.1, 0.15),
        (1.165, 0.38),
        (1.16, 0.66),
        (1.1, 0.96),
        (1.0, 1.2),
        (0.87, 1.44),
        (0.7, 1.66),
        (0.48, 1.85),
        (0.25, 1.96),
        (0, 1.99),
    ]


def draw_whiskers(s, w, starts, ends, seed, color=(0.96, 0.95, 0.92), width=0.006, lift=0.05, sag=0.04):
    rng = np.random.default_rng(seed)
    img = Image.new("L", (w.shape[1], w.shape[0]), 0)
    dr = ImageDraw.Draw(img)
    for (x0, y0), (x1, y1) in zip(starts, ends, strict=True):
        n = 24
        pts = []
        for i in range(n + 1):
            t = i / n
            x = x0 + (x1 - x0) * t
            y = y0 + (y1 - y0) * t + sag * math.sin(math.pi * t) * (t) + rng.normal(0, 0.0004)
            pts.append((x, y))
        for i in range(n):
            t = i / n
            wd = max(1, int(round(width * K * (1 - 0.8 * t))))
            dr.line([w.px(*pts[i]), w.px(*pts[i + 1])], fill=255, width=wd)
    wm = np.asarray(img, F32) / 255.0
    wm = cut_eyes(w, wm)
    # soft cast shadow of the whiskers on the fur below/right
    sh = blur(_shift(wm, -int(0.012 * K), -int(0.018 * K)), 0.004 * K)
    s.alb[w.sl] *= (1 - 0.45 * np.clip(sh * 2, 0, 1) * (s.a[w.sl] > 0.5))[..., None]
    s.put(w, wm, s.h[w.sl] + K * 0.002 * wm, np.asarray(color, F32), ks=0.6, shin=40, kr=0.1)


def mask_cat():
    """Ginger-and-white plush cat muzzle."""
    s = Surf()
    elastic = (0.86, 0.62, 0.66)
    for side in (-1, 1):
        draw_strap(s, side, 0.40, 0.42, 0.17, x_in=1.0, alb=elastic, thick=0.01, texture="elastic", seed=61, ks=0.2)
        draw_strap(s, side, 1.14, 1.08, 0.17, x_in=0.9, alb=elastic, thick=0.01, texture="elastic", seed=62, ks=0.2)
    w = Win(-1.38, -0.12, 1.38, 2.1)
    X, Y = w.X, w.Y
    ax = np.abs(X)
    m = outline_mask(w, cute_outline())
    pads = gauss2(ax, Y, 0.19, 0.82, 0.2, 0.16)
    chin = gauss2(X, Y, 0, 1.02, 0.13, 0.09)
    nose_b = gauss2(X, Y, 0, 0.56, 0.14, 0.09)
    bridge = np.exp(-((X / 0.16) ** 2)) * sstep(0.0, 0.5, Y) * (1 - sstep(0.5, 0.66, Y))
    muzzle = gauss2(X, Y, 0, 0.85, 0.45, 0.4)
    bev = sstep(0.0, 1.0, blur(m, 0.045 * K))
    form = face_dome(X, Y) + K * (
        0.12 * pads + 0.05 * chin + 0.05 * nose_b + 0.03 * bridge + 0.08 * muzzle + 0.05 * bev
    )
    # colour: white muzzle + chin + bib, ginger tabby elsewhere
    n1 = w.noise(601, 4, octaves=3)
    white_z = np.clip(
        1.5 * gauss2(ax, Y, 0.19, 0.84, 0.24, 0.2)
        + 1.2 * gauss2(X, Y, 0, 1.02, 0.2, 0.16)
        + 0.8 * gauss2(X, Y, 0, 0.66, 0.1, 0.1),
        0,
        1,
    )
    white_z = sstep(0.35, 0.6, white_z + 0.2 * (n1 - 0.5))
    ginger = np.array([0.95, 0.6, 0.27], F32)
    dark_g = np.array([0.74, 0.37, 0.12], F32)
    cream = np.array([1.0, 0.97, 0.92], F32)
    wav = w.noise(602, 6, octaves=2)
    stripes_bridge = sstep(0.4, 0.8, np.cos(X * 44 + 2.0 * (wav - 0.5))) * sstep(0.5, 0.35, Y) * sstep(0.3, 0.1, ax)
    stripes_cheek = sstep(0.4, 0.85, np.cos((Y - 0.45 * ax) * 28 + 3.0 * (wav - 0.5))) * sstep(0.5, 0.8, ax)
    stripes = np.clip(stripes_bridge + stripes_cheek, 0, 1)
    col = lerp(ginger[None, None, :], dark_g[None, None, :], (0.8 * stripes)[..., None])
    col = col * (0.93 + 0.14 * n1)[..., None]
    col = lerp(col, cream[None, None, :], white_z[..., None])

    def angle(x, y):
        a = np.arctan2(y - 0.6, x)
        vx, vy = np.cos(a), np.sin(a) + 0.35
        up = (np.abs(x) < 0.22) & (y < 0.5)
        return np.where(up, -np.pi / 2 + 0.8 * x, np.arctan2(vy, vx))

    fur_body(
        s,
        w,
        m,
        form,
        col,
        seed=603,
        tone_lo=0.84,
        fur_h=0.003,
        length=0.085,
        spacing=0.012,
        width=7,
        angle_fn=angle,
        len_fn=lambda x, y: 0.65 + 0.55 * np.clip(np.abs(x) / 1.1, 0, 1),
    )
    # pink nose (soft rounded triangle)
    nw = Win(-0.2, 0.4, 0.2, 0.72)
    NX, NY = nw.X, nw.Y
    tri = ((NY > 0.47) & (np.abs(NX) < 0.15 * (0.655 - NY) / 0.17) & (NY < 0.655)).astype(F32)
    tri = (blur(tri, 0.022 * K) > 0.45).astype(F32)
    nb = bevel(tri, 0.03 * K, power=1.5)
    pebble = nw.noise(604, 90, octaves=1)
    nost = np.clip(gauss2(np.abs(NX), NY, 0.055, 0.585, 0.024, 0.011), 0, 1)
    fsub = form[nw.j0 - w.j0 : nw.j1 - w.j0, nw.i0 - w.i0 : nw.i1 - w.i0]
    nh = fsub + K * (0.02 + 0.04 * nb + 0.0008 * pebble - 0.012 * nost)
    ncol = np.array([0.96, 0.58, 0.64], F32)[None, None, :] * (0.96 + 0.08 * pebble)[..., None]
    ncol = ncol * (1 - 0.5 * sstep(0.2, 0.7, nost))[..., None]
    s.put(nw, tri, nh, ncol, ks=1.0, shin=55, kr=0.3)
    # mouth: philtrum line + "w" + a little tongue
    mw = Win(-0.32, 0.6, 0.32, 0.95)
    MX, MY = mw.X, mw.Y
    mline = mw.zeros()
    for pts in (
        [(0, 0.65), (0, 0.75)],
        catmull([(0, 0.75), (0.06, 0.8), (0.14, 0.805), (0.21, 0.77)], closed=False, n=8),
        catmull([(0, 0.75), (-0.06, 0.8), (-0.14, 0.805), (-0.21, 0.77)], closed=False, n=8),
    ):
        dist, _, _, _ = mw.curve_field(pts, maxd=0.03)
        mline = np.maximum(mline, np.exp(-((dist / 0.008) ** 2)))
    mcol = s.alb[mw.sl] * (1 - 0.8 * mline)[..., None] + (np.array([0.35, 0.15, 0.15], F32) * 0.3 * mline[..., None])
    s.put(mw, (mline > 0.25).astype(F32), s.h[mw.sl] - K * 0.006 * mline, mcol, ks=0.1, shin=8)
    tongue = ((((MX / 0.05) ** 2 + ((MY - 0.8) / 0.065) ** 2) <= 1) & (MY > 0.785)).astype(F32)
    tb = bevel(tongue, 0.014 * K)
    crease = np.exp(-((MX / 0.006) ** 2))
    th = s.h[mw.sl] + K * (0.012 + 0.02 * tb - 0.004 * crease)
    tcol = np.array([0.97, 0.47, 0.55], F32)[None, None, :] * (1 - 0.2 * crease)[..., None]
    s.put(mw, tongue, th, tcol, ks=1.0, shin=60, kr=0.3)
    # whisker spots + whiskers
    rng = np.random.default_rng(605)
    for side in (-1, 1):
        for r_, yy in enumerate((0.76, 0.82, 0.88)):
            for k in range(3):
                cx = side * (0.15 + 0.06 * k + 0.025 * r_)
                sw = Win(cx - 0.02, yy - 0.02, cx + 0.02, yy + 0.02)
                dm = gauss2(sw.X, sw.Y, cx, yy, 0.008, 0.008)
                s.put(
                    sw, (dm > 0.3).astype(F32), s.h[sw.sl] - K * 0.003, np.array([0.55, 0.4, 0.32], F32), ks=0.1, shin=8
                )
    starts, ends = [], []
    for side in (-1, 1):
        for y0, y1 in ((0.76, 0.6), (0.82, 0.8), (0.88, 1.0)):
            starts.append((side * 0.3, y0))
            ends.append((side * 1.34, y1 + rng.uniform(-0.03, 0.03)))
    draw_whiskers(s, w, starts, ends, seed=606)
    return s


def mask_bear():
    """Brown plush bear snout with a big glossy nose."""
    s = Surf()
    brown_el = (0.3, 0.2, 0.13)
    for side in (-1, 1):
        draw_strap(s, side, 0.40, 0.42, 0.17, x_in=1.0, alb=brown_el, thick=0.01, texture="elastic", seed=71, ks=0.2)
        draw_strap(s, side, 1.14, 1.08, 0.17, x_in=0.9, alb=brown_el, thick=0.01, texture="elastic", seed=72, ks=0.2)
    w = Win(-1.38, -0.12, 1.38, 2.1)
    X, Y = w.X, w.Y
    ax = np.abs(X)
    m = outline_mask(w, cute_outline())
    snout_d = (X / 0.52) ** 2 + ((Y - 0.98) / 0.5) ** 2
    snout = sstep(1.3, 0.0, snout_d) ** 0.8
    seam = np.exp(-(((snout_d - 1.0) / 0.06) ** 2))
    bev = sstep(0.0, 1.0, blur(m, 0.045 * K))
    cheeks = gauss2(ax, Y, 0.75, 0.7, 0.3, 0.3)
    form = face_dome(X, Y) + K * (
        0.17 * snout + 0.04 * cheeks + 0.05 * bev + 0.04 * gauss2(X, Y, 0, 1.6, 0.4, 0.3) - 0.006 * seam
    )
    n1 = w.noise(701, 4, octaves=3)
    brown = np.array([0.5, 0.31, 0.16], F32)
    tan = np.array([0.9, 0.75, 0.55], F32)
    tan_z = sstep(1.08, 0.85, snout_d + 0.12 * (n1 - 0.5))
    col = brown[None, None, :] * (0.85 + 0.3 * n1)[..., None]
    col = lerp(col, tan[None, None, :] * (0.95 + 0.1 * n1)[..., None], tan_z[..., None])

    def angle(x, y):
        a = np.arctan2(y - 0.75, x)
        return np.arctan2(np.sin(a) + 0.3, np.cos(a))

    fur_body(
        s,
        w,
        m,
        form,
        col,
        seed=703,
        tone_lo=0.82,
        fur_h=0.003,
        length=0.09,
        spacing=0.012,
        width=7,
        angle_fn=angle,
        len_fn=lambda x, y: np.where(((x / 0.52) ** 2 + ((y - 0.98) / 0.5) ** 2) < 1, 0.55, 1.1),
    )
    # big glossy nose
    nw = Win(-0.3, 0.4, 0.3, 0.86)
    NX, NY = nw.X, nw.Y
    nshape = (((NX / 0.22) ** 2 + ((NY - 0.6) / 0.15) ** 2) <= 1) & ~(
        (NY > 0.68) & (np.abs(NX) < 0.22 * (NY - 0.6) / 0.16)
    )
    nshape = (blur(nshape.astype(F32), 0.015 * K) > 0.5).astype(F32)
    nb = bevel(nshape, 0.05 * K, power=1.3)
    pebble = nw.noise(704, 90, octaves=1)
    nost = gauss2(np.abs(NX), NY, 0.085, 0.665, 0.045, 0.02)
    fsub = form[nw.j0 - w.j0 : nw.j1 - w.j0, nw.i0 - w.i0 : nw.i1 - w.i0]
    nh = fsub + K * (0.03 + 0.075 * nb + 0.0005 * pebble - 0.018 * nost)
    ncol = np.array([0.07, 0.06, 0.06], F32)[None, None, :] * (1 + 0.3 * pebble)[..., None]
    s.put(nw, nshape, nh, ncol, ks=1.4, shin=60, kr=0.9)
    # philtrum + mouth + tongue
    mw = Win(-0.4, 0.6, 0.4, 1.35)
    MX, MY = mw.X, mw.Y
    mline = mw.zeros()
    for pts in (
        [(0, 0.72), (0, 1.08)],
        catmull([(0, 1.08), (0.08, 1.14), (0.2, 1.14), (0.3, 1.08)], closed=False, n=8),
        catmull([(0, 1.08), (-0.08, 1.14), (-0.2, 1.14), (-0.3, 1.08)], closed=False, n=8),
    ):
        dist, _, _, _ = mw.curve_field(pts, maxd=0.03)
        mline = np.maximum(mline, np.exp(-((dist / 0.009) ** 2)))
    mcol = s.alb[mw.sl] * (1 - 0.8 * mline)[..., None]
    s.put(mw, (mline > 0.2).astype(F32), s.h[mw.sl] - K * 0.01 * mline, mcol, ks=0.1, shin=8)
    tongue = ((((MX / 0.06) ** 2 + ((MY - 1.15) / 0.075) ** 2) <= 1) & (MY > 1.12)).astype(F32)
    tb = bevel(tongue, 0.015 * K)
    crease = np.exp(-((MX / 0.007) ** 2))
    th = s.h[mw.sl] + K * (0.01 + 0.022 * tb - 0.004 * crease)
    tcol = np.array([0.93, 0.42, 0.48], F32)[None, None, :] * (1 - 0.25 * crease)[..., None]
    s.put(mw, tongue, th, tcol, ks=1.0, shin=60, kr=0.25)
    return s


def hash2(a, b):
    v = np.sin(a * 12.9898 + b * 78.233) * 43758.5453
    return (v - np.floor(v)).astype(F32)


def random_crack(rng, x0, y0, angle, length, steps=14, wiggle=0.6):
    pts = [(x0, y0)]
    a = angle
    for _ in range(steps):
        a += rng.normal(0, wiggle)
        a = angle + np.clip(a - angle, -0.9, 0.9)
        x0 += length / steps * math.cos(a)
        y0 += length / steps * math.sin(a)
        pts.append((x0, y0))
    return pts


def mask_skull():
    """Sculpted lower skull (maxilla, teeth, mandible) on a black knit backing."""
    s = Surf()
    s.grime_col = np.array([0.42, 0.3, 0.17], F32)
    for side in (-1, 1):
        draw_strap(
            s,
            side,
            0.40,
            0.42,
            0.17,
            x_in=1.0,
            alb=(0.04, 0.04, 0.045),
            thick=0.01,
            texture="elastic",
            seed=81,
            ks=0.25,
        )
        draw_strap(
            s,
            side,
            1.14,
            1.08,
            0.17,
            x_in=0.9,
            alb=(0.04, 0.04, 0.045),
            thick=0.01,
            texture="elastic",
            seed=82,
            ks=0.25,
        )
    right = [
        (0, 0.02),
        (0.1, 0.04),
        (0.2, 0.09),
        (0.5, 0.12),
        (0.8, 0.12),
        (0.95, 0.09),
        (1.1, 0.16),
        (1.165, 0.4),
        (1.155, 0.66),
        (1.095, 0.96),
        (0.995, 1.19),
        (0.865, 1.43),
        (0.7, 1.655),
        (0.48, 1.845),
        (0.25, 1.955),
        (0, 1.985),
    ]
    w = Win(-1.3, -0.1, 1.3, 2.06)
    X, Y = w.X, w.Y
    ax = np.abs(X)

    def form(X, Y):
        return face_dome(X, Y) + K * 0.12 * gauss2(X, Y, 0, 1.0, 0.6, 0.7)

    F = form(X, Y)
    m = outline_mask(w, right)
    # --- black knit backing (the mouth cavity / gaps read as darkness) ---
    bev = bevel(m, 0.01 * K)
    knit = 0.5 + 0.5 * np.sin(X * K / 4.0) * np.sin(Y * K / 6.0)
    s.put(
        w,
        m,
        F + K * 0.01 * bev - K * 0.02,
        np.array([0.035, 0.033, 0.036], F32)[None, None, :] * (0.8 + 0.4 * knit)[..., None],
        ks=0.15,
        shin=10,
        bump=K * 0.0012 * knit,
    )

    n1 = w.noise(801, 3, octaves=4)
    n2 = w.noise(802, 22, octaves=3)
    pores = w.noise(803, 95, octaves=1)
    bone = np.array([0.9, 0.85, 0.72], F32)
    stain = np.array([0.66, 0.52, 0.32], F32)

    def bone_col(extra=None):
        c = bone[None, None, :] * (0.9 + 0.14 * n2)[..., None]
        c = lerp(c, stain[None, None, :], (0.5 * sstep(0.5, 0.85, n1))[..., None])
        pits = sstep(0.93, 0.99, pores)
        return c * (1 - 0.15 * pits)[..., None], pits

    # --- maxilla + cheekbones ---
    y_low = np.interp(
        np.abs(X[0]), [0, 0.3, 0.5, 0.58, 0.66, 0.8, 0.95, 1.3], [0.885, 0.875, 0.85, 0.8, 0.7, 0.63, 0.6, 0.58]
    ).astype(F32)[None, :]
    maxilla = m * (y_low > Y)
    maxilla = (blur(maxilla, 0.01 * K) > 0.5).astype(F32) * m
    nas_hw = np.where(
        Y < 0.56,
        0.035 + 0.1 * sstep(0.27, 0.56, Y) ** 0.8,
        0.135 * np.sqrt(np.clip(1 - ((Y - 0.56) / 0.13) ** 2, 0, 1)),
    )
    aperture = ((ax < nas_hw) & (Y > 0.27) & (Y < 0.69)).astype(F32)
    spine = ((Y > 0.64) & (Y < 0.72) & (ax < 0.03 * (0.72 - Y) / 0.08)).astype(F32)
    aperture = np.clip(aperture - spine, 0, 1)
    aperture = (blur(aperture, 0.006 * K) > 0.5).astype(F32)
    rim_b = bevel(maxilla, 0.03 * K, power=1.5)
    cheekbone = gauss2(ax, Y, 0.78, 0.36, 0.24, 0.17)
    fossa = gauss2(ax, Y, 0.38, 0.62, 0.13, 0.13)
    nasal = np.exp(-((X / 0.12) ** 2)) * sstep(0.0, 0.15, Y) * sstep(0.36, 0.2, Y)
    roots = w.zeros()
    for xr in (0.045, 0.12, 0.2, 0.28, 0.36, 0.44):
        roots = np.maximum(roots, np.exp(-(((ax - xr) / 0.03) ** 2)) * sstep(0.66, 0.84, Y))
    ap_rim = np.clip(blur(aperture, 0.02 * K) * 2.5, 0, 1) * (1 - aperture)
    septum = np.exp(-((X / 0.01) ** 2)) * sstep(0.4, 0.5, Y) * aperture
    hmax = F + K * (
        0.035 * rim_b
        + 0.07 * cheekbone
        - 0.02 * fossa
        + 0.03 * nasal
        + 0.005 * roots
        + 0.012 * ap_rim
        - 0.07 * aperture
        + 0.03 * septum
        + 0.002 * (n2 - 0.5)
    )
    col, pits = bone_col()
    col = np.where((aperture > 0.5)[..., None], np.array([0.05, 0.035, 0.03], F32), col)
    col = lerp(col, np.array([0.3, 0.25, 0.18], F32)[None, None, :], (0.8 * septum)[..., None])
    foramen = (gauss2(ax, Y, 0.42, 0.4, 0.02, 0.014) > 0.5).astype(F32)
    col = col * (1 - 0.8 * foramen)[..., None]
    hmax = hmax - K * 0.01 * foramen - K * 0.001 * pits
    s.put(w, maxilla, hmax, col, ks=0.35 * (1 - aperture), shin=22, kr=0.06)

    # --- mandible ---
    mand_r = [
        (0, 1.15),
        (0.3, 1.13),
        (0.52, 1.09),
        (0.62, 1.0),
        (0.7, 0.86),
        (0.79, 0.72),
        (0.88, 0.74),
        (0.97, 0.76),
        (1.05, 0.82),
        (1.07, 1.0),
        (1.03, 1.3),
        (0.93, 1.47),
        (0.75, 1.67),
        (0.5, 1.83),
        (0.25, 1.925),
        (0, 1.955),
    ]
    mand = w.poly(catmull(mirror_outline(mand_r), closed=True, n=12)) * m
    mb = bevel(mand, 0.03 * K, power=1.5)
    mental = gauss2(X, Y, 0, 1.72, 0.22, 0.14) + 0.6 * gauss2(ax, Y, 0.2, 1.78, 0.1, 0.08)
    ramus = gauss2(ax, Y, 0.95, 1.05, 0.08, 0.35)
    groots = w.zeros()
    for xr in (0.04, 0.11, 0.18, 0.25, 0.32, 0.4):
        groots = np.maximum(groots, np.exp(-(((ax - xr) / 0.02) ** 2)) * sstep(1.35, 1.17, Y))
    hman = F + K * (0.035 * mb + 0.04 * mental + 0.03 * ramus + 0.004 * groots + 0.002 * (n2 - 0.5))
    foramen2 = (gauss2(ax, Y, 0.4, 1.5, 0.02, 0.014) > 0.5).astype(F32)
    col, pits = bone_col()
    col = col * (1 - 0.8 * foramen2)[..., None]
    hman = hman - K * 0.01 * foramen2 - K * 0.001 * pits
    s.put(w, mand, hman, col, ks=0.35, shin=22, kr=0.06)

    # --- teeth ---
    tw = Win(-0.7, 0.75, 0.7, 1.3)
    TX, TY = tw.X, tw.Y
    tn = tw.noise(804, 15, octaves=2)
    teeth = [(0.085, 0.0), (0.072, 0.0), (0.075, 0.03), (0.07, 0.0), (0.07, 0.0), (0.08, -0.01), (0.078, -0.015)]
    R_arch = 0.6
    for upper in (True, False):
        for side in (-1, 1):
            phi = 0.004 / R_arch
            for i, (wd, extra) in enumerate(teeth):
                dphi = wd / R_arch
                x0 = R_arch * math.sin(phi) * 1.05
                x1 = R_arch * math.sin(min(phi + dphi, 1.45)) * 1.05
                phi += dphi + 0.006 / R_arch
                if x1 > 0.63:
                    break
                cx = side * (x0 + x1) / 2
                hwid = (x1 - x0) / 2 - 0.002
                occ = 1.03 - 0.1 * (abs(cx) / 0.6) ** 2
                if upper:
                    y0 = 0.85 - 0.05 * (abs(cx) / 0.6) ** 2
                    y1 = occ - 0.004 + extra
                    crown = sstep(y0, y1, TY)
                else:
                    y0 = occ + 0.006 - (0.015 if i == 2 else 0)
                    y1 = 1.19 - 0.08 * (abs(cx) / 0.6) ** 2
                    hwid = hwid * (0.85 if i < 2 else 1.0)
                    crown = sstep(y1, y0, TY)
                dx = (TX - cx) / hwid
                tip = (TY - y1) / 0.02 if upper else (y0 - TY) / 0.02
                shape = (np.abs(dx) <= 1) & (y0 <= TY) & (y1 >= TY) & ((dx * dx + np.clip(tip + 1, 0, None) ** 2) <= 1)
                if i == 2:  # canine: pointed
                    shape &= np.abs(dx) <= 1 - 0.6 * np.clip(tip + 1, 0, 1)
                if not shape.any():
                    continue
                prof = np.sqrt(np.clip(1 - dx * dx, 0, 1))
                fade = 1 - 0.4 * (abs(cx) / 0.62) ** 2  # back teeth recede into shadow
                hb = form(TX, TY) + K * (0.02 * prof + 0.012 * crown - 0.03 * (abs(cx) / 0.62) ** 2)
                tc = lerp(np.array([0.7, 0.6, 0.42], F32), np.array([0.93, 0.9, 0.8], F32), crown[..., None])
                tc = tc * ((0.9 + 0.15 * tn) * fade)[..., None]
                s.put(tw, shape.astype(F32), hb, tc, ks=0.7, shin=45, kr=0.12)

    # --- cracks ---
    rng = np.random.default_rng(805)
    cracks = []
    for x0, y0, ang, ln in (
        (0.3, 0.16, 1.9, 0.32),
        (-0.62, 0.3, 1.2, 0.28),
        (0.15, 1.5, 1.2, 0.35),
        (-0.35, 1.38, 2.0, 0.3),
        (0.8, 0.5, 2.4, 0.2),
        (-0.05, 1.82, -1.4, 0.2),
    ):
        pts = random_crack(rng, x0, y0, ang, ln)
        cracks.append(pts)
        b = pts[len(pts) // 2]
        cracks.append(random_crack(rng, b[0], b[1], ang + rng.choice([-0.9, 0.9]), ln * 0.4, steps=6))
    cw = Win(-1.0, 0.0, 1.0, 2.0)
    cm = cw.zeros()
    for pts in cracks:
        dist, tpos, sd, tot = cw.curve_field(pts, maxd=0.02)
        taper = 1 - sstep(0.5 * tot, tot, tpos)
        cm = np.maximum(cm, np.exp(-((dist / (0.0025 * (0.3 + taper))) ** 2)))
    cm = cm * (s.alb[cw.sl].mean(-1) > 0.3)
    s.h[cw.sl] -= K * 0.004 * cm
    s.alb[cw.sl] *= (1 - 0.6 * cm)[..., None]
    s.grime[w.sl] = np.maximum(s.grime[w.sl], 0.6 * m)
    return s


def mask_oni():
    """Red-lacquered menpo with a snarling mouth, fangs and horsehair moustache."""
    s = Surf()
    cord = (0.09, 0.11, 0.26)
    for side in (-1, 1):
        draw_strap(s, side, 0.40, 0.42, 0.15, x_in=1.0, alb=cord, thick=0.02, texture="cord", seed=91, ks=0.6, shin=30)
        draw_strap(s, side, 1.12, 1.06, 0.15, x_in=0.9, alb=cord, thick=0.02, texture="cord", seed=92, ks=0.6, shin=30)
    right = [
        (0, -0.05),
        (0.08, -0.04),
        (0.15, 0.04),
        (0.23, 0.1),
        (0.5, 0.12),
        (0.78, 0.1),
        (0.86, 0.03),
        (0.97, -0.03),
        (1.1, 0.0),
        (1.18, 0.2),
        (1.19, 0.45),
        (1.17, 0.7),
        (1.1, 0.98),
        (1.0, 1.2),
        (0.87, 1.44),
        (0.7, 1.66),
        (0.48, 1.85),
        (0.25, 1.965),
        (0, 1.995),
    ]
    w = Win(-1.3, -0.12, 1.3, 2.08)
    X, Y = w.X, w.Y
    ax = np.abs(X)
    m = outline_mask(w, right)
    bev = bevel(m, 0.012 * K)
    muzzle = gauss2(X, Y, 0, 1.0, 0.6, 0.62)
    ridge = np.exp(-((X / 0.1) ** 2)) * sstep(-0.05, 0.3, Y) * (1 - sstep(0.45, 0.6, Y))
    tip = gauss2(X, Y, 0, 0.5, 0.15, 0.11)
    alae = gauss2(ax, Y, 0.16, 0.57, 0.09, 0.08)
    nostril = gauss2(ax, Y, 0.095, 0.625, 0.045, 0.025)
    wrinkles = (
        np.exp(-((X / 0.17) ** 2))
        * np.clip(np.sin((Y - 0.05) * 2 * np.pi / 0.085), 0, 1) ** 2
        * sstep(0.05, 0.1, Y)
        * sstep(0.36, 0.28, Y)
    )
    cheek = gauss2(ax, Y, 0.56, 0.5, 0.25, 0.2)
    # snarling mouth
    MW = 0.42
    xn = np.clip(X / MW, -1.2, 1.2)
    y_top = 0.94 + 0.06 * xn**2
    y_bot = 1.27 - 0.18 * xn**2
    mouth = ((y_top < Y) & (y_bot > Y) & (ax < MW)).astype(F32)
    mouth = (blur(mouth, 0.015 * K) > 0.5).astype(F32)
    lips = np.clip(blur(mouth, 0.03 * K) * 2.4, 0, 1) * (1 - mouth)
    fold = w.zeros()
    cw = w.zeros()
    for side in (-1, 1):
        pts = catmull(
            [(side * 0.2, 0.6), (side * 0.34, 0.72), (side * 0.46, 0.92), (side * 0.5, 1.15), (side * 0.46, 1.35)],
            closed=False,
            n=8,
        )
        dist, tpos, sd, tot = w.curve_field(pts, maxd=0.15)
        fade = sstep(0.0, 0.1, tpos) * (1 - sstep(tot - 0.15, tot, tpos))
        outer = sstep(-0.01, 0.01, -sd * side)
        fold += fade * (
            -0.025 * np.exp(-((dist / 0.018) ** 2)) + 0.035 * np.exp(-(((dist - 0.06) / 0.045) ** 2)) * outer
        )
        for k in range(3):
            pts = catmull(
                [
                    (side * (0.6 + 0.05 * k), 0.3 + 0.08 * k),
                    (side * (0.78 + 0.04 * k), 0.42 + 0.1 * k),
                    (side * (0.92 + 0.03 * k), 0.6 + 0.12 * k),
                ],
                closed=False,
                n=8,
            )
            dist, tpos, sd, tot = w.curve_field(pts, maxd=0.05)
            cw = np.maximum(cw, np.exp(-((dist / 0.012) ** 2)) * np.sin(np.pi * np.clip(tpos / tot, 0, 1)))
        for k in range(2):  # scowl lines under the mouth corners
            pts = catmull(
                [
                    (side * (0.5 + 0.08 * k), 1.28 + 0.05 * k),
                    (side * (0.6 + 0.08 * k), 1.45 + 0.04 * k),
                    (side * (0.58 + 0.07 * k), 1.62 + 0.03 * k),
                ],
                closed=False,
                n=8,
            )
            dist, tpos, sd, tot = w.curve_field(pts, maxd=0.05)
            cw = np.maximum(cw, np.exp(-((dist / 0.012) ** 2)) * np.sin(np.pi * np.clip(tpos / tot, 0, 1)))
    chin = gauss2(X, Y, 0, 1.55, 0.28, 0.22)
    hole = np.hypot(X, Y - 1.74)
    sweat = (hole < 0.026).astype(F32)
    sweat_rim = np.exp(-(((hole - 0.034) / 0.01) ** 2))
    labial = gauss2(X, Y, 0, 1.37, 0.2, 0.035)
    form = face_dome(X, Y) + K * (
        0.14 * muzzle + 0.07 * ridge + 0.1 * tip + 0.06 * alae + 0.06 * cheek + fold + 0.08 * chin - 0.02 * labial
    )
    hh = form + K * (
        0.03 * bev
        + 0.006 * wrinkles
        - 0.05 * nostril
        + 0.018 * lips
        + 0.008 * cw
        + 0.006 * sweat_rim
        - 0.02 * sweat
        - 0.06 * mouth
    )
    n1 = w.noise(901, 3, octaves=4)
    n2 = w.noise(902, 30, octaves=2)
    red = np.array([0.66, 0.07, 0.045], F32)
    deep = np.array([0.38, 0.025, 0.02], F32)
    col = lerp(deep[None, None, :], red[None, None, :], (0.7 + 0.3 * n1)[..., None])
    # rubbed lacquer: darker red in the hollows, black undercoat showing at worn edges
    edge = 1 - bev
    col = lerp(col, np.array([0.05, 0.03, 0.03], F32)[None, None, :], (sstep(0.55, 0.95, edge) * 0.95)[..., None])
    black = np.array([0.03, 0.02, 0.02], F32)
    col = np.where((mouth > 0.5)[..., None], black, col)
    col = col * (1 - 0.7 * sstep(0.3, 0.8, nostril))[..., None]
    col = np.where((sweat > 0.5)[..., None], np.array([0.02, 0.01, 0.01], F32), col)
    s.put(w, m, hh, col, ks=1.5, shin=130, kr=1.0, bump=K * 0.0004 * n2)
    # gilded rim (fukurin) around the whole edge
    eb = blur(m, 0.02 * K)
    rim = ((eb > 0.5) & (eb < 0.8) & (m > 0.5)).astype(F32)
    rim_h = hh + K * 0.008 * np.sin(np.clip((eb - 0.5) / 0.3, 0, 1) * np.pi)
    s.put(
        w,
        rim,
        rim_h,
        np.array([0.86, 0.64, 0.25], F32)[None, None, :] * (0.9 + 0.2 * n1)[..., None],
        ks=1.5,
        shin=70,
        kr=1.0,
        metal=1.0,
    )

    # teeth (gilded) + fangs (ivory)
    tw = Win(-0.5, 0.85, 0.5, 1.32)
    TX, TY = tw.X, tw.Y
    xnt = np.clip(TX / MW, -1.2, 1.2)
    yt = 0.94 + 0.06 * xnt**2
    yb = 1.27 - 0.18 * xnt**2
    mouth_t = mouth[tw.j0 - w.j0 : tw.j1 - w.j0, tw.i0 - w.i0 : tw.i1 - w.i0]
    tooth_w = 0.058
    tx = TX / tooth_w + 0.5
    tdx = tx - np.floor(tx) - 0.5
    up_row = (yt + 0.05 > TY) & (np.abs(TX) < 0.3)
    lo_row = (yb - 0.045 < TY) & (np.abs(TX) < 0.28)
    teeth = (up_row | lo_row) & (np.abs(tdx) < 0.44) & (mouth_t > 0.5)
    gold = np.array([0.85, 0.62, 0.22], F32)
    prof = np.sqrt(np.clip(1 - (tdx / 0.44) ** 2, 0, 1))
    ft = form[tw.j0 - w.j0 : tw.j1 - w.j0, tw.i0 - w.i0 : tw.i1 - w.i0]
    s.put(tw, teeth.astype(F32), ft - K * 0.03 + K * 0.01 * prof, gold, ks=1.5, shin=60, kr=1.0, metal=1.0)
    ivory = np.array([0.95, 0.92, 0.84], F32)
    for side in (-1, 1):
        for fx, _base_y, ln, up in ((0.22, None, 0.14, False), (0.33, None, 0.17, True)):
            cx = side * fx
            xc = min(fx / MW, 1.0)
            if up:
                yb0 = 1.27 - 0.18 * xc**2 + 0.02
                y0, y1 = yb0 - ln, yb0
                t = np.clip((y1 - TY) / ln, 0, 1)  # 0 at root, 1 at tip
                curve = side * 0.03 * t**2
            else:
                yt0 = 0.94 + 0.06 * xc**2 - 0.02
                y0, y1 = yt0, yt0 + ln
                t = np.clip((TY - y0) / ln, 0, 1)
                curve = -side * 0.01 * t**2
            hw_ = 0.034 * (1 - t) ** 0.9 + 0.002
            dx = (TX - cx - curve) / hw_
            fm = ((np.abs(dx) <= 1) & (y0 <= TY) & (y1 >= TY)).astype(F32)
            hb = ft + K * (0.02 + 0.022 * np.sqrt(np.clip(1 - dx * dx, 0, 1)) * (1 - 0.5 * t))
            fc = ivory[None, None, :] * (0.85 + 0.15 * (1 - t))[..., None]
            s.put(tw, fm, hb, fc, ks=1.2, shin=80, kr=0.5)

    # horsehair moustache + chin tuft
    hw = Win(-0.75, 0.55, 0.75, 1.95)
    HX, HY = hw.X, hw.Y
    hax = np.abs(HX)
    roots_m = hw.zeros()
    rn = hw.noise(905, 40, octaves=2)
    for side in (-1, 1):
        pts = catmull(
            [(side * 0.05, 0.745), (side * 0.16, 0.77), (side * 0.28, 0.83), (side * 0.36, 0.9)], closed=False, n=8
        )
        dist, tpos, _, tot = hw.curve_field(pts, maxd=0.05)
        band = 0.012 + 0.022 * rn
        roots_m = np.maximum(roots_m, ((dist < band) & (tpos > 0.01)).astype(F32))
    crest = 1.36 + 0.9 * HX * HX
    roots_b = ((np.abs(HY - crest - 0.015) < 0.01 + 0.02 * rn) & (np.abs(HX) < 0.14)).astype(F32)

    def ang_m(x, y):
        side = np.sign(x)
        return np.where(side > 0, 0.3, np.pi - 0.3) + side * 0.9 * np.clip(np.abs(x) - 0.05, 0, 1)

    fm_val, fm_cov = draw_fur(
        hw,
        roots_m,
        ang_m,
        seed=903,
        length=0.28,
        width=3,
        spacing=0.0055,
        curl=0.3,
        jitter=0.12,
        bend_fn=lambda x, y: np.sign(x) * 0.9,
    )
    tip_y = 1.68
    fb_val, fb_cov = draw_fur(
        hw,
        roots_b,
        lambda x, y: np.arctan2(tip_y - y, -x * 0.9),
        seed=904,
        length=1.0,
        width=3,
        spacing=0.0045,
        curl=0.15,
        jitter=0.05,
        len_fn=lambda x, y: 0.85 * np.hypot(x, tip_y - y),
    )
    hv = np.maximum(fm_val, fb_val)
    hc = np.maximum(fm_cov, fb_cov)
    hc = hc * (hax < 1.1)
    base_h = s.h[hw.sl]
    hair_col = np.array([0.06, 0.055, 0.05], F32)[None, None, :] * (0.5 + 1.4 * blur(hv, 0.8) ** 2)[..., None]
    s.put(hw, hc, base_h + K * 0.012, hair_col, ks=1.2, shin=45, kr=0.35, bump=K * 0.004 * blur(hv, 0.8))

    # gilded cord posts (orikugi)
    for side in (-1, 1):
        for px, py in ((1.06, 0.4), (0.98, 1.1)):
            rivet(s, side * px, py, 0.03, alb=(0.85, 0.62, 0.22), height=0.7)
    return s


def scale_field(u, v, R=0.62, pitch=0.55):
    """Overlapping round scales, free edge pointing down (+v).

    u, v in scale units.  Returns (inside-height h01, rim, cell id a, cell id b, t_down)."""
    shape = np.broadcast(u, v).shape
    hval = np.zeros(shape, F32)
    rim = np.zeros(shape, F32)
    ida = np.zeros(shape, F32)
    idb = np.zeros(shape, F32)
    tdn = np.zeros(shape, F32)
    done = np.zeros(shape, bool)
    rf = v / pitch
    r0 = np.floor(rf - R / pitch)
    for k in range(4):
        r = r0 + k
        off = 0.5 * np.mod(r, 2)
        c = np.round(u - off)
        cx = c + off
        cy = r * pitch
        dx = u - cx
        dy = v - cy
        d = np.sqrt(dx * dx + dy * dy) / R
        inside = (d < 1) & ~done
        t = np.clip((dy / R + 1) / 2, 0, 1)  # 0 at the top of the scale, 1 at its free edge
        hv = np.sqrt(np.clip(1 - d * d, 0, 1)) * 0.5 + 0.6 * t
        hval = np.where(inside, hv, hval)
        rim = np.where(inside, sstep(0.72, 0.97, d) * sstep(0.4, 0.8, t), rim)
        ida = np.where(inside, r, ida)
        idb = np.where(inside, c, idb)
        tdn = np.where(inside, t, tdn)
        done |= inside
    return hval, rim, ida, idb, tdn


def mask_dragon():
    """Teal-scaled dragon snout with nostrils, fangs and belly plates."""
    s = Surf()
    for side in (-1, 1):
        draw_strap(s, side, 0.40, 0.42, 0.18, x_in=1.0, alb=(0.09, 0.075, 0.06), seed=101, stitch=(0.4, 0.33, 0.25))
        draw_strap(s, side, 1.14, 1.06, 0.2, x_in=0.9, alb=(0.09, 0.075, 0.06), seed=102, stitch=(0.4, 0.33, 0.25))
    right = [
        (0, -0.04),
        (0.1, -0.01),
        (0.19, 0.07),
        (0.5, 0.12),
        (0.8, 0.1),
        (0.92, 0.03),
        (1.06, 0.05),
        (1.16, 0.17),
        (1.19, 0.42),
        (1.17, 0.7),
        (1.1, 0.98),
        (1.0, 1.2),
        (0.87, 1.44),
        (0.7, 1.66),
        (0.48, 1.85),
        (0.25, 1.965),
        (0, 2.0),
    ]
    w = Win(-1.36, -0.12, 1.36, 2.08)
    X, Y = w.X, w.Y
    ax = np.abs(X)
    m = outline_mask(w, right)
    # horn spikes along the jaw line (cheek frills)
    spikes = w.zeros()
    spike_h = w.zeros()
    for side in (-1, 1):
        for y0, ln, wd in ((0.6, 0.27, 0.11), (0.79, 0.24, 0.1), (0.96, 0.18, 0.08)):
            x0 = 1.08 - 0.1 * (y0 - 0.6) / 0.36
            a = (side * (x0 - 0.04), y0 + 0.01)
            b = (side * (x0 + ln), y0 - 0.07)
            dist, tpos, sd, tot = w.curve_field([a, b], maxd=wd * 1.2)
            t = np.clip(tpos / tot, 0, 1)
            half = wd * (1 - t) ** 1.1
            inside = (dist < half) & (tpos < tot)
            spikes = np.maximum(spikes, inside.astype(F32))
            spike_h = np.maximum(
                spike_h,
                np.where(
                    inside, np.sqrt(np.clip(1 - (dist / np.maximum(half, 1e-4)) ** 2, 0, 1)) * (0.6 + 0.4 * (1 - t)), 0
                ),
            )
    spikes = spikes * (1 - m)
    spike_h = spike_h * (1 - m)
    body = np.maximum(m, spikes)
    body = cut_eyes(w, body)
    # ---- form ----
    ym = 1.2 - 0.26 * np.clip(ax / 0.86, 0, 1.2) ** 2  # mouth line
    snout = gauss2(X, Y, 0, 0.78, 0.5, 0.55)
    ridge = np.exp(-((X / 0.09) ** 2)) * sstep(-0.05, 0.3, Y) * (1 - sstep(0.4, 0.55, Y))
    nmound = gauss2(X, Y, 0, 0.58, 0.2, 0.12)
    jaw = gauss2(X, Y, 0, 1.5, 0.45, 0.35)
    lip = np.exp(-(((Y - ym + 0.02) / 0.025) ** 2)) * (ax < 0.88)
    mouth_groove = np.exp(-(((Y - ym) / 0.008) ** 2)) * (ax < 0.86)
    brow = gauss2(ax, Y, 0.75, 0.2, 0.25, 0.1)
    F = face_dome(X, Y) + K * (0.16 * snout + 0.05 * ridge + 0.07 * nmound + 0.07 * jaw + 0.04 * brow)
    # spikes rise out of the surface
    sp_b = spike_h
    # ---- scales ----
    size = 0.062 * (1 + 0.35 * sstep(0.3, 1.1, ax))
    u = X / size
    v = (Y + 0.28 * X * X) / size
    hs, rim, ra, rb, tdn = scale_field(u, v)
    jit = hash2(ra, rb)
    lower = (ym + 0.005 < Y).astype(F32)
    # the lower jaw gets its own scale grid so rows do not run across the mouth
    u2 = X / (size * 0.9)
    v2 = (Y - 0.2 * X * X) / (size * 0.8)
    hs2, rim2, ra2, rb2, tdn2 = scale_field(u2, v2)
    jit2 = hash2(ra2 + 50, rb2)
    hs = lerp(hs, hs2, lower)
    rim = lerp(rim, rim2, lower)
    jit = lerp(jit, jit2, lower)
    # belly plates on the chin
    belly = ((((X / 0.4) ** 2 + ((Y - 1.82) / 0.5) ** 2) < 1) & (ym + 0.1 < Y)).astype(F32)
    belly = (blur(belly, 0.02 * K) > 0.5).astype(F32)
    pv = (Y + 1.1 * X * X) / 0.08
    pf = pv - np.floor(pv)
    plate_h = 0.3 + 0.7 * pf
    plate_rim = sstep(0.8, 0.98, pf)
    hs = lerp(hs, plate_h, belly)
    rim = lerp(rim, plate_rim, belly)
    teal = np.array([0.06, 0.42, 0.4], F32)
    deep = np.array([0.02, 0.16, 0.2], F32)
    yellow = np.array([0.55, 0.62, 0.3], F32)
    cream = np.array([0.86, 0.8, 0.56], F32)
    n1 = w.noise(1001, 3, octaves=3)
    top_dark = sstep(0.9, 0.0, Y) * 0.6 + 0.4 * sstep(0.4, 1.1, ax)
    col = lerp(teal[None, None, :], deep[None, None, :], np.clip(top_dark + 0.3 * (jit - 0.5), 0, 1)[..., None])
    col = lerp(col, yellow[None, None, :], (0.35 * sstep(0.6, 1.0, jit) + 0.3 * lower * sstep(1.1, 1.5, Y))[..., None])
    col = col * (0.75 + 0.35 * hs)[..., None] * (0.9 + 0.2 * n1)[..., None]
    col = col + (np.array([0.25, 0.35, 0.12], F32) * (0.6 * rim)[..., None])
    bcol = cream[None, None, :] * (0.75 + 0.3 * plate_h)[..., None]
    col = lerp(col, bcol, belly[..., None])
    # spikes: horn coloured, ridged
    hornc = lerp(np.array([0.2, 0.26, 0.2], F32), np.array([0.88, 0.82, 0.6], F32), sstep(0.98, 1.3, ax)[..., None])
    ridges = 0.88 + 0.12 * np.sin((ax * 1.3 - Y) * 160) ** 2
    col = np.where((spikes > 0.5)[..., None], hornc * ridges[..., None], col)
    hs = hs * (1 - spikes)
    hh = F + K * (
        0.03 * bevel(m, 0.012 * K) + 0.012 * hs + 0.03 * lip - 0.02 * mouth_groove + spikes * (0.022 + 0.05 * sp_b)
    )
    col = col * (1 - 0.85 * mouth_groove)[..., None]
    s.put(w, body, hh, col, ks=0.9 + 0.4 * rim, shin=45, kr=0.35)
    # ---- nostrils: two flared openings on a bulbous snout tip ----
    nw = Win(-0.24, 0.42, 0.24, 0.76)
    NX, NY = nw.X, nw.Y
    pad_d = (NX / 0.2) ** 2 + ((NY - 0.585) / 0.13) ** 2
    holes = np.zeros(nw.shape, F32)
    flare = np.zeros(nw.shape, F32)
    for side in (-1, 1):
        cx, cy = side * 0.1, 0.595
        ang = 0.85 * side
        uu = (NX - cx) * math.cos(ang) + (NY - cy) * math.sin(ang)
        vv = -(NX - cx) * math.sin(ang) + (NY - cy) * math.cos(ang)
        e = (uu / 0.05) ** 2 + (vv / 0.021) ** 2
        holes = np.maximum(holes, (e <= 1).astype(F32))
        flare = np.maximum(flare, np.exp(-(((np.sqrt(e) - 1.25) / 0.35) ** 2)))
    holes = (blur(holes, 0.005 * K) > 0.5).astype(F32)
    base = s.h[nw.sl]
    nh = base + K * (0.03 * np.clip(1 - pad_d, 0, 1) ** 2 + 0.014 * flare - 0.035 * holes)
    nc = np.where((holes > 0.5)[..., None], np.array([0.02, 0.03, 0.03], F32), s.alb[nw.sl])
    s.put(
        nw,
        np.maximum((pad_d <= 1).astype(F32), 0),
        nh,
        nc,
        ks=1.0 * (1 - holes),
        shin=50,
        kr=0.35 * (1 - holes),
        bump=s.bump[nw.sl],
    )
    # ---- fangs ----
    ivory = np.array([0.95, 0.92, 0.8], F32)
    fangs = [
        (0.3, 0.2, 0.045, False),
        (0.56, 0.12, 0.032, False),
        (0.1, 0.07, 0.022, False),
        (0.19, 0.08, 0.024, False),
        (0.44, 0.13, 0.034, True),
        (0.7, 0.08, 0.026, False),
    ]
    for side in (-1, 1):
        for fx, ln, wd, up in fangs:
            cx = side * fx
            ymc = 1.2 - 0.26 * min(fx / 0.86, 1.2) ** 2
            fw = Win(cx - wd - 0.04, ymc - ln - 0.03, cx + wd + 0.04, ymc + ln + 0.03)
            FX, FY = fw.X, fw.Y
            if up:
                y0, y1 = ymc - ln, ymc + 0.015
                t = np.clip((y1 - FY) / (y1 - y0), 0, 1)
                bend = side * 0.03 * t**2
            else:
                y0, y1 = ymc - 0.015, ymc + ln
                t = np.clip((FY - y0) / (y1 - y0), 0, 1)
                bend = -side * 0.025 * t**2
            hwid = wd * (1 - t) ** 0.85 + 0.002
            dx = (FX - cx - bend) / hwid
            fm = ((np.abs(dx) <= 1) & (y0 <= FY) & (y1 >= FY)).astype(F32)
            fh = (
                s.h[fw.sl] * 0
                + face_dome(FX, FY)
                + K
                * (
                    0.16 * gauss2(FX, FY, 0, 0.78, 0.5, 0.55)
                    + 0.07 * gauss2(FX, FY, 0, 1.5, 0.45, 0.35)
                    + 0.05
                    + 0.03 * np.sqrt(np.clip(1 - dx * dx, 0, 1)) * (1 - 0.5 * t)
                )
            )
            fc = lerp(np.array([0.7, 0.62, 0.42], F32), ivory, sstep(0.0, 0.5, t)[..., None])
            s.put(fw, fm, fh, fc, ks=1.1, shin=70, kr=0.4)
    s.grime[w.sl] = np.maximum(s.grime[w.sl], 0.6 * body)
    s.grime_col = np.array([0.2, 0.3, 0.25], F32)
    return s


def mask_duck():
    """Fluffy yellow duckling face with a big glossy orange bill."""
    s = Surf()
    el = (0.96, 0.95, 0.9)
    for side in (-1, 1):
        draw_strap(s, side, 0.40, 0.42, 0.17, x_in=1.0, alb=el, thick=0.01, texture="elastic", seed=111, ks=0.2)
        draw_strap(s, side, 1.14, 1.08, 0.17, x_in=0.9, alb=el, thick=0.01, texture="elastic", seed=112, ks=0.2)
    w = Win(-1.38, -0.12, 1.38, 2.12)
    X, Y = w.X, w.Y
    ax = np.abs(X)
    m = outline_mask(w, cute_outline())
    bev = sstep(0.0, 1.0, blur(m, 0.045 * K))
    F = face_dome(X, Y) + K * (0.06 * gauss2(X, Y, 0, 0.9, 0.6, 0.6) + 0.05 * bev)
    n1 = w.noise(1101, 4, octaves=3)
    yellow = np.array([1.0, 0.86, 0.28], F32)
    pale = np.array([1.0, 0.95, 0.6], F32)
    col = lerp(yellow[None, None, :], pale[None, None, :], (0.5 * n1 + 0.3 * sstep(1.2, 1.9, Y))[..., None])
    blush = gauss2(ax, Y, 0.86, 0.62, 0.13, 0.09)
    col = lerp(col, np.array([1.0, 0.62, 0.55], F32)[None, None, :], (0.55 * blush)[..., None])

    def angle(x, y):
        a = np.arctan2(y - 0.7, x)
        return np.arctan2(np.sin(a) + 0.2, np.cos(a))

    fur_body(
        s,
        w,
        m,
        F,
        col,
        seed=1102,
        tone_lo=0.86,
        fur_h=0.002,
        length=0.07,
        spacing=0.012,
        width=8,
        angle_fn=angle,
        curl=0.7,
        len_fn=lambda x, y: 0.8 + 0.6 * np.clip(np.abs(x) / 1.1, 0, 1),
    )
    # ---- bill ----
    bw = Win(-1.0, 0.1, 1.0, 2.08)
    BX, BY = bw.X, bw.Y

    def smile(x):  # where upper and lower bill meet
        return 1.5 - 0.2 * (np.abs(x) / 0.86) ** 2

    upper_r = [
        (0, 0.26),
        (0.12, 0.27),
        (0.2, 0.32),
        (0.27, 0.45),
        (0.4, 0.7),
        (0.6, 0.98),
        (0.8, 1.2),
        (0.9, 1.32),
        (0.86, 1.38),
    ]
    xs_b = np.linspace(0.86, 0.0, 12)
    upper_r = upper_r + [(float(x), float(smile(x)) + 0.02 * (1 - (x / 0.86) ** 2)) for x in xs_b[1:]]
    lower_r = [
        (0, 1.42),
        (0.5, 1.4),
        (0.8, 1.36),
        (0.86, 1.42),
        (0.8, 1.55),
        (0.62, 1.72),
        (0.4, 1.84),
        (0.2, 1.9),
        (0, 1.92),
    ]
    um = bw.poly(catmull(mirror_outline(upper_r), closed=True, n=10))
    lm = bw.poly(catmull(mirror_outline(lower_r), closed=True, n=12))
    fb = F[bw.j0 - w.j0 : bw.j1 - w.j0, bw.i0 - w.i0 : bw.i1 - w.i0]
    # lower bill (tucked under, darker, with the inside of the mouth along its top)
    lb = bevel(lm, 0.035 * K, power=1.4)
    lh = fb + K * (0.1 + 0.04 * lb)
    orange_d = np.array([0.93, 0.42, 0.05], F32)
    orange = np.array([1.0, 0.58, 0.08], F32)
    mouth_in = sstep(0.05, 0.0, BY - smile(BX) - 0.005) * lm
    lcol = orange_d[None, None, :] * (0.85 + 0.15 * lb)[..., None]
    lcol = lerp(lcol, np.array([0.45, 0.1, 0.05], F32)[None, None, :], (0.8 * mouth_in)[..., None])
    s.put(bw, lm, lh, lcol, ks=1.1, shin=80, kr=0.25)
    # upper bill: a broad, fairly flat spatula that rises away from the face
    ub = bevel(um, 0.045 * K, power=1.6)
    culmen = np.exp(-((BX / 0.1) ** 2)) * sstep(0.26, 0.5, BY) * (1 - sstep(0.7, 1.1, BY))
    rise = sstep(0.25, 1.25, BY)
    dip = gauss2(BX, BY, 0, 1.05, 0.45, 0.3)  # slightly dished top
    uh = fb + K * (0.08 + 0.1 * rise + 0.06 * ub + 0.025 * culmen - 0.015 * dip)
    nost = np.zeros(bw.shape, F32)
    for side in (-1, 1):
        ang = 0.35 * side
        uu = (BX - side * 0.075) * math.cos(ang) + (BY - 0.5) * math.sin(ang)
        vv = -(BX - side * 0.075) * math.sin(ang) + (BY - 0.5) * math.cos(ang)
        nost = np.maximum(nost, ((uu / 0.014) ** 2 + (vv / 0.04) ** 2 <= 1).astype(F32))
    nost = (blur(nost, 0.003 * K) > 0.5).astype(F32)
    uh = uh - K * 0.012 * nost
    nail = gauss2(BX, BY - 0.04 * (BX / 0.5) ** 2, 0, 1.44, 0.3, 0.06)
    ucol = lerp(orange[None, None, :], np.array([1.0, 0.72, 0.2], F32)[None, None, :], (0.6 * (1 - rise))[..., None])
    ucol = lerp(ucol, np.array([0.9, 0.45, 0.08], F32)[None, None, :], (0.5 * sstep(0.4, 0.8, nail))[..., None])
    ucol = lerp(ucol, np.array([0.55, 0.22, 0.04], F32)[None, None, :], nost[..., None])
    s.put(bw, um, uh, ucol, ks=0.75 * (1 - nost), shin=110, kr=0.16 * (1 - nost))
    return s


MASKS = {
    "respirator": dict(
        fn=mask_respirator,
        title="Respirator",
        tags=["scary", "villain"],
        description="A riveted leather-and-steel breathing rig with a cage of polished tubes over the mouth.",
    ),
    "grin": dict(
        fn=mask_grin,
        title="Painted Grin",
        tags=["scary", "funny", "villain"],
        description="A pale greasepaint face with a huge smeared red grin running up both scarred cheeks.",
    ),
    "breather": dict(
        fn=mask_breather,
        title="Bone Breather",
        tags=["scary", "villain"],
        description="A bone-white breathing mask baring a row of skeletal teeth, fed by two ribbed hoses.",
    ),
    "cat": dict(
        fn=mask_cat,
        title="Kitty Muzzle",
        tags=["cute", "animal"],
        description="A fluffy ginger-and-white cat muzzle with a pink nose, whiskers and a tiny tongue.",
    ),
    "bear": dict(
        fn=mask_bear,
        title="Bear Snout",
        tags=["cute", "animal"],
        description="A plush brown bear snout with a big glossy black nose.",
    ),
    "skull": dict(
        fn=mask_skull,
        title="Skull Jaw",
        tags=["scary"],
        description="A cracked, stained bone jaw with a full set of teeth, mounted on black knit.",
    ),
    "oni": dict(
        fn=mask_oni,
        title="Oni Menpo",
        tags=["scary", "japanese"],
        description="A red-lacquered samurai half mask with a snarling mouth, gilded teeth, fangs "
        "and a horsehair moustache.",
    ),
    "dragon": dict(
        fn=mask_dragon,
        title="Dragon Snout",
        tags=["scary", "fantasy"],
        description="A teal-scaled dragon snout with flared nostrils, ivory fangs and horned cheek frills.",
    ),
    "duck": dict(
        fn=mask_duck,
        title="Duck Bill",
        tags=["funny", "animal", "cute"],
        description="A fluffy yellow duckling face with a big glossy orange bill.",
    ),
}


def draw_one(name, art_dir=ART_DIR):
    t0 = time.time()
    spec = MASKS[name]
    s = spec["fn"]()
    rgb, _ = render(s, **spec.get("render", {}))
    img = finish(rgb, s.a)
    art_dir.mkdir(parents=True, exist_ok=True)
    img.save(art_dir / f"{name}.png", optimize=False, compress_level=9)
    return name, time.time() - t0


def write_catalog(path=CATALOG):
    cat = {"version": 1, "size": [W, H], "masks": []}
    for name, spec in MASKS.items():
        cat["masks"].append(
            {
                "name": name,
                "title": spec["title"],
                "tags": spec["tags"],
                "file": f"art/{name}.png",
                "anchors": anchors_px(spec.get("anchors")),
                "description": spec["description"],
            }
        )
    txt = json.dumps(cat, indent=2)
    # keep [x, y] pairs on one line
    txt = re.sub(r"\[\s+(-?[\d.]+),\s+(-?[\d.]+)\s+\]", r"[\1, \2]", txt)
    txt = re.sub(
        r'\[\s+("[^"\]]*"(?:,\s+"[^"\]]*")*)\s+\]', lambda mo: "[" + re.sub(r",\s+", ", ", mo.group(1)) + "]", txt
    )
    path.write_text(txt + "\n")


def _draw_into(args):
    return draw_one(*args)


def draw(names, jobs, art_dir=ART_DIR, catalog=CATALOG):
    t0 = time.time()
    work = [(n, art_dir) for n in names]
    if jobs > 1 and len(names) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn" if sys.platform == "win32" else "fork").Pool(min(jobs, len(names))) as pool:
            for name, dt in pool.imap_unordered(_draw_into, work):
                print(f"  {name:12s} {dt:5.1f}s", flush=True)
    else:
        for item in work:
            name, dt = draw_one(*item)
            print(f"  {name:12s} {dt:5.1f}s", flush=True)
    write_catalog(catalog)
    print(f"drew {len(names)} masks in {time.time() - t0:.1f}s -> {art_dir}")


def check(names, jobs):
    """Draw into a temporary folder and compare with the committed files; 0 when all are identical."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        draw(names, jobs, out / "art", out / "catalog.json")
        pairs = [(out / "catalog.json", CATALOG)] + [(out / "art" / f"{n}.png", ART_DIR / f"{n}.png") for n in names]
        status = 0
        for new, old in pairs:
            verdict = _compare(new, old)
            print(f"{old.relative_to(MASKS_DIR.parent)}: {verdict}")
            status |= 0 if verdict.startswith("identical") else 1
        return status


# Float rounding differs between numpy builds and CPUs: on another machine a few dozen of a
# mask's 3.7 M channel values come out one level apart (bear: 34, measured). A real change to
# the drawing moves far more, by more.
MAX_ROUNDING_SHARE = 0.001


def _compare(new, old):
    if not old.exists():
        return "DIFFERENT (not committed)"
    if new.read_bytes() == old.read_bytes():
        return "identical"
    if new.suffix != ".png":
        return "DIFFERENT"
    a = np.asarray(Image.open(new), dtype=np.int16)
    b = np.asarray(Image.open(old), dtype=np.int16)
    if a.shape != b.shape:
        return f"DIFFERENT (size {a.shape} vs {b.shape})"
    diff = np.abs(a - b)
    changed = int((diff > 0).sum())
    if diff.max() <= 1 and changed <= MAX_ROUNDING_SHARE * diff.size:
        return f"identical pixels up to rounding ({changed} values one level apart)"
    return f"DIFFERENT ({changed} values, up to {int(diff.max())} levels)"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    jobs = 2
    names = []
    checking = False
    global EYE_CLEARANCE_WINS
    for a in argv:
        if a == "--coverage-wins":
            EYE_CLEARANCE_WINS = False
        elif a == "--check":
            checking = True
        elif a.startswith("-j"):
            jobs = int(a[2:] or 1)
        elif not a.startswith("-"):
            names.append(a)
    names = names or list(MASKS)
    for n in names:
        if n not in MASKS:
            raise SystemExit(f"unknown mask {n!r}; known: {', '.join(MASKS)}")
    if checking:
        return check(names, jobs)
    draw(names, jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

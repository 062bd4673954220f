#!/usr/bin/env python3
"""Procedurally draw the maskalbum monster-mask art.

Run from the repository root::

    python masks/draw.py            # draw every mask + catalog.json
    python masks/draw.py cat oni    # redraw only some masks (catalog is still rewritten)
    python -m masks.draw

Everything is drawn with numpy + Pillow only.  Each mask is modelled as a
2.5-D relief: a height field sitting on a generic "face dome", per-pixel
material maps (albedo, specular strength/shininess, metalness, environment
reflection) and a coverage mask.  A small shader then lights the relief
(Lambert + Blinn-Phong + a studio environment for glossy materials), adds
multi-scale ambient occlusion and ray-marched cast shadows, and the result is
drawn at SS x resolution and downsampled with LANCZOS for anti-aliased edges.

All randomness comes from fixed seeds, so reruns give byte-identical PNGs.

Geometry: template coordinates are in units of the eye distance d, origin at
the midpoint of the pupils, x to the right, y down.  Template pixels are
``px = 512 + 360 * x``, ``py = 120 + 360 * y`` on a 1024 x 900 canvas.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ART_DIR = HERE / "art"
CATALOG = HERE / "catalog.json"

# --------------------------------------------------------------------------
# canvas geometry / contract
# --------------------------------------------------------------------------
W, H = 1024, 900          # template size in pixels
D = 360.0                 # eye distance in template pixels
OX, OY = 512.0, 120.0     # eye midpoint in template pixels
SS = 3                    # supersampling factor
SW, SH = W * SS, H * SS
K = D * SS                # supersampled pixels per d unit
F32 = np.float32

ANCHORS_D = {
    "eye_left": (-0.5, 0.0),
    "eye_right": (0.5, 0.0),
    "nose_bridge": (0.0, 0.25),
    "nose_tip": (0.0, 0.60),
    "mouth": (0.0, 1.00),
    "chin": (0.0, 1.62),
    "cheek_left": (-1.06, 0.25),
    "cheek_right": (1.06, 0.25),
    "jaw_left_nose": (-0.98, 0.62),
    "jaw_right_nose": (0.98, 0.62),
    "jaw_left_low": (-0.87, 1.10),
    "jaw_right_low": (0.87, 1.10),
}

# Area that must be opaque (right half, mirrored) and the eye clearance.
COVER_HALF = [(0.0, 0.14), (0.55, 0.16), (1.06, 0.24), (1.10, 0.62),
              (0.96, 1.12), (0.66, 1.60), (0.0, 1.92)]
EYE_R = 0.28                       # alpha must be 0 within this radius
EYE_CUT = EYE_R + 1.5 / D          # cut a little wider so the AA band sits outside EYE_R
BORDER = 12                        # transparent border in template px
X_MAX = (W / 2 - BORDER - 2) / D   # furthest |x| art may reach (straps)


def anchors_px(overrides=None):
    a = dict(ANCHORS_D)
    a.update(overrides or {})
    return {k: [round(OX + D * x, 1), round(OY + D * y, 1)] for k, (x, y) in a.items()}


def cover_polygon_d():
    right = COVER_HALF
    left = [(-x, y) for x, y in reversed(right[1:-1])]
    return right + [(0.0, right[-1][1])][:0] + left


# --------------------------------------------------------------------------
# small numeric helpers
# --------------------------------------------------------------------------
def sstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def lerp(a, b, t):
    return a + (b - a) * t


def normalize3(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _box_axis(a, r, axis):
    """Box filter of radius r (window 2r+1) along axis, edge padded."""
    if r <= 0:
        return a
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r + 1, r)
    p = np.pad(a, pad, mode="edge")
    c = np.cumsum(p, axis=axis, dtype=np.float64)
    n = a.shape[axis]
    hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
    lo = np.take(c, np.arange(0, n), axis=axis)
    return ((hi - lo) / (2 * r + 1)).astype(F32)


def _resize(a, size, resample):
    return np.asarray(Image.fromarray(np.ascontiguousarray(a, dtype=F32), "F").resize(size, resample))


def blur(a, sigma):
    """Approximate Gaussian blur (3 box passes).  sigma in array pixels."""
    a = np.asarray(a, dtype=F32)
    if sigma < 0.4:
        return a
    if sigma > 10:
        f = int(sigma // 5)
        h, w = a.shape
        sh, sw = max(2, -(-h // f)), max(2, -(-w // f))
        small = _resize(a, (sw, sh), Image.BOX)
        small = blur(small, sigma / f)
        return _resize(small, (w, h), Image.BILINEAR)
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
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t * t * t))
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
            fx = freq * (2 ** o) * aspect[0]
            fy = freq * (2 ** o) * aspect[1]
            cx, cy = K / fx, K / fy                        # pixels per cell
            nx, ny = int(w / cx) + 5, int(h / cy) + 5
            g = rng.random((ny, nx)).astype(F32)
            tw, th = int(round(nx * cx)), int(round(ny * cy))
            if tw * th > 60e6:                             # tiny cells: fine noise directly
                g = rng.random(self.shape).astype(F32)
                up = g
            else:
                up = _resize(g, (tw, th), Image.BICUBIC)
                ox, oy = int(cx * 2), int(cy * 2)
                up = up[oy:oy + h, ox:ox + w]
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
        self.ks = np.zeros((SH, SW), F32)       # specular strength
        self.shin = np.full((SH, SW), 20.0, F32)  # Blinn exponent
        self.kr = np.zeros((SH, SW), F32)       # environment reflection strength
        self.metal = np.zeros((SH, SW), F32)    # tint specular by albedo
        self.occl = np.ones((SH, SW), F32)      # extra baked occlusion (multiplies light)

    def dome(self, win):
        return self.h[win.sl]

    def put(self, win, m, h, alb, ks=0.2, shin=20.0, kr=0.0, metal=0.0, occl=None, alpha=None):
        """Paint a part: where m (0..1) is set, replace height and materials."""
        sl = win.sl
        m = np.asarray(m, F32)
        if not np.any(m > 0):
            return
        mm = m[..., None]

        def mix(dst, val):
            dst[sl] = dst[sl] * (1 - m) + np.asarray(val, F32) * m

        mix(self.h, h)
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
    hs = _resize(h, (sw, sh), Image.BOX) / down          # heights in low-res pixels
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
    gy, gx = np.gradient(h)
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
    for ex in (-0.5, 0.5):
        al = np.where((X - ex) ** 2 + Y ** 2 <= EYE_R ** 2, 0.0, al)
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
    for ex in (-0.5, 0.5):
        m = m * (((win.X - ex) ** 2 + win.Y ** 2) > r * r)
    return m.astype(F32)


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
    return [(side * x, y) for x, y in zip(xs, ys)]


def draw_strap(s, side, y_in, y_out, width, x_in=0.9, alb=(0.1, 0.085, 0.075), thick=0.016,
               ks=0.35, shin=18, kr=0.05, stitch=None, seed=0, texture="leather", fade=0.05,
               y_half=None):
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
    prof = np.sqrt(np.clip(1 - across ** 6, 0, 1))
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
        dash = (np.sin(tpos * K / (0.022 * K) * 2 * np.pi) > -0.2)
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
def mask_respirator():
    s = Surf()
    fw = full()
    # ---- straps (behind the plate) ----
    for side in (-1, 1):
        draw_strap(s, side, 0.40, 0.40, 0.19, x_in=0.95, stitch=(0.42, 0.36, 0.3), seed=11)
        draw_strap(s, side, 1.18, 1.10, 0.21, x_in=0.85, stitch=(0.42, 0.36, 0.3), seed=12)

    # ---- leather/rubber face plate ----
    right = [(0, -0.03), (0.08, -0.02), (0.16, 0.05), (0.23, 0.10), (0.5, 0.11), (0.78, 0.1),
             (0.9, 0.03), (1.04, 0.05), (1.15, 0.17), (1.18, 0.42), (1.165, 0.68), (1.1, 0.96),
             (1.0, 1.19), (0.87, 1.43), (0.71, 1.65), (0.49, 1.84), (0.25, 1.955), (0, 1.99)]
    w = Win(-1.3, -0.12, 1.3, 2.08)
    m = outline_mask(w, right)
    base = s.h[w.sl].copy()
    X, Y = w.X, w.Y
    nose = np.exp(-((X / 0.17) ** 2)) * sstep(-0.05, 0.55, Y) * (1 - sstep(0.6, 0.75, Y))
    bev = bevel(m, 0.012 * K)
    n_big = w.noise(101, 3, octaves=3)
    n_grain = w.noise(102, 150, octaves=2)
    n_fine = w.noise(103, 40, octaves=2)
    grain = np.abs(n_grain - 0.5) * 2
    hh = base + K * (0.035 * bev + 0.05 * nose + 0.0022 * grain + 0.002 * n_fine)
    # panel seams (grooves) with stitching
    seams = [
        catmull([(0, 0.62), (0.3, 0.56), (0.58, 0.62), (0.66, 0.98), (0.6, 1.42), (0.3, 1.66), (0, 1.72)], closed=False, n=12),
        catmull([(0.66, 0.98), (0.9, 0.92), (1.13, 0.86)], closed=False, n=10),
        catmull([(0.6, 0.62), (0.78, 0.4), (0.98, 0.2)], closed=False, n=10),
    ]
    groove = w.zeros()
    stitch = np.zeros(w.shape, bool)
    for sg in seams:
        for sgn in (1, -1):
            pts = [(sgn * x, y) for x, y in sg]
            dist, tpos, sd, _ = w.curve_field(pts, maxd=0.03)
            groove = np.maximum(groove, np.exp(-(dist / 0.006) ** 2))
            dash = np.sin(tpos * K / (0.024 * K) * 2 * np.pi) > -0.1
            stitch |= (np.abs(dist - 0.016) < 0.0042) & dash
    hh = hh - K * 0.007 * groove + K * 0.0025 * stitch
    leather = np.array([0.15, 0.125, 0.11], F32)
    col = leather[None, None, :] * (0.75 + 0.45 * n_big)[..., None] * (0.9 + 0.2 * n_fine)[..., None]
    # scuffed lighter wear on raised areas
    wear = sstep(0.55, 0.9, n_big) * sstep(0.3, 0.9, bev) * 0.0
    col = col * (1 - 0.3 * groove)[..., None]
    col = np.where(stitch[..., None], np.array([0.4, 0.34, 0.27], F32), col)
    s.put(w, m, hh, col, ks=0.5, shin=22, kr=0.12)

    # ---- metal grille frame around the mouth ----
    frame_out = catmull(mirror_outline([(0, 0.5), (0.25, 0.5), (0.5, 0.56), (0.6, 0.8), (0.6, 1.15),
                                         (0.5, 1.45), (0.28, 1.58), (0, 1.62)]), closed=True, n=16)
    frame_in = catmull(mirror_outline([(0, 0.6), (0.24, 0.6), (0.42, 0.65), (0.5, 0.83), (0.5, 1.12),
                                        (0.42, 1.37), (0.25, 1.48), (0, 1.52)]), closed=True, n=16)
    w = Win(-0.7, 0.4, 0.7, 1.7)
    mo = w.poly(frame_out)
    mi = w.poly(frame_in)
    ring = mo * (1 - mi)
    base = s.h[w.sl].copy()
    X, Y = w.X, w.Y
    brushed = w.noise(201, 30, octaves=3, aspect=(0.15, 4.0))
    bev_r = bevel(ring, 0.012 * K, power=3)
    steel = np.array([0.42, 0.42, 0.44], F32)
    col = steel[None, None, :] * (0.8 + 0.35 * brushed)[..., None]
    hh_ring = base + K * (0.045 + 0.03 * bev_r)
    s.put(w, ring, hh_ring, col, ks=1.3, shin=45, kr=0.7, metal=0.85)
    # void behind the bars
    dark = np.array([0.03, 0.028, 0.027], F32)
    hh_void = base + K * 0.0
    s.put(w, mi, hh_void, dark, ks=0.2, shin=10, kr=0.05, occl=0.6)
    # vertical tubes
    n_t = 7
    xs = np.linspace(-0.36, 0.36, n_t)
    rt = 0.037
    for i, xc in enumerate(xs):
        top = 0.56 + 0.05 * (abs(xc) / 0.36) ** 2
        bot = 1.56 - 0.12 * (abs(xc) / 0.36) ** 2
        tw = Win(xc - rt * 1.5, top, xc + rt * 1.5, bot)
        dx = (tw.X - xc) / rt
        tm = (np.abs(dx) <= 1).astype(F32) * ((tw.Y > top) & (tw.Y < bot))
        bow = 1 - ((tw.Y - 1.05) / 0.6) ** 2
        hb = s.h[tw.sl].copy()
        hb0 = face_dome(tw.X, tw.Y) + K * 0.05
        ht = hb0 + K * (0.03 * np.clip(bow, 0, 1) + rt * np.sqrt(np.clip(1 - dx * dx, 0, 1)))
        # collars where the tube meets the frame
        col = steel[None, None, :] * 1.15 * np.ones(tw.shape + (1,), F32)
        s.put(tw, tm, ht, col, ks=1.6, shin=70, kr=0.9, metal=0.9)
    # rivets on the frame
    mid = catmull(mirror_outline([(0, 0.55), (0.25, 0.55), (0.46, 0.605), (0.55, 0.81), (0.55, 1.13),
                                  (0.46, 1.41), (0.265, 1.53), (0, 1.57)]), closed=True, n=40)
    seg = np.sqrt((np.diff(mid, axis=0) ** 2).sum(1))
    cum = np.concatenate([[0], np.cumsum(seg)])
    for t in np.arange(0.05, cum[-1], 0.13):
        i = np.searchsorted(cum, t)
        x, y = mid[min(i, len(mid) - 1)]
        rivet(s, x, y, 0.017)
    return s


MASKS = {
    "respirator": dict(fn=mask_respirator, title="Respirator", tags=["scary", "villain"],
                       description="A riveted leather-and-steel breathing rig with a cage of polished tubes over the mouth."),
}


def draw_one(name):
    t0 = time.time()
    spec = MASKS[name]
    s = spec["fn"]()
    rgb, _ = render(s, **spec.get("render", {}))
    img = finish(rgb, s.a)
    ART_DIR.mkdir(parents=True, exist_ok=True)
    img.save(ART_DIR / f"{name}.png", optimize=False, compress_level=9)
    return name, time.time() - t0


def write_catalog():
    cat = {"version": 1, "size": [W, H], "masks": []}
    for name, spec in MASKS.items():
        cat["masks"].append({
            "name": name,
            "title": spec["title"],
            "tags": spec["tags"],
            "file": f"art/{name}.png",
            "anchors": anchors_px(spec.get("anchors")),
            "description": spec["description"],
        })
    CATALOG.write_text(json.dumps(cat, indent=2) + "\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    names = [a for a in argv if not a.startswith("-")] or list(MASKS)
    for n in names:
        if n not in MASKS:
            raise SystemExit(f"unknown mask {n!r}; known: {', '.join(MASKS)}")
    t0 = time.time()
    for n in names:
        name, dt = draw_one(n)
        print(f"  {name:12s} {dt:5.1f}s")
    write_catalog()
    print(f"drew {len(names)} masks in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()

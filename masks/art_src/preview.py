#!/usr/bin/env python3
"""Preview + contract check for the mask art.

    python -m masks.art_src.preview [--face PATH] [--eyes x1,y1,x2,y2] [--out DIR] [name ...]

Writes
  <out>/gallery.png   all masks on a grey checker, 3 per row, with names
  <out>/on_face.png   each mask placed on a frontal face photo (similarity
                      transform from the two eye anchors), shown 2x
  <out>/on_face_<name>.png  the same, one full image per mask
and prints the coverage check, exiting 1 if the contract is broken.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from masks.art_src.draw import D
from masks.catalog import EYE_CLEAR_RADIUS as EYE_R
from masks.catalog import coverage_polygon

HERE = Path(__file__).resolve().parent.parent  # masks/: catalog.json and art/
CATALOG = HERE / "catalog.json"

AA_BAND = 4.0 / D  # polygon pixels this close to an eye circle are the AA band
BORDER = 12


def load_catalog():
    return json.loads(CATALOG.read_text())


def cover_poly():
    return [(float(x), float(y)) for x, y in coverage_polygon()]


def point_in_poly(X, Y, poly):
    inside = np.zeros(np.broadcast(X, Y).shape, bool)
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        cond = (y1 > Y) != (y2 > Y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = x1 + (Y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= cond & (xint > X)
    return inside


def check(cat, verbose=True, coverage_wins=False, names=None):
    ok = True
    rows = []
    for m in cat["masks"]:
        if names and m["name"] not in names:
            continue
        im = Image.open(HERE / m["file"])
        a = np.asarray(im.convert("RGBA"))[..., 3].astype(np.float32) / 255.0
        h, w = a.shape
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        # anchors -> d units (use the catalog's eye anchors)
        el, er = m["anchors"]["eye_left"], m["anchors"]["eye_right"]
        d = er[0] - el[0]
        cx, cy = (el[0] + er[0]) / 2, (el[1] + er[1]) / 2
        X = (xs + 0.5 - cx) / d
        Y = (ys + 0.5 - cy) / d
        poly = point_in_poly(X, Y, cover_poly())
        de = np.minimum(np.hypot(X + 0.5, Y), np.hypot(X - 0.5, Y))
        eyes = de <= EYE_R
        conflict = poly & (de <= EYE_R + AA_BAND)
        if coverage_wins:  # polygon must be opaque everywhere; eyes only cleared outside it
            need = poly
            eyes = eyes & ~_near(poly, 4)
        else:
            need = poly & ~conflict
        min_cov = float(a[need].min())
        min_cov_all = float(a[poly].min())
        max_eye = float(a[eyes].max())
        high = (Y < -0.1) & (np.abs(X) <= 1.15)
        max_high = float(a[high].max())
        border = np.zeros_like(a, bool)
        border[:BORDER] = border[-BORDER:] = True
        border[:, :BORDER] = border[:, -BORDER:] = True
        max_border = float(a[border].max())
        rgb0 = bool(np.all(np.asarray(im)[..., :3][a == 0] == 0))
        size = (HERE / m["file"]).stat().st_size
        good = (
            min_cov >= 0.98
            and max_eye == 0
            and max_high == 0
            and max_border == 0
            and rgb0
            and (w, h) == tuple(cat["size"])
        )
        ok &= good
        rows.append(
            (m["name"], min_cov, min_cov_all, int(conflict.sum()), max_eye, max_high, max_border, rgb0, size, good)
        )
    if verbose:
        print(
            f"{'mask':11s} {'minA(poly-eyeAA)':>16s} {'minA(poly)':>10s} {'conflict px':>11s} "
            f"{'maxA(eyes)':>10s} {'maxA(y<-.1)':>11s} {'maxA(border)':>12s} {'rgb0':>5s} {'KB':>6s}"
        )
        for r in rows:
            print(
                f"{r[0]:11s} {r[1]:16.3f} {r[2]:10.3f} {r[3]:11d} {r[4]:10.3f} {r[5]:11.3f} "
                f"{r[6]:12.3f} {str(r[7]):>5s} {r[8] / 1024:6.0f}  {'OK' if r[9] else 'FAIL'}"
            )
        print(
            "note: 'conflict px' = pixels of the coverage polygon that lie inside an eye circle "
            "(r=0.28 d) or its 4 px AA band; the two rules contradict there and "
            + (
                "coverage wins (eye circles checked outside the polygon only)."
                if coverage_wins
                else "eye clearance wins (minA(poly-eyeAA) is the checked number)."
            )
        )
    return ok


def _near(mask, px):
    """Pixels within px of mask (square dilation)."""
    out = mask.copy()
    for dy in range(-px, px + 1):
        for dx in range(-px, px + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def checker(w, h, sq=24, c1=150, c2=175):
    ys, xs = np.mgrid[0:h, 0:w]
    v = np.where(((xs // sq) + (ys // sq)) % 2 == 0, c1, c2).astype(np.uint8)
    return Image.fromarray(np.stack([v, v, v], -1), "RGB")


def font(size):
    for f in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(f, size)
        except OSError:
            pass
    return ImageFont.load_default()


def gallery(cat, out, scale=0.5, names=None):
    masks = [m for m in cat["masks"] if not names or m["name"] in names]
    tw, th = int(cat["size"][0] * scale), int(cat["size"][1] * scale)
    cols = 3
    rows = -(-len(masks) // cols)
    pad = 36
    sheet = Image.new("RGB", (cols * tw, rows * (th + pad)), (40, 40, 40))
    f = font(22)
    for i, m in enumerate(masks):
        im = Image.open(HERE / m["file"]).convert("RGBA").resize((tw, th), Image.LANCZOS)
        bg = checker(tw, th).convert("RGBA")
        bg.alpha_composite(im)
        x, y = (i % cols) * tw, (i // cols) * (th + pad)
        sheet.paste(bg.convert("RGB"), (x, y + pad))
        ImageDraw.Draw(sheet).text(
            (x + 8, y + 6), f"{m['name']}  ({', '.join(m['tags'])})", fill=(235, 235, 235), font=f
        )
    sheet.save(out / "gallery.png")
    return out / "gallery.png"


def similarity(src_a, src_b, dst_a, dst_b):
    """Return the 2x3 matrix mapping src points to dst points (similarity)."""
    sa, sb = complex(*src_a), complex(*src_b)
    da, db = complex(*dst_a), complex(*dst_b)
    s = (db - da) / (sb - sa)
    t = da - s * sa
    return np.array([[s.real, -s.imag, t.real], [s.imag, s.real, t.imag]])


def place_on_face(face, mask_img, anchors, eyes, zoom=2):
    fw, fh = face.size
    big = face.convert("RGBA").resize((fw * zoom, fh * zoom), Image.LANCZOS)
    el = (eyes[0] * zoom, eyes[1] * zoom)
    er = (eyes[2] * zoom, eyes[3] * zoom)
    M = similarity(anchors["eye_left"], anchors["eye_right"], el, er)
    # PIL wants the inverse map (output -> input)
    A = np.vstack([M, [0, 0, 1]])
    Ai = np.linalg.inv(A)
    # premultiply so the resampling does not produce dark fringes
    warped = mask_img.convert("RGBA").transform(big.size, Image.AFFINE, tuple(Ai[:2].ravel()), resample=Image.BICUBIC)
    big.alpha_composite(warped)
    return big.convert("RGB"), M


def on_face(cat, out, face_path, eyes, names=None):
    face = Image.open(face_path).convert("RGB")
    masks = [m for m in cat["masks"] if not names or m["name"] in names]
    tiles = []
    for m in masks:
        im = Image.open(HERE / m["file"])
        comp, M = place_on_face(face, im, m["anchors"], eyes)
        comp.save(out / f"on_face_{m['name']}.png")
        # crop around the mask's footprint
        corners = np.array([[0, 0, 1], [1024, 0, 1], [0, 900, 1], [1024, 900, 1]]) @ M.T
        x0, y0 = corners.min(0)
        x1, y1 = corners.max(0)
        cxm = (x0 + x1) / 2
        cw = (x1 - x0) * 1.05
        box = (int(cxm - cw / 2), int(y0 - (y1 - y0) * 0.25), int(cxm + cw / 2), int(y1 + 10))
        tiles.append((m["name"], comp.crop(box)))
    tw = max(t.size[0] for _, t in tiles)
    th = max(t.size[1] for _, t in tiles)
    cols = 3
    rows = -(-len(tiles) // cols)
    pad = 30
    sheet = Image.new("RGB", (cols * tw, rows * (th + pad)), (30, 30, 30))
    f = font(18)
    for i, (name, t) in enumerate(tiles):
        x, y = (i % cols) * tw, (i // cols) * (th + pad)
        sheet.paste(t, (x, y + pad))
        ImageDraw.Draw(sheet).text((x + 6, y + 5), name, fill=(230, 230, 230), font=f)
    sheet.save(out / "on_face.png")
    return out / "on_face.png"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("names", nargs="*")
    ap.add_argument(
        "--face",
        default="",
        help="a frontal face photo for a quick similarity-placed preview "
        "(the fitted, lit version is `maskalbum masks --gallery`)",
    )
    ap.add_argument(
        "--eyes", default="200.7,101.9,245.2,99.5", help="left and right eye centre in the face photo: x1,y1,x2,y2"
    )
    ap.add_argument("--out", default="bench/out/maskart")
    ap.add_argument("--check-only", action="store_true")
    ap.add_argument(
        "--coverage-wins",
        action="store_true",
        help="check the art drawn with `masks.art_src.draw --coverage-wins` (polygon beats eye circles)",
    )
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cat = load_catalog()
    if not args.check_only:
        print("gallery:", gallery(cat, out, names=args.names))
        if args.face and Path(args.face).exists():
            eyes = [float(v) for v in args.eyes.split(",")]
            print("on face:", on_face(cat, out, args.face, eyes, names=args.names))
        else:
            print("no --face photo; skipping the quick on-face preview (see `maskalbum masks --gallery`)")
    ok = check(cat, coverage_wins=args.coverage_wins, names=args.names)
    print("coverage contract:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

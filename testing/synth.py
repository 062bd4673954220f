"""Synthetic masked-crowd photos with exact ground truth, for tests and the quality benchmark.

Two public-domain portraits (testing/faces/) are painted with a surgical mask
*by code* from their FaceMesh points, wrapped onto a simple 3D head (ellipsoid
plus nose), turned by yaw / pitch / roll, scaled to a face width and placed in
a scene with bodies and a background. Because we paint the mask, we know for
every face exactly which pixels show the surgical mask, where its centre is
and where the eyes are.

    python -m testing.synth OUT_DIR [--count N] [--seed S]   # writes JPEGs + truth.json
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from batch_job.warp import Mesh, warp

FACES_DIR = Path(__file__).resolve().parent / "faces"

# FaceMesh-468 indices used to paint the mask.
OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
        152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]  # fmt: skip
EYE_L = (33, 133, 159, 145)
EYE_R = (263, 362, 386, 374)
NOSE_TIP, CHIN = 1, 152

MASK_COLOURS = {
    "white": (236, 238, 240),
    "paleblue": (168, 204, 230),
    "black": (38, 38, 44),
    "grey": (150, 152, 158),
    "pink": (232, 180, 196),
}
SKIN_TONES = {  # per-channel gain applied to the (light-skinned) portraits
    "light": (1.0, 1.0, 1.0),
    "medium": (0.86, 0.74, 0.64),
    "deep": (0.58, 0.44, 0.36),
}


@dataclass(frozen=True)
class FaceAsset:
    name: str
    texture: np.ndarray  # H x W x 3 uint8
    mesh: np.ndarray  # 468 x 3 (x, y, z) in texture pixels

    @property
    def eye_left(self) -> np.ndarray:
        return self.mesh[list(EYE_L), :2].mean(axis=0)

    @property
    def eye_right(self) -> np.ndarray:
        return self.mesh[list(EYE_R), :2].mean(axis=0)

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.eye_right - self.eye_left))


@lru_cache(maxsize=1)
def load_assets() -> tuple[FaceAsset, ...]:
    meta = json.loads((FACES_DIR / "faces.json").read_text())
    assets = []
    for name in sorted(meta):
        texture = np.asarray(Image.open(FACES_DIR / f"{name}.png").convert("RGB"))
        assets.append(FaceAsset(name, texture, np.asarray(meta[name]["mesh"], dtype=np.float64)))
    return tuple(assets)


# --------------------------------------------------------------------------------------------
# painting the surgical mask on the frontal texture
# --------------------------------------------------------------------------------------------


def _face_frame(asset: FaceAsset) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    el, er = asset.eye_left, asset.eye_right
    d = float(np.linalg.norm(er - el))
    ex = (er - el) / d
    ey = np.array([-ex[1], ex[0]])
    return (el + er) / 2, ex, ey, d


def surgical_mask_polygon(asset: FaceAsset) -> np.ndarray:
    """The painted mask outline in texture pixels: nose bridge to under the chin, jaw to jaw.

    Runs left to right along the top edge, then back round the jaw: right
    side, under the chin, left side.
    """
    mid, ex, ey, d = _face_frame(asset)
    oval = asset.mesh[OVAL, :2]
    top_h = 0.22 * d  # the top edge: a little under a quarter eye distance below the eye line
    below = oval[(oval - mid) @ ey > top_h + 0.06 * d]
    centre = mid + ey * 0.8 * d
    angle = np.arctan2((below - centre) @ ey, (below - centre) @ ex)
    # Angles run from the top of the right side (-pi/2) round the chin to the top of the left side (3 pi/2).
    angle = np.mod(angle + np.pi / 2, 2 * np.pi) - np.pi / 2
    lower = below[np.argsort(angle)]
    # Under the chin the mask hangs a little lower than the jaw, and it wraps
    # slightly wider than the face oval at the sides.
    chin = asset.mesh[CHIN, :2]
    along = np.abs((lower - chin) @ ex) / d
    lower = lower + np.outer(np.clip(1 - along / 0.9, 0, 1) * 0.12 * d, ey)
    lower = lower + np.outer(np.sign((lower - centre) @ ex) * 0.03 * d, ex)
    top = [
        mid - ex * 1.0 * d + ey * (top_h + 0.05 * d),
        mid - ex * 0.5 * d + ey * (top_h + 0.06 * d),
        mid + ey * (top_h - 0.02 * d),
        mid + ex * 0.5 * d + ey * (top_h + 0.06 * d),
        mid + ex * 1.0 * d + ey * (top_h + 0.05 * d),
    ]
    return np.vstack([np.array(top), lower])


def paint_mask(
    asset: FaceAsset, texture: np.ndarray, colour: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``texture`` with a surgical mask painted on (RGB uint8) and the mask's alpha (float32 0..1)."""
    h, w = texture.shape[:2]
    ss = 4  # supersample the outline for an anti-aliased edge
    poly = surgical_mask_polygon(asset)
    big = Image.new("L", (w * ss, h * ss), 0)
    ImageDraw.Draw(big).polygon([tuple(p * ss) for p in poly], fill=255)
    alpha = np.asarray(big.resize((w, h), Image.Resampling.BOX), dtype=np.float32) / 255.0
    mid, ex, ey, d = _face_frame(asset)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rel_x = ((xx - mid[0]) * ex[0] + (yy - mid[1]) * ex[1]) / d
    rel_y = ((xx - mid[0]) * ey[0] + (yy - mid[1]) * ey[1]) / d
    base = np.array(MASK_COLOURS[colour], dtype=np.float64)
    # Shading: rounder towards the sides, three horizontal pleats, cloth noise, light from above.
    shade = 1.0 - 0.22 * np.clip(np.abs(rel_x) - 0.35, 0, None) ** 1.5
    shade *= 1.0 - 0.08 * np.clip(rel_y - 0.4, 0, 2)
    for k in range(3):
        fold = 0.62 + 0.3 * k
        shade *= 1.0 - 0.12 * np.exp(-(((rel_y - fold) / 0.035) ** 2))
        shade *= 1.0 + 0.05 * np.exp(-(((rel_y - fold + 0.07) / 0.05) ** 2))
    noise = rng.normal(0, 1, (h, w))
    noise = (
        np.asarray(
            Image.fromarray(((noise * 20) + 128).clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7)),
            dtype=np.float64,
        )
        - 128
    )
    colour_img = base[None, None, :] * shade[..., None] + noise[..., None] * 0.25
    tex = texture.astype(np.float64)
    out = tex * (1 - alpha[..., None]) + colour_img * alpha[..., None]
    # Ear loops: thin strings from the mask's corners out to the head's sides.
    loops = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(loops)
    for sgn in (-1, 1):
        a = mid + ex * sgn * 1.0 * d + ey * 0.3 * d
        b = mid + ex * sgn * 0.95 * d + ey * 1.2 * d
        ear = mid + ex * sgn * 1.3 * d + ey * 0.35 * d
        draw.line([tuple(a * ss), tuple(ear * ss)], fill=255, width=max(1, int(0.035 * d * ss)))
        draw.line([tuple(b * ss), tuple(ear * ss)], fill=255, width=max(1, int(0.035 * d * ss)))
    loop_a = np.asarray(loops.resize((w, h), Image.Resampling.BOX), dtype=np.float32) / 255.0
    loop_a = loop_a * (1 - alpha)
    out = out * (1 - loop_a[..., None]) + (base * 0.95)[None, None, :] * loop_a[..., None]
    return np.clip(out, 0, 255).astype(np.uint8), alpha


# --------------------------------------------------------------------------------------------
# a 3D head to turn
# --------------------------------------------------------------------------------------------


def _head_depth(asset: FaceAsset, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Depth (toward the camera negative) of texture points, in texture pixels.

    Inside the face oval: the portrait's own FaceMesh depth (nose, cheeks and
    jaw as the model measured them, interpolated between its 468 points).
    Outside: an ellipsoidal skull joined to it at the oval, for hair and ears.
    """
    mid, ex, ey, d = _face_frame(asset)
    mesh = asset.mesh
    pts = np.column_stack([x.ravel(), y.ravel()])
    # Inverse-distance weighting over the 12 nearest mesh points.
    dist2 = ((pts[:, None, :] - mesh[None, :, :2]) ** 2).sum(axis=2)
    near = np.argpartition(dist2, 12, axis=1)[:, :12]
    # A generous softening term keeps the surface smooth (a spiky nose folds the render).
    nd = np.take_along_axis(dist2, near, axis=1) + (0.12 * d) ** 2
    weights = 1.0 / nd
    z_face = (weights * mesh[near, 2]).sum(axis=1) / weights.sum(axis=1)
    centre = mid + ey * 0.55 * d
    rx = ((pts[:, 0] - centre[0]) * ex[0] + (pts[:, 1] - centre[1]) * ex[1]) / d
    ry = ((pts[:, 0] - centre[0]) * ey[0] + (pts[:, 1] - centre[1]) * ey[1]) / d
    inside = 1 - (rx / 1.35) ** 2 - (ry / 1.9) ** 2
    z_skull = -1.6 * d * np.sqrt(np.clip(inside, 0, None))
    # Join the skull to the face at the oval: match their mean depth there.
    oval = mesh[OVAL, :2]
    orx = ((oval[:, 0] - centre[0]) * ex[0] + (oval[:, 1] - centre[1]) * ex[1]) / d
    ory = ((oval[:, 0] - centre[0]) * ey[0] + (oval[:, 1] - centre[1]) * ey[1]) / d
    skull_at_oval = -1.6 * d * np.sqrt(np.clip(1 - (orx / 1.35) ** 2 - (ory / 1.9) ** 2, 0, None))
    z_skull = z_skull + float(np.mean(mesh[OVAL, 2] - skull_at_oval))
    weight = _oval_weight(asset, pts)
    return (weight * z_face + (1 - weight) * z_skull).reshape(np.shape(x))


def _oval_weight(asset: FaceAsset, pts: np.ndarray) -> np.ndarray:
    """1 well inside the face oval, 0 outside, soft across a band of 0.15 eye distances."""
    mid, ex, ey, d = _face_frame(asset)
    oval = asset.mesh[OVAL, :2]
    c = oval.mean(axis=0)
    # Radial distance relative to the oval along each point's direction from its centre.
    ang_oval = np.arctan2(oval[:, 1] - c[1], oval[:, 0] - c[0])
    r_oval = np.hypot(oval[:, 0] - c[0], oval[:, 1] - c[1])
    order = np.argsort(ang_oval)
    ang_sorted, r_sorted = ang_oval[order], r_oval[order]
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    r = np.hypot(pts[:, 0] - c[0], pts[:, 1] - c[1])
    boundary = np.interp(ang, ang_sorted, r_sorted, period=2 * np.pi)
    return np.clip(0.5 - (r - boundary) / (0.15 * d), 0.0, 1.0)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    a, b, c = math.radians(yaw), math.radians(pitch), math.radians(roll)
    ry = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), math.sin(c), 0], [-math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


@dataclass
class RenderedHead:
    rgba: np.ndarray  # H x W x 4 float32, premultiplied, 0..1
    mask_alpha: np.ndarray  # H x W float32: where the painted surgical mask shows
    points: np.ndarray  # 468 x 2 mesh points in the rendered image


def _head_alpha(asset: FaceAsset) -> np.ndarray:
    """Silhouette of head + neck on the texture (soft edge), 0..1."""
    h, w = asset.texture.shape[:2]
    mid, ex, ey, d = _face_frame(asset)
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    centre = mid + ey * 0.45 * d
    steps = 64
    pts = [tuple(centre + ex * 1.28 * d * math.cos(t) + ey * 1.85 * d * math.sin(t))
           for t in np.linspace(0, 2 * math.pi, steps, endpoint=False)]  # fmt: skip
    draw.polygon(pts, fill=255)
    chin = asset.mesh[CHIN, :2]
    neck = [
        chin - ex * 0.62 * d,
        chin + ex * 0.62 * d,
        chin + ex * 0.7 * d + ey * 2 * d,
        chin - ex * 0.7 * d + ey * 2 * d,
    ]
    draw.polygon([tuple(p) for p in neck], fill=255)
    img = img.filter(ImageFilter.GaussianBlur(max(0.8, d * 0.03)))
    return np.asarray(img, dtype=np.float32) / 255.0


def render_head(
    asset: FaceAsset,
    texture: np.ndarray,
    mask_alpha: np.ndarray,
    *,
    face_width: float,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
) -> RenderedHead:
    """Turn the painted head and scale it so the face is ``face_width`` pixels wide."""
    h, w = texture.shape[:2]
    d = asset.eye_distance
    scale = face_width / (2.12 * d)
    step = max(2.0, d / 14)
    gx = np.arange(0, w + step, step)
    gy = np.arange(0, h + step, step)
    ux, uy = np.meshgrid(gx, gy)
    src = np.column_stack([ux.ravel(), uy.ravel()])
    rot = _rotation(yaw, pitch, roll)

    def project(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = _head_depth(asset, points[:, 0], points[:, 1])
        p3 = np.column_stack([points[:, 0] - w / 2, points[:, 1] - h / 2, z]) @ rot.T
        return p3[:, :2] * scale, p3[:, 2]

    dst, depth = project(src)
    rows, cols = len(gy), len(gx)
    idx = np.arange(rows * cols).reshape(rows, cols)
    a, b, c, e = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    tris = np.concatenate([np.column_stack([a, b, e]), np.column_stack([a, e, c])])

    def signed_area(p: np.ndarray) -> np.ndarray:
        q = p[tris]
        return (q[:, 1, 0] - q[:, 0, 0]) * (q[:, 2, 1] - q[:, 0, 1]) - (q[:, 2, 0] - q[:, 0, 0]) * (
            q[:, 1, 1] - q[:, 0, 1]
        )

    facing = signed_area(dst) * signed_area(src) > 0
    tris = tris[facing]
    order = np.argsort(-depth[tris].mean(axis=1), kind="stable")  # far first, near painted last
    tris = tris[order]
    lo = np.floor(dst.min(axis=0)) - 2
    hi = np.ceil(dst.max(axis=0)) + 2
    dst_local = dst - lo
    out_w, out_h = int(hi[0] - lo[0]), int(hi[1] - lo[1])
    alpha = _head_alpha(asset)
    stack = np.concatenate(
        [texture.astype(np.float32) / 255.0 * alpha[..., None], alpha[..., None], (mask_alpha * alpha)[..., None]],
        axis=2,
    )
    rendered = warp(stack, Mesh(src, dst_local, tris), (0, 0, out_w, out_h))
    pts, _ = project(asset.mesh[:, :2])
    return RenderedHead(rendered[..., :4], rendered[..., 4], pts - lo)


# --------------------------------------------------------------------------------------------
# scenes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonSpec:
    face_width: float
    masked: bool = True
    colour: str = "white"
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    asset: int = 0
    skin: str = "light"
    light: float = 1.0  # brightness of the light on this person
    mirror: bool = False


@dataclass
class TruthFace:
    spec: PersonSpec
    eye_left: tuple[float, float]
    eye_right: tuple[float, float]
    box: tuple[float, float, float, float]  # x, y, w, h of the face oval
    mask_box: tuple[int, int, int, int]  # x0, y0, x1, y1 window of mask_alpha in the scene
    mask_alpha: np.ndarray = field(repr=False)  # visible painted-mask alpha in that window

    @property
    def eye_distance(self) -> float:
        return math.dist(self.eye_left, self.eye_right)

    def mask_centre(self) -> tuple[float, float] | None:
        a = self.mask_alpha
        total = float(a.sum())
        if total < 1:
            return None
        ys, xs = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
        x0, y0 = self.mask_box[:2]
        return (float((xs * a).sum() / total) + x0 + 0.5, float((ys * a).sum() / total) + y0 + 0.5)

    def to_json(self) -> dict:
        return {
            "spec": self.spec.__dict__,
            "eye_left": self.eye_left,
            "eye_right": self.eye_right,
            "box": self.box,
            "mask_pixels": float(self.mask_alpha.sum()),
            "mask_centre": self.mask_centre(),
        }


@dataclass
class Scene:
    image: Image.Image
    faces: list[TruthFace]

    def jpeg(self, quality: int = 92) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, "JPEG", quality=quality, subsampling="4:2:0")
        return buffer.getvalue()


def _background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = size
    top = rng.uniform(120, 230, 3)
    bottom = rng.uniform(40, 160, 3)
    t = np.linspace(0, 1, h)[:, None, None]
    bg = top[None, None, :] * (1 - t) + bottom[None, None, :] * t
    bg = np.broadcast_to(bg, (h, w, 3)).copy()
    img = Image.fromarray(bg.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(6, 16))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        rw, rh = rng.uniform(0.05, 0.3) * w, rng.uniform(0.05, 0.4) * h
        colour = tuple(int(v) for v in rng.uniform(30, 220, 3))
        if rng.random() < 0.5:
            draw.rectangle([x, y, x + rw, y + rh], fill=colour)
        else:
            draw.ellipse([x, y, x + rw, y + rh], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(max(2, w / 300)))
    arr = np.asarray(img, dtype=np.float64)
    arr += rng.normal(0, 3, arr.shape)
    return arr


def _adjust_texture(texture: np.ndarray, spec: PersonSpec) -> np.ndarray:
    tex = texture.astype(np.float64) * np.array(SKIN_TONES[spec.skin])[None, None, :]
    return np.clip(tex, 0, 255).astype(np.uint8)


def make_scene(
    people: list[PersonSpec],
    size: tuple[int, int] = (1600, 1200),
    seed: int = 0,
    positions: list[tuple[float, float]] | None = None,
) -> Scene:
    """Place ``people`` (left to right unless ``positions`` gives face centres) in one photo."""
    rng = np.random.default_rng(seed)
    assets = load_assets()
    w, h = size
    canvas = _background(size, rng)
    occupancy = np.full((h, w), -1, np.int32)  # which person's painted mask is on top per pixel
    mask_layers: list[tuple[tuple[int, int, int, int], np.ndarray]] = []
    placed: list[tuple[PersonSpec, RenderedHead, tuple[int, int]]] = []
    order = sorted(range(len(people)), key=lambda i: people[i].face_width)  # small (far) first
    for n, i in enumerate(order):
        spec = people[i]
        asset = assets[spec.asset % len(assets)]
        texture = _adjust_texture(asset.texture, spec)
        if spec.masked:
            texture, alpha = paint_mask(asset, texture, spec.colour, rng)
        else:
            alpha = np.zeros(texture.shape[:2], np.float32)
        if spec.mirror:
            texture, alpha = texture[:, ::-1].copy(), alpha[:, ::-1].copy()
            asset = FaceAsset(asset.name, asset.texture[:, ::-1].copy(), _mirror_mesh(asset))
        head = render_head(
            asset, texture, alpha, face_width=spec.face_width, yaw=spec.yaw, pitch=spec.pitch, roll=spec.roll
        )
        if positions is not None:
            cx, cy = positions[i]
        else:
            cx = w * (i + 0.5) / len(people) + rng.uniform(-0.05, 0.05) * w / max(1, len(people))
            cy = h * rng.uniform(0.35, 0.55)
        pts = head.points
        face_centre = pts[[EYE_L[0], EYE_R[0], CHIN]].mean(axis=0)
        ox, oy = int(round(cx - face_centre[0])), int(round(cy - face_centre[1]))
        _draw_body(canvas, head, (ox, oy), spec, rng)
        hh, hw = head.rgba.shape[:2]
        x0, y0 = max(0, ox), max(0, oy)
        x1, y1 = min(w, ox + hw), min(h, oy + hh)
        if x1 <= x0 or y1 <= y0:
            placed.append((spec, head, (ox, oy)))
            mask_layers.append(((0, 0, 0, 0), np.zeros((0, 0), np.float32)))
            continue
        sub = head.rgba[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        light = spec.light
        region = canvas[y0:y1, x0:x1]
        region[:] = region * (1 - sub[..., 3:4]) + sub[..., :3] * 255.0 * light
        malpha = head.mask_alpha[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        # Later (nearer) heads cover earlier ones: remove covered parts from earlier masks.
        covered = sub[..., 3] > 0.5
        for box, layer in mask_layers:
            if layer.size == 0:
                continue
            bx0, by0, bx1, by1 = box
            ix0, iy0, ix1, iy1 = max(bx0, x0), max(by0, y0), min(bx1, x1), min(by1, y1)
            if ix1 > ix0 and iy1 > iy0:
                cov = covered[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
                layer[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0][cov] = 0
        mask_layers.append(((x0, y0, x1, y1), malpha.copy()))
        occupancy[y0:y1, x0:x1][malpha > 0.5] = n
        placed.append((spec, head, (ox, oy)))
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    faces = []
    for (spec, head, (ox, oy)), (box, layer) in zip(placed, mask_layers, strict=True):
        pts = head.points + np.array([ox, oy])
        el = pts[list(EYE_L)].mean(axis=0)
        er = pts[list(EYE_R)].mean(axis=0)
        if spec.mirror:
            el, er = er, el
        oval = pts[OVAL]
        lo, hi = oval.min(axis=0), oval.max(axis=0)
        faces.append(
            TruthFace(
                spec,
                (float(el[0]), float(el[1])),
                (float(er[0]), float(er[1])),
                (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])),
                box,
                layer,
            )
        )
    # Report faces in the caller's order.
    by_spec_order = [None] * len(people)
    for face, i in zip(faces, order, strict=True):
        by_spec_order[i] = face
    return Scene(image, by_spec_order)


def _mirror_mesh(asset: FaceAsset) -> np.ndarray:
    w = asset.texture.shape[1]
    mesh = asset.mesh.copy()
    mesh[:, 0] = w - mesh[:, 0]
    return mesh


def _draw_body(canvas: np.ndarray, head: RenderedHead, offset: tuple[int, int], spec: PersonSpec, rng) -> None:
    pts = head.points + np.array(offset)
    chin = pts[CHIN]
    width = spec.face_width * 2.6
    h, w = canvas.shape[:2]
    top = chin[1] + spec.face_width * 0.25
    colour = rng.uniform(20, 200, 3)
    x0, x1 = chin[0] - width / 2, chin[0] + width / 2
    y0, y1 = top, top + spec.face_width * 4
    ix0, ix1 = int(max(0, x0)), int(min(w, x1))
    iy0, iy1 = int(max(0, y0)), int(min(h, y1))
    if ix1 <= ix0 or iy1 <= iy0:
        return
    yy, xx = np.mgrid[iy0:iy1, ix0:ix1]
    # Shoulders: a rounded top; shading darker to the sides.
    rx = (xx - chin[0]) / (width / 2)
    ry = (yy - top) / (spec.face_width * 0.6)
    inside = (rx**2 + np.clip(1 - ry, 0, None) ** 2) <= 1.0
    shade = 1 - 0.35 * rx**2
    region = canvas[iy0:iy1, ix0:ix1]
    region[inside] = (colour[None, :] * shade[..., None] * spec.light)[inside]


# -- measuring a painted result against the truth ------------------------------------------


def coverage_map(painted: list, shape: tuple[int, int]) -> np.ndarray:
    """Our masks' final alpha over the whole photo (max where they overlap)."""
    coverage = np.zeros(shape, np.float32)
    for p in painted:
        x0, y0, x1, y1 = p.box
        if p.alpha.size:
            coverage[y0:y1, x0:x1] = np.maximum(coverage[y0:y1, x0:x1], p.alpha)
    return coverage


def visible_share(truth, coverage: np.ndarray) -> float:
    """Share of the painted surgical mask still visible: where our masks' alpha stays under 0.5."""
    x0, y0, x1, y1 = truth.mask_box
    gt = truth.mask_alpha > 0.5
    return float(np.sum(gt & (coverage[y0:y1, x0:x1] < 0.5))) / max(1, int(gt.sum()))


def random_people(rng: np.random.Generator, count: int, *, masked_fraction: float = 1.0,
                  widths: tuple[float, float] = (60, 260)) -> list[PersonSpec]:  # fmt: skip
    people = []
    for _ in range(count):
        masked = bool(rng.random() < masked_fraction)
        people.append(
            PersonSpec(
                face_width=float(rng.uniform(*widths)),
                masked=masked,
                colour=str(rng.choice(["white", "white", "paleblue"])),
                yaw=float(rng.uniform(-40, 40)),
                pitch=float(rng.uniform(-15, 15)),
                roll=float(rng.uniform(-25, 25)),
                asset=int(rng.integers(0, 2)),
                skin=str(rng.choice(list(SKIN_TONES))),
                light=float(rng.uniform(0.55, 1.05)),
                mirror=bool(rng.random() < 0.5),
            )
        )
    return people


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    truth = {}
    for n in range(args.count):
        people = random_people(rng, int(rng.integers(1, 7)))
        scene = make_scene(people, seed=args.seed * 1000 + n)
        name = f"synth_{n:03d}.jpg"
        (args.out / name).write_bytes(scene.jpeg())
        truth[name] = [f.to_json() for f in scene.faces]
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1))


if __name__ == "__main__":
    main()

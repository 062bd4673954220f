"""Cover the worn mask itself: segment it in the lower face and say how far the fit must reach to hide it.

Landmarks under a face mask are guesses (the chin is placed high, the jaw
inside a cloth mask that sits wider), and masks differ: a KN95 reaches lower
than a surgical mask, a cloth mask wider. So after the fit from landmarks we
look at the worn mask: a colour model taken from the middle of the lower face
(nose tip to mouth, where any face mask is) is grown outward from there, over
pixels that look like it and not like the person's own skin, on a copy reduced
to ``MAP_PX_PER_EYE`` pixels per eye distance (area-averaged). Along rays from
the mask's centre we compare how far the worn mask reaches with how far the
fitted art's opaque part reaches, and move the outline anchors out by the
difference.

A region that grows to the limit of where a mask can be and on past it (a
white mask against a white wall, a dark one against dark hair) is no mask
edge: that ray is left alone. One that stops just past the limit is an edge,
and the fit reaches the limit. A face in profile reaches farther in front of
the nose, where the worn mask stands off the face, and its front anchors move
forward along the eye line there. Pure: arrays and a picture in, anchor offsets out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from batch_job.derived import Derived
from batch_job.detect.face import Box
from batch_job.fit import FaceFrame, centre_of
from batch_job.warp import Mesh, warp
from batch_job.wearing import is_skin, srgb_to_lab
from masks.catalog import ANCHOR_NAMES

_A = {name: i for i, name in enumerate(ANCHOR_NAMES)}
# The map the worn mask is segmented on: a mask edge needs no more detail.
MAP_PX_PER_EYE = 20.0
# Rays from the mask centre, in the face's frame (0 = along the eye line to the
# image's right, 90 = down the face): the sides and the bottom. The top edge
# runs under the eyes, where no mask may go.
RAY_ANGLES = np.radians(np.linspace(-25.0, 205.0, 47))
# How far beyond the fitted art a worn mask may reach, in eye distances: to the
# side (a cloth mask, a turned face's near cheek) and down (a KN95 under the chin).
REACH_SIDE = 0.7
REACH_DOWN = 0.9
# A face in profile: the worn mask stands off the face in front of the nose, where
# the landmarks (and so the art) sit back on the cheek. On the real photos the
# mask's front edge lay 0.6-1.0 eye distances past the art at yaw 40-60 and the
# rays were capped by REACH_SIDE: the front side may reach this much farther per
# unit of turn (_turn_of), and the box's front edge moves out by FRONT_BOX box widths.
REACH_FRONT = 0.9
FRONT_BOX = 0.3
# A region that reaches the limit is a leak only when it goes on past it: it is
# grown again to this much (eye distances) beyond the limit. One that stops in
# between is a mask edge just past the limit (a profile's mask standing off the
# nose, a KN95 under the chin) and the fit is moved out to the limit. Before, every
# worn mask reaching the limit was taken for a wall and left as it was.
LEAK_PROBE = 0.45
# From this turn (_turn_of) on, the front side's anchors are moved forward, along the eye line (_push_front).
FRONT_MIN_TURN = 0.3
FRONT_SPAN = math.radians(40.0)
# The box's seed replaces the landmarks' when its colour stands this much farther (Lab) from the skin.
SEED_SWITCH = 15.0
# Where the mouth sits in a detector's face box (share of its height from the top),
# and how many eye distances wide a frontal face box is.
BOX_MOUTH = 0.72
# ... and how far forward of the box's middle it sits per unit of turn (_turn_of), in box widths: on
# the real photos the nose-mouth centre of faces turned 40 degrees or more sat at 0.78 of the box
# width (median) on their front side. At the middle, a profile's box seed was its cheek, as was
# the landmarks', and its worn mask was not looked for at all (dev 046: a white KN95 75 % in view).
BOX_MOUTH_FRONT = 0.3
BOX_WIDTH_PER_EYE_DISTANCE = 2.3
# The outline anchors moved outward, and the rays each one answers for.
_OUTLINE = ("cheek_right", "jaw_right_nose", "jaw_right_low", "chin", "jaw_left_low", "jaw_left_nose", "cheek_left")
ANCHOR_SPAN = math.radians(22.0)
# The lower face is "mask" only when its colour stands this far (Lab, L at half
# weight) from the person's own skin; closer, we cannot tell mask from face.
MIN_SKIN_CONTRAST = 10.0
# ... and this far when the lower face's colour is itself a skin colour: on the
# real photos a profile's shadowed cheek (18 from the lit forehead) passed as a
# dark mask and the fit grew over the ear.
SKINLIKE_CONTRAST = 25.0
# A seed in which fewer than this share of pixels fit the mask's own colour
# model is no single mask (a hand, a beard, a patterned scarf): no extension.
MIN_SEED_AGREEMENT = 0.55
# Where the face's own skin is read: between the brows and on the forehead
# (x, y, radius in eye distances from the eye midpoint).
_SKIN_PATCHES = ((0.0, -0.15, 0.12), (0.0, -0.45, 0.16))


@dataclass(frozen=True)
class Reach:
    """The worn mask against the fitted art, per ray (image pixels)."""

    worn: np.ndarray  # how far the worn mask reaches from the centre, per ray (0: not seen)
    art: np.ndarray  # how far the fitted art's opaque part reaches
    limit: np.ndarray  # where a mask can end at most; a worn reach here is a leak, not an edge
    offsets: np.ndarray  # (12, 2) to add to the anchor targets

    @property
    def extended(self) -> bool:
        return bool(np.abs(self.offsets).max() > 0)


def worn_mask_reach(
    canvas: Image.Image,
    frame: FaceFrame,
    dst: np.ndarray,
    mesh: Mesh,
    level: tuple[Image.Image, float],
    box: Box | None = None,
) -> Reach | None:
    """How far to move each anchor target out so the fitted art covers the worn mask; None when it cannot be seen.

    ``dst`` are the anchor targets the fit used, ``mesh`` the fitted mesh (template
    pixels to image pixels) and ``level`` the art level the face is painted from
    and its scale (reused: another level per face would churn the level cache).
    ``box`` is the detector's face box: when the landmarks' lower face shows skin
    (a face in profile whose mesh slid back onto the cheek), the mask is looked
    for under the box's own mouth position instead.
    """
    # A face in profile has its eye distance foreshortened; its box is not.
    d = max(frame.d, box.w / BOX_WIDTH_PER_EYE_DISTANCE) if box is not None else frame.d
    step = max(1.0, d / MAP_PX_PER_EYE)
    centre = centre_of(dst)
    # The window: everything a mask may reach and the leak probe past it, in the face's frame,
    # as an upright box of the photo.
    corners = np.array([[-2.8, -0.6], [2.8, -0.6], [2.8, 3.6], [-2.8, 3.6]])
    pts = frame.origin + (corners[:, :1] * frame.ex + corners[:, 1:] * frame.ey) * d
    turn = _turn_of(dst, frame)
    if box is not None:
        pts = np.vstack([pts, _reach_box(box, turn, frame)])
    w, h = canvas.size
    x0, y0 = max(0, math.floor(pts[:, 0].min())), max(0, math.floor(pts[:, 1].min()))
    x1, y1 = min(w, math.ceil(pts[:, 0].max())), min(h, math.ceil(pts[:, 1].max()))
    cols, rows = int((x1 - x0) / step), int((y1 - y0) / step)
    if cols < 8 or rows < 8:
        return None
    x1, y1 = x0 + cols * step, y0 + rows * step
    small = canvas.resize((cols, rows), Image.Resampling.BOX, box=(x0, y0, x1, y1))
    lab = srgb_to_lab(np.asarray(small, dtype=np.float64).reshape(-1, 3) / 255.0).reshape(rows, cols, 3)
    ys, xs = np.mgrid[0:rows, 0:cols]
    px = x0 + (xs + 0.5) * step
    py = y0 + (ys + 0.5) * step
    u = ((px - frame.origin[0]) * frame.ex[0] + (py - frame.origin[1]) * frame.ex[1]) / d
    v = ((px - frame.origin[0]) * frame.ey[0] + (py - frame.origin[1]) * frame.ey[1]) / d

    skin = _skin_reference(lab, u, v)
    seeds = [_seed(dst, centre, px, py)]
    if box is not None and abs(float(np.degrees(np.arctan2(frame.ex[1], frame.ex[0])))) < 35:
        # Where a mouth sits in an upright face box, whatever the landmarks say: forward of the
        # middle on a turned face (the landmarks' turn, towards the image's +x when ex points there).
        front = BOX_MOUTH_FRONT * turn * (1.0 if frame.ex[0] > 0 else -1.0)
        mouth = np.array([box.x + (0.5 + front) * box.w, box.y + BOX_MOUTH * box.h])
        seeds.append((px - mouth[0]) ** 2 + (py - mouth[1]) ** 2 <= (0.16 * box.w) ** 2)
    fitted = [(_colour_model(lab, seed, skin), seed) for seed in seeds]
    models = [(m, seed, contrast) for (m, contrast), seed in fitted if m is not None]
    if not models:
        return None
    # The landmarks' seed, unless the box's stands much farther from skin: in
    # profile the landmarks' lower face can be the shadowed cheek beside the mask.
    like, seed, contrast = models[0]
    if len(models) > 1 and models[1][2] > contrast + SEED_SWITCH:
        like, seed, contrast = models[1]

    # Rays, and the art's opaque reach along them, on the map.
    dirs = np.stack([np.cos(RAY_ANGLES), np.sin(RAY_ANGLES)], axis=1) @ np.stack([frame.ex, frame.ey])
    alpha = _art_alpha(level, mesh, (x0, y0), step, (cols, rows))
    c_map = (centre - (x0, y0)) / step
    radii = np.arange(0.0, 4.0 * d / step, 0.5)
    art = _first_exit(alpha > 0.5, c_map, dirs, radii) * step
    front = np.clip(np.cos(RAY_ANGLES) * np.sign(turn), 0, 1) * abs(turn)
    limit = art + d * (REACH_SIDE + (REACH_DOWN - REACH_SIDE) * np.clip(np.sin(RAY_ANGLES), 0, 1) + REACH_FRONT * front)
    if box is not None:
        # Nor past the head: the detector's box, a little wider and lower (a mask stands off a profile, a KN95 hangs
        # under the chin).
        limit = np.minimum(limit, _ray_to_box(centre, dirs, _reach_box(box, turn, frame)))
    probe = limit + LEAK_PROBE * d

    # Grow from the seed over mask-like pixels, no farther than the limit.
    rel_x, rel_y = px - centre[0], py - centre[1]
    ang = np.arctan2(rel_x * frame.ey[0] + rel_y * frame.ey[1], rel_x * frame.ex[0] + rel_y * frame.ex[1])
    rad = np.hypot(rel_x, rel_y)
    wrapped = np.where(ang < RAY_ANGLES[0] - 1e-9, ang + 2 * np.pi, ang)
    lim_at = np.interp(wrapped, RAY_ANGLES, limit, left=0.0, right=0.0)
    # Above the side rays (round the nose and under the eyes) the mask may stay where the art is.
    inside_art = alpha > 0.5
    allowed = like & (v > 0.15)
    region = _grow(seed & like, allowed & ((rad <= lim_at) | inside_art))
    worn = _last_inside(region, c_map, dirs, radii) * step
    at_limit = worn >= limit - 1.5 * step
    leak = at_limit
    if at_limit.any():
        # Only then grown on to the probe: grown there from the start, a leak on one side wrapped
        # round beyond the limit into the next rays and cut their real extensions (real photos).
        probe_at = np.interp(wrapped, RAY_ANGLES, probe, left=0.0, right=0.0)
        further = _grow(region, allowed & ((rad <= probe_at) | inside_art))
        reached = _last_inside(further, c_map, dirs, radii) * step
        leak = _leaks(at_limit & (reached >= probe - 1.5 * step), at_limit)
    deficit = np.where(leak | (worn <= 0), 0.0, np.clip(worn - art, 0.0, None))
    offsets = np.zeros((len(ANCHOR_NAMES), 2))
    for name in _OUTLINE:
        a = dst[_A[name]]
        rel = a - centre
        r_a = float(np.hypot(*rel))
        if r_a < 1e-6:
            continue
        theta = math.atan2(float(rel @ frame.ey), float(rel @ frame.ex))
        if theta < RAY_ANGLES[0] - ANCHOR_SPAN:
            theta += 2 * math.pi
        near = np.abs(RAY_ANGLES - theta) <= ANCHOR_SPAN
        if not near.any():
            continue
        k = int(np.argmax(np.where(near, deficit, -1.0)))
        if deficit[k] <= step:
            continue
        # The outline sits beyond the anchor and moves with it in proportion (the ring
        # is extrapolated from the anchors), so the anchor moves by the deficit scaled back.
        ratio = r_a / max(float(art[k]), r_a)
        offsets[_A[name]] = rel / r_a * deficit[k] * ratio
    if abs(turn) >= FRONT_MIN_TURN:
        _push_front(offsets, dst, centre, frame, turn, deficit, art)
    return Reach(worn, art, limit, offsets)


def _leaks(past_probe: np.ndarray, at_limit: np.ndarray) -> np.ndarray:
    """Rays whose region is a leak: past the probe, or at the limit in one unbroken run of rays with one
    that is (the wall it leaks into ends, at its edge or in a shadow, before the probe does on some rays).
    A ray that stops short of the limit is a mask edge whatever its neighbours do."""
    leak = past_probe.copy()
    for i in np.flatnonzero(past_probe):
        for j in (range(i - 1, -1, -1), range(i + 1, len(leak))):
            for k in j:
                if not at_limit[k]:
                    break
                leak[k] = True
    return leak


def _push_front(
    offsets: np.ndarray, dst: np.ndarray, centre: np.ndarray, frame: FaceFrame, turn: float, deficit, art
) -> None:
    """Move the front side's outline anchors of a face in profile along the nose's direction (in place).

    In profile the front anchors sit close to the nose-mouth line, so moving them
    "outward from the centre" moves them up or down, not forward to where the mask
    stands off the face: they move along the eye line instead, by the largest deficit
    of the rays within FRONT_SPAN of straight ahead.
    """
    sign = 1.0 if turn > 0 else -1.0
    ahead = np.cos(RAY_ANGLES) * sign >= math.cos(FRONT_SPAN)
    if not ahead.any():
        return
    k = int(np.argmax(np.where(ahead, deficit, -1.0)))
    if deficit[k] <= 0:
        return
    forward = frame.ex * sign
    side = "right" if sign > 0 else "left"
    for name in (f"cheek_{side}", f"jaw_{side}_nose", f"jaw_{side}_low"):
        i = _A[name]
        x_a = float((dst[i] + offsets[i] - centre) @ forward)
        # The art's front edge moves with the anchors in proportion, as for the other rays.
        move = deficit[k] * min(1.0, max(x_a, 0.0) / max(float(art[k]), 1e-6)) if x_a > art[k] else deficit[k]
        done = float(offsets[i] @ forward)
        if move > done:
            offsets[i] = offsets[i] + forward * (move - done)


def _reach_box(box: Box, turn: float = 0.0, frame: FaceFrame | None = None) -> np.ndarray:
    """Corners of where a worn mask can be: the face box, wider by a fifth each side and a third lower,
    and wider still in front of a face in profile (``turn``, towards the face frame's +x when positive)."""
    grow_l = grow_r = 0.2
    if frame is not None and abs(frame.ex[0]) > 0.5:
        front = FRONT_BOX * abs(turn)
        if (turn > 0) == (frame.ex[0] > 0):
            grow_r += front
        else:
            grow_l += front
    x0, x1 = box.x - grow_l * box.w, box.x + (1 + grow_r) * box.w
    y0, y1 = box.y, box.y + 1.35 * box.h
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def _turn_of(dst: np.ndarray, frame: FaceFrame) -> float:
    """How far the fitted face is turned, -1..1, positive when the nose tip points along the frame's +x:
    the nose tip's place between the two jaws (at nose height) along the eye line."""
    nose = float((dst[_A["nose_tip"]] - frame.origin) @ frame.ex)
    left = float((dst[_A["jaw_left_nose"]] - frame.origin) @ frame.ex)
    right = float((dst[_A["jaw_right_nose"]] - frame.origin) @ frame.ex)
    width = right - left
    if width <= 1e-6:
        return 0.0
    return float(np.clip(2 * (nose - left) / width - 1, -1.0, 1.0))


def _ray_to_box(c: np.ndarray, dirs: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Per ray from ``c``, the distance to the edge of the upright box ``corners`` (0 when c is outside it)."""
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    if not ((lo <= c) & (c <= hi)).all():
        return np.zeros(len(dirs))
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(
            dirs[:, 0] > 0, (hi[0] - c[0]) / dirs[:, 0], np.where(dirs[:, 0] < 0, (lo[0] - c[0]) / dirs[:, 0], np.inf)
        )
        ty = np.where(
            dirs[:, 1] > 0, (hi[1] - c[1]) / dirs[:, 1], np.where(dirs[:, 1] < 0, (lo[1] - c[1]) / dirs[:, 1], np.inf)
        )
    return np.minimum(tx, ty)


def _colour_model(lab: np.ndarray, seed: np.ndarray, skin: np.ndarray | None) -> tuple[np.ndarray | None, float]:
    """Pixels that look like the mask under ``seed`` and not like skin (None when the seed is skin or no
    one colour), and how far the seed's colour stands from the skin."""
    if seed.sum() < 6:
        return None, 0.0
    mask_lab = np.median(lab[seed], axis=0)
    contrast = float(_delta(mask_lab, skin)) if skin is not None else 100.0
    # A seed whose colour could itself be skin (the shadowed cheek of a profile, a
    # beige mask) must stand farther from the lit skin before it counts as a mask.
    if contrast < (SKINLIKE_CONTRAST if is_skin(mask_lab[None, :])[0] else MIN_SKIN_CONTRAST):
        return None, contrast
    spread = 1.4826 * np.median(np.abs(lab[seed] - mask_lab), axis=0)
    tol = np.array([np.clip(3.0 * spread[0], 12.0, 32.0), *np.clip(3.0 * spread[1:], 6.0, 20.0)])
    like = (((lab - mask_lab) / tol) ** 2).sum(axis=2) <= 1.0
    if skin is not None:
        to_skin = _delta(lab, skin)
        like &= ~((to_skin < _delta(lab, mask_lab)) & (to_skin < 2 * MIN_SKIN_CONTRAST))
    if like[seed].mean() < MIN_SEED_AGREEMENT:
        return None, contrast
    return like, contrast


def _delta(lab: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Lab distance with lightness at half weight (light varies across a face more than colour)."""
    diff = lab - ref
    return np.sqrt((diff[..., 0] * 0.5) ** 2 + diff[..., 1] ** 2 + diff[..., 2] ** 2)


def _skin_reference(lab: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray | None:
    refs = []
    for cx, cy, r in _SKIN_PATCHES:
        patch = lab[(u - cx) ** 2 + (v - cy) ** 2 <= r * r]
        if len(patch) >= 2:
            refs.append(np.median(patch, axis=0))
    plausible = [r for r in refs if is_skin(r[None, :])[0]]
    return max(plausible, key=lambda r: float(np.hypot(r[1], r[2]))) if plausible else None


def _seed(dst: np.ndarray, centre: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """The middle of the lower face (nose tip to chin, inside the jaw, pulled in to 55 %): mask, if any is worn."""
    from PIL import ImageDraw

    ring = np.array(
        [dst[_A[n]] for n in ("jaw_left_nose", "nose_tip", "jaw_right_nose", "jaw_right_low", "chin", "jaw_left_low")]
    )
    ring = centre + (ring - centre) * 0.55
    step = float(px[0, 1] - px[0, 0]) if px.shape[1] > 1 else 1.0
    ox, oy = float(px[0, 0]), float(py[0, 0])
    image = Image.new("L", (px.shape[1], px.shape[0]), 0)
    ImageDraw.Draw(image).polygon([((x - ox) / step, (y - oy) / step) for x, y in ring], fill=1, outline=1)
    return np.asarray(image, dtype=bool)


def _art_alpha(level: tuple[Image.Image, float], mesh: Mesh, origin, step: float, size) -> np.ndarray:
    """The fitted art's alpha on the map (0..1), from the face's own level box-reduced to about the map's scale."""
    image, k = level
    factor = max(1, 2 ** int(np.floor(np.log2(max(step, 1.0)))))
    alpha = _reduced_alpha(image, factor)
    k_small = k * alpha.shape[1] / image.width
    moved = Mesh(mesh.src * k_small, (mesh.dst - np.asarray(origin, dtype=np.float64)) / step, mesh.triangles)
    return warp(alpha, moved, (0, 0, size[0], size[1]))[..., 0]


_ALPHAS: Derived[np.ndarray] = Derived(16)


def _reduced_alpha(image: Image.Image, factor: int) -> np.ndarray:
    """The level's alpha box-reduced by ``factor`` (H x W x 1, 0..1), cached per level.

    Levels come from paint's bounded level cache, so one level serves many faces of an album; the
    reduce of the whole RGBA level was ~3 ms of the ~9 ms reach per 400 px face.
    """

    def make() -> np.ndarray:
        channel = image.getchannel(len(image.getbands()) - 1)  # "A" or, premultiplied, "a"
        small = channel.reduce(factor) if factor > 1 else channel
        alpha = np.asarray(small, dtype=np.float32)[..., None] * np.float32(1 / 255)
        alpha.setflags(write=False)
        return alpha

    return _ALPHAS.get(image, factor, make)


def _grow(seed: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The part of ``allowed`` connected (8-neighbours) to ``seed``.

    One labelling pass: growing by dilation until nothing changed took as many passes as the region
    is long (~40 on a 400 px face), a third of the reach's time.
    """
    count, labels = cv2.connectedComponents(allowed.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(allowed)
    touched = np.zeros(count, dtype=bool)
    touched[labels[seed & allowed]] = True
    touched[0] = False  # label 0 is everything not allowed
    return touched[labels]


def _samples(binary: np.ndarray, c: np.ndarray, dirs: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """``binary`` along each ray (rays x radii), False outside the map."""
    xs = c[0] + dirs[:, :1] * radii[None, :]
    ys = c[1] + dirs[:, 1:] * radii[None, :]
    ix, iy = np.floor(xs).astype(int), np.floor(ys).astype(int)
    ok = (ix >= 0) & (iy >= 0) & (ix < binary.shape[1]) & (iy < binary.shape[0])
    out = np.zeros(ix.shape, bool)
    out[ok] = binary[iy[ok], ix[ok]]
    return out


def _first_exit(binary: np.ndarray, c: np.ndarray, dirs: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Per ray, the radius where ``binary`` first ends going out from the centre (map pixels); 0 if never inside."""
    hit = _samples(binary, c, dirs, radii)
    # The first sample that is False after the ray has been inside (the centre may sit in a gap of the art).
    entered = np.maximum.accumulate(hit, axis=1)
    out_after = entered & ~hit
    first = np.where(out_after.any(axis=1), out_after.argmax(axis=1), len(radii) - 1)
    return np.where(hit.any(axis=1), radii[first], 0.0)


def _last_inside(binary: np.ndarray, c: np.ndarray, dirs: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Per ray, the farthest radius where ``binary`` holds (0 when it never does)."""
    hit = _samples(binary, c, dirs, radii)
    last = len(radii) - 1 - np.argmax(hit[:, ::-1], axis=1)
    return np.where(hit.any(axis=1), radii[last], 0.0)

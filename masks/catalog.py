"""The mask catalog: templates, their anchor points, choosing a mask for a face, and user mask files.

A template is an RGBA picture drawn for a frontal face in a fixed layout
(masks/ART.md). Its anchors name where facial points sit in template pixels;
the fitting step maps them onto each photographed face.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from batch_job.derived import nbytes
from batch_job.errors import BadMaskFile, MaskArtError, UsageError

HERE = Path(__file__).resolve().parent
CATALOG_PATH = HERE / "catalog.json"

ANCHOR_NAMES: tuple[str, ...] = (
    "eye_left", "eye_right", "nose_bridge", "nose_tip", "mouth", "chin",
    "cheek_left", "cheek_right", "jaw_left_nose", "jaw_right_nose", "jaw_left_low", "jaw_right_low",
)  # fmt: skip
# Row of each anchor in the (12, 2) arrays that fit, paint and the wearing check pass around.
ANCHOR_INDEX: dict[str, int] = {name: i for i, name in enumerate(ANCHOR_NAMES)}

# The canonical frontal layout, in eye distances from the midpoint between the
# eyes (x right, y down). Every catalog mask is drawn for it; user masks are
# mapped onto it from their opaque bounding box.
CANONICAL: dict[str, tuple[float, float]] = {
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
# Every catalog mask must be opaque over this polygon (canonical units, right
# half; mirrored for the left): the surgical mask it replaces plus a margin,
# except inside the eye circles, which must stay clear (masks/ART.md).
COVERAGE_HALF = ((0.0, 0.14), (0.55, 0.16), (1.06, 0.24), (1.10, 0.62), (0.96, 1.12), (0.66, 1.60), (0.0, 1.92))
EYE_CLEAR_RADIUS = 0.28


def coverage_polygon() -> np.ndarray:
    """The full coverage polygon, clockwise from the top centre, in canonical units."""
    right = list(COVERAGE_HALF)
    left = [(-x, y) for x, y in reversed(COVERAGE_HALF[1:-1])]
    return np.array(right + left, dtype=np.float64)


def canonical_to_template(template: MaskTemplate, points: np.ndarray) -> np.ndarray:
    """Canonical-unit points to template pixels, by the least-squares affine map of the anchors."""
    src = np.array([CANONICAL[n] for n in ANCHOR_NAMES])
    dst = np.array([template.anchors[n] for n in ANCHOR_NAMES])
    design = np.column_stack([src, np.ones(len(src))])
    coef, *_ = np.linalg.lstsq(design, dst, rcond=None)
    pts = np.atleast_2d(points)
    return np.column_stack([pts, np.ones(len(pts))]) @ coef


# User masks: the opaque bounding box spans jaw to jaw across, and from the
# nose bridge down to a little below the chin (docs: "Your own mask").
USER_BOX_X = (-1.06, 1.06)
USER_BOX_Y = (0.25, 1.85)
MAX_USER_SIDE = 4096
MAX_USER_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, eq=False)  # hashed by identity: the lru caches below key on it
class MaskTemplate:
    name: str
    title: str
    tags: tuple[str, ...]
    anchors: dict[str, tuple[float, float]]
    png: bytes = field(repr=False)  # the art as drawn (shown mirrored when ``flipped``)
    description: str = ""
    # The picture is ``png`` mirrored left to right (the anchors are already mirrored): a mirror
    # image is made from the same decoded art, never re-encoded (a PNG round trip was 77 ms a mask).
    flipped: bool = False

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.png + (b"\0mirrored" if self.flipped else b"")).hexdigest()[:16]

    @property
    def eye_distance(self) -> float:
        (ax, ay), (bx, by) = self.anchors["eye_left"], self.anchors["eye_right"]
        return float(np.hypot(bx - ax, by - ay))

    def mirrored(self) -> MaskTemplate:
        """The art flipped left to right (anchors too): the catalog art is lit from the upper left,
        so a face lit from the right gets the mirror image."""
        return _mirrored(self)

    def level_scale(self, scale: float) -> float:
        """The exact scale of the level ``level_image(scale)`` returns (between scale and 2 x scale)."""
        width = _png_size(self.png)[0]
        return _level_size((width, 1), _level_index(scale))[0] / width

    def level_image(self, scale: float, blur: float = 0.0) -> tuple[Image.Image, float]:
        """The art reduced to about ``scale`` (never below it) as 8-bit premultiplied "RGBa", and its exact scale.

        Sampling bilinearly from at most 2x the output size keeps small masks
        free of aliasing without a per-pixel filter. ``blur`` (Gaussian sigma in
        the level's pixels) is applied once and cached with the level.
        """
        return LEVELS.level(self.png, self.flipped, _level_index(scale), round(blur, 2))

    def occupancy(self) -> tuple[np.ndarray, int]:
        """Where the art is not transparent, on a coarse grid (cell = ``OCCUPANCY_CELL`` px)."""
        return _occupancy(self.png, self.flipped)


OCCUPANCY_CELL = 16


@lru_cache(maxsize=32)
def _mirrored(template: MaskTemplate) -> MaskTemplate:
    width = _png_size(template.png)[0]

    def swap(name: str) -> str:
        return name.replace("left", "\0").replace("right", "left").replace("\0", "right")

    anchors = {swap(name): (width - x, y) for name, (x, y) in template.anchors.items()}
    return MaskTemplate(
        template.name, template.title, template.tags, anchors, template.png, template.description, not template.flipped
    )


# Level k of a mask is its art at 1/2^k of the drawn size, premultiplied, 8-bit, with the feather
# blurred in. A worker paints the same few levels all album long, so they are cached; bounded in
# bytes, not entries (a level is 14 KB to 3.7 MB). A new level is made from the nearest larger one
# held, either way round (a mirror image is a flip), by an area reduction and the blur still
# missing, and only without one from the PNG: decode, premultiply, reduce and blur from the
# drawn art cost 45-90 ms a level (Pillow's Lanczos and Gaussian), a level from the one above
# 0.1-2 ms, within a level or two of it (tests/test_catalog.py, bench/RESULTS.md).
LEVEL_CACHE_BYTES = 64 << 20
# Blur below this (sigma, px) is not worth a pass: the bilinear warp is that soft already.
MIN_BLUR = 0.3


class LevelCache:
    """Mask art levels, least recently used out first, at most ``max_bytes`` of pixels held."""

    def __init__(self, max_bytes: int = LEVEL_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        # (png, flipped, k, blur) -> the level; k = -1 is the decoded art itself (never handed out).
        self._items: OrderedDict[tuple[bytes, bool, int, float], Image.Image] = OrderedDict()

    def level(self, png: bytes, flipped: bool, k: int, blur: float) -> tuple[Image.Image, float]:
        """Level ``k`` of the art ``png`` (mirrored when ``flipped``) blurred by ``blur``, and its exact scale."""
        key = (png, flipped, k, blur)
        image = self._items.get(key)
        if image is None:
            pixels = self._make(png, flipped, k, blur)
            image = self._put(key, Image.frombuffer("RGBa", pixels.shape[1::-1], pixels, "raw", "RGBa", 0, 1))
            if k == 0:
                # Level 0 is the art at its own size, blurred less than any level below needs: they all
                # come from it now, so the decoded art (as large) need not stay.
                self._drop((png, False, -1, 0.0))
        self._items.move_to_end(key)
        return image, image.width / _png_size(png)[0]

    def __len__(self) -> int:
        return len(self._items)

    def art(self, png: bytes) -> Image.Image:
        """The drawn art decoded and premultiplied, held like a level: this mask's next level comes from it."""
        key = (png, False, -1, 0.0)
        image = self._items.get(key)
        if image is None:
            image = self._put(key, Image.open(io.BytesIO(png)).convert("RGBA").convert("RGBa"))
        self._items.move_to_end(key)
        return image

    def _make(self, png: bytes, flipped: bool, k: int, blur: float) -> np.ndarray:
        size = _level_size(_png_size(png), k)
        start, carried, start_flipped = self._nearest(png, flipped, k, size[0], blur)
        if start is None:
            start, carried, start_flipped = self.art(png), 0.0, False
        # Gaussian blurs add in variance: blur only by what the larger level does not carry yet.
        missing = float(np.sqrt(max(0.0, blur * blur - carried * carried)))
        pixels = np.asarray(start)
        if start.size != size:
            # An area reduction: 1/10-1/50 of Pillow's Lanczos, and as close to the Lanczos made from the
            # drawn art (0.1-1 level of 255 on average) as Lanczos from a held, blurred level is.
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        if start_flipped != flipped:
            pixels = cv2.flip(pixels, 1)
        if missing >= MIN_BLUR:
            pixels = cv2.GaussianBlur(pixels, (0, 0), missing, borderType=cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(pixels)

    def _nearest(
        self, png: bytes, flipped: bool, k: int, width: int, blur: float
    ) -> tuple[Image.Image | None, float, bool]:
        """The held level of ``png`` nearest above level k (or level k the other way round) not blurrier
        than ``blur`` once reduced to ``width``; its blur at that width; whether it is flipped."""
        best: tuple[tuple[int, bool], Image.Image, float, bool] | None = None
        for (p, f, j, b), image in self._items.items():
            if not (0 <= j < k or (j == k and f != flipped)) or p != png:
                continue
            carried = b * width / image.width
            if carried > blur + 0.01:
                continue
            rank = (j, f == flipped)
            if best is None or rank > best[0]:
                best = (rank, image, carried, f)
        if best is None:
            return None, 0.0, False
        return best[1], best[2], best[3]

    def _put(self, key: tuple[bytes, bool, int, float], image: Image.Image) -> Image.Image:
        self._items[key] = image
        self.bytes += nbytes(image)
        while self.bytes > self.max_bytes and len(self._items) > 1:
            self._drop(next(iter(self._items)))
        return image

    def _drop(self, key: tuple[bytes, bool, int, float]) -> None:
        gone = self._items.pop(key, None)
        if gone is not None:
            self.bytes -= nbytes(gone)


LEVELS = LevelCache()


def _level_size(size: tuple[int, int], k: int) -> tuple[int, int]:
    return (max(1, round(size[0] / 2**k)), max(1, round(size[1] / 2**k)))


@lru_cache(maxsize=64)
def _png_size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


@lru_cache(maxsize=32)
def _occupancy(png: bytes, flipped: bool) -> tuple[np.ndarray, int]:
    arr = np.asarray(LEVELS.art(png).getchannel("a"))
    if flipped:
        arr = arr[:, ::-1]
    h, w = arr.shape
    cells = (-(-w // OCCUPANCY_CELL), -(-h // OCCUPANCY_CELL))
    # A cell is occupied if any pixel in it is: a max-pool over the padded alpha.
    padded = np.zeros((cells[1] * OCCUPANCY_CELL, cells[0] * OCCUPANCY_CELL), np.uint8)
    padded[:h, :w] = arr
    pooled = padded.reshape(cells[1], OCCUPANCY_CELL, cells[0], OCCUPANCY_CELL).max(axis=(1, 3))
    return pooled > 0, OCCUPANCY_CELL


def _level_index(scale: float) -> int:
    k = 0
    while scale * 2 ** (k + 1) <= 1.0 and k < 7:
        k += 1
    return k


@dataclass(frozen=True)
class Catalog:
    masks: tuple[MaskTemplate, ...]

    def names(self) -> list[str]:
        return [m.name for m in self.masks]

    def tags(self) -> list[str]:
        return sorted({t for m in self.masks for t in m.tags})

    def get(self, name: str) -> MaskTemplate:
        for mask in self.masks:
            if mask.name == name:
                return mask
        raise UsageError(f"unknown mask {name!r}; choose from: {', '.join(self.names())}")

    def choose_pool(self, names: Sequence[str] = (), tags: Sequence[str] = ()) -> tuple[MaskTemplate, ...]:
        """The masks a run may use: named ones (any order given), else all; then narrowed by tags."""
        pool = [self.get(n) for n in dict.fromkeys(names)] if names else list(self.masks)
        if tags:
            unknown = set(tags) - set(self.tags())
            if unknown:
                raise UsageError(f"unknown tag(s) {', '.join(sorted(unknown))}; choose from: {', '.join(self.tags())}")
            pool = [m for m in pool if set(tags) & set(m.tags)]
            if not pool:
                raise UsageError(f"no mask has tag(s) {', '.join(tags)} among the chosen masks")
        return tuple(pool)


def pick(pool: Sequence[MaskTemplate], seed: int, photo_sha256: str, face_index: int) -> MaskTemplate:
    """The mask for one face: a pure function of seed, photo content and face index (reproducible)."""
    if len(pool) == 1:
        return pool[0]
    digest = hashlib.sha256(f"{seed}:{photo_sha256}:{face_index}".encode()).digest()
    return pool[int.from_bytes(digest[:8], "big") % len(pool)]


def _validate_anchors(name: str, anchors: dict, size: tuple[int, int]) -> dict[str, tuple[float, float]]:
    missing = [a for a in ANCHOR_NAMES if a not in anchors]
    if missing:
        raise MaskArtError(f"mask {name!r}: anchors missing: {', '.join(missing)}")
    out = {}
    w, h = size
    for key in ANCHOR_NAMES:
        value = anchors[key]
        if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value)):
            raise MaskArtError(f"mask {name!r}: anchor {key} must be [x, y] numbers, got {value!r}")
        x, y = float(value[0]), float(value[1])
        if not (-w <= x <= 2 * w and -h <= y <= 2 * h):
            raise MaskArtError(f"mask {name!r}: anchor {key} {value} is far outside the {w}x{h} picture")
        out[key] = (x, y)
    (lx, _), (rx, _) = out["eye_left"], out["eye_right"]
    if rx <= lx:
        raise MaskArtError(f"mask {name!r}: eye_right must be to the right of eye_left")
    if out["chin"][1] <= out["nose_bridge"][1]:
        raise MaskArtError(f"mask {name!r}: chin must be below nose_bridge")
    return out


@lru_cache(maxsize=4)
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MaskArtError(f"cannot read mask catalog {path}: {exc}") from exc
    masks = []
    for entry in data.get("masks", []):
        png = (path.parent / entry["file"]).read_bytes()
        with Image.open(io.BytesIO(png)) as image:
            size = image.size
        anchors = _validate_anchors(entry["name"], entry["anchors"], size)
        masks.append(
            MaskTemplate(
                name=entry["name"],
                title=entry.get("title", entry["name"]),
                tags=tuple(entry.get("tags", ())),
                anchors=anchors,
                png=png,
                description=entry.get("description", ""),
            )
        )
    if not masks:
        raise MaskArtError(f"mask catalog {path} lists no masks")
    return Catalog(tuple(masks))


def load_user_mask(path: Path, anchors_path: Path | None = None) -> MaskTemplate:
    """A user's own RGBA picture as a template; anchors from its opaque box or ``anchors_path``."""
    try:
        size_on_disk = path.stat().st_size
    except OSError as exc:
        raise BadMaskFile(f"cannot read mask file {path}: {exc.strerror or exc}") from exc
    if size_on_disk > MAX_USER_BYTES:
        raise BadMaskFile(
            f"mask file {path} is {size_on_disk / 1e6:.0f} MB; the limit is {MAX_USER_BYTES / 1e6:.0f} MB"
        )
    data = path.read_bytes()
    try:
        image = Image.open(io.BytesIO(data))
        w, h = image.size
        if max(w, h) > MAX_USER_SIDE:
            raise BadMaskFile(f"mask file {path} is {w}x{h}; the limit is {MAX_USER_SIDE} px per side")
        image.load()
    except BadMaskFile:
        raise
    except Image.UnidentifiedImageError as exc:
        # Pillow names the BytesIO it was given ("<_io.BytesIO object at 0x...>"): say it in our words.
        raise BadMaskFile(f"mask file {path} is not an image Pillow can read (PNG with transparency expected)") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadMaskFile(f"mask file {path} is not a readable image: {exc}") from exc
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        raise BadMaskFile(
            f"mask file {path} has no transparency ({image.mode}); save it as a PNG with an alpha channel "
            "so the face around the mask stays visible"
        )
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba, dtype=np.uint8)[..., 3]
    ys, xs = np.nonzero(alpha >= 128)
    if len(xs) == 0:
        raise BadMaskFile(f"mask file {path} is fully transparent")
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    png = buffer.getvalue()
    x0, x1, y0, y1 = float(xs.min()), float(xs.max() + 1), float(ys.min()), float(ys.max() + 1)
    sx = (x1 - x0) / (USER_BOX_X[1] - USER_BOX_X[0])
    sy = (y1 - y0) / (USER_BOX_Y[1] - USER_BOX_Y[0])
    anchors = {
        key: (x0 + (cx - USER_BOX_X[0]) * sx, y0 + (cy - USER_BOX_Y[0]) * sy) for key, (cx, cy) in CANONICAL.items()
    }
    if anchors_path is not None:
        try:
            given = json.loads(anchors_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BadMaskFile(f"cannot read anchors file {anchors_path}: {exc}") from exc
        if not isinstance(given, dict):
            raise BadMaskFile(f"anchors file {anchors_path} must hold a JSON object of name: [x, y]")
        unknown = set(given) - set(ANCHOR_NAMES)
        if unknown:
            raise BadMaskFile(f"anchors file {anchors_path}: unknown anchor(s) {', '.join(sorted(unknown))}")
        anchors.update(given)
    name = path.stem
    return MaskTemplate(
        name=f"file:{name}",
        title=name,
        tags=("custom",),
        anchors=_validate_user_anchors(name, anchors, (w, h)),
        png=png,
    )


def _validate_user_anchors(name: str, anchors: dict, size: tuple[int, int]) -> dict[str, tuple[float, float]]:
    try:
        return _validate_anchors(name, anchors, size)
    except MaskArtError as exc:
        raise BadMaskFile(str(exc)) from exc

"""The album's before/after gallery: ``index.html`` beside ``images/``, thumbnails in ``thumbs/``.

One self-contained page (its CSS and JS inlined from the files beside this
module; no CDN, no server) that works from ``file://``, from the extracted zip
and offline. The rows live in a side file, ``gallery-data.js``, loaded with
``<script src>``: browsers refuse ``fetch()`` of local files, and a separate
file keeps a 10,000-photo album's page small (the data is ~350 bytes a photo).

Thumbnails are made by the pipeline while the photo is already decoded
(``thumbnail``); this module only names, lists and indexes them.
"""

from __future__ import annotations

import html
import io
import json
import re
import webbrowser
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from batch_job.errors import PhotoError, StorageError, UsageError
from batch_job.imaging import Photo
from batch_job.storage import LocalStorage, Storage

if TYPE_CHECKING:  # pandas is heavy; the pipeline imports this module for thumbnail() alone
    import pandas as pd

THUMB_PX = 1024  # long side: sharp in the viewer on a laptop, 30-50 KB as JPEG
THUMB_QUALITY = 78
INDEX = "index.html"
DATA = "gallery-data.js"
THUMBS = "thumbs/"
GREY_MODES = ("L", "LA", "I;16", "I;16B", "I;16L", "I", "1")  # decoded modes that are black and white


@dataclass(frozen=True)
class Thumbs:
    """Small JPEGs of one photo: ``before`` only when the photo was changed (else it equals ``after``)."""

    after: bytes
    before: bytes | None = None


def thumbnail(image: Image.Image, grey: bool = False) -> bytes:
    """A JPEG whose long side is at most THUMB_PX, from an upright image (any mode)."""
    return thumb_jpeg(thumb_pixels(image), grey)


# A whole-factor reduce alone may leave the long side this far under THUMB_PX (a 4032 px photo
# reduced by 4: 1008 px): the bilinear resize after it was 40 % of a 12 MP photo's thumbnail.
THUMB_MIN_PX = 768


def thumb_pixels(image: Image.Image) -> Image.Image:
    """The thumbnail's pixels (a new image): a box reduce by a whole factor, then bilinear for the rest
    when the reduce alone would leave the long side under THUMB_MIN_PX."""
    # A box reduce by a whole factor first, then bilinear for the rest: on a 12 MP photo this is
    # about 3x faster than one bilinear resize, and as sharp (bench/thumb_cost.py).
    whole = -(-max(image.size) // THUMB_PX)
    if whole > 1 and max(image.size) / whole >= THUMB_MIN_PX:
        return image.reduce(whole)
    factor = max(image.size) // THUMB_PX
    small = image.reduce(factor) if factor > 1 else image
    k = min(1.0, THUMB_PX / max(small.size))
    size = (max(1, round(small.width * k)), max(1, round(small.height * k)))
    if size != small.size:
        return small.resize(size, Image.Resampling.BILINEAR)
    return small.copy() if small is image else small


def thumb_patched(
    small: Image.Image, image: Image.Image, boxes: Iterable[tuple[int, int, int, int]]
) -> Image.Image | None:
    """``thumb_pixels(image)``, from ``small`` (``thumb_pixels`` of the image before it changed) when the
    image changed only inside ``boxes``: the blocks those touch are reduced again and pasted in. Exact
    (a box reduce of a block-aligned crop is those blocks of the whole); None when ``small`` was not a
    whole-factor reduce of ``image``."""
    w, h = image.size
    factor = -(-max(w, h) // max(small.size))
    if factor < 2 or small.size != (-(-w // factor), -(-h // factor)) or small.mode != image.mode:
        return None
    out = small.copy()
    for x0, y0, x1, y1 in boxes:
        bx0, by0 = max(0, x0) // factor, max(0, y0) // factor
        bx1, by1 = min(out.width, -(-x1 // factor)), min(out.height, -(-y1 // factor))
        if bx1 > bx0 and by1 > by0:
            crop = (bx0 * factor, by0 * factor, min(w, bx1 * factor), min(h, by1 * factor))
            out.paste(image.crop(crop).reduce(factor), (bx0, by0))
    return out


def thumb_jpeg(small: Image.Image, grey: bool = False) -> bytes:
    """``thumb_pixels`` as the gallery's JPEG (black and white for a grey photo)."""
    small = small.convert("L" if grey or small.mode in GREY_MODES else "RGB")
    buffer = io.BytesIO()
    # optimize: ~6% smaller for one more Huffman pass; progressive would cost 3x the encode time.
    small.save(buffer, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return buffer.getvalue()


def thumb_keys(output: str, prefix: str = THUMBS) -> tuple[str, str]:
    """(after, before) keys of an output image's thumbnails; two folders, so no name can collide."""
    return f"{prefix}after/{output}.jpg", f"{prefix}before/{output}.jpg"


def thumb_files(output: str, thumbs: Thumbs | None, prefix: str = THUMBS) -> list[tuple[str, bytes]]:
    if not output or thumbs is None:
        return []
    after, before = thumb_keys(output, prefix)
    return [(after, thumbs.after)] + ([(before, thumbs.before)] if thumbs.before is not None else [])


# -- the page ----------------------------------------------------------------------------------------

FACE_FIELDS = [
    "face",
    "x",
    "y",
    "w",
    "h",
    "action",
    "mask",
    "score",
    "wearing_mask",
    "mask_score",
    "roll",
    "yaw",
    "pitch",
]
_NUMERIC = {"bytes", "width", "height", "faces_found", "faces_masked", "ms", "face", "x", "y", "w", "h"}
_FLOATS = {"score", "mask_score", "roll", "yaw", "pitch"}


def _value(column: str, value: str):
    if column in _NUMERIC:
        try:
            return int(float(value))
        except ValueError:
            return 0
    if column in _FLOATS:
        try:
            return float(value)
        except ValueError:
            return None
    if column == "wearing_mask":
        return str(value).lower() == "true"
    return value


def gallery_data(album: str, manifest: pd.DataFrame, faces: pd.DataFrame, thumbs: Iterable[str]) -> dict:
    """What the page shows, as plain JSON: rows as arrays (a 10,000-photo album stays ~3.5 MB)."""
    have = set(thumbs)
    columns = list(manifest.columns)
    by_image: dict[str, list[list]] = {}
    for face in faces.to_dict("records"):
        by_image.setdefault(face["image"], []).append([_value(c, face.get(c, "")) for c in FACE_FIELDS])
    action = FACE_FIELDS.index("action")
    rows = []
    counts = {"photos": 0, "masked": 0, "left_bare": 0, "no_faces": 0, "error": 0, "skipped": 0, "masks": 0, "faces": 0}
    for record in manifest.to_dict("records"):
        out = record.get("output", "")
        after, before = thumb_keys(out, "") if out else ("", "")
        masked = _value("faces_masked", record.get("faces_masked", "0"))
        # A "before" of a photo not changed this time is left from an earlier run: not offered.
        flags = (1 if after and THUMBS + after in have else 0) | (2 if masked and THUMBS + before in have else 0)
        photo_faces = by_image.get(record["path"], [])
        rows.append([_value(c, record.get(c, "")) for c in columns] + [flags, photo_faces])
        status = record.get("status", "")
        if status == "skipped":
            counts["skipped"] += 1
            continue
        counts["photos"] += 1
        counts["error"] += status == "error"
        counts["no_faces"] += status == "no_faces"
        counts["masked"] += masked > 0
        counts["masks"] += masked
        counts["faces"] += _value("faces_found", record.get("faces_found", "0"))
        counts["left_bare"] += any(f[action] == "left_bare" for f in photo_faces)
    return {
        "version": 1,
        "album": album,
        "counts": counts,
        "columns": columns,
        "faceColumns": FACE_FIELDS,
        "rows": rows,
    }


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def render_index(album: str) -> str:
    """The page: the template with its CSS and JS inlined (the data stays in gallery-data.js)."""
    parts = {
        "/*STYLE*/": _asset("gallery.css"),
        "/*SCRIPT*/": _asset("gallery.js"),
        "{{TITLE}}": html.escape(album),
    }
    # One pass, so an album named like a placeholder is never expanded.
    return re.sub(r"/\*STYLE\*/|/\*SCRIPT\*/|\{\{TITLE\}\}", lambda m: parts[m.group(0)], _asset("template.html"))


def data_script(data: dict) -> bytes:
    # A script, not JSON: <script src> works from file://, fetch() of a local file does not.
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return ("window.MASKALBUM_DATA=" + blob + ";\n").encode("utf-8")


def write_gallery(dest: Storage, root: str, album: str, manifest: pd.DataFrame, faces: pd.DataFrame) -> list[str]:
    """Write index.html and gallery-data.js under ``root`` (the folder holding images/); returns their keys."""
    thumbs = [k[len(root) :] for k in dest.list(root + THUMBS)]
    data = gallery_data(album, manifest, faces, thumbs)
    dest.write(root + DATA, data_script(data), "application/javascript")
    dest.write(root + INDEX, render_index(album).encode("utf-8"), "text/html; charset=utf-8")
    # Only the thumbnails of this manifest's outputs (a rerun may have left others behind).
    used = []
    for row in data["rows"]:
        out, flags = row[data["columns"].index("output")], row[-2]
        after, before = thumb_keys(out, root + THUMBS)
        used += ([after] if flags & 1 else []) + ([before] if flags & 2 else [])
    return [root + INDEX, root + DATA, *used]


def rebuild(out_dir: Path) -> Path:
    """``maskalbum gallery OUT_DIR``: the page again for an existing output; missing thumbnails are made
    from images/ (the originals are not in the output, so such photos show no "before")."""
    import pandas as pd

    manifest_path = out_dir / "manifest.csv"
    if not manifest_path.is_file():
        raise UsageError(f"{out_dir} has no manifest.csv: give a folder that `maskalbum run` wrote")
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    faces_path = out_dir / "faces.csv"
    faces = (
        pd.read_csv(faces_path, dtype=str, keep_default_na=False)
        if faces_path.is_file()
        else pd.DataFrame(columns=["image"])
    )
    dest = LocalStorage(out_dir)
    for out in manifest.get("output", pd.Series(dtype=str)):
        after, _before = thumb_keys(out) if out else ("", "")
        if not out or dest.exists(after) or not dest.exists("images/" + out):
            continue
        try:
            dest.write(after, thumbnail(Photo(dest.read("images/" + out)).at_most(THUMB_PX)[0]), "image/jpeg")
        except (PhotoError, StorageError):
            continue  # the page falls back to the full image
    write_gallery(dest, "", album_name(out_dir), manifest, faces)
    return out_dir / INDEX


def album_name(out_dir: Path) -> str:
    zips = sorted(out_dir.glob("*-masked.zip"))
    if zips:
        return zips[0].name[: -len("-masked.zip")]
    name = out_dir.resolve().name
    return name.removesuffix("-masked")


def open_in_browser(page: Path) -> bool:
    """Open a gallery page in the default browser; False when there is none (a server, CI)."""
    return webbrowser.open(page.resolve().as_uri())

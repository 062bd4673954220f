"""How maskalbum does on real, labelled photos: runs the real CLI, then matches its faces.csv to the labels.

    python -m bench.real_photos DIR [--out OUT] [--limit N] [--json FILE] [--reuse] [-- extra run args]

DIR holds ``images/NNN.jpg`` (or .jpeg, .png) and ``labels/NNN.txt`` (YOLO: ``class cx cy w h``
relative to the photo; class 1 = a face wearing a mask, class 0 = a bare face),
as built by ../shared/devset/build.py. The photos keep their photographers'
copyright: measure on them, never commit them or anything that reproduces them
(this script writes only figures, and per-face rows without pixels).

What it does, in order:

1. ``maskalbum run ALBUM --out OUT --json`` in a subprocess, exactly as a user
   runs it (ALBUM is DIR/images, or a temporary copy of its first N photos with
   ``--limit``); the wall time over the photo count is "s/photo (wall)", the
   manifest's summed ``ms`` over the count is "s/photo (work)" (one worker's
   time per photo, not divided by the worker count).
2. Matching, per photo: a labelled box L and a faces.csv box D are a pair when
   IoU(L, D) >= 0.3, or when each box's centre lies inside the other (a
   detector box that includes the forehead and a tight label box can have a low
   IoU and still be the same head). Pairs are taken greedily, best first
   (IoU-pairs by IoU, then centre-pairs by centre distance over the label's
   width), one detection per label. A detection left over whose centre lies in
   an already matched label's box is a *second detection of one face*; any
   other leftover matches no labelled face.
3. Per labelled masked face: ``replaced``, ``left_bare``, ``too_small`` or
   any other faces.csv action of its detection, ``not_found`` (no detection),
   or ``error`` (the photo's manifest row is an error). Per bare face: given a
   mask when its detection's action is ``replaced``.
4. Mask still visible, for replaced masked faces. The worn mask is segmented
   in the ORIGINAL photo, inside the labelled box: the lower region (rows
   0.45-1.0 of the box height, columns 0.08-0.92 of its width) against the
   face's own skin, taken as the median CIE Lab colour of the skin-like pixels
   in the upper region (rows 0.15-0.45, columns 0.2-0.8). A lower-region pixel
   is worn mask when its distance from that skin colour (a, b in full, L at
   half weight) exceeds 20, or - with no skin-like pixels up there - when it
   is light and grey (L > 60, chroma < 20: a white or pale surgical mask).
   Faces with fewer than 30 such pixels are left out of the figure. A mask
   pixel is *still visible* when the output differs from the original there by
   at most 16 levels in every channel (JPEG re-encoding moves untouched pixels
   by a few levels; a painted monster mask moves them by far more). Visible
   share = still-visible mask pixels / mask pixels. "light" is the same over
   the light, grey pixels only (the issue's first measure, white masks).
   A second definition, "face" (``visible_face``), counts only the part of
   that segmentation a worn mask can be: inside the ellipse inscribed in the
   labelled box, and connected (8-neighbours) to the mask pixels round the
   mouth (rows 0.6-0.85, columns 0.3-0.7 of the box). The box's lower corners
   hold collars, shirts, hair and background that differ from skin; the
   first definition counts them as worn mask (on a black mask, a white collar
   is all its "light" pixels). Both are reported side by side.
5. Buckets by the labelled face width in pixels: < 12, 12-24, 24-40, 40-80,
   80-160, >= 160; "all >= 12" and ">= 40" are summary rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BUCKETS = ((0, 12), (12, 24), (24, 40), (40, 80), (80, 160), (160, 10**9))
MATCH_IOU = 0.3
LOWER_ROWS, LOWER_COLS = (0.45, 1.0), (0.08, 0.92)
UPPER_ROWS, UPPER_COLS = (0.15, 0.45), (0.2, 0.8)
MASK_DELTA = 20.0
UNCHANGED_LEVELS = 16
MIN_MASK_PIXELS = 30
# The "face" definition's seed: where the mouth is in a labelled box, so where any face mask is.
MOUTH_ROWS, MOUTH_COLS = (0.6, 0.85), (0.3, 0.7)


@dataclass
class Label:
    index: int
    masked: bool
    x: float
    y: float
    w: float
    h: float

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px <= self.x + self.w and self.y <= py <= self.y + self.h


@dataclass
class FaceOutcome:
    photo: str
    label: int
    masked: bool
    width: float
    outcome: str
    detection: int | None = None
    iou: float = 0.0
    mask_score: float | None = None
    visible: float | None = None
    visible_light: float | None = None
    visible_face: float | None = None
    visible_face_light: float | None = None


@dataclass
class PhotoOutcome:
    photo: str
    status: str
    reason: str
    ms: int
    faces: list[FaceOutcome] = field(default_factory=list)
    unmatched_painted: list[dict] = field(default_factory=list)
    second_on_face: list[dict] = field(default_factory=list)
    out: str = ""  # maskalbum's output folder this photo went to


def bucket_name(lo: int, hi: int) -> str:
    if lo == 0:
        return f"<{hi}"
    return f">={lo}" if hi >= 10**9 else f"{lo}-{hi}"


def bucket_of(width: float) -> str:
    for lo, hi in BUCKETS:
        if lo <= width < hi:
            return bucket_name(lo, hi)
    raise ValueError(width)


def image_paths(data_dir: Path) -> dict[str, Path]:
    """stem -> photo path (the set mixes .jpg, .jpeg and .png)."""
    return {p.stem: p for p in sorted((data_dir / "images").iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")}


def read_labels(path: Path, size: tuple[int, int]) -> list[Label]:
    w, h = size
    out = []
    if not path.exists():
        return out
    for i, line in enumerate(path.read_text().split("\n")):
        parts = line.split()
        if len(parts) != 5:
            continue
        cls, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:])
        out.append(Label(i, cls == 1, (cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h))
    return out


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(labels: list[Label], rows: list[dict]) -> dict[int, tuple[int, float]]:
    """label index -> (row position, IoU); greedy one-to-one as the module docstring says."""
    pairs = []
    for li, lab in enumerate(labels):
        lb = (lab.x, lab.y, lab.w, lab.h)
        for ri, r in enumerate(rows):
            db = (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
            o = iou(lb, db)
            dcx, dcy = db[0] + db[2] / 2, db[1] + db[3] / 2
            lcx, lcy = lab.x + lab.w / 2, lab.y + lab.h / 2
            mutual = lab.contains(dcx, dcy) and db[0] <= lcx <= db[0] + db[2] and db[1] <= lcy <= db[1] + db[3]
            if o >= MATCH_IOU:
                pairs.append((0, -o, li, ri, o))
            elif mutual:
                pairs.append((1, float(np.hypot(dcx - lcx, dcy - lcy)) / max(lab.w, 1.0), li, ri, o))
    pairs.sort()
    taken_l: dict[int, tuple[int, float]] = {}
    taken_r: set[int] = set()
    for _, _, li, ri, o in pairs:
        if li in taken_l or ri in taken_r:
            continue
        taken_l[li] = (ri, o)
        taken_r.add(ri)
    return taken_l


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in 0..1 (... x 3) to CIE Lab (D65)."""
    c = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _skin_like(lab: np.ndarray) -> np.ndarray:
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1]))
    return (lab[..., 0] > 12) & (lab[..., 0] < 96) & (chroma > 7) & (chroma < 60) & (hue > 22) & (hue < 88)


def _region(arr: np.ndarray, lab: Label, rows: tuple[float, float], cols: tuple[float, float]) -> tuple[slice, slice]:
    h, w = arr.shape[:2]
    y0, y1 = int(round(lab.y + rows[0] * lab.h)), int(round(lab.y + rows[1] * lab.h))
    x0, x1 = int(round(lab.x + cols[0] * lab.w)), int(round(lab.x + cols[1] * lab.w))
    return slice(max(0, y0), max(0, min(h, y1))), slice(max(0, x0), max(0, min(w, x1)))


def worn_mask(original: np.ndarray, lab: Label) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]] | None:
    """(mask pixels, light mask pixels, region) of the worn mask in the lower face; None when too few."""
    lower = _region(original, lab, LOWER_ROWS, LOWER_COLS)
    upper = _region(original, lab, UPPER_ROWS, UPPER_COLS)
    lo = srgb_to_lab(original[lower].astype(np.float64) / 255.0)
    up = srgb_to_lab(original[upper].astype(np.float64) / 255.0).reshape(-1, 3)
    if lo.size == 0:
        return None
    light = (lo[..., 0] > 60) & (np.hypot(lo[..., 1], lo[..., 2]) < 20)
    skin = up[_skin_like(up)]
    if len(skin) >= 10:
        ref = np.median(skin, axis=0)
        d = lo - ref
        mask = np.sqrt((0.5 * d[..., 0]) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2) > MASK_DELTA
    else:
        mask = light
    if mask.sum() < MIN_MASK_PIXELS:
        return None
    return mask, mask & light, lower


def face_part(mask: np.ndarray, lab: Label, region: tuple[slice, slice]) -> np.ndarray:
    """The part of ``mask`` (the lower region's worn-mask pixels) that a worn mask can be: inside the
    ellipse inscribed in the labelled box and connected to the mask pixels round the mouth."""
    import cv2

    ys = np.arange(region[0].start, region[0].stop)[:, None] + 0.5
    xs = np.arange(region[1].start, region[1].stop)[None, :] + 0.5
    u = (xs - (lab.x + lab.w / 2)) / (lab.w / 2)
    v = (ys - (lab.y + lab.h / 2)) / (lab.h / 2)
    inside = mask & (u * u + v * v <= 1.0)
    rel_x, rel_y = (xs - lab.x) / lab.w, (ys - lab.y) / lab.h
    mouth = (MOUTH_COLS[0] <= rel_x) & (rel_x <= MOUTH_COLS[1]) & (MOUTH_ROWS[0] <= rel_y) & (rel_y <= MOUTH_ROWS[1])
    count, labels = cv2.connectedComponents(inside.astype(np.uint8), connectivity=8)
    touched = np.zeros(count, dtype=bool)
    touched[labels[inside & mouth]] = True
    touched[0] = False
    return touched[labels]


def still_visible(original: np.ndarray, output: np.ndarray, lab: Label) -> dict[str, float | None] | None:
    """Shares of the worn mask still visible: "visible"/"visible_light" (the lower region's pixels
    unlike skin) and "visible_face"/"visible_face_light" (only those in the face, see face_part)."""
    seg = worn_mask(original, lab)
    if seg is None:
        return None
    mask, light, region = seg
    same = np.abs(original[region].astype(np.int16) - output[region].astype(np.int16)).max(axis=-1) <= UNCHANGED_LEVELS
    face = face_part(mask, lab, region)

    def share(pixels: np.ndarray) -> float | None:
        return float(same[pixels].mean()) if pixels.sum() >= MIN_MASK_PIXELS else None

    return {
        "visible": float(same[mask].mean()),
        "visible_light": share(light),
        "visible_face": share(face),
        "visible_face_light": share(face & light),
    }


def run_cli(album: Path, out: Path, extra: list[str], env: dict | None = None) -> float:
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "cli", "run", str(album), "--out", str(out), "--json", *extra]
    print("$", " ".join(cmd), file=sys.stderr)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1) or not (out / "faces.csv").exists():
        # 1 is "finished, some photos failed"; anything else is the run itself failing.
        sys.exit(f"maskalbum run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def evaluate(data_dir: Path, out: Path, photos: list[str]) -> list[PhotoOutcome]:
    manifest = {Path(r["path"]).stem: r for r in _read_csv(out / "manifest.csv")}
    rows_by_photo: dict[str, list[dict]] = defaultdict(list)
    for r in _read_csv(out / "faces.csv"):
        rows_by_photo[Path(r["image"]).stem].append(r)
    results = []
    for stem in photos:
        image_path = image_paths(data_dir)[stem]
        m = manifest.get(stem, {"status": "missing", "reason": "no manifest row", "ms": "0", "output": ""})
        with Image.open(image_path) as im:
            size = im.size
            original = None
        labels = read_labels(data_dir / "labels" / f"{stem}.txt", size)
        rows = rows_by_photo.get(stem, [])
        res = PhotoOutcome(stem, m["status"], m["reason"], int(m["ms"] or 0), out=str(out))
        pairs = match(labels, rows) if m["status"] != "error" else {}
        output = None
        for li, lab in enumerate(labels):
            fo = FaceOutcome(stem, lab.index, lab.masked, round(lab.w, 1), "not_found")
            if m["status"] == "error":
                fo.outcome = "error"
            elif li in pairs:
                ri, o = pairs[li]
                r = rows[ri]
                fo.outcome, fo.detection, fo.iou, fo.mask_score = (
                    r["action"],
                    int(r["face"]),
                    round(o, 3),
                    float(r["mask_score"]),
                )
                if lab.masked and r["action"] == "replaced" and m.get("output"):
                    if original is None:
                        original = np.asarray(Image.open(image_path).convert("RGB"))
                        output = np.asarray(Image.open(out / "images" / m["output"]).convert("RGB"))
                    vis = still_visible(original, output, lab) if output.shape == original.shape else None
                    for name, value in (vis or {}).items():
                        setattr(fo, name, None if value is None else round(value, 4))
            res.faces.append(fo)
        matched_rows = {ri for ri, _ in pairs.values()}
        for ri, r in enumerate(rows):
            if ri in matched_rows or r["action"] != "replaced":
                continue
            cx, cy = float(r["x"]) + float(r["w"]) / 2, float(r["y"]) + float(r["h"]) / 2
            info = {
                "photo": stem,
                "face": int(r["face"]),
                "box": [int(r[k]) for k in "xywh"],
                "mask_score": float(r["mask_score"]),
            }
            if any(labels[li].contains(cx, cy) for li in pairs):
                res.second_on_face.append(info)
            else:
                res.unmatched_painted.append(info)
        results.append(res)
    return results


def summarise(results: list[PhotoOutcome], wall: float | None) -> dict:
    faces = [f for r in results for f in r.faces]
    n_photos = len(results)
    table: dict[str, dict] = {}
    groups = [(bucket_name(lo, hi), lambda f, lo=lo, hi=hi: lo <= f.width < hi) for lo, hi in BUCKETS]
    groups += [("all >=12", lambda f: f.width >= 12), (">=40", lambda f: f.width >= 40)]
    for name, pred in groups:
        masked = [f for f in faces if f.masked and pred(f)]
        bare = [f for f in faces if not f.masked and pred(f)]
        counts = Counter(f.outcome for f in masked)
        vis = [f.visible for f in masked if f.visible is not None]
        vis_light = [f.visible_light for f in masked if f.visible_light is not None]
        vis_face = [f.visible_face for f in masked if f.visible_face is not None]
        vis_face_light = [f.visible_face_light for f in masked if f.visible_face_light is not None]
        table[name] = {
            "masked": len(masked),
            "outcomes": dict(counts),
            "replaced_share": round(counts["replaced"] / len(masked), 4) if masked else None,
            "bare": len(bare),
            "bare_given_mask": sum(f.outcome == "replaced" for f in bare),
            "bare_given_mask_share": round(sum(f.outcome == "replaced" for f in bare) / len(bare), 4) if bare else None,
            "visible_median": round(float(np.median(vis)), 4) if vis else None,
            "visible_p90": round(float(np.percentile(vis, 90)), 4) if vis else None,
            "visible_light_median": round(float(np.median(vis_light)), 4) if vis_light else None,
            "visible_light_p90": round(float(np.percentile(vis_light, 90)), 4) if vis_light else None,
            "visible_n": len(vis),
            "visible_face_median": round(float(np.median(vis_face)), 4) if vis_face else None,
            "visible_face_p90": round(float(np.percentile(vis_face, 90)), 4) if vis_face else None,
            "visible_face_light_median": round(float(np.median(vis_face_light)), 4) if vis_face_light else None,
            "visible_face_light_p90": round(float(np.percentile(vis_face_light, 90)), 4) if vis_face_light else None,
            "visible_face_n": len(vis_face),
        }
    painted = sum(1 for r in results for f in r.faces if f.outcome == "replaced")
    unmatched = sum(len(r.unmatched_painted) for r in results)
    second = sum(len(r.second_on_face) for r in results)
    return {
        "photos": n_photos,
        "error_rows": sum(r.status == "error" for r in results),
        "errors": [{"photo": r.photo, "reason": r.reason} for r in results if r.status == "error"],
        "seconds_per_photo_wall": round(wall / n_photos, 3) if wall and n_photos else None,
        "seconds_per_photo_work": round(sum(r.ms for r in results) / 1000 / n_photos, 3) if n_photos else None,
        "painted_on_labelled_faces": painted,
        "painted_matching_no_label": unmatched,
        "painted_second_on_one_face": second,
        "buckets": table,
    }


def contact_sheets(data_dir: Path, results: list[PhotoOutcome], stems: list[str], dest: Path) -> list[Path]:
    """Outputs with boxes drawn, 4 photos per sheet (for looking, never committed).

    Labels: masked thin cyan, bare thin yellow. Detections (faces.csv): replaced
    green, matching no label red, a second one on a labelled face magenta,
    left bare / too small grey.
    """
    from PIL import ImageDraw

    dest.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    rows_by_photo: dict[str, list[dict]] = defaultdict(list)
    for folder in {Path(r.out) for r in results}:
        manifest.update({Path(r["path"]).stem: {**r, "folder": folder} for r in _read_csv(folder / "manifest.csv")})
        for r in _read_csv(folder / "faces.csv"):
            rows_by_photo[Path(r["image"]).stem].append(r)
    by_stem = {r.photo: r for r in results}
    tiles = []
    for stem in stems:
        m = manifest.get(stem)
        if m is None or not m.get("output") or stem not in by_stem:
            continue
        im = Image.open(m["folder"] / "images" / m["output"]).convert("RGB")
        draw = ImageDraw.Draw(im)
        lw = max(1, round(max(im.size) / 600))
        for lab in read_labels(data_dir / "labels" / f"{stem}.txt", im.size):
            draw.rectangle(
                (lab.x, lab.y, lab.x + lab.w, lab.y + lab.h),
                outline=(0, 220, 255) if lab.masked else (255, 230, 0),
                width=lw,
            )
        res = by_stem[stem]
        unmatched = {u["face"] for u in res.unmatched_painted}
        second = {u["face"] for u in res.second_on_face}
        for r in rows_by_photo.get(stem, []):
            x, y, w, h = (int(r[k]) for k in "xywh")
            face = int(r["face"])
            colour = (
                (255, 0, 0)
                if face in unmatched
                else (255, 0, 255)
                if face in second
                else (0, 255, 0)
                if r["action"] == "replaced"
                else (128, 128, 128)
            )
            draw.rectangle((x - 2 * lw, y - 2 * lw, x + w + 2 * lw, y + h + 2 * lw), outline=colour, width=lw * 2)
        im.thumbnail((1000, 1000))
        tiles.append((stem, im))
    sheets = []
    for i in range(0, len(tiles), 4):
        group = tiles[i : i + 4]
        sheet = Image.new("RGB", (2000, 2000), (40, 40, 40))
        draw = ImageDraw.Draw(sheet)
        for j, (stem, im) in enumerate(group):
            ox, oy = (j % 2) * 1000, (j // 2) * 1000
            sheet.paste(im, (ox, oy))
            draw.text((ox + 5, oy + 5), stem, fill=(255, 255, 255))
        path = dest / f"sheet_{i // 4:02d}.png"
        sheet.save(path)
        sheets.append(path)
    return sheets


def suspect_crops(data_dir: Path, results: list[PhotoOutcome], dest: Path, tile: int = 128) -> list[Path]:
    """Every painted detection that matches no label (red frame) or is a second one on a labelled
    face (magenta), cut from the ORIGINAL photo with one box of context each side, on grids of 8 x 8."""
    from PIL import ImageDraw

    dest.mkdir(parents=True, exist_ok=True)
    paths = image_paths(data_dir)
    items = [(u, (255, 0, 0)) for r in results for u in r.unmatched_painted]
    items += [(u, (255, 0, 255)) for r in results for u in r.second_on_face]
    sheets = []
    for start in range(0, len(items), 64):
        sheet = Image.new("RGB", (8 * tile, 8 * tile), (40, 40, 40))
        draw = ImageDraw.Draw(sheet)
        for j, (u, colour) in enumerate(items[start : start + 64]):
            x, y, w, h = u["box"]
            side = max(w, h) * 3
            cx, cy = x + w / 2, y + h / 2
            with Image.open(paths[u["photo"]]) as im:
                crop = im.convert("RGB").crop(
                    (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
                )
            crop = crop.resize((tile, tile))
            k = tile / side
            ox, oy = (j % 8) * tile, (j // 8) * tile
            sheet.paste(crop, (ox, oy))
            draw.rectangle(
                (
                    ox + tile / 2 - w * k / 2,
                    oy + tile / 2 - h * k / 2,
                    ox + tile / 2 + w * k / 2,
                    oy + tile / 2 + h * k / 2,
                ),
                outline=colour,
            )
            draw.text((ox + 2, oy + 2), f"{u['photo']}:{u['face']}", fill=(255, 255, 255))
        path = dest / f"suspects_{start // 64:02d}.png"
        sheet.save(path)
        sheets.append(path)
    return sheets


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def print_table(s: dict) -> None:
    kinds = sorted(
        {k for b in s["buckets"].values() for k in b["outcomes"]} - {"replaced", "left_bare", "too_small", "not_found"}
    )
    cols = ["replaced", "left_bare", "too_small", "not_found", *kinds]
    head = f"{'width px':>9} {'masked':>6} " + " ".join(f"{c:>10}" for c in cols)
    head += f" {'repl%':>6} {'bare':>5} {'bare→mask':>9} {'vis med':>7} {'vis p90':>7} {'light med/p90':>13}"
    head += f" {'face med/p90':>13} {'face light':>13}"
    print(head)
    for name, b in s["buckets"].items():
        line = f"{name:>9} {b['masked']:>6} " + " ".join(f"{b['outcomes'].get(c, 0):>10}" for c in cols)
        line += f" {_pct(b['replaced_share']):>6} {b['bare']:>5} {b['bare_given_mask']:>4}"
        line += f" {_pct(b['bare_given_mask_share']):>5}"
        line += f" {_pct(b['visible_median']):>7} {_pct(b['visible_p90']):>7}"
        line += f" {_pct(b['visible_light_median']):>6}/{_pct(b['visible_light_p90']):>6}"
        line += f" {_pct(b.get('visible_face_median')):>6}/{_pct(b.get('visible_face_p90')):>6}"
        line += f" {_pct(b.get('visible_face_light_median')):>6}/{_pct(b.get('visible_face_light_p90')):>6}"
        print(line)
    print(
        f"photos {s['photos']}; error rows {s['error_rows']}; s/photo wall {s['seconds_per_photo_wall']}, "
        f"work {s['seconds_per_photo_work']}; painted on labelled faces {s['painted_on_labelled_faces']}, "
        f"matching no label {s['painted_matching_no_label']}, second on one face {s['painted_second_on_one_face']}"
    )
    for e in s["errors"]:
        print(f"  error {e['photo']}: {e['reason'].splitlines()[0]}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir", type=Path, help="the labelled set (images/, labels/)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "real_photos", help="maskalbum's output folder")
    p.add_argument("--limit", type=int, default=0, help="only the first N photos (by name)")
    p.add_argument("--json", type=Path, help="write the figures (and per-face outcomes) here")
    p.add_argument(
        "--folds",
        type=Path,
        help="cross-validate end to end: fold_K.txt/.onnx from bench/train_wearing.py --export-folds",
    )
    p.add_argument("--reuse", action="store_true", help="analyse an existing --out, do not run maskalbum")
    p.add_argument(
        "--sheets", type=Path, help="also draw contact sheets of the crowd photos (>= 6 labelled faces) here"
    )
    p.add_argument("--sheet-count", type=int, default=40, help="how many crowd photos go on the sheets")
    args = p.parse_args(argv)
    photos = sorted(image_paths(args.dir))
    if args.limit:
        photos = photos[: args.limit]
    wall = None
    if args.folds:
        # Cross-validated end to end: each fold's photos run with the wearing model
        # fitted without them (bench/train_wearing.py --export-folds).
        results, wall = [], 0.0
        for listing in sorted(args.folds.glob("fold_*.txt")):
            held = [s for s in listing.read_text().split() if s in set(photos)]
            out = args.out / listing.stem
            if not args.reuse:
                with tempfile.TemporaryDirectory(prefix="maskalbum-real-") as tmp:
                    album = Path(tmp) / "album"
                    album.mkdir()
                    for stem in held:
                        src = image_paths(args.dir)[stem]
                        shutil.copy(src, album / src.name)
                    env = {**os.environ, "MASKALBUM_BENCH_WEARING_MODEL": str(listing.with_suffix(".onnx"))}
                    wall += run_cli(album, out, extra, env)
            results += evaluate(args.dir, out, held)
        summary = summarise(results, wall or None)
    if not args.folds and not args.reuse:
        with tempfile.TemporaryDirectory(prefix="maskalbum-real-") as tmp:
            album = args.dir / "images"
            if args.limit:
                album = Path(tmp) / "album"
                album.mkdir()
                for stem in photos:
                    src = image_paths(args.dir)[stem]
                    shutil.copy(src, album / src.name)
            wall = run_cli(album, args.out, extra)
    if not args.folds:
        results = evaluate(args.dir, args.out, photos)
        summary = summarise(results, wall)
    summary["command"] = (
        "python -m bench.real_photos "
        + " ".join(sys.argv[1:] if argv is None else argv)
        + (" -- " + " ".join(extra) if extra else "")
    )
    print_table(summary)
    if args.sheets:
        crowds = [r.photo for r in results if len(r.faces) >= 6][: args.sheet_count]
        for path in contact_sheets(args.dir, results, crowds, args.sheets):
            print("sheet", path)
        for path in suspect_crops(args.dir, results, args.sheets):
            print("suspects", path)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        detail = {
            "summary": summary,
            "faces": [asdict(f) for r in results for f in r.faces],
            "unmatched_painted": [u for r in results for u in r.unmatched_painted],
            "second_on_face": [u for r in results for u in r.second_on_face],
        }
        args.json.write_text(json.dumps(detail, indent=1))


if __name__ == "__main__":
    main()

"""Before/after sheets of the hardest real faces: the labelled face in the original and in one or more outputs.

    python -m bench.sheets DIR OUT_A [OUT_B ...] [--json real.json] [--show-visible [--definition box|face]]
                           [--pick worst|worst_light|small|profile|down|coloured|all]
                           [--count 24] [--cell 220] [--sheet bench/out/sheets/worst.png]

DIR is the labelled set (images/, labels/; see bench/real_photos.py), each
OUT a ``maskalbum run`` output folder (images/, faces.csv) for those photos, or a
``bench.real_photos --folds`` output holding one such folder per fold.
``--json`` is bench/real_photos.py's ``--json`` for the LAST output: it gives
the share of the worn mask still visible per face, which ``worst`` sorts by
(``worst_light``: its light pixels only, the issue's first measure).
Each row is one labelled masked face: the original, then each output, cut
around the face with room below the chin (where KN95s and cloth masks reach)
and enlarged to ``--cell`` px so that 15 px crowd faces can be judged.

The sheets reproduce the photos: write them under bench/out/ (ignored by git)
and never commit them.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.real_photos import UNCHANGED_LEVELS, Label, face_part, match, read_labels, srgb_to_lab, worn_mask

ROOT = Path(__file__).resolve().parent.parent

PICKS = ("worst", "worst_light", "small", "profile", "down", "coloured", "all")


def _folders(out: Path) -> list[Path]:
    """An output folder, or the fold_K folders under it (bench/real_photos.py --folds)."""
    if (out / "faces.csv").exists():
        return [out]
    return sorted(f for f in out.glob("fold_*") if (f / "faces.csv").exists())


def _rows(out: Path) -> dict[str, list[dict]]:
    by_photo: dict[str, list[dict]] = {}
    for folder in _folders(out):
        with (folder / "faces.csv").open(newline="") as f:
            for r in csv.DictReader(f):
                by_photo.setdefault(Path(r["image"]).stem, []).append(r)
    return by_photo


def _output(out: Path, stem: str) -> Path:
    for folder in _folders(out):
        if (folder / "images" / f"{stem}.jpg").exists():
            return folder / "images" / f"{stem}.jpg"
    return out / "images" / f"{stem}.jpg"


def _crop(image: Image.Image, lab: Label, cell: int) -> Image.Image:
    # The face and what a mask can reach: half a face to each side, most of one below.
    x0, x1 = lab.x - 0.5 * lab.w, lab.x + 1.5 * lab.w
    y0, y1 = lab.y - 0.3 * lab.h, lab.y + 1.7 * lab.h
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    # Nearest-neighbour above 3x so that single pixels of a tiny face stay visible as pixels.
    resample = Image.Resampling.NEAREST if cell / side > 3 else Image.Resampling.LANCZOS
    return image.crop(box).resize((cell, cell), resample)


def _chroma(image: Image.Image, lab: Label) -> float:
    box = (int(lab.x + 0.3 * lab.w), int(lab.y + 0.6 * lab.h), int(lab.x + 0.7 * lab.w), int(lab.y + 0.85 * lab.h))
    if box[2] <= box[0] or box[3] <= box[1]:
        return 0.0
    px = np.asarray(image.crop(box).convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
    lab_px = np.median(srgb_to_lab(px), axis=0)
    # Coloured: chroma, or a dark mask (black cloth) which has none.
    return float(np.hypot(lab_px[1], lab_px[2]) + max(0.0, 45 - lab_px[0]))


def _mark_visible(original_path: Path, output: Image.Image, lab: Label, definition: str = "box") -> Image.Image:
    """The output with bench/real_photos.py's "still visible" worn-mask pixels in red, its segmentation in cyan
    dots; ``definition`` "face" counts only the part in the face (real_photos.face_part), "box" all of it."""
    with Image.open(original_path) as im:
        original = np.asarray(im.convert("RGB"))
    out = np.asarray(output).copy()
    seg = worn_mask(original, lab)
    if seg is None or out.shape != original.shape:
        return output
    mask, _, region = seg
    if definition == "face":
        mask = face_part(mask, lab, region)
    same = np.abs(original[region].astype(np.int16) - out[region].astype(np.int16)).max(axis=-1) <= UNCHANGED_LEVELS
    view = out[region]
    view[mask & same] = (255, 0, 0)
    dots = mask & ~same
    dots[::2, :] = False
    dots[:, ::2] = False
    view[dots] = (0, 255, 255)
    out[region] = view
    return Image.fromarray(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir", type=Path)
    p.add_argument("outs", type=Path, nargs="+")
    p.add_argument("--json", type=Path)
    p.add_argument("--pick", choices=PICKS, default="worst")
    p.add_argument("--count", type=int, default=24)
    p.add_argument("--cell", type=int, default=220)
    p.add_argument("--per-row", type=int, default=3, help="faces side by side")
    p.add_argument(
        "--show-visible",
        action="store_true",
        help="mark the worn-mask pixels bench/real_photos.py counts as still visible (red)",
    )
    p.add_argument(
        "--definition",
        choices=("box", "face"),
        default="box",
        help="which worn-mask segmentation --show-visible marks and worst/worst_light sort by: the labelled "
        "box's lower region (box) or its part in the face (face; bench/real_photos.py face_part)",
    )
    p.add_argument("--min-width", type=float, default=12.0)
    p.add_argument("--faces", help="only these labelled faces, e.g. 071#2,132#2 (photo#label), in this order")
    p.add_argument("--sheet", type=Path, default=ROOT / "bench" / "out" / "sheets" / "sheet.png")
    args = p.parse_args(argv)

    rows = [_rows(o) for o in args.outs]
    visible, light = {}, {}
    if args.json:
        for f in json.loads(args.json.read_text())["faces"]:
            suffix = "_face" if args.definition == "face" else ""
            visible[(f["photo"], f["label"])] = f.get(f"visible{suffix}")
            light[(f["photo"], f["label"])] = f.get(f"visible{suffix}_light")
    candidates = []
    for image_path in sorted((args.dir / "images").glob("*.jpg")):
        stem = image_path.stem
        with Image.open(image_path) as im:
            size = im.size
        labels = [
            lab
            for lab in read_labels(args.dir / "labels" / f"{stem}.txt", size)
            if lab.masked and lab.w >= args.min_width
        ]
        if not labels:
            continue
        last = rows[-1].get(stem, [])
        pairs = match(labels, last)
        for li, lab in enumerate(labels):
            row = last[pairs[li][0]] if li in pairs else None
            candidates.append((stem, lab, row))

    def key(c) -> float:
        stem, lab, row = c
        if args.pick == "worst":
            v = visible.get((stem, lab.index))
            return -(v if v is not None else (0.5 if row is None or row["action"] != "replaced" else 0.0))
        if args.pick == "worst_light":
            v = light.get((stem, lab.index))
            return -(v if v is not None else 0.0)
        if args.pick == "small":
            return lab.w
        if args.pick == "profile":
            return -abs(float(row["yaw"])) if row else 0.0
        if args.pick == "down":
            return float(row["pitch"]) if row else 0.0
        if args.pick == "coloured":
            with Image.open(args.dir / "images" / f"{stem}.jpg") as im:
                return -_chroma(im.convert("RGB"), lab)
        return 0.0

    chosen = sorted(candidates, key=key)[: args.count] if args.pick != "all" else candidates[: args.count]
    if args.faces:
        wanted = [tuple(f.split("#")) for f in args.faces.split(",")]
        by_face = {(stem, str(lab.index)): (stem, lab, row) for stem, lab, row in candidates}
        chosen = [by_face[w] for w in wanted if w in by_face]
    cell, label_h, pad = args.cell, 16, 6
    columns = 1 + len(args.outs)
    per_row = max(1, args.per_row)
    group_w = columns * (cell + 2) + 2 * pad
    n_rows = -(-len(chosen) // per_row)
    sheet = Image.new("RGB", (per_row * group_w + pad, n_rows * (cell + label_h + pad) + pad), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for n, (stem, lab, row) in enumerate(chosen):
        x = pad + (n % per_row) * group_w
        y = pad + (n // per_row) * (cell + label_h + pad)
        v = visible.get((stem, lab.index))
        what = row["action"] if row else "not found"
        yaw = f" yaw {float(row['yaw']):.0f}" if row else ""
        text = f"{stem} #{lab.index} {lab.w:.0f}px {what}{yaw}" + (f" vis {100 * v:.0f}%" if v is not None else "")
        draw.text((x, y), text, fill=(230, 230, 230))
        sources = [args.dir / "images" / f"{stem}.jpg"] + [_output(o, stem) for o in args.outs]
        for c, path in enumerate(sources):
            if path.exists():
                with Image.open(path) as im:
                    picture = im.convert("RGB")
                if args.show_visible and c > 0:
                    picture = _mark_visible(sources[0], picture, lab, args.definition)
                sheet.paste(_crop(picture, lab, cell), (x + c * (cell + 2), y + label_h))
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.sheet)
    print(f"{args.sheet}: {len(chosen)} faces ({args.pick})")


if __name__ == "__main__":
    main()

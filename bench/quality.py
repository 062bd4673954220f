"""Fitting quality on synthetic masked faces with exact ground truth (testing/synth.py).

    python -m bench.quality [--quick] [--out bench/out/quality]

Per masked face: found, replaced, the share of the painted surgical mask still
visible after compositing (our mask's final alpha < 0.5 there), and the
distance from the painted mask's centre to our overlay's centre in eye
distances. Two sets: a controlled sweep of single faces (width x yaw x roll)
and group photos of 1-6 people. Writes results.json, a before/after contact
sheet and prints the summary that docs/QUALITY.md records.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from batch_job.detect.local import LocalDetector
from batch_job.fit import fit_template
from batch_job.imaging import Photo
from batch_job.pipeline import Context, process_photo
from batch_job.settings import Settings
from batch_job.warp import warp
from masks.catalog import canonical_to_template, coverage_polygon, load_catalog
from testing.synth import PersonSpec, Scene, coverage_map, make_scene, random_people, visible_share

ROOT = Path(__file__).resolve().parent.parent

# The surgical mask testing/synth.py paints, on the canonical face (eye distances
# from the eye midpoint): top edge over the nose bridge, down the jaw, 0.12 under
# the chin. Its centroid is (0, 0.88), as measured on frontal renders.
_SURGICAL_HALF = [(0.0, 0.20), (0.5, 0.28), (1.0, 0.27), (1.05, 0.62), (0.9, 1.1), (0.5, 1.58), (0.0, 1.74)]
SURGICAL_POLYGON = np.array(_SURGICAL_HALF + [(-x, y) for x, y in reversed(_SURGICAL_HALF[1:-1])])


@dataclass
class CaseResult:
    case: str
    width: float
    yaw: float
    roll: float
    pitch: float
    colour: str
    found: bool
    replaced: bool
    visible: float  # share of the painted mask still visible (1.0 when not replaced)
    offset: float | None  # overlay centre to painted-mask centre, in eye distances
    mask: str
    offset_xy: tuple[float, float] | None = None  # the same along the eye line and down the face
    placement: float | None = None  # where the fit puts the canonical surgical-mask centre, same units


def _match(truth, faces_rows):
    """The detected face whose box centre lies in the truth face's box, nearest its centre."""
    tx, ty, tw, th = truth.box
    cx, cy = tx + tw / 2, ty + th / 2
    best, best_d = None, math.inf
    for row in faces_rows:
        fx, fy = row.x + row.w / 2, row.y + row.h / 2
        if tx - 0.15 * tw <= fx <= tx + 1.15 * tw and ty - 0.15 * th <= fy <= ty + 1.15 * th:
            d = math.hypot(fx - cx, fy - cy)
            if d < best_d:
                best, best_d = row, d
    return best


def evaluate_scene(scene: Scene, ctx: Context, case: str) -> tuple[list[CaseResult], Image.Image]:
    data = scene.jpeg()
    result = process_photo(f"{case}.jpg", data, ctx, keep_alpha=True)
    after = Image.open(io.BytesIO(result.output)).convert("RGB") if result.output else scene.image
    h, w = scene.image.height, scene.image.width
    # Painted alphas in job order; jobs are the replaced faces in face-index order.
    replaced_rows = [r for r in result.faces if r.action == "replaced"]
    fits = {}
    if replaced_rows:
        photo_faces = sorted(ctx.detector.detect(Photo(data)), key=lambda f: (f.box.y, f.box.x))
        for row in replaced_rows:
            template = next(m for m in ctx.pool if m.name == row.mask)
            fits[row.face] = fit_template(template, photo_faces[row.face])
    alpha_by_face = {}
    for row, painted in zip(replaced_rows, result.painted, strict=True):
        alpha_by_face[row.face] = painted
    coverage = coverage_map(result.painted, (h, w))
    out = []
    for truth in scene.faces:
        spec = truth.spec
        if not spec.masked:
            continue
        row = _match(truth, result.faces)
        if not (truth.mask_alpha > 0.5).any():
            continue
        replaced = row is not None and row.action == "replaced"
        visible = 1.0
        offset = None
        placement = None
        signed = None
        if replaced:
            visible = visible_share(truth, coverage)
            # Our mask's centre: the centroid of its body as painted - the mask's
            # final alpha inside the coverage polygon every mask art fills
            # (masks/catalog.py), so straps reaching for the ears do not pull it.
            painted = alpha_by_face[row.face]
            body = _body_map(ctx, row.mask, fits[row.face], painted.box)
            a = painted.alpha * body
            px0, py0, px1, py1 = painted.box
            ys, xs = np.mgrid[py0:py1, px0:px1]
            ocx, ocy = float((xs * a).sum() / a.sum()) + 0.5, float((ys * a).sum() / a.sum()) + 0.5
            tcx, tcy = truth.mask_centre()
            offset = math.hypot(ocx - tcx, ocy - tcy) / truth.eye_distance
            # Placement: the centroid of our mask over the region a surgical mask
            # occupies on the canonical face (SURGICAL_POLYGON), carried through
            # this face's mesh - same shape as the truth, so the deliberate extra
            # reach below the chin (coverage) does not count as an offset.
            region = _body_map(ctx, row.mask, fits[row.face], painted.box, SURGICAL_POLYGON)
            a2 = painted.alpha * region
            pcx, pcy = float((xs * a2).sum() / a2.sum()) + 0.5, float((ys * a2).sum() / a2.sum()) + 0.5
            placement = math.hypot(pcx - tcx, pcy - tcy) / truth.eye_distance
            el, er = np.array(truth.eye_left), np.array(truth.eye_right)
            ex = (er - el) / np.linalg.norm(er - el)
            ey = np.array([-ex[1], ex[0]])
            delta = np.array([ocx - tcx, ocy - tcy]) / truth.eye_distance
            signed = (float(delta @ ex), float(delta @ ey))
        out.append(
            CaseResult(
                case,
                spec.face_width,
                spec.yaw,
                spec.roll,
                spec.pitch,
                spec.colour,
                row is not None,
                replaced,
                visible,
                offset,
                row.mask if row else "",
                signed,
                placement,
            )  # fmt: skip
        )
    return out, after


def _body_map(ctx: Context, mask_name: str, fit, box, polygon: np.ndarray | None = None) -> np.ndarray:
    """A canonical polygon (default: the coverage polygon) of ``mask_name``'s template, warped like the mask."""
    template = next(m for m in ctx.pool if m.name == mask_name)
    poly = canonical_to_template(template, coverage_polygon() if polygon is None else polygon)
    level, k = template.level_image(1.0)
    w, h = level.size
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in poly], fill=255)
    src = (np.asarray(img, dtype=np.float32) / 255.0)[..., None]
    return warp(src, fit.mesh.scaled_src(k), box)[..., 0]


def sweep_cases(quick: bool) -> list[tuple[str, list[PersonSpec], tuple[int, int], list[tuple[float, float]]]]:
    widths = [30, 40, 60, 100, 200, 400, 800] if not quick else [40, 100, 300]
    yaws = [-45, -30, -15, 0, 15, 30, 45] if not quick else [-45, 0, 30]
    rolls = [-30, 0, 30] if not quick else [0, 30]
    cases = []
    n = 0
    for width in widths:
        for yaw in yaws:
            for roll in rolls:
                spec = PersonSpec(
                    face_width=width, yaw=yaw, roll=roll, pitch=[-10, 0, 10][n % 3],
                    colour=["white", "paleblue"][n % 2], asset=n % 2, skin=["light", "medium", "deep"][n % 3],
                    light=[1.0, 0.7, 0.85][n % 3], mirror=bool(n % 4 == 3),
                )  # fmt: skip
                side = int(max(480, width * 2.6))
                cases.append((f"single_{n:03d}", [spec], (side, int(side * 0.9)), [(side / 2, side * 0.42)]))
                n += 1
    return cases


def group_cases(count: int, seed: int) -> list[tuple[str, list[PersonSpec], tuple[int, int], None]]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        people = random_people(rng, int(rng.integers(1, 7)), widths=(40, 320))
        cases.append((f"group_{i:03d}", people, (1600, 1200), None))
    return cases


def summarize(results: list[CaseResult]) -> dict:
    big = [r for r in results if r.width >= 40]
    replaced = [r for r in results if r.replaced]
    vis = np.array([r.visible for r in replaced]) if replaced else np.array([1.0])
    frontalish = [r for r in replaced if abs(r.yaw) <= 30 and r.offset is not None]
    offsets = np.array([r.offset for r in frontalish]) if frontalish else np.array([np.nan])
    placements = np.array([r.placement for r in frontalish]) if frontalish else np.array([np.nan])
    return {
        "masked_faces": len(results),
        "masked_faces_40px": len(big),
        "found_40px": sum(r.found for r in big) / max(1, len(big)),
        "replaced_40px": sum(r.replaced for r in big) / max(1, len(big)),
        "replaced_under_40px": sum(r.replaced for r in results if r.width < 40)
        / max(1, sum(r.width < 40 for r in results)),
        "visible_median": float(np.median(vis)),
        "visible_p90": float(np.percentile(vis, 90)),
        "visible_max": float(np.max(vis)),
        "offset_median_yaw30": float(np.nanmedian(offsets)),
        "offset_p90_yaw30": float(np.nanpercentile(offsets, 90)),
        "offset_within_0.15_yaw30": float(np.mean(offsets <= 0.15)) if frontalish else float("nan"),
        "placement_median_yaw30": float(np.nanmedian(placements)),
        "placement_p90_yaw30": float(np.nanpercentile(placements, 90)),
        "placement_within_0.15_yaw30": float(np.mean(placements <= 0.15)) if frontalish else float("nan"),
    }


def contact_sheet(pairs: list[tuple[str, Image.Image, Image.Image]], path: Path, cell: int = 300) -> None:
    """Before | after pairs, two pairs per row, each picture fitted into a ``cell`` square."""
    per_row = 2
    label_h = 18
    rows = -(-len(pairs) // per_row)
    width = per_row * (2 * cell + 12) + 12
    sheet = Image.new("RGB", (width, rows * (cell + label_h + 10) + 10), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, (label, before, after) in enumerate(pairs):
        x = 12 + (i % per_row) * (2 * cell + 12)
        y = 10 + (i // per_row) * (cell + label_h + 10)
        draw.text((x, y), label, fill=(230, 230, 230))
        for j, img in enumerate((before, after)):
            thumb = img.copy()
            thumb.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            sheet.paste(thumb, (x + j * cell + (cell - thumb.width) // 2, y + label_h + (cell - thumb.height) // 2))
    sheet.save(path)


def crop_face(image: Image.Image, truth, margin: float = 1.0) -> Image.Image:
    x, y, w, h = truth.box
    s = max(w, h) * (1 + margin)
    cx, cy = x + w / 2, y + h / 2
    return image.crop((int(cx - s / 2), int(cy - s / 2), int(cx + s / 2), int(cy + s / 2)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (about a minute)")
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "quality")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = Context(Settings(seed=args.seed), LocalDetector(), load_catalog().masks)
    results: list[CaseResult] = []
    pairs = []
    started = time.perf_counter()
    cases = sweep_cases(args.quick) + group_cases(5 if args.quick else args.groups, args.seed)
    for name, people, size, positions in cases:
        scene = make_scene(people, size=size, seed=sum(map(ord, name)), positions=positions)
        case_results, after = evaluate_scene(scene, ctx, name)
        results.extend(case_results)
        if name.startswith("single"):
            spec = people[0]
            showcase = spec.face_width in (100, 400) and spec.roll in (0, 30) and spec.yaw in (-45, -15, 0, 30)
            if showcase and len(pairs) < 16:
                label = f"{name} w={spec.face_width:.0f} yaw={spec.yaw:+.0f} roll={spec.roll:+.0f}"
                pairs.append((label, crop_face(scene.image, scene.faces[0]), crop_face(after, scene.faces[0])))
        elif len([p for p in pairs if p[0].startswith("group")]) < 4:
            pairs.append((name, scene.image, after))
    summary = summarize(results)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "results.json").write_text(
        json.dumps({"summary": summary, "cases": [r.__dict__ for r in results]}, indent=1)
    )
    contact_sheet(pairs, args.out / "contact_sheet.png")
    worst = sorted((r for r in results if r.replaced), key=lambda r: -r.visible)[:8]
    print(json.dumps(summary, indent=2))
    print("worst visible:")
    for r in worst:
        pose = f"yaw={r.yaw:+.0f} roll={r.roll:+.0f} pitch={r.pitch:+.0f}"
        print(f"  {r.case} w={r.width:.0f} {pose} {r.colour} {r.mask}: {r.visible:.1%}")
    missed = [r for r in results if not r.replaced and r.width >= 40]
    print(f"not replaced (>= 40 px): {len(missed)}")
    for r in missed[:12]:
        print(f"  {r.case} w={r.width:.0f} yaw={r.yaw:+.0f} roll={r.roll:+.0f} found={r.found}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

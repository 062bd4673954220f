"""What painting one face costs, before and after, in the same run.

Real paint jobs: faces the local detector finds on real photos (the development set, or any
folder of photos), each photo scaled so the face is ``--widths`` px wide (box width, jaw to jaw
about the same) and cropped to the face's surroundings (paint() only ever reads and writes a
window around the face, so the crop changes nothing but memory). Every job is painted by the
current ``batch_job.paint`` and, with ``--baseline REF``, by the paint of git ``REF`` loaded into a
private package from ``git show`` (its warp, fit, composite, cover and paint; detection and the
catalog are shared), alternately face by face so both see the same machine load.

Per width it prints CPU ms per face (median over faces, each the best of ``--repeat``; CPU time,
not wall time, because the machine this is measured on is shared and everything in paint() runs
on one thread), the ratio,
the per-part breakdown of the current paint (``batch_job.stages`` marks: fit, reach, warp,
focus, light, shadow, grain, blend) and, with a baseline, how much the output differs: per
face the mean absolute difference and the 99th percentile (0..255) over the painted window.

    nice .venv/bin/python -m bench.paint_cost /work/devset/images --baseline main --faces 24
    nice .venv/bin/python -m bench.paint_cost /work/devset/images --baseline main --sheets /tmp/sheets
    nice .venv/bin/python -m bench.paint_cost /work/devset/images --baseline main --faces 18 --cold

``--cold`` empties the caches paint keeps across faces (the art's levels and mirror images, their
derived pixels) before every paint: what the first face of each mask and size costs a fresh worker.

Detection is the slow part of a cold run: ``--cache FILE`` keeps the faces found (a pickle, never
committed; delete it when the detector changes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from batch_job import stages
from batch_job.detect.face import Box, Face, Point
from masks.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[1]
# The modules whose old versions are loaded together for the baseline (they import each other; the
# catalog too, for its levels: the baseline paints the old catalog's templates).
BASELINE_MODULES = ("masks/catalog", "batch_job/derived", "batch_job/warp", "batch_job/fit", "batch_job/composite",
                    "batch_job/cover", "batch_job/paint")  # fmt: skip
PARTS = ("fit", "reach", "warp", "focus", "light", "shadow", "grain", "blend")
CONTEXT = 1.6  # face-box widths of photo kept on each side of the face


@dataclass
class Found:
    photo: str
    face: Face
    masked: bool


def find_faces(folder: Path, limit_photos: int, cache: Path | None) -> list[Found]:
    if cache and cache.exists():
        return [Found(*row) for row in pickle.loads(cache.read_bytes())]
    from batch_job.detect.base import create_detector
    from batch_job.imaging import Photo
    from batch_job.settings import Settings
    from batch_job.wearing import assess, view

    detector = create_detector("local", Settings())
    found: list[Found] = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit_photos]:
        photo = Photo(path.read_bytes(), name=path.name)
        for face in detector.detect(photo):
            found.append(Found(str(path), face, bool(assess(*view(photo, face), face).masked)))
    if cache:
        cache.write_bytes(pickle.dumps([(f.photo, f.face, f.masked) for f in found]))
    return found


def load_baseline(ref: str) -> types.ModuleType:
    """``REF``'s paint module, with its own warp, composite and cover, as a private package."""
    package = f"_paint_baseline_{abs(hash(ref))}"
    pkg = types.ModuleType(package)
    pkg.__path__ = []
    sys.modules[package] = pkg
    module = None
    for path in BASELINE_MODULES:
        name = path.split("/")[1]
        source = subprocess.run(
            ["git", "show", f"{ref}:{path}.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        for other in BASELINE_MODULES:
            dotted, short = other.replace("/", "."), other.split("/")[1]
            source = source.replace(f"from {dotted} import", f"from {package}.{short} import")
        spec = importlib.util.spec_from_loader(f"{package}.{name}", loader=None)
        module = importlib.util.module_from_spec(spec)
        module.__file__ = str(ROOT / f"{path}.py")  # the catalog finds its catalog.json beside it
        sys.modules[spec.name] = module
        exec(compile(source, f"{ref}:{path}.py", "exec"), module.__dict__)
        setattr(pkg, name, module)
    return module


def forget_levels(paint_module: types.ModuleType) -> None:
    """Empty every cache paint and the catalog keep across faces (levels, mirror images, derived values):
    the next paint pays what the first face of its mask and size pays in a fresh worker."""
    package = paint_module.__name__.rpartition(".")[0]
    catalog = sys.modules[f"{package}.catalog"] if package != "batch_job" else sys.modules["masks.catalog"]
    derived = sys.modules[f"{package}.derived" if package != "batch_job" else "batch_job.derived"]
    for module in (catalog, *(sys.modules[f"{package}.{n}"] for n in ("fit", "cover", "paint"))):
        for value in list(vars(module).values()):
            if hasattr(value, "cache_clear"):
                value.cache_clear()
            if isinstance(value, derived.Derived):
                value._items.clear()
                value.bytes = 0
    if hasattr(catalog, "LEVELS"):
        catalog.LEVELS = catalog.LevelCache(catalog.LEVELS.max_bytes)


def _scaled_face(face: Face, k: float, origin: tuple[float, float]) -> Face:
    ox, oy = origin
    b = face.box

    def move(p: Point) -> Point:
        return Point((p.x - ox) * k, (p.y - oy) * k)

    return Face(
        Box((b.x - ox) * k, (b.y - oy) * k, b.w * k, b.h * k),
        face.score,
        {n: move(p) for n, p in face.landmarks.items()},
        face.pose,
        face.occluded,
        face.mesh_score,
    )


def scene(found: Found, width: int, photos: dict[str, Image.Image]) -> tuple[Image.Image, Face]:
    """The photo around ``found`` scaled so its face box is ``width`` px wide, and the face there."""
    if found.photo not in photos:
        photos.clear()  # one photo at a time: a 12 MP RGB image is 36 MB
        photos[found.photo] = Image.open(found.photo).convert("RGB")
    photo = photos[found.photo]
    b = found.face.box
    pad = CONTEXT * max(b.w, b.h)
    x0, y0 = max(0, int(b.x - pad)), max(0, int(b.y - pad))
    x1, y1 = min(photo.width, int(b.x + b.w + pad)), min(photo.height, int(b.y + b.h + pad))
    k = width / b.w
    size = (max(1, round((x1 - x0) * k)), max(1, round((y1 - y0) * k)))
    crop = photo.resize(size, Image.Resampling.LANCZOS, box=(x0, y0, x1, y1))
    return crop, _scaled_face(found.face, k, (x0, y0))


def _time(paint_module, canvas: Image.Image, face: Face, template, masked: bool, repeat: int, cold: bool = False):
    """Best of ``repeat`` paints: (seconds, painted canvas, Painted, stage marks of that paint).

    ``cold``: every paint starts from empty caches (the first face of its mask and size in a worker).
    """
    paint_fn, job_cls = paint_module.paint, paint_module.PaintJob
    best, out, result, marks = float("inf"), None, None, {}
    for _ in range(repeat):
        if cold:
            forget_levels(paint_module)
        work = canvas.copy()
        job = job_cls(face, template, seed=7, wears_mask=masked)
        stages.reset()
        started = time.process_time()
        (result,) = paint_fn(work, [job], keep_alpha=True)
        took = time.process_time() - started
        if took < best:
            best, out, marks = took, work, stages.snapshot()
    return best, out, result, marks


def diff_figures(before: Image.Image, after: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """Mean and 99th percentile of |after - before| (0..255, all channels) over ``box``."""
    if box[2] <= box[0] or box[3] <= box[1]:
        return 0.0, 0.0
    a = np.asarray(before.crop(box), dtype=np.int16)
    b = np.asarray(after.crop(box), dtype=np.int16)
    d = np.abs(a - b)
    return float(d.mean()), float(np.percentile(d, 99))


def union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    if a[2] <= a[0]:
        return b
    if b[2] <= b[0]:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def sheet(photo: Image.Image, before: Image.Image, after: Image.Image, box, gain: int = 8) -> Image.Image:
    """original | before | after | |difference| x gain, over the painted window with a margin."""
    x0, y0, x1, y1 = box
    m = (x1 - x0) // 6
    crop = (max(0, x0 - m), max(0, y0 - m), min(photo.width, x1 + m), min(photo.height, y1 + m))
    tiles = [im.crop(crop) for im in (photo, before, after)]
    d = np.abs(np.asarray(tiles[1], np.int16) - np.asarray(tiles[2], np.int16)) * gain
    tiles.append(Image.fromarray(np.clip(d, 0, 255).astype(np.uint8)))
    w, h = tiles[0].size
    out = Image.new("RGB", (w * 4 + 30, h + 20), "white")
    for i, t in enumerate(tiles):
        out.paste(t, (i * (w + 10), 20))
    ImageDraw.Draw(out).text((4, 4), f"original | before | after | |diff| x{gain}", fill="black")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path, help="folder of real photos (e.g. /work/devset/images)")
    parser.add_argument("--widths", default="100,200,400,700", help="face widths (px) to paint at")
    parser.add_argument("--faces", type=int, default=24, help="faces per width (masked ones first)")
    parser.add_argument("--photos-limit", type=int, default=60, help="photos to look for faces in")
    parser.add_argument("--min-face", type=int, default=48, help="skip faces found narrower than this (px)")
    parser.add_argument("--baseline", default="", help="git ref whose paint to compare with (e.g. main)")
    parser.add_argument("--repeat", type=int, default=3, help="paints per face; the best counts")
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the faces found (speeds reruns)")
    parser.add_argument("--sheets", type=Path, default=None, help="write before/after/diff sheets here")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--verbose", action="store_true", help="one line per face")
    parser.add_argument("--dim", type=float, default=1.0, help="scale the photos' brightness (0.3: a dark photo)")
    parser.add_argument("--cold", action="store_true", help="empty the level caches before every paint")
    args = parser.parse_args(argv)

    from batch_job import paint as current

    # The stage marks read CPU time here too (this process only): on a shared machine wall time
    # charges other processes' work to whichever stage was running.
    stages.time = types.SimpleNamespace(perf_counter=time.process_time)

    baseline = load_baseline(args.baseline) if args.baseline else None
    catalog = load_catalog()
    names = catalog.names()
    old_catalog = sys.modules[baseline.__name__.rpartition(".")[0] + ".catalog"].load_catalog() if baseline else None
    found = [f for f in find_faces(args.photos, args.photos_limit, args.cache) if f.face.box.w >= args.min_face]
    found.sort(key=lambda f: not f.masked)  # masked faces first: the reach runs only for them
    found = found[: args.faces]
    if args.sheets:
        args.sheets.mkdir(parents=True, exist_ok=True)
    report: dict = {"faces": len(found), "baseline": args.baseline, "widths": {}}
    photos: dict[str, Image.Image] = {}
    for width in (int(w) for w in args.widths.split(",")):
        now_ms, old_ms, means, p99s = [], [], [], []
        parts = dict.fromkeys(PARTS, 0.0)
        for i, f in enumerate(found):
            canvas, face = scene(f, width, photos)
            if args.dim != 1.0:  # a dark photo: the light estimate and the grain see it
                canvas = canvas.point(lambda v: round(v * args.dim))
            template = catalog.get(names[i % len(names)])
            if baseline is not None:
                old_template = old_catalog.get(template.name)
                old_t, old_out, old_res, _ = _time(
                    baseline, canvas, face, old_template, f.masked, args.repeat, args.cold
                )
                old_ms.append(old_t * 1000)
            stages.enable()
            now_t, now_out, now_res, marks = _time(current, canvas, face, template, f.masked, args.repeat, args.cold)
            stages.enable(False)
            for name, (seconds, _) in marks.items():
                if name.startswith("paint."):
                    parts[name[6:]] = parts.get(name[6:], 0.0) + seconds * 1000
            now_ms.append(now_t * 1000)
            line = f"  {width} px face {i:2d} {Path(f.photo).name} {template.name:12s} masked={f.masked:d}"
            line += f"  now {now_t * 1000:6.1f}"
            if baseline is not None:
                box = union(old_res.box, now_res.box)
                mean, p99 = diff_figures(old_out, now_out, box)
                means.append(mean)
                p99s.append(p99)
                line += f"  before {old_ms[-1]:6.1f}  |diff| mean {mean:.2f} p99 {p99:.0f}"
            if args.verbose:
                print(line)
            if baseline is not None and args.sheets:
                sheet(canvas, old_out, now_out, box).save(args.sheets / f"w{width}_{i:02d}_{template.name}.png")
        n = len(found)
        row = {
            "now_ms": float(np.median(now_ms)),
            "parts_ms": {k: round(v / n, 2) for k, v in parts.items()},
        }
        line = f"{width:4d} px  now {row['now_ms']:6.1f} ms/face"
        if baseline is not None:
            row.update(
                old_ms=float(np.median(old_ms)),
                ratio=float(np.median(np.array(old_ms) / np.array(now_ms))),
                diff_mean=float(np.mean(means)),
                diff_mean_max=float(np.max(means)),
                diff_p99_median=float(np.median(p99s)),
                diff_p99_max=float(np.max(p99s)),
            )
            line += (
                f"  before {row['old_ms']:6.1f}  x{row['ratio']:.2f} faster"
                f"  |diff| mean {row['diff_mean']:.2f} (max {row['diff_mean_max']:.2f})"
                f"  p99 median {row['diff_p99_median']:.0f} (max {row['diff_p99_max']:.0f})"
            )
        print(line)
        print("        parts (ms/face): " + "  ".join(f"{k} {v:.1f}" for k, v in row["parts_ms"].items()))
        report["widths"][width] = row
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""What the gallery's thumbnails add to a photo's time in the pipeline (they are made from pixels the
pipeline has already decoded: the painted photo, or the detector's reduced decode).

    nice .venv/bin/python -m bench.thumb_cost [--repeats 3] [--phone 6]

Runs every photo of examples/choshi_trip (or, with --phone N, N of bench/local_throughput.py's
4032 x 3024 phone photos, every one with masks to paint) through ``process_photo`` with and without
thumbnails, alternating in one process (same load), and prints the mean per-photo times and the ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from batch_job.album import scan
from batch_job.detect.local import LocalDetector
from batch_job.pipeline import Context, process_photo
from batch_job.settings import Settings
from masks.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--phone", type=int, default=0, help="use N generated 12 MP phone photos instead")
    args = parser.parse_args()
    if args.phone:
        from bench.local_throughput import ensure_photos

        photos = [(p.name, p.read_bytes()) for p in ensure_photos(args.phone, 1)]
    else:
        album = ROOT / "examples" / "choshi_trip"
        photos = [(e.key, (album / e.key).read_bytes()) for e in scan(album) if e.looks_like_image]
    plain = Context(Settings(seed=0), LocalDetector(), load_catalog().masks)
    with_thumbs = dataclasses.replace(plain, thumbs=True)
    process_photo(*photos[0], plain)  # warm up the models
    times: dict[str, list[float]] = {"without": [], "with": []}
    sizes = []
    for _ in range(args.repeats):
        for key, data in photos:
            for name, ctx in (("without", plain), ("with", with_thumbs)):
                started = time.perf_counter()
                result = process_photo(key, data, ctx)
                times[name].append(time.perf_counter() - started)
                if result.thumbs:
                    sizes += [len(result.thumbs.after)] + ([len(result.thumbs.before)] if result.thumbs.before else [])
    per = {k: sum(v) / len(photos) / args.repeats for k, v in times.items()}
    print(
        f"{len(photos)} photos x {args.repeats}: mean per photo {per['without'] * 1000:.0f} ms without thumbnails, "
        f"{per['with'] * 1000:.0f} ms with (x{per['with'] / per['without']:.3f}); "
        f"thumbnails median {statistics.median(sizes) / 1024:.0f} KB, max {max(sizes) / 1024:.0f} KB"
    )

    _twelve_megapixels()


def _twelve_megapixels() -> None:
    """The parts on a 12 MP JPEG, where a full decode is what a masked photo costs anyway."""
    import io

    import numpy as np
    from PIL import Image

    from batch_job.gallery import THUMB_PX, thumbnail
    from batch_job.imaging import Photo

    # A sample photo blown up to 4000 px, with sensor-like noise so it compresses like a real one.
    big = Image.open(ROOT / "examples/choshi_trip/day1/beach_group.jpg").convert("RGB").resize((4000, 2750))
    noise = np.random.default_rng(0).normal(0, 4, (2750, 4000, 3))
    big = Image.fromarray(np.clip(np.asarray(big) + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()

    def best(fn, n=5) -> float:
        out = []
        for _ in range(n):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
        return min(out) * 1000

    decoded = Photo(data).rgb()
    full = best(lambda: Photo(data).rgb())
    from_full = best(lambda: thumbnail(decoded))
    drafted = best(lambda: thumbnail(Photo(data).at_most(THUMB_PX)[0]))
    print(
        f"12 MP JPEG (best of 5): full decode {full:.0f} ms; a thumbnail from the decoded photo {from_full:.0f} ms "
        f"(a masked photo makes two); a draft decode at 1024 px + thumbnail {drafted:.0f} ms (not used)"
    )
    _no_faces(big)


def _no_faces(big) -> None:
    """A 12 MP photo without faces: its one thumbnail comes from the detector's survey view."""
    import dataclasses
    import io

    from PIL import Image

    sea = Image.open(ROOT / "examples/choshi_trip/day2/lighthouse.png").convert("RGB").resize(big.size)
    buffer = io.BytesIO()
    sea.save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    plain = Context(Settings(seed=0), LocalDetector(), load_catalog().masks)
    with_thumbs = dataclasses.replace(plain, thumbs=True)
    process_photo("sea.jpg", data, plain)
    times: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(5):
        for name, ctx in (("without", plain), ("with", with_thumbs)):
            started = time.perf_counter()
            result = process_photo("sea.jpg", data, ctx)
            times[name].append(time.perf_counter() - started)
    w, h = Image.open(io.BytesIO(result.thumbs.after)).size
    a, b = (statistics.median(times[k]) * 1000 for k in ("without", "with"))
    print(
        f"12 MP photo, {result.row.status} (median of 5): {a:.0f} ms without thumbnails, "
        f"{b:.0f} ms with (x{b / a:.3f}); thumbnail {w}x{h}"
    )


if __name__ == "__main__":
    main()

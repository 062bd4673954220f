"""How fast a large album's gallery opens in headless Chromium (Debian's, through Playwright).

Makes a synthetic output folder of N photos (manifest.csv, faces.csv, one small before/after thumbnail pair
per photo, hard-linked; the pipeline is not run N times), writes the gallery with the real
``write_gallery`` and opens index.html from file:// in a fresh browser page, several times.

    nice .venv/bin/python -m bench.gallery_open            # 2,000 and 10,000 photos
    nice .venv/bin/python -m bench.gallery_open --photos 2000 --runs 5

Figures: "ready" is navigation start -> the grid built (window.MASKALBUM_READY); "first screen" is
navigation start -> every thumbnail in the first screenful decoded. The done-when bar is < 2 s for 2,000.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from testing.browser import browser
from testing.gallery import synthetic_output

MEASURE = """() => new Promise(resolve => {
  const check = () => {
    if (!window.MASKALBUM_READY) return requestAnimationFrame(check);
    const vh = innerHeight;
    const first = [...document.querySelectorAll('.card img.after')].filter(i => i.getBoundingClientRect().top < vh);
    if (!first.every(i => i.complete && i.naturalWidth > 0)) return requestAnimationFrame(check);
    const nav = performance.getEntriesByType('navigation')[0];
    resolve({first: performance.now(), dcl: nav.domContentLoadedEventEnd,
             cards: document.querySelectorAll('.card').length,
             images: first.length});
  };
  check();
})"""


def measure(index: Path, runs: int) -> list[dict]:
    results = []
    with browser() as b:
        for _ in range(runs):
            page = b.new_page(viewport={"width": 1280, "height": 800})
            started = time.perf_counter()
            page.goto(index.as_uri(), wait_until="commit")
            figures = page.evaluate(MEASURE)
            figures["wall"] = (time.perf_counter() - started) * 1000
            results.append(figures)
            page.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, action="append", help="album sizes (default 2000 and 10000)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for n in args.photos or [2000, 10000]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            index = synthetic_output(Path(tmp), n)
            made = time.perf_counter() - t0
            data_kb = (Path(tmp) / "gallery-data.js").stat().st_size / 1024
            page_kb = index.stat().st_size / 1024
            res = measure(index, args.runs)
            med = {k: statistics.median(r[k] for r in res) for k in ("dcl", "first", "wall")}
            print(
                f"{n:>6} photos: index.html {page_kb:.0f} KB, gallery-data.js {data_kb:.0f} KB (written in "
                f"{made:.1f} s); "
                f"median of {args.runs}: DOMContentLoaded {med['dcl']:.0f} ms, first screen of thumbnails "
                f"{med['first']:.0f} ms ({res[0]['images']} images, {res[0]['cards']} cards built), "
                f"wall incl. navigation {med['wall']:.0f} ms"
            )


if __name__ == "__main__":
    main()

"""Screenshots of the sample album's gallery, as a person opens it (headless Chromium from Debian).

    python -m examples.make_gallery_screenshots [OUT_DIR]

Runs `maskalbum run examples/choshi_trip` into OUT_DIR (default: a temporary folder), or rebuilds the
page of the output already there, then shoots index.html at desktop (1280x800) and phone (390x844) widths, the grid and
the viewer. docs/img/gallery_page.jpg and gallery_viewer.jpg are the desktop ones (README); all four
are kept in OUT_DIR/screenshots/.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from testing.browser import browser

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def shoot(out: Path) -> dict[str, Path]:
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    made = {}
    with browser() as b:
        for name, (w, h) in SIZES.items():
            page = b.new_page(viewport={"width": w, "height": h}, device_scale_factor=2 if name == "phone" else 1)
            page.goto((out / "index.html").as_uri())
            page.wait_for_function("window.MASKALBUM_READY === true")
            page.wait_for_function("[...document.images].filter(i => i.src).every(i => i.complete)")
            made[f"{name}_grid"] = shots / f"{name}_grid.png"
            page.screenshot(path=made[f"{name}_grid"])
            page.locator(".card.ok").first.click()
            page.keyboard.press("f")
            page.wait_for_function("document.getElementById('v-after').complete")
            made[f"{name}_viewer"] = shots / f"{name}_viewer.png"
            page.screenshot(path=made[f"{name}_viewer"])
            page.close()
    return made


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "choshi_trip-masked"
    if not (out / "manifest.csv").exists():
        cmd = [sys.executable, "-m", "cli", "run", str(HERE / "choshi_trip"), "--out", str(out), "--seed", "0"]
        subprocess.run(cmd, check=False, cwd=ROOT)
    else:
        from batch_job.gallery import rebuild

        rebuild(out)  # the page as this checkout writes it
    made = shoot(out)
    for shot, name in (("desktop_grid", "gallery_page.jpg"), ("desktop_viewer", "gallery_viewer.jpg")):
        buffer = io.BytesIO()
        Image.open(made[shot]).convert("RGB").save(buffer, "JPEG", quality=85, optimize=True, progressive=True)
        (ROOT / "docs" / "img" / name).write_bytes(buffer.getvalue())
    for path in made.values():
        print(path)


if __name__ == "__main__":
    main()

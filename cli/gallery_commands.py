"""``maskalbum gallery OUT_DIR``, and the ``--open`` that ``run`` and ``download`` share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batch_job.errors import MaskalbumError
from cli.common import OpenGallery, console, fail

app = typer.Typer()


def open_gallery(folder: Path) -> None:
    """Open ``folder``/index.html in the default browser, or say where it is when there is no browser."""
    from batch_job.gallery import INDEX, open_in_browser

    page = folder / INDEX
    if not page.is_file():
        console.print(f"no gallery in {folder} (rebuild it with: maskalbum gallery {folder})")
        return
    if not open_in_browser(page):
        console.print(f"no web browser found here; open {page.resolve().as_uri()}")


@app.command("gallery")
def gallery_cmd(
    out_dir: Annotated[
        Path, typer.Argument(metavar="OUT_DIR", help="An output folder of `maskalbum run` (it holds manifest.csv).")
    ],
    open_page: OpenGallery = False,
) -> None:
    """Rebuild the before/after gallery (index.html) of an existing output folder."""
    from batch_job.gallery import rebuild

    try:
        page = rebuild(out_dir)
    except MaskalbumError as exc:
        raise fail(exc) from exc
    console.print(f"gallery: {page}")
    if open_page:
        open_gallery(out_dir)

"""``maskalbum run`` (an album on this machine) and ``maskalbum masks`` (the catalog)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from batch_job.errors import MaskalbumError, ServiceUnavailable
from cli.common import (
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    AllFaces,
    AnchorsFile,
    Detector,
    DetectSize,
    JsonOut,
    MaskFile,
    MaskOpt,
    MaxPixels,
    NotifyLine,
    OpenGallery,
    Seed,
    TagOpt,
    Workers,
    console,
    fail,
    out,
    settings_from,
)

app = typer.Typer()


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so the run stops the same way (finished photos kept)."""


_signalled: list[int] = []


def _terminate(signum, frame) -> None:
    _signalled.append(signum)
    raise Terminated()


@app.command()
def run(
    album: Annotated[
        Path,
        typer.Argument(
            metavar="ALBUM", help="The album: a folder (searched recursively), a single photo, or a .zip of an album."
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Output folder (default: ALBUM-masked beside the album)."),
    ] = None,
    workers: Workers = None,
    seed: Seed = None,
    mask: MaskOpt = None,
    tag: TagOpt = None,
    mask_file: MaskFile = None,
    anchors: AnchorsFile = None,
    all_faces: AllFaces = None,
    detector: Detector = None,
    max_pixels: MaxPixels = None,
    detect_size: DetectSize = None,
    notify_line: NotifyLine = None,
    json_output: JsonOut = False,
    open_page: OpenGallery = False,
) -> None:
    """Process an album on this machine: images/, manifest.csv, faces.csv and a zip in --out."""
    from batch_job.runner import run_album

    try:
        settings = settings_from(
            workers=workers, seed=seed, masks=mask, tags=tag, mask_file=mask_file, anchors_file=anchors,
            all_faces=all_faces, detector=detector, max_pixels=max_pixels, notify_line=notify_line,
            detect_long_side=detect_size,
        )  # fmt: skip
        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=json_output,
        )  # fmt: skip
        stats = {"masked": 0, "errors": 0, "resumed": 0}
        task = None

        def on_start(total: int) -> None:
            nonlocal task
            task = progress.add_task(escape(album.name), total=total, stats="")

        def on_result(record: dict, resumed: bool) -> None:
            stats["masked"] += int(record["row"]["faces_masked"])
            stats["errors"] += record["row"]["status"] == "error"
            stats["resumed"] += resumed
            text = f"{stats['masked']} masks, {stats['errors']} errors" + (
                f", {stats['resumed']} reused" if stats["resumed"] else ""
            )
            if task is not None:
                progress.update(task, advance=1, stats=text)

        def on_notice(text: str) -> None:
            progress.console.print(f"[yellow]note:[/] {escape(text)}", soft_wrap=True)

        from batch_job.source import album_input

        # Signal handlers can only be set from the main thread (an embedding app may call us from another).
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate) if main else None
        try:
            with album_input(album) as source, progress:
                summary = run_album(
                    source.folder, out_dir or source.default_out, settings, on_start, on_result, on_notice=on_notice
                )
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        console.print(f"[yellow]{what}[/]: finished photos are kept; run the same command again to resume.")
        raise typer.Exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED) from None
    except ServiceUnavailable as exc:
        console.print(
            f"[bold red]error:[/] {escape(str(exc))}; finished photos are kept, rerun to resume.", soft_wrap=True
        )
        raise typer.Exit(EXIT_INFRA) from None
    except MaskalbumError as exc:
        if _signalled:  # the same SIGTERM reached the workers first: their deaths are the signal's doing
            console.print(
                "[yellow]terminated (SIGTERM)[/]: finished photos are kept; run the same command again to resume."
            )
            raise typer.Exit(EXIT_TERMINATED) from None
        raise fail(exc) from exc
    line = None
    if settings.notify_line:
        from batch_job.notify import notify_local_run

        line = notify_local_run(summary, settings, album)  # never raises: LINE cannot fail the album
    if json_output:
        out.print_json(json.dumps(summary.to_json() | ({"line": line} if line else {})))
    else:
        _print_summary(summary)
        if line:
            console.print(f"LINE: {escape(str(line))}")
    if open_page:
        from cli.gallery_commands import open_gallery

        open_gallery(Path(summary.destination))
    raise typer.Exit(summary.exit_code)


def _print_summary(summary) -> None:
    table = Table(title=f"maskalbum: {escape(summary.album)}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in (
        ("photos", summary.photos), ("masked photos", summary.masked), ("no faces", summary.no_faces),
        ("other files skipped", summary.skipped), ("errors", summary.error), ("faces found", summary.faces_found),
        ("masks painted", summary.faces_masked), ("reused from an earlier run", summary.resumed),
        ("seconds", f"{summary.seconds:.1f}"),
    ):  # fmt: skip
        table.add_row(label, str(value))
    console.print(table)
    for err in summary.errors[:10]:
        console.print(f"  [red]error[/] {escape(err['path'])}: {escape(err['reason'])}")
    if len(summary.errors) > 10:
        console.print(f"  ... and {len(summary.errors) - 10} more in {escape(summary.manifest)}")
    if summary.orphans_removed:
        console.print(f"removed from images/: {summary.orphans_removed} output(s) of photos no longer in the album")
    console.print(f"zip: {escape(summary.zip)}")


@app.command("masks")
def masks_cmd(
    gallery: Annotated[
        Path | None,
        typer.Option(metavar="PNG", help="Render a sheet of every mask on a face to this PNG (default: list them)."),
    ] = None,
    json_output: JsonOut = False,
) -> None:
    """List the monster masks (name, tags), or render a gallery sheet."""
    from masks.catalog import load_catalog

    try:
        catalog = load_catalog()
        if gallery is not None:
            from masks.gallery import render_gallery

            render_gallery(catalog, gallery)
            console.print(f"gallery: {escape(str(gallery))}")
            return
    except MaskalbumError as exc:
        raise fail(exc) from exc
    if json_output:
        out.print_json(
            json.dumps(
                [
                    {"name": m.name, "title": m.title, "tags": list(m.tags), "description": m.description}
                    for m in catalog.masks
                ]
            )
        )
        return
    table = Table("name", "title", "tags", "description")
    for m in catalog.masks:
        table.add_row(m.name, m.title, ", ".join(m.tags), m.description)
    out.print(table)

"""The ``maskalbum`` command. Each command parses, calls one library function, prints.

Exit codes (documented in the README):
  0  every photo was processed or skipped
  1  the album finished, but at least one photo errored (see manifest.csv)
  2  usage error: bad option, missing folder, unknown mask
  3  infrastructure failure: storage (the output folder cannot be created or written, the disk is full,
     another run holds it), AWS, a model that does not load
  130 interrupted (Ctrl-C, SIGINT); rerun the same command to resume
  143 terminated (SIGTERM: what `kill`, systemd, docker stop and AWS Batch send); rerun to resume
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from batch_job.errors import MaskalbumError, ServiceUnavailable, UsageError
from batch_job.settings import Settings, resolve

EXIT_PHOTO_ERRORS, EXIT_USAGE, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 3, 130, 143


class _Group(TyperGroup):
    """Help a newcomer can read, for every command of every module: `--seed N`, `run [OPTIONS] ALBUM`.

    typer 0.29 prints a type where the value's name should be (`<int>`, `<path>`, `<bool>` after a
    flag) and braces around required arguments (`{album}`); this names each value after its option
    unless the option gives a metavar of its own, and shows flags without one.
    """

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None and not getattr(command, "_polished", False):
            for param in [*command.params, command.get_help_option(ctx)]:
                _polish_param(param)
            command._polished = True
        return command

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        _polish_param(option)
        return option


def _polish_param(param) -> None:
    if param is None:
        return
    if getattr(param, "is_flag", False):
        param.metavar = ""
        return
    name = param.metavar or (param.name or "").upper()
    param.metavar = name
    if getattr(param, "param_type_name", "") == "argument":
        # Instance attributes shadow typer's methods: NAME in usage, and no type column.
        param._usage_display_name = lambda: name if param.nargs == 1 else name + "..."
        param.display_type_rich = lambda ctx: None


app = typer.Typer(
    cls=_Group,
    name="maskalbum",
    help="Turn every surgical mask in a photo album into a monster mask.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

# Options written once (fastapi-cli style); every one also reads MASKALBUM_<NAME> and the config file.
Seed = Annotated[int | None, typer.Option(metavar="N", help="Seed for the per-face mask choice: same album and seed, same pictures (default 0).")]
MaskOpt = Annotated[list[str] | None, typer.Option("--mask", metavar="NAME", help="Use this mask; repeat for several (default: every mask). See `maskalbum masks`.")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", metavar="TAG", help="Only masks with this tag: cute, scary, funny, animal, villain, japanese, fantasy; repeatable (default: any tag).")]
MaskFile = Annotated[Path | None, typer.Option(metavar="PNG", help="Your own RGBA mask picture, used for every face (default: none; see README 'Your own mask').")]
AnchorsFile = Annotated[Path | None, typer.Option("--anchors", metavar="JSON", help="Anchor points for --mask-file (default: inferred from the picture's opaque box).")]
AllFaces = Annotated[bool | None, typer.Option("--all-faces/--masked-only", help="Mask every face, or only faces wearing a mask (default: --masked-only).")]
Workers = Annotated[int | None, typer.Option(metavar="N", help="Worker processes; 0 = all cores (default 0). Capped by the cores, by free memory (640 MiB a worker) and by the photos.")]
MaxPixels = Annotated[int | None, typer.Option(metavar="N", help=f"Refuse photos larger than N pixels, read from the header (default {Settings.max_pixels} = {Settings.max_pixels / 1e6:.0f} MP).")]
Detector = Annotated[str | None, typer.Option(metavar="local|rekognition", help="Face detector: local, on this machine, or rekognition, Amazon Rekognition (default: local).")]
DetectSize = Annotated[
    int | None,
    typer.Option("--detect-size", metavar="PX", help=f"Finest scale (long side) the local detector reads windows at, 320-4096; lower finds fewer small faces (default {Settings.detect_long_side})."),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
OpenGallery = Annotated[bool, typer.Option("--open", help="Open the gallery (index.html) in your web browser when done.")]
NotifyLine = Annotated[
    str | None,
    typer.Option(metavar="USER_ID", help="LINE user ID to push a summary to when done (default: none; token: LINE_CHANNEL_ACCESS_TOKEN, never a flag)."),
]


def _fail(exc: Exception) -> typer.Exit:
    code = EXIT_USAGE if isinstance(exc, UsageError) else EXIT_INFRA
    # Messages carry the user's paths: "[sunset]" or "[/]" in a name is text, not console markup.
    console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
    return typer.Exit(code)


# Settings fields whose option is not simply --<field-name>, so errors name the option the user typed.
FLAG_NAMES = {"detect_long_side": "--detect-size", "masks": "--mask", "tags": "--tag", "anchors_file": "--anchors"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so the run stops the same way (finished photos kept)."""


_signalled: list[int] = []


def _terminate(signum, frame) -> None:
    _signalled.append(signum)
    raise Terminated()


def settings_from(**flags):
    return resolve(
        {k: (tuple(v) if isinstance(v, list) else (str(v) if isinstance(v, Path) else v)) for k, v in flags.items()},
        flag_names=FLAG_NAMES,
    )


@app.command()
def run(
    album: Annotated[Path, typer.Argument(metavar="ALBUM", help="The album: a folder (searched recursively), a single photo, or a .zip of an album.")],
    out_dir: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Output folder (default: ALBUM-masked beside the album).")] = None,
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
            text = f"{stats['masked']} masks, {stats['errors']} errors" + (f", {stats['resumed']} reused" if stats["resumed"] else "")
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
        console.print(f"[bold red]error:[/] {escape(str(exc))}; finished photos are kept, rerun to resume.", soft_wrap=True)
        raise typer.Exit(EXIT_INFRA) from None
    except MaskalbumError as exc:
        if _signalled:  # the same SIGTERM reached the workers first: their deaths are the signal's doing
            console.print("[yellow]terminated (SIGTERM)[/]: finished photos are kept; run the same command again to resume.")
            raise typer.Exit(EXIT_TERMINATED) from None
        raise _fail(exc) from exc
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
    gallery: Annotated[Path | None, typer.Option(metavar="PNG", help="Render a sheet of every mask on a face to this PNG (default: list them).")] = None,
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
        raise _fail(exc) from exc
    if json_output:
        out.print_json(json.dumps([{"name": m.name, "title": m.title, "tags": list(m.tags), "description": m.description} for m in catalog.masks]))
        return
    table = Table("name", "title", "tags", "description")
    for m in catalog.masks:
        table.add_row(m.name, m.title, ", ".join(m.tags), m.description)
    out.print(table)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


import cli.line_commands  # noqa: E402,F401
import cli.aws_commands  # noqa: E402,F401
import cli.deploy_commands  # noqa: E402,F401
import cli.gallery_commands  # noqa: E402,F401

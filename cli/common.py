"""What every command module shares: the consoles, the exit codes, the options written once, the help
polish, and turning a domain error into a clean exit. Command modules import from here, never from
``cli.app`` (the root only assembles them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from batch_job.errors import UsageError
from batch_job.settings import Settings, resolve

EXIT_PHOTO_ERRORS, EXIT_USAGE, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 3, 130, 143

console = Console(stderr=True)
out = Console()


class HelpGroup(TyperGroup):
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
            command._polished = True  # type: ignore[attr-defined]  # our mark on click's object
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


# Options written once (fastapi-cli style); every one also reads MASKALBUM_<NAME> and the config file.
Seed = Annotated[
    int | None,
    typer.Option(
        metavar="N", help="Seed for the per-face mask choice: same album and seed, same pictures (default 0)."
    ),
]
MaskOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--mask", metavar="NAME", help="Use this mask; repeat for several (default: every mask). See `maskalbum masks`."
    ),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        metavar="TAG",
        help="Only masks with this tag: cute, scary, funny, animal, villain, japanese, fantasy; "
        "repeatable (default: any tag).",
    ),
]
MaskFile = Annotated[
    Path | None,
    typer.Option(
        metavar="PNG",
        help="Your own RGBA mask picture, used for every face (default: none; see README 'Your own mask').",
    ),
]
AnchorsFile = Annotated[
    Path | None,
    typer.Option(
        "--anchors",
        metavar="JSON",
        help="Anchor points for --mask-file (default: inferred from the picture's opaque box).",
    ),
]
AllFaces = Annotated[
    bool | None,
    typer.Option(
        "--all-faces/--masked-only", help="Mask every face, or only faces wearing a mask (default: --masked-only)."
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help="Worker processes; 0 = all cores (default 0). Capped by the cores, by free memory (640 MiB a "
        "worker) and by the photos.",
    ),
]
MaxPixels = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help=f"Refuse photos larger than N pixels, read from the header (default {Settings.max_pixels} = "
        f"{Settings.max_pixels / 1e6:.0f} MP).",
    ),
]
Detector = Annotated[
    str | None,
    typer.Option(
        metavar="local|rekognition",
        help="Face detector: local, on this machine, or rekognition, Amazon Rekognition (default: local).",
    ),
]
DetectSize = Annotated[
    int | None,
    typer.Option(
        "--detect-size",
        metavar="PX",
        help=f"Finest scale (long side) the local detector reads windows at, 320-4096; lower finds fewer "
        f"small faces (default {Settings.detect_long_side}).",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
OpenGallery = Annotated[
    bool, typer.Option("--open", help="Open the gallery (index.html) in your web browser when done.")
]
NotifyLine = Annotated[
    str | None,
    typer.Option(
        metavar="USER_ID",
        help="LINE user ID to push a summary to when done (default: none; token: "
        "LINE_CHANNEL_ACCESS_TOKEN, never a flag).",
    ),
]


def fail(exc: Exception) -> typer.Exit:
    code = EXIT_USAGE if isinstance(exc, UsageError) else EXIT_INFRA
    # Messages carry the user's paths: "[sunset]" or "[/]" in a name is text, not console markup.
    console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
    return typer.Exit(code)


# Settings fields whose option is not simply --<field-name>, so errors name the option the user typed.
FLAG_NAMES = {"detect_long_side": "--detect-size", "masks": "--mask", "tags": "--tag", "anchors_file": "--anchors"}


def settings_from(**flags):
    return resolve(
        {k: (tuple(v) if isinstance(v, list) else (str(v) if isinstance(v, Path) else v)) for k, v in flags.items()},
        flag_names=FLAG_NAMES,
    )

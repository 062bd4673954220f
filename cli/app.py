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

import logging
import sys

import typer

from cli import aws_commands, deploy_commands, gallery_commands, line_commands, run_commands
from cli.common import EXIT_INTERRUPTED, HelpGroup

app = typer.Typer(
    cls=HelpGroup,
    name="maskalbum",
    help="Turn every surgical mask in a photo album into a monster mask.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Each module owns its commands; unnamed, they sit at the top level (`maskalbum run`, `maskalbum submit`).
for module in (run_commands, line_commands, aws_commands, deploy_commands, gallery_commands):
    app.add_typer(module.app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)

"""Debian's headless Chromium driven by Playwright (its own browser download cannot work here).

Shared by the gallery's browser tests, its benchmark and the README screenshot script.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI and containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # Local pages reading their neighbour files (thumbs/, gallery-data.js) is what file:// allows already;
    # nothing else is relaxed.
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no chromium on PATH: run .ci/install-browser (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()

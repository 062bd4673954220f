"""The mask art is reproducible: its generator (masks/art_src, not shipped) redraws the committed files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_generator_redraws_every_committed_png_and_the_catalog():
    result = subprocess.run(
        [sys.executable, "-m", "masks.art_src.draw", "--check", "-j2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checked = [line for line in result.stdout.splitlines() if line.startswith("masks/")]
    committed = sorted((ROOT / "masks" / "art").glob("*.png"))
    assert len(checked) == len(committed) + 1  # every PNG and catalog.json
    assert all(": identical" in line for line in checked), result.stdout
    assert "masks/catalog.json: identical" in checked  # the layout and anchors exactly

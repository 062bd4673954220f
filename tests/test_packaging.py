"""What the wheel ships: every model with its licence beside it, the project's licence, no generator code."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import batch_job

ROOT = Path(__file__).resolve().parent.parent
MODELS = "batch_job/detect/models/"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built from a copy of the sources (the build writes build/ and *.egg-info next to them)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("batch_job", "cli", "masks"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    # No build isolation: the dev extra pins setuptools, so this needs no package index.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = out.glob("maskalbum-*.whl")
    return zipfile.ZipFile(built)


def test_every_shipped_model_has_its_licence_beside_it(wheel):
    names = set(wheel.namelist())
    models = sorted(n for n in names if n.endswith(".onnx"))
    assert models == [MODELS + n for n in ("aizoo_mask.onnx", "centerface.onnx", "facemesh.onnx", "wearing.onnx")]
    for model in models:
        assert f"{model}.LICENSE" in names, f"{model} ships without its licence"
    # Apache-2.0 asks for the licence and a notice of changes to travel with a modified file.
    assert "Apache License" in wheel.read(MODELS + "facemesh.onnx.LICENSE").decode()
    assert "tflite2onnx" in wheel.read(MODELS + "facemesh.onnx.NOTICE").decode()
    assert "MIT License" in wheel.read(MODELS + "centerface.onnx.LICENSE").decode()
    assert "AIZOOTech" in wheel.read(MODELS + "aizoo_mask.onnx.LICENSE").decode()
    assert MODELS + "aizoo_mask.md" in names
    assert MODELS + "README.md" in names
    # Ours (trained on labelled photos by bench/train_wearing.py): the project's MIT licence, and its provenance.
    assert wheel.read(MODELS + "wearing.onnx.LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert MODELS + "wearing.md" in names
    # The committed files are what ships, byte for byte.
    for name in names:
        if name.startswith(MODELS):
            assert wheel.read(name) == (ROOT / name).read_bytes(), name


def test_the_wheel_carries_the_project_licence_and_version(wheel):
    names = wheel.namelist()
    (dist_info,) = {n.split("/")[0] for n in names if ".dist-info/" in n}
    assert dist_info == f"maskalbum-{batch_job.__version__}.dist-info"
    assert wheel.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert "License-Expression: MIT" in wheel.read(f"{dist_info}/METADATA").decode()
    # The installed metadata and the package agree: one source for the version.
    assert metadata.version("maskalbum") == batch_job.__version__


def test_the_wheel_ships_the_runtime_and_its_data_but_no_art_generator(wheel):
    names = set(wheel.namelist())
    tops = {n.split("/")[0] for n in names if not n.startswith("maskalbum-")}
    assert tops == {"batch_job", "cli", "masks"}
    assert "masks/catalog.json" in names
    assert {n for n in names if n.startswith("masks/art/")} == {
        f"masks/art/{p.name}" for p in (ROOT / "masks" / "art").glob("*.png")
    }
    assert not [n for n in names if "art_src" in n or n.endswith("draw.py")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]

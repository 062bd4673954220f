"""Shared fixtures: the real local detector (loaded once), the real catalog, synthetic masked photos."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest

from testing.synth import PersonSpec
from helpers import scene_jpeg

# Never read a developer's real config while testing.
os.environ.setdefault("MASKALBUM_CONFIG", "/nonexistent/maskalbum-test-config.toml")

ROOT = Path(__file__).resolve().parent.parent

# Markers (registered in pyproject.toml) by module, so that test files carry no decorators for them;
# a single slow or network test inside a fast module is marked where it is defined.
#   aws  - every tests/test_aws_*.py
#   slow - left out of the inner loop, `pytest -m "not slow"` (README: Development)
#   network - skipped, with the reason, when the package index cannot be reached (CI reaches it)
SLOW_MODULES = {"test_art", "test_packaging", "test_aws_e2e", "test_aws_docker"}


def pytest_collection_modifyitems(config, items):
    missing = {name for name in SLOW_MODULES if not (ROOT / "tests" / f"{name}.py").exists()}
    if missing:  # a renamed module would silently join the inner loop
        raise pytest.UsageError(f"tests/conftest.py SLOW_MODULES names missing modules: {sorted(missing)}")
    for item in items:
        module = item.path.stem
        if module.startswith("test_aws_"):
            item.add_marker(pytest.mark.aws)
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def detector():
    from batch_job.detect.local import LocalDetector

    return LocalDetector()


@pytest.fixture(scope="session")
def catalog():
    from masks.catalog import load_catalog

    return load_catalog()


@pytest.fixture(scope="session")
def ctx(detector, catalog):
    from batch_job.pipeline import Context
    from batch_job.settings import Settings

    return Context(Settings(seed=1), detector, catalog.masks)


@pytest.fixture(scope="session")
def masked_pair_jpeg() -> bytes:
    """One photo: two people in white surgical masks, one unmasked person."""
    return scene_jpeg(
        [
            PersonSpec(170, asset=0),
            PersonSpec(190, asset=1, colour="paleblue", yaw=15),
            PersonSpec(150, masked=False, asset=1),
        ],
        size=(1200, 800),
        seed=3,
    )


@cache
def _package_index_error() -> str | None:
    """Why the package index cannot be reached, or None; asked once per session (pip's own config applies)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            probe = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, "six"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return "no answer in 60 s"
    return None if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["pip download failed"])[-1]


def pytest_runtest_setup(item):
    if item.get_closest_marker("network") and (error := _package_index_error()):
        pytest.skip(f"the package index is unreachable ({error})")

"""Shared fixtures: the real local detector (loaded once), the real catalog, synthetic masked photos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.synth import PersonSpec
from helpers import scene_jpeg

# Never read a developer's real config while testing.
os.environ.setdefault("MASKALBUM_CONFIG", "/nonexistent/maskalbum-test-config.toml")

ROOT = Path(__file__).resolve().parent.parent


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
        [PersonSpec(170, asset=0), PersonSpec(190, asset=1, colour="paleblue", yaw=15), PersonSpec(150, masked=False, asset=1)],
        size=(1200, 800),
        seed=3,
    )

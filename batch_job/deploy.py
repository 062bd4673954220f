"""The stack behind the AWS path (infra/maskalbum.yaml): deploy it through a change set, read its outputs
into the config file, check it (doctor), remove it.

Clients are passed in (CloudFormation, EC2, S3, ...), so the tests run all of
it against moto's server. The CLI (``cli/deploy_commands.py``) only asks,
prints and confirms.
"""

from __future__ import annotations

import io
import json
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_job.aws import AwsError, aws_errors
from batch_job.errors import UsageError

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "maskalbum.yaml"
# IAM roles without fixed names: CAPABILITY_IAM is enough (no CAPABILITY_NAMED_IAM).
CAPABILITIES = ["CAPABILITY_IAM"]
DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
FAILED_END = {
    "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED",
    "DELETE_FAILED", "UPDATE_FAILED",
}  # fmt: skip
# Stack outputs -> maskalbum settings (the config file's keys).
OUTPUT_SETTINGS = {
    "Bucket": "bucket",
    "JobQueue": "job_queue",
    "JobDefinition": "job_definition",
    "FinalizeJobDefinition": "finalize_job_definition",
    "Region": "region",
}
# When a stack has no outputs (moto's change sets compute none), the same values from its resources.
OUTPUT_RESOURCES = {
    "Bucket": "AlbumBucket",
    "JobQueue": "JobQueue",
    "JobDefinition": "ShardJobDefinition",
    "FinalizeJobDefinition": "FinalizeJobDefinition",
    "LogGroup": "JobLogGroup",
    "LineSecretArn": "LineSecret",
}


def template_body(path: Path | None = None) -> str:
    path = path or TEMPLATE
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no template at {path}: run from a maskalbum checkout or pass --template") from None


# -- parameters -----------------------------------------------------------------------------------


def default_network(ec2) -> tuple[str, list[str]]:
    """The account's default VPC in this region and its subnets (public, one per zone)."""
    with aws_errors("describe_vpcs"):
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise UsageError("this region has no default VPC: pass --vpc and --subnets (see docs/AWS.md, private subnets)")
    vpc = vpcs[0]["VpcId"]
    with aws_errors("describe_subnets"):
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    if not subnets:
        raise UsageError(f"the default VPC {vpc} has no subnets: pass --subnets")
    return vpc, sorted(s["SubnetId"] for s in subnets)


def parameters(values: dict[str, str | None]) -> list[dict[str, str]]:
    """CloudFormation parameters from the given values; None keeps the stack's previous value (or the default)."""
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items() if v is not None]


# -- change sets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    action: str  # Add | Modify | Remove
    logical_id: str
    resource_type: str
    replacement: str = ""  # True | False | Conditional for Modify


@dataclass
class Plan:
    stack: str
    change_set: str
    kind: str  # CREATE | UPDATE
    changes: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes


def stack_info(cfn, stack: str) -> dict | None:
    try:
        with aws_errors(f"describe_stacks {stack}"):
            return cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except AwsError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def plan_stack(
    cfn, stack: str, body: str, params: list[dict[str, Any]], sleep: Callable[[float], None] = time.sleep
) -> Plan:
    """Create a change set and wait until CloudFormation has worked out what it changes."""
    current = stack_info(cfn, stack)
    kind = "UPDATE" if current and current["StackStatus"] != "REVIEW_IN_PROGRESS" else "CREATE"
    if current and current["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        raise UsageError(f"stack {stack} is {current['StackStatus']}: run `maskalbum destroy` first, then deploy again")
    if kind == "UPDATE":
        # Parameters not given keep the stack's values, not the template defaults.
        given = {p["ParameterKey"] for p in params}
        params = params + [
            {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
            for p in (current or {}).get("Parameters", [])
            if p["ParameterKey"] not in given
        ]
    name = f"maskalbum-{int(time.time())}"
    try:
        with aws_errors(f"create_change_set {stack}"):
            cfn.create_change_set(
                StackName=stack, ChangeSetName=name, TemplateBody=body, Parameters=params, Capabilities=CAPABILITIES,
                ChangeSetType=kind, Tags=[{"Key": "app", "Value": "maskalbum"}],
            )  # fmt: skip
    except AwsError as exc:
        # AWS reports "no changes" as a FAILED change set (below); some endpoints (moto) refuse at once.
        if "No updates are to be performed" in str(exc):
            return Plan(stack, name, kind)
        raise
    delay = 1.0
    while True:
        with aws_errors(f"describe_change_set {name}"):
            found = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        status = found.get("Status", "")
        if status == "CREATE_COMPLETE":
            break
        if status == "FAILED":
            reason = found.get("StatusReason", "")
            # An update that changes nothing fails with this reason: not an error for us.
            if "didn't contain changes" in reason or "No updates" in reason:
                with aws_errors(f"delete_change_set {name}"):
                    cfn.delete_change_set(StackName=stack, ChangeSetName=name)
                return Plan(stack, name, kind)
            raise AwsError(f"change set for {stack} failed: {reason}")
        sleep(delay)
        delay = min(delay * 1.5, 5.0)
    changes = []
    for item in found.get("Changes", []):
        rc = item.get("ResourceChange", {})
        changes.append(
            Change(
                rc.get("Action", ""),
                rc.get("LogicalResourceId", ""),
                rc.get("ResourceType", ""),
                str(rc.get("Replacement", "") or ""),
            )
        )
    return Plan(stack, name, kind, changes)


def discard(cfn, plan: Plan) -> None:
    with aws_errors(f"delete_change_set {plan.change_set}"):
        cfn.delete_change_set(StackName=plan.stack, ChangeSetName=plan.change_set)
    if plan.kind == "CREATE":  # a change set of a new stack leaves it in REVIEW_IN_PROGRESS
        with aws_errors(f"delete_stack {plan.stack}"):
            cfn.delete_stack(StackName=plan.stack)


@dataclass(frozen=True)
class Event:
    logical_id: str
    resource_type: str
    status: str
    reason: str


def execute(cfn, plan: Plan, sleep: Callable[[float], None] = time.sleep) -> Iterator[Event]:
    """Run the change set; yields the stack's events as they come; raises AwsError if the stack rolls back."""
    with aws_errors(f"execute_change_set {plan.change_set}"):
        cfn.execute_change_set(StackName=plan.stack, ChangeSetName=plan.change_set)
    yield from follow(cfn, plan.stack, DONE, sleep)


def follow(
    cfn, stack: str, done: set[str], sleep: Callable[[float], None] = time.sleep, gone_ok: bool = False
) -> Iterator[Event]:
    seen: set[str] = set()
    started = time.time()
    delay = 2.0
    while True:
        info = stack_info(cfn, stack)
        if info is None:
            if gone_ok:
                return
            raise AwsError(f"stack {stack} disappeared")
        with aws_errors(f"describe_stack_events {stack}"):
            events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        for e in reversed(events):  # oldest first
            if e["EventId"] in seen or e["Timestamp"].timestamp() < started - 5:
                continue
            seen.add(e["EventId"])
            yield Event(
                e.get("LogicalResourceId", ""),
                e.get("ResourceType", ""),
                e.get("ResourceStatus", ""),
                e.get("ResourceStatusReason", ""),
            )
        status = info["StackStatus"]
        if status in done:
            return
        if status in FAILED_END:
            raise AwsError(f"stack {stack} ended {status}: {info.get('StackStatusReason', 'see the events above')}")
        sleep(delay)
        delay = min(delay * 1.3, 10.0)


# -- outputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackValues:
    stack: str
    region: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    def get(self, key: str) -> str:
        return self.outputs.get(key, "")

    @property
    def max_containers(self) -> int:
        vcpus = float(self.parameters.get("MaxVcpus") or self.outputs.get("MaxVcpus") or 32)
        per_job = float(self.parameters.get("ShardVcpu") or self.outputs.get("ShardVcpu") or 2)
        return max(1, int(vcpus // per_job))

    def settings(self) -> dict[str, str | int]:
        """What the config file gets, so `maskalbum submit ALBUM` needs no flag."""
        found: dict[str, str | int] = {
            OUTPUT_SETTINGS[k]: v for k, v in self.outputs.items() if k in OUTPUT_SETTINGS and v
        }
        found.setdefault("region", self.region)
        found["max_containers"] = self.max_containers
        found["stack"] = self.stack
        if self.get("Repository"):
            found["image"] = f"{self.get('Repository')}:{self.get('ImageTag') or self.parameters.get('ImageTag', '')}"
        return found


def stack_values(cfn, stack: str, region: str) -> StackValues:
    info = stack_info(cfn, stack)
    if info is None:
        raise UsageError(f"no stack {stack} in {region}: run `maskalbum deploy`")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in info.get("Outputs") or []}
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in info.get("Parameters") or []}
    if not outputs.get("Bucket"):
        with aws_errors(f"describe_stack_resources {stack}"):
            resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
        physical = {r.get("LogicalResourceId"): r.get("PhysicalResourceId", "") for r in resources}
        outputs = {key: physical[logical] for key, logical in OUTPUT_RESOURCES.items() if physical.get(logical)}
        repo = physical.get("Repository")
        account = info["StackId"].split(":")[4]
        if repo:
            outputs["Repository"] = f"{account}.dkr.ecr.{region}.amazonaws.com/{repo}"
        outputs["ImageTag"] = params.get("ImageTag", "")
        outputs["Region"] = region
    return StackValues(stack, region, outputs, params)


def write_config(path: Path, values: dict[str, str | int]) -> dict:
    """Merge ``values`` into the TOML config file (other keys kept); returns the whole new config."""
    try:
        current = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML ({exc}); fix or move it, then deploy again") from exc
    current.update(values)
    out = io.StringIO()
    out.write(
        "# maskalbum settings (flags and MASKALBUM_* variables override these). `maskalbum deploy` wrote the "
        "AWS keys.\n"
    )
    for key in sorted(current):
        out.write(f"{key} = {_toml(current[key])}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(out.getvalue(), encoding="utf-8")
    tmp.replace(path)
    return current


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def push_commands(values: StackValues, line_bot: bool = False) -> list[str]:
    """The shell commands that build the worker image and push it where the job definitions look."""
    repo = values.get("Repository")
    tag = values.get("ImageTag") or values.parameters.get("ImageTag", "")
    registry = repo.split("/", 1)[0]
    lines = [
        f"aws ecr get-login-password --region {values.region} | docker login --username AWS --password-stdin "
        f"{registry}",
        f"docker build --platform linux/amd64 -t {repo}:{tag} .",
        f"docker push {repo}:{tag}",
    ]
    if line_bot:
        lines += [
            f"docker build --platform linux/amd64 -f infra/lambda/Dockerfile -t {repo}:line-bot-{tag} .",
            f"docker push {repo}:line-bot-{tag}",
        ]
    return lines


# -- destroy --------------------------------------------------------------------------------------


def empty_bucket(s3, bucket: str) -> int:
    """Delete every object (and version) in ``bucket``; returns how many."""
    removed = 0
    with aws_errors(f"empty s3://{bucket}"):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(doomed), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True})
            removed += len(doomed)
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    return removed


def empty_repository(ecr, repository_uri: str) -> int:
    """Delete the images of the stack's repository. The template sets EmptyOnDelete, which AWS honours;
    emptying first also lets a stack deployed before that property (or moto, which ignores it) go."""
    name = repository_uri.split("/", 1)[1] if "/" in repository_uri else repository_uri
    with aws_errors(f"list_images {name}"):
        try:
            ids = [
                i for page in ecr.get_paginator("list_images").paginate(repositoryName=name) for i in page["imageIds"]
            ]
        except ecr.exceptions.RepositoryNotFoundException:
            return 0
        for start in range(0, len(ids), 100):
            ecr.batch_delete_image(repositoryName=name, imageIds=ids[start : start + 100])
    return len(ids)


def destroy(
    cfn, s3, ecr, values: StackValues, delete_albums: bool, sleep: Callable[[float], None] = time.sleep
) -> Iterator[Event]:
    """Delete the stack. The bucket is kept (DeletionPolicy Retain) unless ``delete_albums``."""
    if values.get("Repository"):
        empty_repository(ecr, values.get("Repository"))
    with aws_errors(f"delete_stack {values.stack}"):
        cfn.delete_stack(StackName=values.stack)
    yield from follow(cfn, values.stack, {"DELETE_COMPLETE"}, sleep, gone_ok=True)
    bucket = values.get("Bucket")
    if delete_albums and bucket:
        empty_bucket(s3, bucket)
        with aws_errors(f"delete_bucket {bucket}"):
            s3.delete_bucket(Bucket=bucket)


# -- doctor ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _check(name: str, fn: Callable[[], str], fix: str) -> Check:
    try:
        return Check(name, True, fn())
    except (AwsError, UsageError) as exc:
        return Check(name, False, str(exc), fix)


def doctor(clients: Callable[[str], Any], settings, region: str, probe_image: bytes) -> list[Check]:
    """Every check, in the order a new user meets the failures; each failing one says what to do."""
    checks: list[Check] = []

    def identity() -> str:
        with aws_errors("sts get_caller_identity"):
            me = clients("sts").get_caller_identity()
        return f"{me['Arn']} (account {me['Account']})"

    checks.append(_check("credentials", identity, "configure credentials: `aws configure`, AWS_PROFILE or --profile"))
    checks.append(Check("region", True, region))
    if not checks[0].ok:
        return checks
    values: StackValues | None = None

    def stack() -> str:
        nonlocal values
        info = stack_info(clients("cloudformation"), settings.stack)
        if info is None:
            raise UsageError(f"no stack {settings.stack} in {region}")
        if info["StackStatus"] not in DONE:
            raise UsageError(f"stack {settings.stack} is {info['StackStatus']}")
        values = stack_values(clients("cloudformation"), settings.stack, region)
        return f"{settings.stack}: {info['StackStatus']}"

    checks.append(_check("stack", stack, "run `maskalbum deploy` (add --region if the stack is elsewhere)"))
    if values is None:
        return checks

    def config() -> str:
        wanted = values.settings()
        wrong = [k for k in ("bucket", "job_queue", "job_definition") if getattr(settings, k) != wanted.get(k)]
        if wrong:
            raise UsageError(f"{', '.join(wrong)} differ from the stack's outputs")
        return "bucket, job queue and job definitions are the stack's"

    checks.append(_check("config", config, "run `maskalbum deploy` again: it rewrites the config file from the stack"))

    def queue() -> str:
        batch = clients("batch")
        with aws_errors("describe_job_queues"):
            found = batch.describe_job_queues(jobQueues=[values.get("JobQueue")])["jobQueues"]
        if not found:
            raise UsageError(f"job queue {values.get('JobQueue')} not found")
        q = found[0]
        if (q["state"], q["status"]) != ("ENABLED", "VALID"):
            raise UsageError(f"job queue is {q['state']}/{q['status']}: {q.get('statusReason', '')}")
        envs = [o["computeEnvironment"] for o in q["computeEnvironmentOrder"]]
        with aws_errors("describe_compute_environments"):
            ces = batch.describe_compute_environments(computeEnvironments=envs)["computeEnvironments"]
        bad = [
            f"{c['computeEnvironmentName']} {c['state']}/{c['status']}"
            for c in ces
            if (c["state"], c["status"]) != ("ENABLED", "VALID")
        ]
        if bad:
            raise UsageError("compute environment(s) not ready: " + ", ".join(bad))
        return f"{q['jobQueueName']} ENABLED/VALID, {len(ces)} compute environment(s) ENABLED/VALID"

    checks.append(
        _check(
            "job queue",
            queue,
            "see the compute environment's statusReason in the Batch console (subnets, service role)",
        )
    )

    def definitions() -> str:
        batch = clients("batch")
        names = [values.get("JobDefinition"), values.get("FinalizeJobDefinition")]
        with aws_errors("describe_job_definitions"):
            found = batch.describe_job_definitions(jobDefinitions=[n for n in names if n])["jobDefinitions"]
        active = [d for d in found if d["status"] == "ACTIVE"]
        if len(active) < len([n for n in names if n]):
            raise UsageError("a job definition of the stack is not ACTIVE")
        return ", ".join(f"{d['jobDefinitionName']}:{d['revision']}" for d in active)

    checks.append(_check("job definitions", definitions, "run `maskalbum deploy` again"))

    def image() -> str:
        repo = values.get("Repository")
        name, tag = repo.split("/", 1)[1], values.get("ImageTag") or values.parameters.get("ImageTag", "")
        try:
            with aws_errors(f"describe_images {name}:{tag}"):
                found = clients("ecr").describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])[
                    "imageDetails"
                ]
        except AwsError as exc:
            if "ImageNotFound" in str(exc):
                raise UsageError(f"no image {repo}:{tag}") from None
            raise
        return f"{repo}:{tag} ({found[0].get('imageSizeInBytes', 0) / 1e6:.0f} MB)"

    push = "; ".join(push_commands(values))
    checks.append(_check("image", image, f"build and push it: {push}"))

    def rekognition() -> str:
        # One DetectFaces call on an 80 px grey picture: checks reachability and permission (~$0.001).
        try:
            with aws_errors("rekognition detect_faces"):
                answer = clients("rekognition").detect_faces(Image={"Bytes": probe_image}, Attributes=["ALL"])
        except AwsError as exc:
            if "AccessDenied" in str(exc):
                raise UsageError(f"not allowed: {exc}") from None
            raise
        return f"DetectFaces answered ({len(answer.get('FaceDetails', []))} faces in the probe)"

    checks.append(
        _check(
            "rekognition",
            rekognition,
            "Rekognition must be offered in this region and allowed for you (rekognition:DetectFaces)",
        )
    )
    return checks

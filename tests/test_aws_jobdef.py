"""job_definition.json: botocore's RegisterJobDefinition input shape plus the rules botocore does not
know; registration on moto's server reuses an ACTIVE revision with the same content."""

from __future__ import annotations

import copy
import os

import boto3
import pytest

from batch_job import jobdef
from batch_job.aws import BatchJobs
from batch_job.errors import UsageError
from testing.aws_fakes import aws_env, moto_server

ROLE = "arn:aws:iam::123456789012:role/maskalbum-job"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/maskalbum:1.0"


@pytest.fixture
def definition() -> dict:
    return jobdef.fill(jobdef.load(jobdef.default_path()), IMAGE, ROLE, ROLE)


def test_the_shipped_definition_is_valid_once_filled(definition):
    assert jobdef.shape_problems(definition) == []
    assert jobdef.problems(definition) == []
    jobdef.check(definition)
    template = jobdef.load(jobdef.default_path())
    assert set(jobdef.placeholders(template)) >= {"<ACCOUNT_ID>", "<REGION>", "<TAG>"}
    with pytest.raises(UsageError, match="placeholders not filled in"):
        jobdef.check(template)


def test_line_token_comes_from_secrets_manager_not_the_environment(definition):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:maskalbum/line-AbCdEf"
    filled = jobdef.fill(definition, line_token_secret_arn=arn)
    # One key of the JSON secret, not the whole document (LINE answers 401 to that).
    assert filled["containerProperties"]["secrets"] == [
        {"name": "LINE_CHANNEL_ACCESS_TOKEN", "valueFrom": arn + ":LINE_CHANNEL_ACCESS_TOKEN::"}
    ]
    keyed = arn + ":LINE_CHANNEL_ACCESS_TOKEN::"
    assert (
        jobdef.fill(definition, line_token_secret_arn=keyed)["containerProperties"]["secrets"][0]["valueFrom"] == keyed
    )
    assert jobdef.shape_problems(filled) == []
    env_names = {e["name"] for e in filled["containerProperties"].get("environment", [])}
    assert "LINE_CHANNEL_ACCESS_TOKEN" not in env_names
    # Filling twice does not duplicate the entry; the plain definition carries no secret.
    assert len(jobdef.fill(filled, line_token_secret_arn=arn)["containerProperties"]["secrets"]) == 1
    assert "secrets" not in definition["containerProperties"]


def test_the_shipped_definition_retries_infrastructure_and_nothing_else(definition):
    rules = definition["retryStrategy"]["evaluateOnExit"]
    assert rules[-1] == {"onReason": "*", "action": "EXIT"}
    retried = {r.get("onExitCode") for r in rules if r["action"] == "RETRY"}
    assert retried == {None, "7*"}  # the worker's 74-77; not 1 (a bug) or 2 (configuration)
    assert any(r.get("onStatusReason", "").startswith("Host EC2") for r in rules)
    container = definition["containerProperties"]
    assert container["command"] == ["shard"]
    assert definition["platformCapabilities"] == ["FARGATE"] and definition["propagateTags"] is True
    assert container["networkConfiguration"]["assignPublicIp"] == "ENABLED"
    assert container["logConfiguration"]["logDriver"] == "awslogs"


def _broken(definition: dict, change) -> dict:
    d = copy.deepcopy(definition)
    change(d)
    return d


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["containerProperties"]["resourceRequirements"][1].update(value="2048"), "does not go with VCPU 2"),
        (lambda d: d["containerProperties"]["resourceRequirements"][0].update(value="3"), "not a Fargate size"),
        (lambda d: d["retryStrategy"].update(attempts=11), "attempts must be 1..10"),
        (lambda d: d["retryStrategy"]["evaluateOnExit"].insert(0, {"onExitCode": "1", "action": "EXIT"}), "at most 5"),
        (lambda d: d["retryStrategy"]["evaluateOnExit"].pop(), "must end with"),
        (
            lambda d: d["retryStrategy"]["evaluateOnExit"].__setitem__(0, {"onExitCode": "7x*", "action": "RETRY"}),
            "digits",
        ),
        (lambda d: d["timeout"].update(attemptDurationSeconds=30), "at least 60"),
        (lambda d: d["containerProperties"].pop("executionRoleArn"), "executionRoleArn"),
        (lambda d: d["containerProperties"]["environment"].append({"name": "AWS_BATCH_X", "value": "1"}), "reserved"),
        (lambda d: d["containerProperties"].update(cpus=2), "Unknown parameter"),
        (lambda d: d.update(timeout={"attemptDurationSeconds": "3600"}), "Invalid type"),
    ],
)
def test_bad_definitions_are_refused(definition, change, message):
    with pytest.raises(UsageError, match=message):
        jobdef.check(_broken(definition, change))


def test_fargate_pairs():
    def pair(vcpu: str, memory: str) -> list[str]:
        d = {"platformCapabilities": ["FARGATE"], "containerProperties": {"resourceRequirements": [
            {"type": "VCPU", "value": vcpu}, {"type": "MEMORY", "value": memory}]}}  # fmt: skip
        return [p for p in jobdef.problems(d) if "MEMORY" in p or "VCPU" in p]

    assert pair("0.25", "2048") == [] and pair("0.25", "1536") != []
    assert pair("4", "30720") == [] and pair("4", "31744") != []
    assert pair("8", "20480") == [] and pair("8", "17408") != []  # 4096 steps above 4 vCPU
    assert pair("16", "122880") == [] and pair("16", "36864") != []


def test_registration_is_idempotent(definition, monkeypatch):
    with moto_server() as endpoint:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        for key, value in aws_env(endpoint).items():
            monkeypatch.setenv(key, value)
        jobs = BatchJobs(boto3.client("batch"))
        arn, reused = jobdef.register(definition, jobs)
        assert (arn.endswith("job-definition/maskalbum:1"), reused) == (True, False)
        assert jobdef.register(copy.deepcopy(definition), jobs) == (arn, True)
        newer = jobdef.fill(definition, image=IMAGE.replace("1.0", "1.1"))
        arn2, reused2 = jobdef.register(newer, jobs)
        assert (arn2.endswith("maskalbum:2"), reused2) == (True, False)
        assert jobdef.register(definition, jobs) == (arn, True)  # the older content is still ACTIVE


def test_the_iam_examples_grant_what_the_code_calls():
    import json
    from pathlib import Path

    folder = Path(jobdef.__file__).resolve().parent.parent / "infra" / "batch"
    policies = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json")}

    def actions(name: str) -> set[str]:
        found = set()
        for statement in policies[name].get("Statement", []):
            listed = statement["Action"]
            found.update([listed] if isinstance(listed, str) else listed)
        return found

    # The container: reads input, writes outputs and records, aborts a failed zip upload, calls DetectFaces.
    assert {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:AbortMultipartUpload",
        "rekognition:DetectFaces",
    } <= actions("job-role-policy.json")
    # The submitter: uploads, stale-shard cleanup, jobs (cancel, logs), and handing the roles to Batch.
    submitter = {
        "s3:PutObject", "s3:DeleteObject", "batch:SubmitJob", "batch:DescribeJobs", "batch:RegisterJobDefinition",
        "batch:TerminateJob", "logs:GetLogEvents", "batch:DescribeJobDefinitions", "batch:TagResource", "iam:PassRole",
    }  # fmt: skip
    assert submitter <= actions("submitter-policy.json")
    assert policies["ecs-tasks-trust.json"]["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert policies["bucket-lifecycle.json"]["Rules"][0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1

"""From nothing to a downloaded album on moto's server, the way docs/AWS.md tells a new user:
`maskalbum deploy` (infra/maskalbum.yaml through a change set), `doctor`, `submit ALBUM` with no flag,
the Batch containers run as Batch would run them, then `status ID`, `download ID`, `cancel ID`, `destroy`.

What moto 5.2's CloudFormation cannot do, and how the test lives with it:
- AWS::S3::BucketPolicy, AWS::SecretsManager::Secret, AWS::Lambda::Url are not implemented (moto skips
  them with a warning): the TLS-only bucket policy is checked in the template text; the LINE resources
  are off by default (CreateLineSecret / WithLineBot parameters), so the deployed stack does not need them.
- AWS::S3::Bucket applies BucketEncryption and Tags only (not PublicAccessBlockConfiguration,
  LifecycleConfiguration, OwnershipControls): those are checked in the template text too.
- AWS::Batch::ComputeEnvironment requires ServiceRole there (AWS uses its service-linked role when it is
  left out): the hidden `--batch-service-role` fills the BatchServiceRoleArn parameter.
- ExecuteChangeSet computes no Outputs: deploy reads the values from the stack's resources then.
- Job definitions lose PlatformCapabilities, Timeout and PropagateTags; the template's own values are
  checked against batch_job.jobdef's rules below instead.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from batch_job import jobdef
from batch_job.detect.face import Face
from cli.app import app
from testing.aws_fakes import (
    FakeRekognition,
    aws_env,
    batch_container,
    detect_faces_response,
    face_detail,
    moto_server,
    process_env,
)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips BucketPolicy (see above)
ROOT = Path(__file__).resolve().parent.parent
ALBUM = ROOT / "examples" / "choshi_trip"
TEMPLATE = ROOT / "infra" / "maskalbum.yaml"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.output


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    with moto_server() as endpoint, pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith(("AWS_", "MASKALBUM_"))]:
            mp.delenv(key)
        env = aws_env(endpoint, MASKALBUM_CONFIG=str(home / "config.toml"))
        for key, value in env.items():
            mp.setenv(key, value)
        role = boto3.client("iam").create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        yield env, home / "config.toml", role


@pytest.fixture(scope="module")
def fake_rekognition():
    """DetectFaces as AWS answers it (shaped per Attributes), for the faces a local model sees in the sent image."""
    from batch_job.detect.local import LocalDetector
    from batch_job.imaging import Photo

    detector = LocalDetector()

    def answer(image: bytes) -> dict:
        photo = Photo(image)
        # Rekognition misses faces under ~40 px in the 1920 px image: the local model in the container must find them.
        faces: list[Face] = [f for f in detector.detect(photo) if f.box.w >= 40]
        return detect_faces_response([face_detail(f, photo.size) for f in faces], ["ALL"])

    with FakeRekognition(answer, latency=0.01) as fake:
        yield fake


@pytest.fixture(scope="module")
def deployed(account):
    _env, _config, role = account
    code, out, text = cli("deploy", "--yes", "--batch-service-role", role)
    assert code == 0, text
    return out


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")  # the console script beside this interpreter
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_template_is_what_docs_say(deployed):
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    resources = template["Resources"]
    bucket = resources["AlbumBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values())
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["abandoned-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert (
        rules["old-albums"]["Prefix"] == "albums/" and rules["old-albums"]["ExpirationInDays"] == "AlbumRetentionDays"
    )
    policy = resources["AlbumBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The job definitions follow the same rules as job_definition.json (botocore shape + jobdef.problems).
    for name, vcpu in (("ShardJobDefinition", "2"), ("FinalizeJobDefinition", "1")):
        props = resources[name]["Properties"]
        definition = _lower_keys(props) | {"jobDefinitionName": name}
        container = definition["containerProperties"]
        container.pop("secrets", None)
        for key in ("image", "jobRoleArn", "executionRoleArn"):
            container[key] = "x"
        container["resourceRequirements"] = [
            {"type": "VCPU", "value": vcpu}, {"type": "MEMORY", "value": "8192" if vcpu == "2" else "2048"},
        ]  # fmt: skip
        container["networkConfiguration"] = {"assignPublicIp": "ENABLED"}
        container["logConfiguration"]["options"] = {"awslogs-group": "g", "awslogs-stream-prefix": "p"}
        definition["tags"] = {"app": "maskalbum"}
        assert jobdef.problems(definition) == [], name
        assert jobdef.shape_problems(definition) == [], name


def test_deploy_creates_the_stack_and_writes_the_config(account, deployed):
    _env, config, role = account
    settings = tomllib.loads(config.read_text())
    assert {"bucket", "job_queue", "job_definition", "finalize_job_definition", "region", "max_containers"} <= set(
        settings
    )
    assert settings["max_containers"] == 16  # 32 vCPUs / 2 per shard
    assert "docker push" in deployed and f"{settings['image']}" in deployed
    s3 = boto3.client("s3")
    encryption = s3.get_bucket_encryption(Bucket=settings["bucket"])["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    batch = boto3.client("batch")
    queue = batch.describe_job_queues(jobQueues=[settings["job_queue"]])["jobQueues"][0]
    assert (queue["state"], queue["status"]) == ("ENABLED", "VALID")
    kinds = [
        batch.describe_compute_environments(computeEnvironments=[o["computeEnvironment"]])["computeEnvironments"][0][
            "computeResources"
        ]["type"]
        for o in sorted(queue["computeEnvironmentOrder"], key=lambda o: o["order"])
    ]
    assert kinds == ["FARGATE_SPOT", "FARGATE"]  # Spot first, on-demand behind it
    shard = batch.describe_job_definitions(jobDefinitions=[settings["job_definition"]])["jobDefinitions"][0]
    final = batch.describe_job_definitions(jobDefinitions=[settings["finalize_job_definition"]])["jobDefinitions"][0]
    assert shard["containerProperties"]["command"] == ["shard"] and final["containerProperties"]["command"] == [
        "finalize"
    ]
    assert {r["type"]: str(r["value"]) for r in final["containerProperties"]["resourceRequirements"]} == {
        "VCPU": "1",
        "MEMORY": "2048",
    }
    retention = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/maskalbum/")["logGroups"][0]
    assert retention["retentionInDays"] == 30
    # Deploying again changes nothing and says so.
    code, out, text = cli("deploy", "--yes", "--batch-service-role", role)
    assert code == 0, text
    assert "nothing to change" in out


def test_doctor_says_what_to_fix_then_passes(account, deployed, fake_rekognition, monkeypatch):
    code, out, _ = cli("doctor")
    assert code == 3
    assert "FAIL image" in out and "docker push" in out
    settings = tomllib.loads(account[1].read_text())
    repo, tag = settings["image"].split("/", 1)[1].split(":")
    boto3.client("ecr").put_image(
        repositoryName=repo,
        imageManifest=json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "layers": []}),
        imageTag=tag,
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", fake_rekognition.url)
    code, out, text = cli("doctor")
    assert code == 0, text
    for name in ("credentials", "stack", "config", "job queue", "job definitions", "image", "rekognition"):
        assert f"ok   {name}" in out


def run_jobs(env: dict, batch, submission: dict, extra: dict) -> None:
    children = range(submission["shards"]) if submission["array"] else [None]
    for role, job_id, indexes in (
        ("shard", submission["shard_job_id"], children),
        ("finalize", submission["finalize_job_id"], [None]),
    ):
        procs = []
        for index in indexes:
            command, job_env = batch_container(batch, job_id, index)
            proc = subprocess.Popen(
                [sys.executable, "-m", "batch_job", *command], env=process_env({**env, **job_env, **extra}), cwd=ROOT,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            procs.append(proc)
        for proc in procs:
            log = proc.communicate(timeout=300)[0]
            assert proc.returncode == 0, f"{role}:\n{log}"


def test_submit_with_no_flag_then_status_download_cancel_by_id(account, deployed, fake_rekognition, tmp_path):
    env, _config, _role = account
    code, out, text = cli("submit", str(ALBUM), "--json")
    assert code == 0, text
    submission = json.loads(out)
    album_id = submission["album_id"]
    assert album_id.startswith("choshi_trip-")

    batch = boto3.client("batch")
    run_jobs(env, batch, submission, {"AWS_ENDPOINT_URL_REKOGNITION": fake_rekognition.url})
    assert fake_rekognition.attributes and all(a == ["ALL"] for a in fake_rekognition.attributes)

    code, out, text = cli("status", album_id, "--json")
    assert code == 0, text
    status = json.loads(out)
    assert status["state"] == "done"
    photos = sum(1 for p in ALBUM.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".heic"))
    assert status["summary"]["photos"] == photos
    assert status["summary"]["files"] == photos + 1  # and notes.txt, skipped

    code, out, text = cli("download", album_id, "--dest", str(tmp_path), "--extract")
    assert code == 0, text
    with zipfile.ZipFile(tmp_path / f"{album_id}.zip") as zf:
        names = zf.namelist()
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert len([n for n in names if n.startswith("images/")]) == photos
    assert sorted(r["detector"] for r in rows if r["status"] != "skipped") == ["rekognition"] * photos
    assert sum(int(r["faces_masked"]) for r in rows) >= 3  # the synthetic masked people got monster masks

    code, _out, text = cli("cancel", album_id)
    assert code == 0, text
    assert json.loads(cli("status", album_id, "--json")[1])["state"] == "done"  # finished albums stay done


def test_destroy_keeps_the_albums(account, deployed):
    settings = tomllib.loads(account[1].read_text())
    code, _out, text = cli("destroy", "--yes")
    assert code == 0, text
    assert boto3.client("cloudformation").describe_stacks()["Stacks"] == [] or all(
        s["StackStatus"] == "DELETE_COMPLETE" for s in boto3.client("cloudformation").describe_stacks()["Stacks"]
    )
    assert boto3.client("s3").list_objects_v2(Bucket=settings["bucket"], Prefix="albums/")["KeyCount"] > 0


# -- helpers --------------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) read as plain values."""


def _tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_CfnLoader.add_multi_constructor("!", _tag)


def _lower_keys(value):
    if isinstance(value, dict):
        return {(k[0].lower() + k[1:] if k[0].isupper() else k): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def test_destroy_with_delete_albums_removes_the_bucket_too(account):
    _env, config, role = account
    code, _out, text = cli("deploy", "--stack", "scratch", "--yes", "--batch-service-role", role)
    assert code == 0, text
    bucket = tomllib.loads(config.read_text())["bucket"]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="albums/x-20261201-000000/input.json", Body=b"{}")
    code, _out, text = cli("destroy", "--stack", "scratch", "--yes", "--delete-albums")
    assert code == 0, text
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}

"""Storage, IAM, tags, protection and naming, over the recorded program of every stack file."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config_schema import PROJECT_ROOT, load_stack_config
from infra.settings import SettingsError, settings_from_values
from tests.infra import checks
from tests.infra.conftest import recording_of
from tests.infra.harness import Recording, run_program, stack_names


def test_every_stack_file_records_the_whole_program(recording: Recording) -> None:
    types = {r.type for r in recording.resources}
    for expected in (
        "aws:kms/key:Key",
        checks.BUCKET,
        checks.ROLE,
        "aws:sagemaker/trainingJob:TrainingJob",
        "aws:sagemaker/pipeline:Pipeline",
        "aws:sagemaker/endpoint:Endpoint",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/dashboard:Dashboard",
    ):
        assert expected in types
    assert len(recording.of_type(checks.BUCKET)) == 3


def test_buckets_are_encrypted_versioned_private_and_tls_only(recording: Recording) -> None:
    assert checks.bucket_problems(recording) == []


def test_bucket_check_fails_on_broken_encryption() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    encryption = broken.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )[0]
    encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = "AES256"
    assert any("SSE-KMS" in p for p in checks.bucket_problems(broken))


def test_bucket_check_fails_without_tls_policy_or_versioning() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    broken.resources = [r for r in broken.resources if r.type != "aws:s3/bucketPolicy:BucketPolicy"]
    broken.of_type("aws:s3/bucketVersioning:BucketVersioning")[0].inputs["versioningConfiguration"][
        "status"
    ] = "Suspended"
    problems = checks.bucket_problems(broken)
    assert sum("non-TLS" in p for p in problems) == 3
    assert sum("versioning" in p for p in problems) == 1


def test_kms_key_rotates_and_is_aliased_per_stack(recording: Recording) -> None:
    key = recording.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert recording.one("aws:kms/alias:Alias").inputs["name"] == f"alias/sagestack-{recording.stack}"


def test_captured_traffic_expires_after_the_stack_retention(recording: Recording) -> None:
    config = load_stack_config(recording.stack)
    retention = int(config.values["captureRetentionDays"])
    capture = next(b for b in recording.of_type(checks.BUCKET) if "-capture-" in b.inputs["bucket"])
    lifecycle = next(
        lc
        for lc in recording.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if lc.inputs["bucket"] == capture.physical_id
    )
    assert [r["expiration"]["days"] for r in lifecycle.inputs["rules"] if "expiration" in r] == [retention]


def test_iam_is_least_privilege(recording: Recording) -> None:
    assert checks.iam_problems(recording) == []


def test_iam_check_fails_on_wildcard_action_and_managed_full_access() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    role = broken.of_type(checks.ROLE)[0]
    policy = json.loads(role.inputs["inlinePolicies"][0]["policy"])
    policy["Statement"].append({"Sid": "Oops", "Effect": "Allow", "Action": "*", "Resource": "*"})
    policy["Statement"].append({"Sid": "Wide", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]})
    role.inputs["inlinePolicies"][0]["policy"] = json.dumps(policy)
    role.inputs["managedPolicyArns"] = ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"]
    problems = checks.iam_problems(broken)
    assert any("Action '*'" in p for p in problems)
    assert any("service-wide" in p for p in problems)
    assert any("FullAccess" in p for p in problems)


def test_sagemaker_roles_trust_only_this_account(recording: Recording) -> None:
    for role in recording.of_type(checks.ROLE):
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        if trust["Principal"]["Service"] == "sagemaker.amazonaws.com":
            assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_permissions_boundary_is_applied_to_every_role() -> None:
    boundary = "arn:aws:iam::123456789012:policy/platform-boundary"
    recording = run_program("staging", {"permissionsBoundaryArn": boundary})
    roles = recording.of_type(checks.ROLE)
    assert len(roles) >= 3
    assert all(role.inputs["permissionsBoundary"] == boundary for role in roles)
    assert all(
        "permissionsBoundary" not in role.inputs for role in recording_of("staging").of_type(checks.ROLE)
    )


def test_every_aws_resource_carries_the_default_tags(recording: Recording) -> None:
    assert checks.tag_problems(recording) == []
    provider = next(r for r in recording.resources if r.type == "pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags["stack"] == recording.stack and tags["project"] == "sagestack"


def test_tag_check_fails_when_a_tag_is_missing() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    provider = next(r for r in broken.resources if r.type == "pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])
    del tags["tags"]["cost-centre"]
    provider.inputs["defaultTags"] = json.dumps(tags)
    assert any("cost-centre" in p for p in checks.tag_problems(broken))


@pytest.mark.parametrize("stack", stack_names())
def test_stateful_resources_are_protected_exactly_where_configured(stack: str) -> None:
    recording = recording_of(stack)
    config = load_stack_config(stack)
    settings = settings_from_values(stack, config.region, config.values)
    stateful = [*recording.of_type(checks.BUCKET), recording.one("aws:kms/key:Key")]
    assert {(r.protect, r.retain_on_delete) for r in stateful} == {(settings.storage.protect,) * 2}
    for bucket in recording.of_type(checks.BUCKET):
        assert bucket.inputs.get("forceDestroy", False) is (
            settings.storage.force_destroy and not settings.storage.protect
        )


def test_prod_is_protected_and_dev_is_disposable() -> None:
    assert all(b.protect for b in recording_of("prod").of_type(checks.BUCKET))
    assert all(b.inputs["forceDestroy"] for b in recording_of("dev").of_type(checks.BUCKET))


NAMED = {  # resource type -> the input holding its physical name
    checks.BUCKET: "bucket",
    checks.ROLE: "name",
    "aws:kms/alias:Alias": "name",
    "aws:sagemaker/trainingJob:TrainingJob": "trainingJobName",
    "aws:sagemaker/endpoint:Endpoint": "name",
    "aws:sagemaker/pipeline:Pipeline": "pipelineName",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "modelPackageGroupName",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:sns/topic:Topic": "name",
    "aws:lambda/function:Function": "name",
    "aws:cloudwatch/eventRule:EventRule": "name",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "namePrefix",
}


def physical_names(recording: Recording) -> set[str]:
    names = set()
    for resource in recording.aws_resources():
        if resource.type in NAMED:
            names.add(resource.inputs[NAMED[resource.type]])
    return names


def test_physical_names_carry_the_stack_name(recording: Recording) -> None:
    for name in physical_names(recording):
        assert f"sagestack-{recording.stack}" in name


def test_two_stacks_in_one_account_share_no_physical_name() -> None:
    stacks = stack_names()
    for i, first in enumerate(stacks):
        for second in stacks[i + 1 :]:
            assert physical_names(recording_of(first)) & physical_names(recording_of(second)) == set()


def _generated_fork(tmp_path: Path, name: str, region: str, extra: str = "") -> Path:
    """A fork as a team makes it: Pulumi.<name>.yaml plus policy/config/<name>.json, nothing else."""
    for source in PROJECT_ROOT.glob("Pulumi*.yaml"):
        (tmp_path / source.name).write_text(source.read_text())
    (tmp_path / f"Pulumi.{name}.yaml").write_text(
        f"config:\n  aws:region: {region}\n  sagestack:owner: team-a\n  sagestack:costCentre: cc-42\n{extra}"
    )
    (tmp_path / "policy" / "config").mkdir(parents=True)
    for source in (PROJECT_ROOT / "policy" / "config").glob("*.json"):
        (tmp_path / "policy" / "config" / source.name).write_text(source.read_text())
    (tmp_path / "policy" / "config" / f"{name}.json").write_text(
        (PROJECT_ROOT / "policy" / "config" / "dev.json").read_text()
    )
    return tmp_path


def test_a_generated_fork_is_found_recorded_and_put_in_the_ci_matrix(tmp_path: Path) -> None:
    """Dropping a Pulumi.<name>.yaml and its pack config into the project is all a team does."""
    root = _generated_fork(tmp_path, "team-a", "eu-central-1")
    assert "team-a" in stack_names(root)
    recording = run_program("team-a", root=root)
    assert recording.outputs["region"] == "eu-central-1"
    assert checks.bucket_problems(recording) == [] and checks.iam_problems(recording) == []
    assert physical_names(recording) and all("sagestack-team-a" in n for n in physical_names(recording))
    matrix = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tools" / "stack_matrix.py"), "--root", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(matrix.stdout) == stack_names(root)


def test_a_broken_fork_errors_alone(tmp_path: Path) -> None:
    root = _generated_fork(tmp_path, "broken", "eu-central-1", "  sagestack:endpointInstanceCont: 3\n")
    with pytest.raises(SettingsError, match="did you mean sagestack:endpointInstanceCount"):
        run_program("broken", root=root)
    # the next stack runs cleanly in the same process: no state leaks out of the failed run
    assert recording_of("dev").outputs["region"] == "us-east-1"
    assert run_program("dev").outputs["region"] == "us-east-1"


def test_the_ci_matrix_refuses_a_fork_without_pack_config_or_with_a_bad_name(tmp_path: Path) -> None:
    root = _generated_fork(tmp_path, "team-b", "eu-central-1")
    (root / "policy" / "config" / "team-b.json").unlink()
    (root / "Pulumi.Team_C.yaml").write_text("config:\n  aws:region: us-east-1\n")
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tools" / "stack_matrix.py"), "--root", str(root)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "team-b: no policy/config/team-b.json" in result.stderr
    assert "stack name 'Team_C'" in result.stderr


def test_region_is_a_stack_output(recording: Recording) -> None:
    assert recording.outputs["region"] == load_stack_config(recording.stack).region


# terraform-provider-aws internal/service/meta/service_principal_data_source.go: in aws-cn, "logs" takes the
# partition's DNS suffix (logs.<region>.amazonaws.com.cn); sagemaker, lambda and cloudwatch stay amazonaws.com.
def test_china_regions_get_their_own_service_principals(tmp_path: Path) -> None:
    root = _generated_fork(tmp_path, "china", "cn-north-1")
    recording = run_program("china", root=root)
    policy = json.loads(recording.one("aws:kms/key:Key").inputs["policy"])
    principals = {st["Sid"]: st["Principal"] for st in policy["Statement"]}
    assert principals["CloudWatchLogsEncryptStackLogGroups"] == {
        "Service": "logs.cn-north-1.amazonaws.com.cn"
    }
    assert principals["CloudWatchAlarmsPublishToEncryptedTopic"] == {"Service": "cloudwatch.amazonaws.com"}
    assert policy["Statement"][0]["Principal"]["AWS"] == "arn:aws-cn:iam::123456789012:root"
    trusted = {
        json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]["Service"]
        for role in recording.of_type(checks.ROLE)
    }
    assert trusted == {"sagemaker.amazonaws.com", "lambda.amazonaws.com"}


def test_every_service_principal_comes_from_the_data_source(recording: Recording) -> None:
    asked = {
        inputs["serviceName"] for token, inputs in recording.calls if token.endswith("getServicePrincipal")
    }
    assert {"sagemaker", "cloudwatch", "logs"} <= asked
    key_policy = json.loads(recording.one("aws:kms/key:Key").inputs["policy"])
    logs = next(st for st in key_policy["Statement"] if st["Sid"] == "CloudWatchLogsEncryptStackLogGroups")
    assert logs["Principal"]["Service"] == f"logs.{recording_region(recording)}.amazonaws.com"


def recording_region(recording: Recording) -> str:
    return str(recording.outputs["region"])


def test_bootstrap_creates_only_storage_and_roles() -> None:
    """deployModel=false: the first `up` of a new stack, before any training data exists."""
    recording = run_program("dev", {"deployModel": "false"})
    types = {r.type for r in recording.aws_resources()}
    assert {checks.BUCKET, "aws:kms/key:Key", checks.ROLE} <= types
    assert not {t for t in types if t.startswith(("aws:sagemaker/", "aws:lambda/", "aws:cloudwatch/"))}
    assert set(recording.outputs) == {
        "base_name",
        "region",
        "data_bucket",
        "artifacts_bucket",
        "capture_bucket",
    }
    assert checks.bucket_problems(recording) == [] and checks.iam_problems(recording) == []

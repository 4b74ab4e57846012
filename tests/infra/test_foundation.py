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
from policy.guardrails.resource_types import BUCKET, IAM_ROLE
from tests.infra.conftest import recording_of
from tests.infra.harness import Recording, run_program, stack_names
from tests.policy.pack_runner import Violation, fixtures_from_recording, pack_config, run_pack

# The policy pack is the one rule set; these tests run it over the recorded program, as `pulumi preview` would.
BUCKET_POLICIES = {
    "s3-bucket-kms-encryption",
    "s3-bucket-versioning",
    "s3-bucket-public-access-block",
    "s3-bucket-owner-enforced",
    "s3-bucket-tls-only",
    "s3-bucket-noncurrent-version-expiry",
}
IAM_POLICIES = {
    "iam-no-wildcard-actions",
    "iam-resource-star-only-where-unscopable",
    "iam-no-managed-full-access",
}
TAG_POLICIES = {"aws-required-tags"}


def pack_violations(
    recording: Recording, policies: set[str], config_stack: str | None = None
) -> list[Violation]:
    """The pack's violations of `policies`, under the pack config of `config_stack` (default: the recording's)."""
    config = pack_config(config_stack or recording.stack)
    violations = run_pack(fixtures_from_recording(recording), config)
    return [v for v in violations if v.policy in policies]


def messages(violations: list[Violation]) -> list[str]:
    return [str(v) for v in violations]


def test_every_stack_file_records_the_whole_program(recording: Recording) -> None:
    types = {r.type for r in recording.resources}
    for expected in (
        "aws:kms/key:Key",
        BUCKET,
        IAM_ROLE,
        "aws:sagemaker/trainingJob:TrainingJob",
        "aws:sagemaker/pipeline:Pipeline",
        "aws:sagemaker/endpoint:Endpoint",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/dashboard:Dashboard",
    ):
        assert expected in types
    assert len(recording.of_type(BUCKET)) == 3


def test_buckets_are_encrypted_versioned_private_and_tls_only(recording: Recording) -> None:
    assert messages(pack_violations(recording, BUCKET_POLICIES)) == []


def test_bucket_check_fails_on_broken_encryption() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    encryption = broken.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )[0]
    encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = "AES256"
    violations = pack_violations(broken, BUCKET_POLICIES)
    assert [(v.policy, "sseAlgorithm = 'AES256'" in v.message) for v in violations] == [
        ("s3-bucket-kms-encryption", True)
    ]


def test_bucket_check_fails_without_tls_policy_or_versioning() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    broken.resources = [r for r in broken.resources if r.type != "aws:s3/bucketPolicy:BucketPolicy"]
    broken.of_type("aws:s3/bucketVersioning:BucketVersioning")[0].inputs["versioningConfiguration"][
        "status"
    ] = "Suspended"
    policies = [v.policy for v in pack_violations(broken, BUCKET_POLICIES)]
    assert sorted(policies) == ["s3-bucket-tls-only"] * 3 + ["s3-bucket-versioning"]


def test_bucket_check_fails_with_acls_enabled_or_old_versions_kept_forever() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    broken.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")[0].inputs["rule"][
        "objectOwnership"
    ] = "ObjectWriter"
    for lifecycle in broken.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        for rule in lifecycle.inputs["rules"]:
            rule.pop("noncurrentVersionExpiration", None)
    policies = [v.policy for v in pack_violations(broken, BUCKET_POLICIES)]
    assert sorted(policies) == ["s3-bucket-noncurrent-version-expiry"] * 3 + ["s3-bucket-owner-enforced"]


def test_kms_key_rotates_and_is_aliased_per_stack(recording: Recording) -> None:
    key = recording.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert recording.one("aws:kms/alias:Alias").inputs["name"] == f"alias/sagestack-{recording.stack}"


def test_captured_traffic_expires_after_the_stack_retention(recording: Recording) -> None:
    config = load_stack_config(recording.stack)
    retention = int(config.values["captureRetentionDays"])
    capture = next(b for b in recording.of_type(BUCKET) if "-capture-" in b.inputs["bucket"])
    lifecycle = next(
        lc
        for lc in recording.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if lc.inputs["bucket"] == capture.physical_id
    )
    assert [r["expiration"]["days"] for r in lifecycle.inputs["rules"] if "expiration" in r] == [retention]


def test_iam_is_least_privilege(recording: Recording) -> None:
    assert messages(pack_violations(recording, IAM_POLICIES)) == []


def test_iam_check_fails_on_wildcard_action_and_managed_full_access() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    role = broken.of_type(IAM_ROLE)[0]
    policy = json.loads(role.inputs["inlinePolicies"][0]["policy"])
    policy["Statement"].append({"Sid": "Oops", "Effect": "Allow", "Action": "*", "Resource": "*"})
    policy["Statement"].append({"Sid": "Wide", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]})
    role.inputs["inlinePolicies"][0]["policy"] = json.dumps(policy)
    role.inputs["managedPolicyArns"] = ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"]
    problems = messages(pack_violations(broken, IAM_POLICIES))
    assert any('Oops: "Action": "*"' in p for p in problems)
    assert any('Wide: s3:* on "Resource": "*"' in p for p in problems)
    assert any("AmazonSageMakerFullAccess" in p for p in problems)
    assert len(problems) == 3, problems


def test_iam_check_fails_on_resource_star_for_a_scopable_action() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    role = broken.of_type(IAM_ROLE)[0]
    policy = json.loads(role.inputs["inlinePolicies"][0]["policy"])
    policy["Statement"].append({"Sid": "Star", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    role.inputs["inlinePolicies"][0]["policy"] = json.dumps(policy)
    violations = pack_violations(broken, IAM_POLICIES)
    assert [v.policy for v in violations] == ["iam-resource-star-only-where-unscopable"]
    assert 'Star: s3:GetObject on "Resource": "*"' in violations[0].message


def test_sagemaker_roles_trust_only_this_account(recording: Recording) -> None:
    for role in recording.of_type(IAM_ROLE):
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        if trust["Principal"]["Service"] == "sagemaker.amazonaws.com":
            assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_permissions_boundary_is_applied_to_every_role() -> None:
    boundary = "arn:aws:iam::123456789012:policy/platform-boundary"
    recording = run_program("staging", {"permissionsBoundaryArn": boundary})
    roles = recording.of_type(IAM_ROLE)
    assert len(roles) >= 3
    assert all(role.inputs["permissionsBoundary"] == boundary for role in roles)
    assert all("permissionsBoundary" not in role.inputs for role in recording_of("staging").of_type(IAM_ROLE))


def test_every_aws_resource_carries_the_default_tags(recording: Recording) -> None:
    assert messages(pack_violations(recording, TAG_POLICIES)) == []
    provider = next(r for r in recording.resources if r.type == "pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags["stack"] == recording.stack and tags["project"] == "sagestack"


def test_tag_check_fails_when_a_tag_is_missing() -> None:
    broken = copy.deepcopy(recording_of("dev"))
    provider = next(r for r in broken.resources if r.type == "pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])
    del tags["tags"]["cost-centre"]
    provider.inputs["defaultTags"] = json.dumps(tags)
    violations = pack_violations(broken, TAG_POLICIES)
    assert len(violations) == 1 and "defaultTags.tags lacks cost-centre" in violations[0].message


@pytest.mark.parametrize("stack", stack_names())
def test_stateful_resources_are_protected_exactly_where_configured(stack: str) -> None:
    recording = recording_of(stack)
    config = load_stack_config(stack)
    settings = settings_from_values(stack, config.region, config.values)
    stateful = [*recording.of_type(BUCKET), recording.one("aws:kms/key:Key")]
    assert {(r.protect, r.retain_on_delete) for r in stateful} == {(settings.storage.protect,) * 2}
    for bucket in recording.of_type(BUCKET):
        assert bucket.inputs.get("forceDestroy", False) is (
            settings.storage.force_destroy and not settings.storage.protect
        )


def test_prod_is_protected_and_dev_is_disposable() -> None:
    assert all(b.protect for b in recording_of("prod").of_type(BUCKET))
    assert all(b.inputs["forceDestroy"] for b in recording_of("dev").of_type(BUCKET))


NAMED = {  # resource type -> the input holding its physical name
    BUCKET: "bucket",
    IAM_ROLE: "name",
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
    # The fork's pack config is a copy of dev.json (_generated_fork).
    assert messages(pack_violations(recording, BUCKET_POLICIES | IAM_POLICIES | TAG_POLICIES, "dev")) == []
    assert physical_names(recording) and all("sagestack-team-a" in n for n in physical_names(recording))
    matrix = subprocess.run(
        [sys.executable, "-m", "tools.stack_matrix", "--root", str(root)],
        cwd=PROJECT_ROOT,
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
        [sys.executable, "-m", "tools.stack_matrix", "--root", str(root)],
        cwd=PROJECT_ROOT,
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
        for role in recording.of_type(IAM_ROLE)
    }
    assert trusted == {"sagemaker.amazonaws.com", "lambda.amazonaws.com", "states.amazonaws.com"}


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
    assert {BUCKET, "aws:kms/key:Key", IAM_ROLE} <= types
    assert not {t for t in types if t.startswith(("aws:sagemaker/", "aws:lambda/", "aws:cloudwatch/"))}
    assert set(recording.outputs) == {
        "base_name",
        "region",
        "data_bucket",
        "artifacts_bucket",
        "capture_bucket",
    }
    assert messages(pack_violations(recording, BUCKET_POLICIES | IAM_POLICIES | TAG_POLICIES)) == []

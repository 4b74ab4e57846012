"""The policy pack, run offline: over every stack's recorded program, and over small fixtures it must flag."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from monitoring import metrics
from policy.guardrails import alarms, iam, instance_storage, resource_types, rules, storage, values
from tests.infra.conftest import recording_of
from tests.infra.harness import Recording, stack_names
from tests.policy.pack_runner import (
    PACK_CONFIG_DIR,
    Fixture,
    fixtures_from_recording,
    pack_config,
    run_pack,
)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/stack-key"
STRICT: dict[str, dict[str, Any]] = {
    "sagemaker-endpoint-auto-rollback": {"requireAutoRollback": True},
    "sagemaker-instance-type-allow-list": {"allowedInstanceTypes": ["ml.m5.large"]},
}
TAGS = {"project": "sagestack", "stack": "test", "owner": "ml-platform", "cost-centre": "cc-1"}


# --- every stack file -------------------------------------------------------------------------------


def test_every_stack_file_has_a_pack_config_and_no_other() -> None:
    configs = sorted(p.stem for p in PACK_CONFIG_DIR.glob("*.json"))
    assert configs == stack_names(), (
        "policy/config/<stack>.json must exist exactly for each Pulumi.<stack>.yaml"
    )


@pytest.mark.parametrize("stack", stack_names())
def test_pack_config_names_only_real_policies_and_settings(stack: str) -> None:
    policies = {p.name: p for p in rules.POLICIES}
    for name, settings in pack_config(stack).items():
        assert name in policies, f"policy/config/{stack}.json: unknown policy {name!r}"
        schema = policies[name].config_schema
        allowed = set(schema.properties) if schema else set()
        assert set(settings) <= allowed | {"enforcementLevel"}, f"{stack}: {name} has unknown settings"


@pytest.mark.parametrize("stack", stack_names())
def test_stack_passes_every_policy(stack: str, recordings: dict[str, Recording]) -> None:
    violations = run_pack(fixtures_from_recording(recordings[stack]), pack_config(stack))
    assert not violations, f"{stack}: {len(violations)} violation(s):\n" + "\n".join(map(str, violations))


def test_every_stack_is_checked_for_what_the_policies_cover(recordings: dict[str, Recording]) -> None:
    """The zero-violation runs above must not be vacuous: the resources the rules look at are there."""
    for stack, recording in recordings.items():
        types = {r.type for r in recording.resources}
        expected = {
            resource_types.BUCKET,
            resource_types.BUCKET_ENCRYPTION,
            resource_types.BUCKET_VERSIONING,
            resource_types.BUCKET_POLICY,
            resource_types.BUCKET_PUBLIC_ACCESS_BLOCK,
            resource_types.KMS_KEY,
            resource_types.IAM_ROLE,
            resource_types.TRAINING_JOB,
            resource_types.ENDPOINT_CONFIGURATION,
            resource_types.ENDPOINT,
            resource_types.ENDPOINT_ROLLOUT,
            resource_types.METRIC_ALARM,
            resource_types.AWS_PROVIDER,
        }
        assert expected <= types, f"{stack}: missing {expected - types}"


def _mutated(
    recording: Recording,
    resource_type: str,
    change: Callable[[dict[str, Any]], None],
    fixtures: list[Fixture] | None = None,
) -> list[Fixture]:
    fixtures = fixtures or fixtures_from_recording(recording)
    for fixture in fixtures:
        if fixture.type == resource_type:
            change(fixture.props)
            if fixture.outputs is not None:
                change(fixture.outputs)
            return fixtures
    raise AssertionError(f"no {resource_type} recorded")


REAL_STACK_BREAKS: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    (
        "s3-bucket-versioning",
        resource_types.BUCKET_VERSIONING,
        lambda p: p["versioningConfiguration"].update(status="Suspended"),
    ),
    (
        "s3-bucket-public-access-block",
        resource_types.BUCKET_PUBLIC_ACCESS_BLOCK,
        lambda p: p.update(ignorePublicAcls=False),
    ),
    ("kms-key-rotation", resource_types.KMS_KEY, lambda p: p.update(enableKeyRotation=False)),
    (
        "sagemaker-endpoint-config-data-capture",
        resource_types.ENDPOINT_CONFIGURATION,
        lambda p: p.pop("dataCaptureConfig"),
    ),
    (
        "sagemaker-training-job-stopping-condition",
        resource_types.TRAINING_JOB,
        lambda p: p.pop("stoppingCondition"),
    ),
    (
        "sagemaker-instance-type-allow-list",
        resource_types.TRAINING_JOB,
        lambda p: p["resourceConfig"].update(instanceType="ml.p4d.24xlarge"),
    ),
    (
        "iam-no-wildcard-actions",
        resource_types.IAM_ROLE,
        lambda p: p["inlinePolicies"][0].update(
            policy=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            )
        ),
    ),
    (
        "iam-no-managed-full-access",
        resource_types.IAM_ROLE,
        lambda p: p.update(managedPolicyArns=["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"]),
    ),
    (
        "s3-bucket-owner-enforced",
        resource_types.BUCKET_OWNERSHIP_CONTROLS,
        lambda p: p["rule"].update(objectOwnership="BucketOwnerPreferred"),
    ),
    (
        "s3-bucket-noncurrent-version-expiry",
        resource_types.BUCKET_LIFECYCLE,
        lambda p: [rule.pop("noncurrentVersionExpiration", None) for rule in p["rules"]],
    ),
]


@pytest.mark.parametrize(
    ("policy", "resource_type", "change"), REAL_STACK_BREAKS, ids=[b[0] for b in REAL_STACK_BREAKS]
)
def test_a_broken_real_stack_is_flagged(
    policy: str,
    resource_type: str,
    change: Callable[[dict[str, Any]], None],
    recordings: dict[str, Recording],
) -> None:
    violations = run_pack(_mutated(recordings["dev"], resource_type, change), pack_config("dev"))
    assert {v.policy for v in violations} == {policy}, "\n".join(map(str, violations))


def test_the_default_drift_namespaces_are_where_the_drift_engine_publishes() -> None:
    """The pack runs on its own (policy/ only), so it keeps its own list: pinned to the engine's drift alarms."""
    recording = recording_of("dev")
    drift = [
        a
        for a in recording.of_type(resource_types.METRIC_ALARM)
        if a.inputs["name"].startswith("sagestack-dev-drift-")
    ]
    assert drift
    assert run_pack(fixtures_from_recording(recording), pack_config("dev")) == []
    assert (
        {a.inputs["namespace"] for a in drift} == {metrics.NAMESPACE} == set(alarms.DRIFT_METRIC_NAMESPACES)
    )


def test_a_real_stack_publishing_metrics_without_the_namespace_condition_is_flagged(
    recordings: dict[str, Recording],
) -> None:
    """PutMetricData has no resource to scope to; without its namespace condition a role may write any metric."""
    fixtures = fixtures_from_recording(recordings["dev"])
    dropped = []
    for fixture in fixtures:
        if fixture.type != resource_types.IAM_ROLE:
            continue
        for inline in fixture.props.get("inlinePolicies", []):
            document = json.loads(inline["policy"])
            for statement in document["Statement"]:
                if "cloudwatch:PutMetricData" in statement["Action"]:
                    dropped.append(statement.pop("Condition"))
            inline["policy"] = json.dumps(document)
    violations = run_pack(fixtures, pack_config("dev"))
    assert len(dropped) >= 2  # the SageMaker execution role and the drift engine's role
    assert {v.policy for v in violations} == {"iam-resource-star-only-where-unscopable"}
    assert len(violations) == len(dropped)
    assert all("without a cloudwatch:namespace condition" in v.message for v in violations)


def test_a_real_stack_without_drift_alarms_is_flagged(recordings: dict[str, Recording]) -> None:
    def on_drift_metrics(props: dict[str, Any]) -> bool:
        queries = [q["metric"] for q in props.get("metricQueries") or [] if "metric" in q]
        return "Sagestack/ModelMonitoring" in {props.get("namespace"), *(q.get("namespace") for q in queries)}

    fixtures = [
        f
        for f in fixtures_from_recording(recordings["prod"])
        if not (f.type == resource_types.METRIC_ALARM and on_drift_metrics(f.props))
    ]
    violations = run_pack(fixtures, pack_config("prod"))
    assert {v.policy for v in violations} == {"sagemaker-endpoint-drift-alarm"}


def test_a_real_stack_without_rollback_alarms_is_flagged_where_the_profile_asks(
    recordings: dict[str, Recording],
) -> None:
    def drop_rollback(props: dict[str, Any]) -> None:
        props["deployment_config"].pop("AutoRollbackConfiguration")

    assert pack_config("prod")["sagemaker-endpoint-auto-rollback"]["requireAutoRollback"] is True
    violations = run_pack(
        _mutated(recordings["prod"], resource_types.ENDPOINT_ROLLOUT, drop_rollback), pack_config("prod")
    )
    assert {v.policy for v in violations} == {"sagemaker-endpoint-auto-rollback"}
    assert not run_pack(
        _mutated(recordings["dev"], resource_types.ENDPOINT_ROLLOUT, drop_rollback), pack_config("dev")
    )


def test_a_real_stack_on_the_default_provider_is_flagged(recordings: dict[str, Recording]) -> None:
    fixtures = fixtures_from_recording(recordings["staging"])
    bucket = next(f for f in fixtures if f.type == resource_types.BUCKET)
    bucket.provider = None
    violations = run_pack(fixtures, pack_config("staging"))
    assert [(v.policy, v.resource) for v in violations] == [("aws-required-tags", bucket.name)]


def test_the_pack_starts_as_pulumi_runs_it() -> None:
    """`python policy` is what the Pulumi CLI runs: it must build the pack and print the port it serves on."""
    process = subprocess.Popen(
        [sys.executable, "policy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.strip().isdigit(), (
            f"expected a port, got {line!r}; stderr: {process.stderr.read(2000) if process.stderr else ''!r}"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- small fixtures ---------------------------------------------------------------------------------


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def good_stack() -> list[Fixture]:
    """A minimal stack that satisfies every policy, with the auto-rollback profile on."""
    bucket_arn = "arn:aws:s3:::data-bucket"
    tls_only = _document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    key_policy = _document(
        {
            "Sid": "Admin",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    role_policy = _document(
        {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{bucket_arn}/data/*"]},
        {"Sid": "Bucket", "Effect": "Allow", "Action": "s3:*", "Resource": bucket_arn},
        {
            "Sid": "Metrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": "Test"}},
        },
        {"Sid": "Ecr", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
    )
    p = "aws"
    return [
        Fixture(
            resource_types.AWS_PROVIDER, p, {"region": "eu-west-1", "defaultTags": json.dumps({"tags": TAGS})}
        ),
        Fixture(
            resource_types.BUCKET,
            "data",
            {"bucket": "data-bucket"},
            p,
            id="data-bucket-id",
            outputs={"bucket": "data-bucket", "arn": bucket_arn},
        ),
        Fixture(
            resource_types.BUCKET_ENCRYPTION,
            "data-encryption",
            {
                "bucket": "data-bucket-id",
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": KEY_ARN,
                        },
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            p,
        ),
        Fixture(
            resource_types.BUCKET_VERSIONING,
            "data-versioning",
            {"bucket": "data-bucket-id", "versioningConfiguration": {"status": "Enabled"}},
            p,
        ),
        Fixture(
            resource_types.BUCKET_PUBLIC_ACCESS_BLOCK,
            "data-public-access",
            {"bucket": "data-bucket-id", **dict.fromkeys(storage.PUBLIC_ACCESS_FLAGS, True)},
            p,
        ),
        Fixture(
            resource_types.BUCKET_POLICY, "data-tls-only", {"bucket": "data-bucket-id", "policy": tls_only}, p
        ),
        Fixture(
            resource_types.BUCKET_OWNERSHIP_CONTROLS,
            "data-ownership",
            {"bucket": "data-bucket-id", "rule": {"objectOwnership": "BucketOwnerEnforced"}},
            p,
        ),
        Fixture(
            resource_types.BUCKET_LIFECYCLE,
            "data-lifecycle",
            {
                "bucket": "data-bucket-id",
                "rules": [
                    {
                        "id": "expire-noncurrent-versions",
                        "status": "Enabled",
                        "noncurrentVersionExpiration": {"noncurrentDays": 30},
                    }
                ],
            },
            p,
        ),
        Fixture(resource_types.KMS_KEY, "key", {"enableKeyRotation": True, "policy": key_policy}, p),
        Fixture(
            resource_types.IAM_ROLE,
            "role",
            {"name": "role", "inlinePolicies": [{"name": "p", "policy": role_policy}]},
            p,
        ),
        Fixture(
            resource_types.TRAINING_JOB,
            "job",
            {
                "outputDataConfig": {"s3OutputPath": "s3://artifacts/models", "kmsKeyId": KEY_ARN},
                "resourceConfig": {
                    "instanceType": "ml.m5.large",
                    "instanceCount": 1,
                    "volumeKmsKeyId": KEY_ARN,
                },
                "stoppingCondition": {"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 7200},
                "enableManagedSpotTraining": True,
            },
            p,
        ),
        Fixture(
            resource_types.ENDPOINT_CONFIGURATION,
            "config",
            {
                "name": "config-1",
                "kmsKeyArn": KEY_ARN,
                "productionVariants": [{"variantName": "primary", "instanceType": "ml.m5.large"}],
                "dataCaptureConfig": {
                    "enableCapture": True,
                    "initialSamplingPercentage": 50,
                    "destinationS3Uri": "s3://capture/datacapture",
                    "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
                },
            },
            p,
        ),
        Fixture(
            resource_types.ENDPOINT,
            "endpoint",
            {"name": "endpoint-1", "endpointConfigName": "config-1"},
            p,
        ),
        Fixture(
            resource_types.ENDPOINT_ROLLOUT,
            "rollout",
            {
                "endpoint_name": "endpoint-1",
                "endpoint_config_name": "config-1",
                "deployment_config": {
                    "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "CANARY"}},
                    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "endpoint-1-errors"}]},
                },
            },
            p,
        ),
        Fixture(
            resource_types.METRIC_ALARM,
            "errors",
            {
                "name": "endpoint-1-errors",
                "namespace": "AWS/SageMaker",
                "metricName": "Invocation5XXErrors",
                "dimensions": {"EndpointName": "endpoint-1"},
            },
            p,
        ),
        Fixture(
            resource_types.METRIC_ALARM,
            "drift",
            {
                "name": "endpoint-1-drift",
                "namespace": "Sagestack/ModelMonitoring",
                "metricName": "MaxFeatureDrift",
                "dimensions": {"EndpointName": "endpoint-1", "VariantName": "primary"},
            },
            p,
        ),
    ]


def _props(stack: list[Fixture], name: str) -> dict[str, Any]:
    return next(f for f in stack if f.name == name).props


def _set_policy(name: str, *statements: dict[str, Any]) -> Callable[[list[Fixture]], None]:
    def change(stack: list[Fixture]) -> None:
        props = _props(stack, name)
        if "inlinePolicies" in props:
            props["inlinePolicies"][0]["policy"] = _document(*statements)
        else:
            props["policy"] = _document(*statements)

    return change


def _drop(name: str) -> Callable[[list[Fixture]], None]:
    def change(stack: list[Fixture]) -> None:
        stack.remove(next(f for f in stack if f.name == name))

    return change


def _edit(name: str, edit: Callable[[dict[str, Any]], Any]) -> Callable[[list[Fixture]], None]:
    def change(stack: list[Fixture]) -> None:
        edit(_props(stack, name))

    return change


def test_the_good_fixture_stack_passes_every_policy() -> None:
    assert run_pack(good_stack(), STRICT) == []


BROKEN: list[tuple[str, str, Callable[[list[Fixture]], None]]] = [
    ("s3-bucket-kms-encryption", "no encryption configuration", _drop("data-encryption")),
    (
        "s3-bucket-kms-encryption",
        "SSE-S3 instead of KMS",
        _edit(
            "data-encryption",
            lambda p: p["rules"][0]["applyServerSideEncryptionByDefault"].update(sseAlgorithm="AES256"),
        ),
    ),
    (
        "s3-bucket-kms-encryption",
        "AWS managed key",
        _edit(
            "data-encryption",
            lambda p: p["rules"][0]["applyServerSideEncryptionByDefault"].pop("kmsMasterKeyId"),
        ),
    ),
    (
        "s3-bucket-kms-encryption",
        "no bucket key",
        _edit("data-encryption", lambda p: p["rules"][0].update(bucketKeyEnabled=False)),
    ),
    (
        "s3-bucket-kms-encryption",
        "encryption of another bucket",
        _edit("data-encryption", lambda p: p.update(bucket="other-bucket-id")),
    ),
    (
        "s3-bucket-versioning",
        "versioning Suspended",
        _edit("data-versioning", lambda p: p["versioningConfiguration"].update(status="Suspended")),
    ),
    ("s3-bucket-versioning", "no versioning", _drop("data-versioning")),
    (
        "s3-bucket-public-access-block",
        "one flag off",
        _edit("data-public-access", lambda p: p.update(restrictPublicBuckets=False)),
    ),
    ("s3-bucket-public-access-block", "no block", _drop("data-public-access")),
    ("s3-bucket-tls-only", "no bucket policy", _drop("data-tls-only")),
    (
        "s3-bucket-tls-only",
        "policy without the TLS condition",
        _set_policy(
            "data-tls-only",
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::data-bucket", "arn:aws:s3:::data-bucket/*"],
            },
        ),
    ),
    (
        "s3-bucket-tls-only",
        "TLS deny on objects only",
        _set_policy(
            "data-tls-only",
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::data-bucket/*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ),
    ),
    (
        "s3-bucket-owner-enforced",
        "ACLs enabled (ObjectWriter)",
        _edit("data-ownership", lambda p: p["rule"].update(objectOwnership="ObjectWriter")),
    ),
    ("s3-bucket-owner-enforced", "no ownership controls", _drop("data-ownership")),
    ("s3-bucket-noncurrent-version-expiry", "no lifecycle", _drop("data-lifecycle")),
    (
        "s3-bucket-noncurrent-version-expiry",
        "the expiring rule is Disabled",
        _edit("data-lifecycle", lambda p: p["rules"][0].update(status="Disabled")),
    ),
    (
        "s3-bucket-noncurrent-version-expiry",
        "only current versions expire",
        _edit(
            "data-lifecycle",
            lambda p: p["rules"][0].update(noncurrentVersionExpiration=None, expiration={"days": 30}),
        ),
    ),
    (
        "iam-resource-star-only-where-unscopable",
        "role with s3:GetObject on *",
        _set_policy("role", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
    ),
    (
        "iam-resource-star-only-where-unscopable",
        "role with s3:Get* on *",
        _set_policy("role", {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["*"]}),
    ),
    (
        "iam-resource-star-only-where-unscopable",
        "PutMetricData without its namespace condition",
        _set_policy("role", {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}),
    ),
    (
        "iam-resource-star-only-where-unscopable",
        "PutMetricData scoped by another key",
        _set_policy(
            "role",
            {
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            },
        ),
    ),
    (
        "s3-bucket-tls-only",
        "TLS deny for another bucket",
        _set_policy(
            "data-tls-only",
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::other-bucket", "arn:aws:s3:::other-bucket/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ),
    ),
    ("kms-key-rotation", "rotation off", _edit("key", lambda p: p.update(enableKeyRotation=False))),
    ("kms-key-rotation", "rotation unset", _edit("key", lambda p: p.pop("enableKeyRotation"))),
    (
        "iam-no-wildcard-actions",
        'role with "Action": "*"',
        _set_policy("role", {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::data-bucket"}),
    ),
    (
        "iam-no-wildcard-actions",
        "role with s3:* on *",
        _set_policy("role", {"Effect": "Allow", "Action": ["s3:GetObject", "s3:*"], "Resource": "*"}),
    ),
    (
        "iam-no-wildcard-actions",
        "role with NotAction",
        _set_policy("role", {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
    ),
    (
        "iam-no-wildcard-actions",
        "key policy kms:* for a role",
        _set_policy(
            "key",
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"},
                "Action": "kms:*",
                "Resource": "*",
            },
        ),
    ),
    (
        "iam-no-wildcard-actions",
        "key policy kms:* for everyone",
        _set_policy("key", {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}),
    ),
    (
        "iam-no-wildcard-actions",
        "bucket policy allowing *",
        _set_policy(
            "data-tls-only",
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::data-bucket", "arn:aws:s3:::data-bucket/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"},
        ),
    ),
    (
        "iam-no-managed-full-access",
        "managed FullAccess on the role",
        _edit("role", lambda p: p.update(managedPolicyArns=["arn:aws:iam::aws:policy/AmazonS3FullAccess"])),
    ),
    (
        "iam-no-managed-full-access",
        "AdministratorAccess attachment",
        lambda stack: stack.append(
            Fixture(
                resource_types.IAM_ROLE_POLICY_ATTACHMENT,
                "admin",
                {"role": "role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                "aws",
            )
        ),
    ),
    (
        "sagemaker-endpoint-config-data-capture",
        "no capture",
        _edit("config", lambda p: p.pop("dataCaptureConfig")),
    ),
    (
        "sagemaker-endpoint-config-data-capture",
        "capture off",
        _edit("config", lambda p: p["dataCaptureConfig"].update(enableCapture=False)),
    ),
    (
        "sagemaker-endpoint-config-data-capture",
        "inputs only",
        _edit("config", lambda p: p["dataCaptureConfig"].update(captureOptions=[{"captureMode": "Input"}])),
    ),
    (
        "sagemaker-endpoint-config-data-capture",
        "sampling 0",
        _edit("config", lambda p: p["dataCaptureConfig"].update(initialSamplingPercentage=0)),
    ),
    (
        "sagemaker-endpoint-config-volume-encryption",
        "no volume key",
        _edit("config", lambda p: p.pop("kmsKeyArn")),
    ),
    (
        "sagemaker-training-job-encryption",
        "unencrypted output",
        _edit("job", lambda p: p["outputDataConfig"].pop("kmsKeyId")),
    ),
    (
        "sagemaker-training-job-encryption",
        "unencrypted volume",
        _edit("job", lambda p: p["resourceConfig"].pop("volumeKmsKeyId")),
    ),
    (
        "sagemaker-training-job-stopping-condition",
        "no stopping condition",
        _edit("job", lambda p: p.pop("stoppingCondition")),
    ),
    (
        "sagemaker-training-job-stopping-condition",
        "spot wait shorter than runtime",
        _edit("job", lambda p: p["stoppingCondition"].update(maxWaitTimeInSeconds=60)),
    ),
    (
        "sagemaker-instance-type-allow-list",
        "training on a p4d",
        _edit(
            "job", lambda p: p["resourceConfig"].update(instanceType="ml.p4d.24xlarge", volumeKmsKeyId=None)
        ),
    ),
    (
        "sagemaker-instance-type-allow-list",
        "endpoint on an m5.4xlarge",
        _edit("config", lambda p: p["productionVariants"][0].update(instanceType="ml.m5.4xlarge")),
    ),
    (
        "sagemaker-instance-type-allow-list",
        "pipeline training on a c5.18xlarge",
        lambda stack: stack.append(
            Fixture(
                resource_types.PIPELINE,
                "pipeline",
                {
                    "pipelineDefinition": json.dumps(
                        {
                            "Steps": [
                                {
                                    "Name": "Check",
                                    "Type": "Condition",
                                    "Arguments": {
                                        "IfSteps": [
                                            {
                                                "Name": "Train",
                                                "Type": "Training",
                                                "Arguments": {
                                                    "ResourceConfig": {"InstanceType": "ml.c5.18xlarge"}
                                                },
                                            }
                                        ]
                                    },
                                }
                            ]
                        }
                    )
                },
                "aws",
            )
        ),
    ),
    ("sagemaker-endpoint-drift-alarm", "no drift alarm", _drop("drift")),
    (
        "sagemaker-endpoint-drift-alarm",
        "drift alarm on another endpoint",
        _edit("drift", lambda p: p["dimensions"].update(EndpointName="another-endpoint")),
    ),
    (
        "sagemaker-endpoint-auto-rollback",
        "no deployment config",
        _edit("rollout", lambda p: p.pop("deployment_config")),
    ),
    (
        "sagemaker-endpoint-auto-rollback",
        "no rollout deploys the endpoint",
        _drop("rollout"),
    ),
    (
        "sagemaker-endpoint-auto-rollback",
        "no rollback alarms",
        _edit("rollout", lambda p: p["deployment_config"].pop("AutoRollbackConfiguration")),
    ),
    (
        "sagemaker-endpoint-auto-rollback",
        "rollback on an alarm that does not exist",
        _edit(
            "rollout",
            lambda p: p["deployment_config"]["AutoRollbackConfiguration"].update(
                Alarms=[{"AlarmName": "typo"}]
            ),
        ),
    ),
    (
        "aws-required-tags",
        "provider without cost-centre",
        _edit(
            "aws",
            lambda p: p.update(
                defaultTags=json.dumps({"tags": {k: v for k, v in TAGS.items() if k != "cost-centre"}})
            ),
        ),
    ),
    (
        "aws-required-tags",
        "provider with an empty owner",
        _edit("aws", lambda p: p.update(defaultTags={"tags": {**TAGS, "owner": " "}})),
    ),
    (
        "aws-required-tags",
        "a resource on the default provider",
        lambda stack: setattr(next(f for f in stack if f.name == "key"), "provider", None),
    ),
]


@pytest.mark.parametrize(("policy", "case", "change"), BROKEN, ids=[f"{b[0]}: {b[1]}" for b in BROKEN])
def test_a_broken_fixture_is_flagged_by_its_policy_only(
    policy: str, case: str, change: Callable[[list[Fixture]], None]
) -> None:
    stack = good_stack()
    change(stack)
    violations = run_pack(stack, STRICT)
    assert violations, f"{case}: {policy} did not flag it"
    assert {v.policy for v in violations} == {policy}, "\n".join(map(str, violations))


def test_every_policy_has_a_broken_fixture() -> None:
    covered = {b[0] for b in BROKEN}
    assert covered == {p.name for p in rules.POLICIES}


def test_violation_messages_name_the_resource_and_the_field() -> None:
    stack = good_stack()
    _edit("data-versioning", lambda p: p["versioningConfiguration"].update(status="Suspended"))(stack)
    _edit("job", lambda p: p.pop("stoppingCondition"))(stack)
    messages = sorted(str(v) for v in run_pack(stack, STRICT))
    assert messages == [
        "[s3-bucket-versioning] data: bucket data: versioning is not as required: "
        "versioningConfiguration.status = 'Suspended', expected Enabled",
        "[sagemaker-training-job-stopping-condition] job: stoppingCondition.maxRuntimeInSeconds is missing: "
        "a runaway job would bill until someone stops it",
    ]


# --- exemptions -------------------------------------------------------------------------------------


def _serverless(stack: list[Fixture]) -> None:
    config = _props(stack, "config")
    config.pop("dataCaptureConfig")
    config.pop("kmsKeyArn")
    config["productionVariants"] = [
        {"variantName": "primary", "serverlessConfig": {"memorySizeInMb": 2048, "maxConcurrency": 5}}
    ]
    _drop("drift")(stack)


def test_a_serverless_endpoint_needs_no_capture_volume_key_or_drift_alarm() -> None:
    stack = good_stack()
    _serverless(stack)
    assert run_pack(stack, STRICT) == []


def test_a_provisioned_variant_beside_a_serverless_one_still_needs_capture() -> None:
    stack = good_stack()
    _serverless(stack)
    _props(stack, "config")["productionVariants"].append({"variantName": "b", "instanceType": "ml.m5.large"})
    assert {v.policy for v in run_pack(stack, STRICT)} == {
        "sagemaker-endpoint-config-data-capture",
        "sagemaker-endpoint-config-volume-encryption",
        "sagemaker-endpoint-drift-alarm",
    }


# ResourceConfig.VolumeSizeInGB in the SageMaker API reference: ml.p4d, ml.g4dn and ml.g5 have NVMe instance
# storage, ml.c5 and ml.p2 are EBS-only (docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html).
@pytest.mark.parametrize(
    ("instance_type", "nvme"),
    [
        ("ml.p2.xlarge", False),
        ("m5d.large", False),
        ("ml.m5d", False),
        ("ml.m5.large", False),
        ("ml.t2.medium", False),
        ("ml.c5.xlarge", False),
        ("ml.m5d.large", True),
        ("ml.g4dn.xlarge", True),
        ("ml.p4d.24xlarge", True),
        ("ml.g5.2xlarge", True),
        ("ml.c6id.large", True),
        ("ml.inf1.xlarge", False),
    ],
)
def test_local_nvme_instance_types(instance_type: str, nvme: bool) -> None:
    assert instance_storage.has_instance_storage(instance_type) is nvme


def test_nvme_instances_need_no_volume_key_where_aws_forbids_one() -> None:
    stack = good_stack()
    _props(stack, "config").pop("kmsKeyArn")
    _props(stack, "config")["productionVariants"][0]["instanceType"] = "ml.g4dn.xlarge"
    _props(stack, "job")["resourceConfig"].update(instanceType="ml.g4dn.xlarge", volumeKmsKeyId=None)
    allow_gpu = {**STRICT, "sagemaker-instance-type-allow-list": {"allowedInstanceTypes": ["ml.g4dn.xlarge"]}}
    assert run_pack(stack, allow_gpu) == []


def test_the_account_root_key_admin_statement_is_accepted_only_in_key_policies() -> None:
    root_admin = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    assert iam.wildcard_grants(resource_types.KMS_KEY, {"Statement": [root_admin]}) == []
    assert iam.wildcard_grants(resource_types.BUCKET_POLICY, {"Statement": [root_admin]}) != []
    assert iam.wildcard_grants(resource_types.KMS_KEY, {"Statement": [{**root_admin, "Action": "*"}]}) != []


def test_deny_statements_and_scoped_service_wildcards_are_not_grants() -> None:
    document = {
        "Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
        ]
    }
    assert iam.wildcard_grants(resource_types.IAM_POLICY, document) == []


def test_the_default_allow_list_applies_without_pack_config() -> None:
    stack = good_stack()
    _props(stack, "job")["resourceConfig"]["instanceType"] = "ml.p3.16xlarge"
    violations = run_pack(stack, {"sagemaker-endpoint-auto-rollback": {"requireAutoRollback": True}})
    assert [v.policy for v in violations] == ["sagemaker-instance-type-allow-list"]


# --- unknown values during preview ------------------------------------------------------------------


def test_unknown_values_are_not_violations() -> None:
    stack = good_stack()
    # As on a first preview: references to resources not created yet are unknown.
    for fixture in stack:
        if fixture.props.get("bucket") == "data-bucket-id":
            fixture.props["bucket"] = UNKNOWN_STRING_VALUE
    _props(stack, "key")["policy"] = UNKNOWN_STRING_VALUE
    _props(stack, "role")["inlinePolicies"][0]["policy"] = UNKNOWN_STRING_VALUE
    _props(stack, "config")["dataCaptureConfig"] = UNKNOWN_OBJECT_VALUE
    _props(stack, "config")["kmsKeyArn"] = UNKNOWN_STRING_VALUE
    _props(stack, "job")["outputDataConfig"]["kmsKeyId"] = UNKNOWN_STRING_VALUE
    _props(stack, "endpoint")["endpointConfigName"] = UNKNOWN_STRING_VALUE
    _props(stack, "drift")["dimensions"]["EndpointName"] = UNKNOWN_STRING_VALUE
    _props(stack, "aws")["defaultTags"] = UNKNOWN_OBJECT_VALUE
    assert run_pack(stack, STRICT) == []


def test_unknown_values_do_not_hide_known_violations() -> None:
    stack = good_stack()
    _props(stack, "config")["kmsKeyArn"] = UNKNOWN_STRING_VALUE
    _props(stack, "config")["dataCaptureConfig"]["enableCapture"] = False
    _props(stack, "data-versioning")["bucket"] = UNKNOWN_STRING_VALUE
    _props(stack, "data-public-access")["blockPublicAcls"] = False
    violations = run_pack(stack, STRICT)
    assert {v.policy for v in violations} == {
        "sagemaker-endpoint-config-data-capture",
        "s3-bucket-public-access-block",
    }


def test_plain_copies_unknown_checking_proxies_without_raising() -> None:
    props = {"a": {"b": [1, UNKNOWN_STRING_VALUE, {"c": UNKNOWN_OBJECT_VALUE}]}, "d": "x"}
    assert values.plain(unknown_checking_proxy(copy.deepcopy(props))) == props
    with pytest.raises(values.Unknown):
        values.get(props, "a", "b", 1)
    assert values.get(props, "a", "b", 0) == 1
    assert values.get(props, "missing", "deeper") is None


def test_guardrails_modules_import_each_other_relatively_only() -> None:
    """Pulumi loads the package as `guardrails`, tests as `policy.guardrails`: an absolute sibling import
    would load a second copy of a module under another name (issue 15, item 8)."""
    package = ROOT / "policy" / "guardrails"
    siblings = {p.stem for p in package.glob("*.py")} | {"guardrails", "policy"}
    absolute = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [(node.module or "").split(".")[0]]
            else:
                continue
            absolute += [f"{path.name}: {name}" for name in names if name in siblings]
    assert absolute == []
    assert "guardrails" not in sys.modules and "rules" not in sys.modules

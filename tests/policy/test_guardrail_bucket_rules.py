"""policy/guardrails/storage.py as a unit: the bucket and key rules on small hand-built resources (no program
run, no pack run)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE

from policy.guardrails import resource_types as t
from policy.guardrails import storage, values
from policy.guardrails.adapters import StackResource
from tests.policy.resources import res

ARN = "arn:aws:s3:::data-b"
StackCheck = Callable[[list[StackResource], Mapping[str, Any]], Iterable[tuple[str, str | None]]]


def bucket(name: str = "data", arn: Any = ARN) -> StackResource:
    return res(t.BUCKET, name, {"bucket": f"{name}-b", "arn": arn})


def sub(type_: str, props: dict[str, Any], name: str = "sub", target: str = "data") -> StackResource:
    return res(type_, name, {"bucket": f"{target}-b", **props})


def run(check: StackCheck, *resources: StackResource) -> list[tuple[str, str | None]]:
    return list(check(list(resources), {}))


# --- the KMS key ----------------------------------------------------------------------------------------


def test_a_key_that_does_not_rotate_is_refused() -> None:
    message = "KMS key must rotate its key material: set enableKeyRotation = true"
    assert list(storage.check_kms_rotation(t.KMS_KEY, {}, {})) == [message]
    assert list(storage.check_kms_rotation(t.KMS_KEY, {"enableKeyRotation": False}, {})) == [message]
    assert list(storage.check_kms_rotation(t.KMS_KEY, {"enableKeyRotation": True}, {})) == []
    assert list(storage.check_kms_rotation(t.BUCKET, {}, {})) == []


# --- per bucket: missing and unresolved sub-resources ----------------------------------------------------


def test_a_bucket_without_the_sub_resource_is_reported_with_the_sub_type_name() -> None:
    assert run(storage.check_bucket_versioning, bucket()) == [
        ("bucket data: no versioning (BucketVersioning)", "urn:data")
    ]


def test_no_report_while_a_sub_resources_bucket_is_not_known_yet() -> None:
    pending = res(t.BUCKET_VERSIONING, "v", {"bucket": UNKNOWN_STRING_VALUE})
    assert run(storage.check_bucket_versioning, bucket(), pending) == []


def test_a_sub_resource_of_another_bucket_does_not_count() -> None:
    other = sub(t.BUCKET_VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}, target="logs")
    assert run(storage.check_bucket_versioning, bucket(), bucket("logs"), other) == [
        ("bucket data: no versioning (BucketVersioning)", "urn:data")
    ]


def test_one_good_sub_resource_is_enough_and_unknown_props_are_no_violation() -> None:
    bad = sub(t.BUCKET_VERSIONING, {"versioningConfiguration": {"status": "Suspended"}}, name="bad")
    good = sub(t.BUCKET_VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}, name="good")
    pending = sub(t.BUCKET_VERSIONING, {"versioningConfiguration": UNKNOWN_STRING_VALUE}, name="pending")
    assert run(storage.check_bucket_versioning, bucket(), bad, good) == []
    assert run(storage.check_bucket_versioning, bucket(), bad, pending) == []


def test_every_bad_sub_resource_is_listed_in_one_violation() -> None:
    one = sub(t.BUCKET_VERSIONING, {"versioningConfiguration": {"status": "Suspended"}}, name="one")
    two = sub(t.BUCKET_VERSIONING, {}, name="two")
    assert run(storage.check_bucket_versioning, bucket(), one, two) == [
        (
            "bucket data: versioning is not as required: versioningConfiguration.status = 'Suspended', expected "
            "Enabled; versioningConfiguration.status = None, expected Enabled",
            "urn:data",
        )
    ]


# --- encryption -----------------------------------------------------------------------------------------


def encryption(*rules: dict[str, Any]) -> StackResource:
    return sub(t.BUCKET_ENCRYPTION, {"rules": list(rules)})


def test_sse_kms_with_the_stacks_key_and_a_bucket_key_passes() -> None:
    for algorithm in ("aws:kms", "aws:kms:dsse"):
        rule = {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm, "kmsMasterKeyId": "arn:k"},
            "bucketKeyEnabled": True,
        }
        assert run(storage.check_bucket_encryption, bucket(), encryption(rule)) == []


def test_encryption_problems_are_each_named() -> None:
    rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    assert run(storage.check_bucket_encryption, bucket(), encryption(rule)) == [
        (
            "bucket data: SSE-KMS encryption configuration is not as required: sseAlgorithm = 'AES256', expected "
            "aws:kms; kmsMasterKeyId is missing (the stack's key, not the AWS managed key); bucketKeyEnabled "
            "must be true (one data key per bucket, far fewer KMS calls)",
            "urn:data",
        )
    ]


def test_an_encryption_configuration_without_rules_or_defaults_is_refused() -> None:
    assert run(storage.check_bucket_encryption, bucket(), encryption()) == [
        ("bucket data: SSE-KMS encryption configuration is not as required: no rules", "urn:data")
    ]
    got = run(storage.check_bucket_encryption, bucket(), encryption({"bucketKeyEnabled": "true"}))
    assert got[0][0].endswith(
        "sseAlgorithm = None, expected aws:kms; kmsMasterKeyId is missing (the stack's "
        "key, not the AWS managed key)"
    )


# --- public access block, ownership, lifecycle ----------------------------------------------------------


def test_public_access_block_needs_all_four_flags() -> None:
    flags = dict.fromkeys(storage.PUBLIC_ACCESS_FLAGS, True)
    assert run(storage.check_bucket_public_access, bucket(), sub(t.BUCKET_PUBLIC_ACCESS_BLOCK, flags)) == []
    partial = {"blockPublicAcls": True, "ignorePublicAcls": "false"}
    assert run(storage.check_bucket_public_access, bucket(), sub(t.BUCKET_PUBLIC_ACCESS_BLOCK, partial)) == [
        (
            "bucket data: public access block is not as required: blockPublicPolicy must be true; "
            "ignorePublicAcls must be true; restrictPublicBuckets must be true",
            "urn:data",
        )
    ]
    assert run(storage.check_bucket_public_access, bucket()) == [
        ("bucket data: no public access block (BucketPublicAccessBlock)", "urn:data")
    ]


def test_acls_must_be_disabled_by_bucket_owner_enforced() -> None:
    good = sub(t.BUCKET_OWNERSHIP_CONTROLS, {"rule": {"objectOwnership": "BucketOwnerEnforced"}})
    bad = sub(t.BUCKET_OWNERSHIP_CONTROLS, {"rule": {"objectOwnership": "ObjectWriter"}})
    assert run(storage.check_bucket_owner_enforced, bucket(), good) == []
    assert run(storage.check_bucket_owner_enforced, bucket(), bad) == [
        (
            "bucket data: ownership controls is not as required: rule.objectOwnership = 'ObjectWriter', "
            "expected BucketOwnerEnforced (ACLs disabled)",
            "urn:data",
        )
    ]


NO_EXPIRY = (
    "bucket data: lifecycle configuration is not as required: no Enabled rule sets "
    "noncurrentVersionExpiration.noncurrentDays: old versions are kept forever"
)


@pytest.mark.parametrize(
    "rules",
    [
        [{"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 30}}],
        [
            {"status": "Disabled"},
            {"status": "Enabled", "noncurrentVersionExpiration": [{"noncurrentDays": 1}]},
        ],
        [{"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 0.5}}],
    ],
)
def test_an_enabled_rule_expiring_noncurrent_versions_passes(rules: list[dict[str, Any]]) -> None:
    assert (
        run(
            storage.check_bucket_noncurrent_version_expiry,
            bucket(),
            sub(t.BUCKET_LIFECYCLE, {"rules": rules}),
        )
        == []
    )


@pytest.mark.parametrize(
    "rules",
    [
        [],
        [{"status": "Disabled", "noncurrentVersionExpiration": {"noncurrentDays": 30}}],
        [{"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 0}}],
        [{"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": "30"}}],
        [{"status": "Enabled", "expiration": {"days": 30}}],
    ],
)
def test_lifecycles_that_keep_old_versions_forever_are_refused(rules: list[dict[str, Any]]) -> None:
    lifecycle = sub(t.BUCKET_LIFECYCLE, {"rules": rules})
    assert run(storage.check_bucket_noncurrent_version_expiry, bucket(), lifecycle) == [
        (NO_EXPIRY, "urn:data")
    ]


# --- TLS only -------------------------------------------------------------------------------------------


def deny_http(**changes: Any) -> dict[str, Any]:
    # The TLS-only statement of AWS's S3 guidance: Deny s3:* to "*" when aws:SecureTransport is false
    # (https://repost.aws/knowledge-center/s3-bucket-policy-for-config-rule).
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [ARN, f"{ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    statement.update(changes)
    return statement


def policy(*statements: dict[str, Any]) -> StackResource:
    return sub(
        t.BUCKET_POLICY, {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}
    )


TLS = (
    'bucket data: TLS-only bucket policy is not as required: no statement denies s3:* to Principal "*" on the '
    'bucket and its objects when aws:SecureTransport is "false"'
)


@pytest.mark.parametrize(
    "statement",
    [
        deny_http(),
        deny_http(Principal={"AWS": "*"}, Action=["s3:GetObject", "*"]),
        deny_http(Condition={"Bool": {"aws:SecureTransport": False}}),
        deny_http(Resource=[f"{ARN}/*", ARN, "arn:aws:s3:::other"]),
    ],
)
def test_a_deny_of_insecure_transport_on_the_bucket_and_its_objects_passes(statement: dict[str, Any]) -> None:
    assert run(storage.check_bucket_tls_only, bucket(), policy({"Effect": "Allow"}, statement)) == []


@pytest.mark.parametrize(
    "statement",
    [
        deny_http(Effect="Allow"),
        deny_http(Principal={"AWS": "arn:aws:iam::1:root"}),
        deny_http(Principal={"AWS": ["*", "x"]}),
        deny_http(Principal={"Service": "*"}),
        deny_http(Action="s3:GetObject"),
        deny_http(Condition={"Bool": {"aws:SecureTransport": "true"}}),
        deny_http(Condition={"StringEquals": {"aws:SecureTransport": "false"}}),
        deny_http(Condition={}),
        {k: v for k, v in deny_http().items() if k != "Condition"},
        deny_http(Resource=[f"{ARN}/*"]),
        deny_http(Resource=[ARN]),
        deny_http(Resource=["arn:aws:s3:::other", "arn:aws:s3:::other/*"]),
    ],
)
def test_anything_short_of_that_deny_is_refused(statement: dict[str, Any]) -> None:
    assert run(storage.check_bucket_tls_only, bucket(), policy(statement)) == [(TLS, "urn:data")]


@pytest.mark.parametrize("arn", [UNKNOWN_STRING_VALUE, "", None, 5])
def test_without_a_known_bucket_arn_any_bucket_and_object_pair_counts(arn: Any) -> None:
    other = deny_http(Resource=["arn:aws:s3:::other", "arn:aws:s3:::other/*", 7])
    assert run(storage.check_bucket_tls_only, bucket(arn=arn), policy(other)) == []
    assert run(storage.check_bucket_tls_only, bucket(arn=arn), policy(deny_http(Resource=[f"{ARN}/*"]))) == [
        (TLS, "urn:data")
    ]
    assert run(storage.check_bucket_tls_only, bucket(arn=arn), policy(deny_http(Resource=[ARN]))) == [
        (TLS, "urn:data")
    ]


def test_a_policy_document_not_known_yet_is_no_violation() -> None:
    pending = sub(t.BUCKET_POLICY, {"policy": UNKNOWN_STRING_VALUE})
    assert run(storage.check_bucket_tls_only, bucket(), pending) == []
    rotation = {"enableKeyRotation": UNKNOWN_BOOLEAN_VALUE}
    with pytest.raises(values.Unknown):
        list(storage.check_kms_rotation(t.KMS_KEY, rotation, {}))


def test_every_bucket_is_judged_whatever_came_before() -> None:
    versioned = sub(t.BUCKET_VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}, target="c")
    assert run(storage.check_bucket_versioning, bucket("a"), bucket("b"), bucket("c"), versioned) == [
        ("bucket a: no versioning (BucketVersioning)", "urn:a"),
        ("bucket b: no versioning (BucketVersioning)", "urn:b"),
    ]

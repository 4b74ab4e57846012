"""policy/guardrails/storage.py as units: the bucket and key rules on small hand-built resources (no program
run, no pack run; test_policy_pack_offline.py runs the pack over every stack)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from policy.guardrails import storage
from policy.guardrails.adapters import StackResource
from policy.guardrails.resource_types import (
    BUCKET,
    BUCKET_ENCRYPTION,
    BUCKET_LIFECYCLE,
    BUCKET_OWNERSHIP_CONTROLS,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    BUCKET_VERSIONING,
    KMS_KEY,
)

ARN = "arn:aws:s3:::data-b1"


def resource(type_: str, name: str, props: dict[str, Any]) -> StackResource:
    return StackResource(type_, name, f"urn:{name}", props, None, None, {})


def bucket(name: str = "b1", arn: Any = ARN) -> StackResource:
    props: dict[str, Any] = {"bucket": f"data-{name}"}
    if arn is not None:
        props["arn"] = arn
    return resource(BUCKET, name, props)


def sub(type_: str, name: str, props: dict[str, Any], target: str = "data-b1") -> StackResource:
    return resource(type_, name, {"bucket": target, **props})


def run(check: Any, resources: list[StackResource]) -> list[tuple[str, str | None]]:
    return list(check(resources, {}))


# --- KMS key rotation -----------------------------------------------------------------------------------

ROTATION = "KMS key must rotate its key material: set enableKeyRotation = true"


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"enableKeyRotation": True}, []),
        ({"enableKeyRotation": "true"}, []),
        ({"enableKeyRotation": False}, [ROTATION]),
        ({}, [ROTATION]),
    ],
)
def test_a_kms_key_must_rotate(props: dict[str, Any], expected: list[str]) -> None:
    assert list(storage.check_kms_rotation(KMS_KEY, props, {})) == expected


def test_rotation_is_asked_only_of_kms_keys() -> None:
    assert list(storage.check_kms_rotation(BUCKET, {}, {})) == []


# --- one sub-resource per bucket ------------------------------------------------------------------------

MISSING = [
    (
        storage.check_bucket_encryption,
        "SSE-KMS encryption configuration (BucketServerSideEncryptionConfiguration)",
    ),
    (storage.check_bucket_versioning, "versioning (BucketVersioning)"),
    (storage.check_bucket_public_access, "public access block (BucketPublicAccessBlock)"),
    (storage.check_bucket_tls_only, "TLS-only bucket policy (BucketPolicy)"),
    (storage.check_bucket_owner_enforced, "ownership controls (BucketOwnershipControls)"),
    (
        storage.check_bucket_noncurrent_version_expiry,
        "lifecycle configuration (BucketLifecycleConfiguration)",
    ),
]


@pytest.mark.parametrize(("check", "what"), MISSING)
def test_a_bucket_without_its_sub_resource_is_reported_by_name(check: Any, what: str) -> None:
    assert run(check, [bucket()]) == [(f"bucket b1: no {what}", "urn:b1")]


@pytest.mark.parametrize(("check", "what"), MISSING)
def test_nothing_is_said_while_some_sub_resource_targets_an_unknown_bucket(check: Any, what: str) -> None:
    type_ = {
        storage.check_bucket_encryption: BUCKET_ENCRYPTION,
        storage.check_bucket_versioning: BUCKET_VERSIONING,
        storage.check_bucket_public_access: BUCKET_PUBLIC_ACCESS_BLOCK,
        storage.check_bucket_tls_only: BUCKET_POLICY,
        storage.check_bucket_owner_enforced: BUCKET_OWNERSHIP_CONTROLS,
        storage.check_bucket_noncurrent_version_expiry: BUCKET_LIFECYCLE,
    }[check]
    assert run(check, [bucket(), sub(type_, "s", {}, target=UNKNOWN_STRING_VALUE)]) == []


def versioning(name: str, status: str, target: str = "data-b1") -> StackResource:
    return sub(BUCKET_VERSIONING, name, {"versioningConfiguration": {"status": status}}, target)


def test_every_bucket_is_checked_after_one_without_its_sub_resource() -> None:
    found = run(
        storage.check_bucket_versioning,
        [bucket("b0", None), bucket("b1"), versioning("v1", "Suspended")],
    )
    assert found == [
        ("bucket b0: no versioning (BucketVersioning)", "urn:b0"),
        (
            "bucket b1: versioning is not as required: versioningConfiguration.status = 'Suspended', expected Enabled",
            "urn:b1",
        ),
    ]


def test_one_satisfying_sub_resource_is_enough() -> None:
    assert (
        run(
            storage.check_bucket_versioning,
            [bucket(), versioning("v1", "Suspended"), versioning("v2", "Enabled")],
        )
        == []
    )


def test_every_failing_sub_resource_is_listed() -> None:
    found = run(
        storage.check_bucket_versioning, [bucket(), versioning("v1", "Suspended"), versioning("v2", "Off")]
    )
    assert found == [
        (
            "bucket b1: versioning is not as required: versioningConfiguration.status = 'Suspended', expected "
            "Enabled; versioningConfiguration.status = 'Off', expected Enabled",
            "urn:b1",
        )
    ]


def test_a_sub_resource_with_unknown_settings_is_given_the_benefit_of_the_doubt() -> None:
    unknown = sub(BUCKET_VERSIONING, "v1", {"versioningConfiguration": UNKNOWN_OBJECT_VALUE})
    assert run(storage.check_bucket_versioning, [bucket(), unknown]) == []
    assert run(storage.check_bucket_versioning, [bucket(), unknown, versioning("v2", "Off")]) == []


def test_a_sub_resource_of_another_bucket_does_not_count() -> None:
    found = run(storage.check_bucket_versioning, [bucket(), versioning("v1", "Enabled", target="data-b9")])
    assert found == [("bucket b1: no versioning (BucketVersioning)", "urn:b1")]


def test_versioning_without_a_status_is_reported() -> None:
    found = run(storage.check_bucket_versioning, [bucket(), sub(BUCKET_VERSIONING, "v1", {})])
    assert found == [
        (
            "bucket b1: versioning is not as required: versioningConfiguration.status = None, expected Enabled",
            "urn:b1",
        )
    ]


# --- encryption -----------------------------------------------------------------------------------------

ENC = "bucket b1: SSE-KMS encryption configuration is not as required: "
NO_KEY = "kmsMasterKeyId is missing (the stack's key, not the AWS managed key)"
NO_BUCKET_KEY = "bucketKeyEnabled must be true (one data key per bucket, far fewer KMS calls)"


def encryption(*rules: dict[str, Any]) -> list[tuple[str, str | None]]:
    config = sub(BUCKET_ENCRYPTION, "e1", {"rules": list(rules)} if rules else {})
    return run(storage.check_bucket_encryption, [bucket(), config])


def rule(
    algorithm: Any = "aws:kms", key: Any = "arn:aws:kms:eu-west-1:1:key/k", bucket_key: Any = True
) -> dict[str, Any]:
    default = {"sseAlgorithm": algorithm}
    if key is not None:
        default["kmsMasterKeyId"] = key
    found: dict[str, Any] = {"applyServerSideEncryptionByDefault": default}
    if bucket_key is not None:
        found["bucketKeyEnabled"] = bucket_key
    return found


@pytest.mark.parametrize("given", [rule(), rule("aws:kms:dsse"), rule(bucket_key="true")])
def test_sse_kms_with_the_stack_key_and_a_bucket_key_passes(given: dict[str, Any]) -> None:
    assert encryption(given) == []


def test_encryption_without_rules_is_reported() -> None:
    assert encryption() == [(ENC + "no rules", "urn:b1")]


def test_every_encryption_problem_is_named() -> None:
    found = encryption(rule("AES256", key=None, bucket_key=None))
    assert found == [
        (ENC + f"sseAlgorithm = 'AES256', expected aws:kms; {NO_KEY}; {NO_BUCKET_KEY}", "urn:b1")
    ]


def test_a_rule_without_a_default_is_reported() -> None:
    found = encryption({"bucketKeyEnabled": True})
    assert found == [(ENC + f"sseAlgorithm = None, expected aws:kms; {NO_KEY}", "urn:b1")]


def test_every_rule_must_encrypt() -> None:
    found = encryption(rule(), rule(bucket_key=False))
    assert found == [(ENC + NO_BUCKET_KEY, "urn:b1")]


# --- public access block --------------------------------------------------------------------------------


def public_access(props: dict[str, Any]) -> list[tuple[str, str | None]]:
    return run(storage.check_bucket_public_access, [bucket(), sub(BUCKET_PUBLIC_ACCESS_BLOCK, "p1", props)])


def test_all_four_public_access_flags_pass() -> None:
    assert public_access(dict.fromkeys(storage.PUBLIC_ACCESS_FLAGS, True)) == []
    assert public_access(dict.fromkeys(storage.PUBLIC_ACCESS_FLAGS, "true")) == []


def test_the_four_flags_are_the_s3_public_access_block_settings() -> None:
    # The four PublicAccessBlockConfiguration fields (S3 API reference, PutPublicAccessBlock).
    assert set(storage.PUBLIC_ACCESS_FLAGS) == {
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    }


def test_each_missing_or_false_flag_is_named() -> None:
    found = public_access({"blockPublicAcls": True, "blockPublicPolicy": False, "ignorePublicAcls": True})
    assert found == [
        (
            "bucket b1: public access block is not as required: blockPublicPolicy must be true; "
            "restrictPublicBuckets must be true",
            "urn:b1",
        )
    ]


# --- TLS only -------------------------------------------------------------------------------------------

TLS = (
    'bucket b1: TLS-only bucket policy is not as required: no statement denies s3:* to Principal "*" on the '
    'bucket and its objects when aws:SecureTransport is "false"'
)


def deny(**changes: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [ARN, f"{ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    for key, value in changes.items():
        if value is None:
            del statement[key]
        else:
            statement[key] = value
    return statement


def tls(*statements: dict[str, Any], arn: Any = ARN, as_json: bool = True) -> bool:
    """True if the rule passes the bucket."""
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    policy = sub(BUCKET_POLICY, "pol", {"policy": json.dumps(document) if as_json else document})
    found = run(storage.check_bucket_tls_only, [bucket(arn=arn), policy])
    assert found in ([], [(TLS, "urn:b1")])
    return not found


@pytest.mark.parametrize(
    "statement",
    [
        deny(),
        deny(Principal={"AWS": "*"}),
        deny(Principal={"AWS": ["*"]}),
        deny(Action="*"),
        deny(Action=["s3:GetObject", "s3:*"]),
        deny(Condition={"Bool": {"aws:SecureTransport": False}}),
        deny(Condition={"Bool": {"aws:SecureTransport": "False"}}),
        deny(Resource=[{"Fn::Join": "x"}, ARN, f"{ARN}/*", "arn:aws:s3:::other"]),
    ],
)
def test_a_deny_of_insecure_transport_passes(statement: dict[str, Any]) -> None:
    assert tls(statement)


@pytest.mark.parametrize(
    "statement",
    [
        deny(Effect="Allow"),
        deny(Effect=None),
        deny(Principal={"AWS": "arn:aws:iam::123456789012:root"}),
        deny(Principal={"Service": "*"}),
        deny(Principal=None),
        deny(Principal="arn:aws:iam::123456789012:root"),
        deny(Action="s3:GetObject"),
        deny(Action=None),
        deny(Condition={"Bool": {"aws:SecureTransport": "true"}}),
        deny(Condition={"Bool": {"aws:SecureTransport": True}}),
        deny(Condition={"Bool": {}}),
        deny(Condition={}),
        deny(Condition=None),
        deny(Resource=f"{ARN}/*"),
        deny(Resource=ARN),
        deny(Resource=["arn:aws:s3:::other", "arn:aws:s3:::other/*"]),
        deny(Resource=None),
    ],
)
def test_a_statement_short_of_a_full_deny_fails(statement: dict[str, Any]) -> None:
    assert not tls(statement)


def test_one_qualifying_statement_among_others_is_enough() -> None:
    assert tls({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": ARN}, deny())
    assert tls(deny(), as_json=False)


def test_a_single_statement_object_is_read() -> None:
    policy = sub(BUCKET_POLICY, "pol", {"policy": json.dumps({"Statement": deny()})})
    assert run(storage.check_bucket_tls_only, [bucket(), policy]) == []


@pytest.mark.parametrize("arn", [None, "", UNKNOWN_STRING_VALUE, 7])
def test_without_a_known_bucket_arn_any_bucket_and_object_resource_pair_passes(arn: Any) -> None:
    other = "arn:aws:s3:::other"
    assert tls(deny(Resource=[other, f"{other}/*"]), arn=arn)
    assert not tls(deny(Resource=[f"{other}/*"]), arn=arn)
    assert not tls(deny(Resource=[other]), arn=arn)
    assert not tls(deny(Resource=[7, f"{other}/*"]), arn=arn)


def test_a_policy_not_known_yet_says_nothing() -> None:
    policy = sub(BUCKET_POLICY, "pol", {"policy": UNKNOWN_STRING_VALUE})
    assert run(storage.check_bucket_tls_only, [bucket(), policy]) == []


def test_a_bucket_policy_without_a_document_fails() -> None:
    assert run(storage.check_bucket_tls_only, [bucket(), sub(BUCKET_POLICY, "pol", {})]) == [(TLS, "urn:b1")]


# --- ownership controls ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "shown"),
    [({"rule": {"objectOwnership": "ObjectWriter"}}, "'ObjectWriter'"), ({}, "None")],
)
def test_ownership_must_be_bucket_owner_enforced(props: dict[str, Any], shown: str) -> None:
    found = run(storage.check_bucket_owner_enforced, [bucket(), sub(BUCKET_OWNERSHIP_CONTROLS, "o1", props)])
    assert found == [
        (
            "bucket b1: ownership controls is not as required: rule.objectOwnership = "
            f"{shown}, expected BucketOwnerEnforced (ACLs disabled)",
            "urn:b1",
        )
    ]


def test_bucket_owner_enforced_passes() -> None:
    controls = sub(BUCKET_OWNERSHIP_CONTROLS, "o1", {"rule": {"objectOwnership": "BucketOwnerEnforced"}})
    assert run(storage.check_bucket_owner_enforced, [bucket(), controls]) == []


# --- noncurrent version expiry --------------------------------------------------------------------------

EXPIRY = (
    "bucket b1: lifecycle configuration is not as required: no Enabled rule sets "
    "noncurrentVersionExpiration.noncurrentDays: old versions are kept forever"
)


def lifecycle(*rules: dict[str, Any]) -> bool:
    """True if the rule passes the bucket."""
    found = run(
        storage.check_bucket_noncurrent_version_expiry,
        [bucket(), sub(BUCKET_LIFECYCLE, "l1", {"rules": list(rules)})],
    )
    assert found in ([], [(EXPIRY, "urn:b1")])
    return not found


def expiring(days: Any, status: str = "Enabled", as_list: bool = False) -> dict[str, Any]:
    expiration = {"noncurrentDays": days}
    return {"status": status, "noncurrentVersionExpiration": [expiration] if as_list else expiration}


@pytest.mark.parametrize("given", [expiring(1), expiring(30), expiring(0.5), expiring(7, as_list=True)])
def test_an_enabled_rule_expiring_old_versions_passes(given: dict[str, Any]) -> None:
    assert lifecycle(given)


@pytest.mark.parametrize(
    "given", [expiring(0), expiring(-1), expiring("30"), expiring(None), expiring(30, "Disabled")]
)
def test_a_rule_that_keeps_old_versions_fails(given: dict[str, Any]) -> None:
    assert not lifecycle(given)


def test_any_enabled_expiring_rule_among_others_passes() -> None:
    assert lifecycle(expiring(30, "Disabled"), {"status": "Enabled"}, expiring(0), expiring(30))
    assert not lifecycle()

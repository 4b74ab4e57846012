"""Buckets and the key that encrypts them: SSE-KMS with a bucket key, versioned, private, ACL-free,
TLS-only, with expiring old versions; a key that rotates.

Bucket rules are stack policies: a bucket's settings live in sub-resources that refer to it, so each rule
looks for a sub-resource attached to every bucket and reports on the bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .adapters import StackResource, attached, of_type
from .iam import policy_documents, statements
from .resource_types import (
    BUCKET,
    BUCKET_ENCRYPTION,
    BUCKET_LIFECYCLE,
    BUCKET_OWNERSHIP_CONTROLS,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    BUCKET_VERSIONING,
    KMS_KEY,
)
from .values import Unknown, as_list, get, is_unknown, items, truthy

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def check_kms_rotation(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type == KMS_KEY and not truthy(get(props, "enableKeyRotation") or False):
        yield "KMS key must rotate its key material: set enableKeyRotation = true"


def _per_bucket(
    resources: list[StackResource],
    sub_type: str,
    what: str,
    problems_of: Callable[[StackResource, StackResource], list[str]],
) -> Iterator[tuple[str, str | None]]:
    """For each bucket: a violation if no sub-resource of `sub_type` satisfies it, listing what was wrong."""
    buckets = of_type(resources, BUCKET)
    by_bucket, unresolved = attached(buckets, of_type(resources, sub_type), "bucket")
    for bucket in buckets:
        subs = by_bucket[bucket.urn]
        if not subs:
            if not unresolved:
                yield f"bucket {bucket.name}: no {what} ({sub_type.split(':')[-1]})", bucket.urn
            continue
        reports = []
        for sub in subs:
            try:
                reports.append(problems_of(sub, bucket))
            except Unknown:
                reports.append([])
        if all(reports):
            details = "; ".join(p for report in reports for p in report)
            yield f"bucket {bucket.name}: {what} is not as required: {details}", bucket.urn


def _encryption_problems(config: StackResource, _bucket: StackResource) -> list[str]:
    rules = items(config.props, "rules")
    if not rules:
        return ["no rules"]
    problems = []
    for rule in rules:
        default = get(rule, "applyServerSideEncryptionByDefault") or {}
        algorithm = get(default, "sseAlgorithm")
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            problems.append(f"sseAlgorithm = {algorithm!r}, expected aws:kms")
        if not get(default, "kmsMasterKeyId"):
            problems.append("kmsMasterKeyId is missing (the stack's key, not the AWS managed key)")
        if not truthy(get(rule, "bucketKeyEnabled") or False):
            problems.append("bucketKeyEnabled must be true (one data key per bucket, far fewer KMS calls)")
    return problems


def check_bucket_encryption(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_ENCRYPTION, "SSE-KMS encryption configuration", _encryption_problems)


def _versioning_problems(versioning: StackResource, _bucket: StackResource) -> list[str]:
    status = get(versioning.props, "versioningConfiguration", "status")
    return [] if status == "Enabled" else [f"versioningConfiguration.status = {status!r}, expected Enabled"]


def check_bucket_versioning(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_VERSIONING, "versioning", _versioning_problems)


def _public_access_problems(block: StackResource, _bucket: StackResource) -> list[str]:
    return [
        f"{flag} must be true" for flag in PUBLIC_ACCESS_FLAGS if not truthy(get(block.props, flag) or False)
    ]


def check_bucket_public_access(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_PUBLIC_ACCESS_BLOCK, "public access block", _public_access_problems)


def _denies_insecure_transport(statement: Mapping[str, Any], bucket_arn: str | None) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if principal != "*" and not (isinstance(principal, dict) and as_list(principal.get("AWS")) == ["*"]):
        return False
    if not {"s3:*", "*"} & set(as_list(statement.get("Action"))):
        return False
    condition = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
    if str(condition).lower() != "false":
        return False
    resources = [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]
    # Both the bucket (ListBucket and friends) and its objects must be covered: this bucket's, where its ARN is known.
    if bucket_arn is not None:
        return {bucket_arn, f"{bucket_arn}/*"} <= set(resources)
    return any(r.endswith("/*") for r in resources) and any(not r.endswith("/*") for r in resources)


def _tls_problems(policy: StackResource, bucket: StackResource) -> list[str]:
    arn = bucket.props.get("arn")
    bucket_arn = arn if isinstance(arn, str) and arn and not is_unknown(arn) else None
    for document in policy_documents(BUCKET_POLICY, policy.props):
        if any(_denies_insecure_transport(s, bucket_arn) for s in statements(document.document)):
            return []
    return [
        'no statement denies s3:* to Principal "*" on the bucket and its objects when '
        'aws:SecureTransport is "false"'
    ]


def check_bucket_tls_only(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_POLICY, "TLS-only bucket policy", _tls_problems)


def _ownership_problems(controls: StackResource, _bucket: StackResource) -> list[str]:
    ownership = get(controls.props, "rule", "objectOwnership")
    if ownership == "BucketOwnerEnforced":
        return []
    return [f"rule.objectOwnership = {ownership!r}, expected BucketOwnerEnforced (ACLs disabled)"]


def check_bucket_owner_enforced(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_OWNERSHIP_CONTROLS, "ownership controls", _ownership_problems)


def _noncurrent_expiry_problems(lifecycle: StackResource, _bucket: StackResource) -> list[str]:
    for rule in items(lifecycle.props, "rules"):
        if get(rule, "status") != "Enabled":
            continue
        for expiration in items(rule, "noncurrentVersionExpiration"):
            days = get(expiration, "noncurrentDays")
            if isinstance(days, int | float) and days > 0:
                return []
    return ["no Enabled rule sets noncurrentVersionExpiration.noncurrentDays: old versions are kept forever"]


def check_bucket_noncurrent_version_expiry(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_LIFECYCLE, "lifecycle configuration", _noncurrent_expiry_problems)

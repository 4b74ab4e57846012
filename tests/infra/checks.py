"""Checks over a recorded program. Each returns the problems it finds, so tests can prove it can fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.infra.harness import RecordedResource, Recording

BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
# Actions AWS cannot scope to a resource; each statement using "*" must be one of these.
# (cloudwatch:GetMetricData has no resource type: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html)
UNSCOPABLE_ACTIONS = {"cloudwatch:GetMetricData", "cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"}
REQUIRED_TAGS = {"project", "stack", "owner", "cost-centre"}


def _for_bucket(recording: Recording, resource_type: str, bucket: RecordedResource) -> list[RecordedResource]:
    return [r for r in recording.of_type(resource_type) if r.inputs.get("bucket") == bucket.physical_id]


def bucket_problems(recording: Recording) -> list[str]:
    problems = []
    for bucket in recording.of_type(BUCKET):
        name = bucket.inputs["bucket"]
        encryption = _for_bucket(
            recording,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            bucket,
        )
        rules = [rule for e in encryption for rule in e.inputs.get("rules", [])]
        if not rules or not all(
            rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm") == "aws:kms"
            and rule["applyServerSideEncryptionByDefault"].get("kmsMasterKeyId")
            and rule.get("bucketKeyEnabled") is True
            for rule in rules
        ):
            problems.append(f"{name}: not SSE-KMS with a customer key and bucket key")
        versioning = _for_bucket(recording, "aws:s3/bucketVersioning:BucketVersioning", bucket)
        if [v.inputs["versioningConfiguration"]["status"] for v in versioning] != ["Enabled"]:
            problems.append(f"{name}: versioning not enabled")
        blocks = _for_bucket(recording, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if len(blocks) != 1 or not all(blocks[0].inputs.get(flag) is True for flag in flags):
            problems.append(f"{name}: public access not fully blocked")
        ownership = _for_bucket(recording, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        if [o.inputs["rule"]["objectOwnership"] for o in ownership] != ["BucketOwnerEnforced"]:
            problems.append(f"{name}: ACLs not disabled (BucketOwnerEnforced)")
        policies = _for_bucket(recording, "aws:s3/bucketPolicy:BucketPolicy", bucket)
        if not any(_denies_insecure_transport(json.loads(p.inputs["policy"]), name) for p in policies):
            problems.append(f"{name}: no bucket policy denying non-TLS requests")
        lifecycles = _for_bucket(
            recording, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket
        )
        lifecycle_rules = [rule for lc in lifecycles for rule in lc.inputs.get("rules", [])]
        if not any(
            rule.get("noncurrentVersionExpiration", {}).get("noncurrentDays") for rule in lifecycle_rules
        ):
            problems.append(f"{name}: noncurrent versions never expire")
    return problems


def _denies_insecure_transport(policy: dict[str, Any], bucket_name: str) -> bool:
    for statement in policy.get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if (
            statement.get("Effect") == "Deny"
            and statement.get("Principal") == "*"
            and statement.get("Action") in ("s3:*", ["s3:*"])
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            and f"arn:aws:s3:::{bucket_name}" in resources
            and f"arn:aws:s3:::{bucket_name}/*" in resources
        ):
            return True
    return False


def iam_documents(recording: Recording) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, document) for every identity and resource policy the program writes."""
    for role in recording.of_type(ROLE):
        yield f"{role.inputs['name']} trust", json.loads(role.inputs["assumeRolePolicy"])
        for inline in role.inputs.get("inlinePolicies", []):
            yield f"{role.inputs['name']} inline {inline['name']}", json.loads(inline["policy"])
    for kind, field in (
        ("aws:s3/bucketPolicy:BucketPolicy", "policy"),
        ("aws:kms/key:Key", "policy"),
        ("aws:sns/topicPolicy:TopicPolicy", "policy"),
        ("aws:iam/rolePolicy:RolePolicy", "policy"),
        ("aws:iam/policy:Policy", "policy"),
    ):
        for resource in recording.of_type(kind):
            yield f"{resource.name} ({kind.rsplit(':', 1)[1]})", json.loads(resource.inputs[field])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_problems(recording: Recording) -> list[str]:
    problems = []
    identity_policies = [(where, doc) for where, doc in iam_documents(recording) if " inline " in where]
    for where, document in iam_documents(recording):
        for statement in document["Statement"]:
            actions = _as_list(statement.get("Action", []))
            if statement.get("Effect") != "Allow":
                continue
            if "*" in actions:
                problems.append(f"{where}: Action '*' in {statement.get('Sid')}")
    for where, document in identity_policies:
        for statement in document["Statement"]:
            actions = _as_list(statement.get("Action", []))
            resources = _as_list(statement.get("Resource", []))
            if any(a.endswith(":*") for a in actions):
                problems.append(f"{where}: service-wide action in {statement.get('Sid')}: {actions}")
            if "*" in resources and not set(actions) <= UNSCOPABLE_ACTIONS:
                problems.append(
                    f"{where}: Resource '*' for scopable actions {actions} in {statement.get('Sid')}"
                )
    for attachment in recording.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        if attachment.inputs["policyArn"].endswith("FullAccess"):
            problems.append(f"{attachment.name}: attaches {attachment.inputs['policyArn']}")
    for role in recording.of_type(ROLE):
        for arn in role.inputs.get("managedPolicyArns", []):
            problems.append(f"{role.inputs['name']}: managed policy {arn} attached")
    return problems


def tag_problems(recording: Recording) -> list[str]:
    providers = [r for r in recording.resources if r.type == "pulumi:providers:aws"]
    problems = []
    tagged = set()
    for provider in providers:
        default_tags = provider.inputs.get("defaultTags") or "{}"
        # Provider inputs reach the engine JSON-encoded.
        tags = (json.loads(default_tags) if isinstance(default_tags, str) else default_tags).get("tags", {})
        missing = REQUIRED_TAGS - set(tags)
        if missing:
            problems.append(f"provider {provider.name}: default tags lack {sorted(missing)}")
        else:
            tagged.add(provider.name)
    for resource in recording.aws_resources():
        provider_name = resource.provider.split("::")[-2] if "::" in resource.provider else ""
        if provider_name not in tagged:
            problems.append(f"{resource.type} {resource.name}: not created by a provider with default tags")
    return problems

"""IAM as data: every policy document the stack attaches is a dict, serialised once.

This module holds the building blocks (documents, statements, principals, trust policies) and the role
resource; the documents themselves live by concern: `role_policies` (the roles' inline policies and the
dead-letter queues), `key_policy` (the stack key), `iam_sharing` (cross-account model sharing).

Leaves may be `pulumi.Output`s (bucket and key ARNs); `document_json` resolves them into JSON.
No `"Action": "*"`, no managed `*FullAccess` policy; `"Resource": "*"` only where AWS offers nothing to
scope to, with the reason beside it and a condition where AWS offers one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

Statement = dict[str, Any]

_VERSION = "2012-10-17"
# The artifacts bucket's prefixes: the packaged code, and the models (the only prefix shared with other accounts).
CODE_PREFIX = "code"
MODELS_PREFIX = "models"


def document(*statements: Statement) -> dict[str, Any]:
    return {"Version": _VERSION, "Statement": list(statements)}


def with_statements(policy: Mapping[str, Any], statements: Sequence[Statement]) -> dict[str, Any]:
    """`policy` with `statements` appended after its own."""
    return {**policy, "Statement": [*policy["Statement"], *statements]}


def document_json(policy: Mapping[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(policy, sort_keys=True)


def allow(
    sid: str, actions: Sequence[str], resources: Sequence[Any], condition: Mapping[str, Any] | None = None
) -> Statement:
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": list(resources),
    }
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def service_principal(service: str, region: str, *, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The principal of an AWS service in `region`'s partition, e.g. sagemaker.amazonaws.com.

    From the provider's aws_service_principal data source, never a template: some partitions name
    some services differently (logs.amazonaws.com.cn in China). The invoke uses the parent's provider.
    """
    return aws.get_service_principal_output(
        service_name=service, region=region, opts=pulumi.InvokeOutputOptions(parent=parent)
    ).name


def regional_service_principal(service: str, region: str, *, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The region-qualified principal, e.g. logs.eu-west-1.amazonaws.com (the data source's id)."""
    return aws.get_service_principal_output(
        service_name=service, region=region, opts=pulumi.InvokeOutputOptions(parent=parent)
    ).id


def service_trust_policy(principal: pulumi.Input[str], account_id: pulumi.Input[str]) -> dict[str, Any]:
    """Trust the service `principal`, but only on behalf of this account (confused-deputy protection)."""
    return document(
        {
            "Sid": "TrustedService",
            "Effect": "Allow",
            "Principal": {"Service": principal},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


def lambda_trust_policy(principal: pulumi.Input[str]) -> dict[str, Any]:
    # Lambda assumes its role without a source account in the request context, so no condition fits here.
    return document(
        {
            "Sid": "TrustedService",
            "Effect": "Allow",
            "Principal": {"Service": principal},
            "Action": "sts:AssumeRole",
        }
    )


def tls_only_bucket_policy(bucket_arn: pulumi.Input[str]) -> dict[str, Any]:
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def prefix_objects(bucket_arn: pulumi.Input[str], prefix: str) -> pulumi.Output[str]:
    """Every object under `prefix` of a bucket, as an IAM resource: arn:...:bucket/prefix/*."""
    return pulumi.Output.concat(bucket_arn, "/", prefix, "/*")


def account_root(partition: pulumi.Input[str], account: str) -> pulumi.Output[str]:
    """An account as a principal: the account's IAM policies then decide which of its roles may act."""
    return pulumi.Output.format("arn:{0}:iam::{1}:root", partition, account)


def s3_via_service(region: str, dns_suffix: pulumi.Input[str]) -> pulumi.Output[str]:
    """kms:ViaService of S3 in `region`, e.g. s3.eu-west-1.amazonaws.com
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)."""
    return pulumi.Output.format("s3.{0}.{1}", region, dns_suffix)


def role(
    name: str,
    *,
    role_name: str,
    trust_policy: Mapping[str, Any],
    inline_policy: Mapping[str, Any],
    description: str,
    permissions_boundary: str | None,
    parent: pulumi.Resource,
    aliases: Sequence[pulumi.Alias] = (),
) -> aws.iam.Role:
    """A role with exactly one inline policy and the stack's permissions boundary, if any.

    The policy is part of the role resource, so anything using the role's ARN waits for its permissions.
    """
    return aws.iam.Role(
        name,
        aws.iam.RoleArgs(
            name=role_name,
            description=description,
            assume_role_policy=document_json(trust_policy),
            inline_policies=[
                aws.iam.RoleInlinePolicyArgs(name="least-privilege", policy=document_json(inline_policy))
            ],
            permissions_boundary=permissions_boundary,
            max_session_duration=3600,
        ),
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases)),
    )

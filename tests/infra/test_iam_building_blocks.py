"""IAM building blocks (infra.iam): documents, statements, trust and bucket policies, ARNs, service principals and
the role resource, built directly from stated inputs (the role and principals under in-process Pulumi mocks,
no program run) and compared with values written out here (issue 15)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime.sync_await import _sync_await

from infra import iam
from tests.infra.iam_resolve import resolved

STATEMENT = {"Sid": "S", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


def test_a_document_is_the_2012_policy_language_version_with_its_statements_in_order() -> None:
    other = {**STATEMENT, "Sid": "T"}

    assert iam.document(STATEMENT, other) == {"Version": "2012-10-17", "Statement": [STATEMENT, other]}
    assert iam.document() == {"Version": "2012-10-17", "Statement": []}


def test_with_statements_appends_after_the_policy_own_and_keeps_its_other_keys() -> None:
    policy = {"Version": "2012-10-17", "Id": "p", "Statement": [STATEMENT]}
    extra = {**STATEMENT, "Sid": "Extra"}

    assert iam.with_statements(policy, [extra]) == {
        "Version": "2012-10-17",
        "Id": "p",
        "Statement": [STATEMENT, extra],
    }
    assert policy["Statement"] == [STATEMENT]


def test_document_json_resolves_outputs_into_json_with_sorted_keys() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "S", "Resource": pulumi.Output.from_input("arn:x")}],
    }

    text = _sync_await(iam.document_json(policy).future())

    assert text == '{"Statement": [{"Resource": "arn:x", "Sid": "S"}], "Version": "2012-10-17"}'


def test_allow_sorts_actions_and_adds_a_condition_only_when_given() -> None:
    assert iam.allow("Sid1", ["s3:PutObject", "s3:GetObject"], ("arn:b", "arn:a")) == {
        "Sid": "Sid1",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": ["arn:b", "arn:a"],
    }
    assert "Condition" not in iam.allow("S", ["a:b"], ["*"], {})
    condition = {"Bool": {"aws:SecureTransport": "true"}}
    statement = iam.allow("S", ["a:b"], ["*"], condition)
    assert statement["Condition"] == condition
    assert statement["Condition"] is not condition


# aws:SourceAccount in a service role's trust policy is AWS's confused-deputy protection
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
def test_a_service_trust_policy_trusts_the_service_only_for_this_account() -> None:
    assert resolved(iam.service_trust_policy("sagemaker.amazonaws.com", "111122223333")) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrustedService",
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}},
            }
        ],
    }


def test_a_lambda_trust_policy_trusts_the_service_without_a_condition() -> None:
    assert iam.lambda_trust_policy("lambda.amazonaws.com") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrustedService",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


# Denying s3:* when aws:SecureTransport is false enforces TLS on the bucket and its objects
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit).
def test_the_tls_only_bucket_policy_denies_insecure_transport_on_the_bucket_and_its_objects() -> None:
    assert resolved(iam.tls_only_bucket_policy("arn:aws:s3:::b")) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def test_arns_of_prefix_objects_account_roots_and_s3_via_service() -> None:
    assert resolved(iam.prefix_objects("arn:aws:s3:::b", "models")) == "arn:aws:s3:::b/models/*"
    assert resolved(iam.account_root("aws-us-gov", "444455556666")) == "arn:aws-us-gov:iam::444455556666:root"
    # kms:ViaService names the service endpoint in the region (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
    assert resolved(iam.s3_via_service("cn-north-1", "amazonaws.com.cn")) == "s3.cn-north-1.amazonaws.com.cn"
    assert (iam.CODE_PREFIX, iam.MODELS_PREFIX) == ("code", "models")


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args)
        service, region = args.args["serviceName"], args.args["region"]
        return {
            "id": f"{service}.{region}.amazonaws.com",
            "name": f"{service}.amazonaws.com",
            "suffix": "x",
        }, []


@pytest.fixture
def mocks() -> Iterator[_Mocks]:
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project="iam", stack="unit", preview=False)
    yield mocks


def _parent() -> pulumi.ComponentResource:
    provider = aws.Provider("regional", region="eu-west-1")
    return pulumi.ComponentResource(
        "test:index:Parent", "parent", opts=pulumi.ResourceOptions(providers=[provider])
    )


# The aws_service_principal data source answers name = <service>.<suffix> and id = <service>.<region>.<suffix>
# (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/service_principal).
def test_service_principals_are_the_data_source_name_and_id_asked_through_the_parent_provider(
    mocks: _Mocks,
) -> None:
    parent = _parent()

    assert (
        _sync_await(iam.service_principal("logs", "eu-west-2", parent=parent).future())
        == "logs.amazonaws.com"
    )
    assert (
        _sync_await(iam.regional_service_principal("states", "eu-west-3", parent=parent).future())
        == "states.eu-west-3.amazonaws.com"
    )
    assert [(call.token, call.args) for call in mocks.calls] == [
        ("aws:index/getServicePrincipal:getServicePrincipal", {"region": "eu-west-2", "serviceName": "logs"}),
        (
            "aws:index/getServicePrincipal:getServicePrincipal",
            {"region": "eu-west-3", "serviceName": "states"},
        ),
    ]
    regional = "urn:pulumi:unit::iam::pulumi:pulumi:Stack$pulumi:providers:aws::regional::regional-id"
    assert [call.provider for call in mocks.calls] == [regional, regional]


def test_a_role_has_one_least_privilege_inline_policy_the_boundary_and_one_hour_sessions(
    mocks: _Mocks,
) -> None:
    parent = _parent()
    trust = iam.lambda_trust_policy("lambda.amazonaws.com")
    inline = iam.document({"Sid": "S", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:x"})

    role = iam.role(
        "drift-role",
        role_name="churn-dev-drift",
        trust_policy=trust,
        inline_policy=inline,
        description="the drift engine",
        permissions_boundary="arn:aws:iam::111122223333:policy/boundary",
        parent=parent,
        aliases=[pulumi.Alias(name="old-drift-role")],
    )

    assert (
        _sync_await(role.urn.future())
        == "urn:pulumi:unit::iam::test:index:Parent$aws:iam/role:Role::drift-role"
    )
    [recorded] = [args for args in mocks.resources if args.typ == "aws:iam/role:Role"]
    assert recorded.inputs == {
        "name": "churn-dev-drift",
        "description": "the drift engine",
        "assumeRolePolicy": json.dumps(trust, sort_keys=True),
        "inlinePolicies": [{"name": "least-privilege", "policy": json.dumps(inline, sort_keys=True)}],
        "permissionsBoundary": "arn:aws:iam::111122223333:policy/boundary",
        "maxSessionDuration": 3600,
    }
    assert len(role._aliases) == 1


def test_a_role_without_a_boundary_or_aliases_sends_none(mocks: _Mocks) -> None:
    role = iam.role(
        "plain",
        role_name="plain",
        trust_policy=iam.document(),
        inline_policy=iam.document(),
        description="d",
        permissions_boundary=None,
        parent=_parent(),
    )

    _sync_await(role.urn.future())
    [recorded] = [args for args in mocks.resources if args.typ == "aws:iam/role:Role"]
    assert "permissionsBoundary" not in recorded.inputs
    assert role._aliases == []

"""policy/guardrails/iam.py as a unit: finding policy documents in a resource's props and judging their grants,
on small hand-built documents (no program run, no pack run)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.guardrails import iam, values
from policy.guardrails import resource_types as t

ROOT = "arn:aws:iam::111122223333:root"
UNSCOPABLE = {"cloudwatch:GetMetricData": "", "cloudwatch:PutMetricData": "cloudwatch:namespace"}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# --- finding documents ----------------------------------------------------------------------------------


def test_a_role_carries_one_document_per_inline_policy_located_by_index() -> None:
    props = {
        "inlinePolicies": [
            {"name": "a", "policy": json.dumps(doc(allow("s3:GetObject", "arn:aws:s3:::b/*")))},
            {"name": "no-policy"},
            {"name": "c", "policy": doc(allow("sns:Publish", "arn:aws:sns:eu-west-1:1:t"))},
        ]
    }
    found = iam.policy_documents(t.IAM_ROLE, props)
    assert [d.location for d in found] == ["inlinePolicies[0].policy", "inlinePolicies[2].policy"]
    assert found[0].document["Statement"][0]["Action"] == "s3:GetObject"
    assert found[1].document["Statement"][0]["Action"] == "sns:Publish"


@pytest.mark.parametrize(
    ("resource_type", "prop"),
    [
        (t.IAM_ROLE_POLICY, "policy"),
        (t.BUCKET_POLICY, "policy"),
        (t.KMS_KEY, "policy"),
        (t.MODEL_PACKAGE_GROUP_POLICY, "resourcePolicy"),
    ],
)
def test_other_types_carry_their_document_in_one_property(resource_type: str, prop: str) -> None:
    found = iam.policy_documents(resource_type, {prop: json.dumps(doc(allow("x:Y", "arn:x")))})
    assert found == [iam.PolicyDocument(prop, doc(allow("x:Y", "arn:x")))]


def test_types_without_documents_and_blank_or_missing_documents_give_none() -> None:
    assert iam.policy_documents(t.BUCKET, {"policy": json.dumps(doc(allow("*")))}) == []
    assert iam.policy_documents(t.IAM_ROLE_POLICY, {"policy": "  "}) == []
    assert iam.policy_documents(t.IAM_ROLE_POLICY, {"name": "p"}) == []
    assert iam.policy_documents(t.IAM_ROLE, {"inlinePolicies": [{"policy": ""}]}) == []


def test_a_document_not_yet_known_raises_unknown() -> None:
    with pytest.raises(values.Unknown):
        iam.policy_documents(t.IAM_ROLE_POLICY, {"policy": UNKNOWN_STRING_VALUE})


def test_malformed_json_is_a_value_error_naming_where_it_is() -> None:
    with pytest.raises(ValueError, match=r"^inlinePolicies\[1\]\.policy: not valid JSON \(Expecting"):
        iam.policy_documents(t.IAM_ROLE, {"inlinePolicies": [{"policy": "{}"}, {"policy": "{nope"}]})


def test_statements_accepts_one_statement_a_list_or_none() -> None:
    one = allow("s3:GetObject")
    assert iam.statements({"Statement": one}) == [one]
    assert iam.statements({"Statement": [one, one]}) == [one, one]
    assert iam.statements({"Version": "2012-10-17"}) == []


# --- wildcard grants ------------------------------------------------------------------------------------


def test_every_action_is_a_wildcard_grant_even_on_one_resource() -> None:
    got = iam.wildcard_grants(t.IAM_ROLE_POLICY, doc(allow("*", "arn:aws:s3:::b"), allow(["*"], Sid="All")))
    assert got == [
        'Statement[0]: "Action": "*" grants every action of every service',
        'All: "Action": "*" grants every action of every service',
    ]


def test_not_action_allow_is_a_wildcard_grant() -> None:
    statement = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:x", "Sid": "Not"}
    assert iam.wildcard_grants(t.IAM_ROLE_POLICY, doc(statement)) == [
        "Not: Allow with NotAction grants every action not listed"
    ]


def test_deny_statements_are_never_wildcard_grants() -> None:
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    deny_not = {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}
    assert iam.wildcard_grants(t.IAM_ROLE_POLICY, doc(deny, deny_not)) == []


def test_a_whole_service_on_every_resource_is_a_wildcard_grant() -> None:
    got = iam.wildcard_grants(
        t.IAM_ROLE_POLICY, doc(allow(["s3:GetObject", "s3:*", "sns:*"], ["arn:x", "*"]))
    )
    assert got == ['Statement[0]: s3:*, sns:* on "Resource": "*" grants a whole service']
    not_resource = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}
    assert iam.wildcard_grants(t.IAM_ROLE_POLICY, doc(not_resource)) == [
        'Statement[0]: s3:* on "Resource": "*" grants a whole service'
    ]


def test_a_whole_service_on_named_resources_or_a_partial_wildcard_is_no_wildcard_grant() -> None:
    assert iam.wildcard_grants(t.IAM_ROLE_POLICY, doc(allow("s3:*", "arn:aws:s3:::b/*"))) == []
    assert iam.wildcard_grants(t.IAM_ROLE_POLICY, doc(allow(["s3:Get*", "s3:List*"]))) == []
    assert iam.wildcard_grants(t.IAM_ROLE_POLICY, doc(allow([7, "s3:GetObject"]))) == []


@pytest.mark.parametrize(
    "principal", [{"AWS": ROOT}, {"AWS": [ROOT, "111122223333"]}, {"AWS": "444455556666"}]
)
def test_a_key_policys_root_admin_statement_is_allowed(principal: dict[str, Any]) -> None:
    # The default key policy gives the account root kms:* on "*" so IAM policies can manage the key
    # (AWS KMS developer guide, "Default key policy": https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
    assert iam.wildcard_grants(t.KMS_KEY, doc(allow("kms:*", Principal=principal))) == []


@pytest.mark.parametrize(
    ("resource_type", "statement"),
    [
        (t.SNS_TOPIC_POLICY, allow("kms:*", Principal={"AWS": ROOT})),
        (t.KMS_KEY, allow(["kms:*", "s3:*"], Principal={"AWS": ROOT})),
        (t.KMS_KEY, allow(["kms:*", "kms:Decrypt"], Principal={"AWS": ROOT})),
        (t.KMS_KEY, allow("kms:*", Principal={"AWS": "arn:aws:iam::111122223333:role/admin"})),
        (t.KMS_KEY, allow("kms:*", Principal={"AWS": [ROOT, "arn:aws:iam::111122223333:role/admin"]})),
        (t.KMS_KEY, allow("kms:*", Principal={"AWS": []})),
        (t.KMS_KEY, allow("kms:*", Principal={"AWS": [12]})),
        (t.KMS_KEY, allow("kms:*", Principal={"AWS": ROOT, "Service": "logs.amazonaws.com"})),
        (t.KMS_KEY, allow("kms:*", Principal="*")),
        (t.KMS_KEY, allow("kms:*", Principal={"AWS": ROOT + "x"})),
        (t.KMS_KEY, allow("kms:*", Principal={"AWS": "x" + ROOT})),
        (t.KMS_KEY, allow("kms:*")),
    ],
)
def test_kms_star_for_anyone_but_the_account_root_is_a_wildcard_grant(
    resource_type: str, statement: dict[str, Any]
) -> None:
    got = iam.wildcard_grants(resource_type, doc(statement))
    assert (
        len(got) == 1 and "kms:*" in got[0] and got[0].endswith('on "Resource": "*" grants a whole service')
    )


# --- Resource "*" on identity policies ------------------------------------------------------------------


def test_scopable_actions_on_every_resource_are_reported_by_name() -> None:
    got = iam.resource_star_grants(
        doc(allow(["s3:GetObject", "cloudwatch:GetMetricData", 3], Sid="Read")), UNSCOPABLE
    )
    assert got == ['Read: s3:GetObject on "Resource": "*": scope it to the resources it needs']
    not_resource = {"Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::b/*"}
    assert iam.resource_star_grants(doc(not_resource), UNSCOPABLE) == [
        'Statement[0]: s3:PutObject on "Resource": "*": scope it to the resources it needs'
    ]


def test_unscopable_actions_need_their_condition_key_compared_case_insensitively() -> None:
    # PutMetricData has no resource type; cloudwatch:namespace scopes it (Service Authorization Reference,
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
    bare = allow("cloudwatch:PutMetricData")
    assert iam.resource_star_grants(doc(bare), UNSCOPABLE) == [
        'Statement[0]: cloudwatch:PutMetricData on "Resource": "*" without a cloudwatch:namespace condition'
    ]
    scoped = allow(
        "cloudwatch:PutMetricData", Condition={"StringEquals": {"CloudWatch:Namespace": "sagestack"}}
    )
    assert iam.resource_star_grants(doc(scoped), UNSCOPABLE) == []
    other_key = allow(
        "cloudwatch:PutMetricData", Condition={"StringEquals": {"aws:RequestedRegion": "x"}, "Bool": 1}
    )
    assert len(iam.resource_star_grants(doc(other_key), UNSCOPABLE)) == 1
    malformed = allow("cloudwatch:PutMetricData", Condition=["cloudwatch:namespace"])
    assert len(iam.resource_star_grants(doc(malformed), UNSCOPABLE)) == 1
    assert iam.resource_star_grants(doc(allow("cloudwatch:GetMetricData")), UNSCOPABLE) == []


def test_resource_star_skips_deny_not_action_named_resources_and_wildcard_actions() -> None:
    skipped = doc(
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"},
        allow("s3:GetObject", ["arn:aws:s3:::b/*"]),
        allow(["s3:GetObject", "s3:*"]),
        allow(["s3:GetObject", "*"]),
    )
    assert iam.resource_star_grants(skipped, UNSCOPABLE) == []


# --- the rules ------------------------------------------------------------------------------------------


def test_check_iam_wildcards_prefixes_each_problem_with_the_documents_location() -> None:
    props = {"inlinePolicies": [{"policy": json.dumps(doc(allow("s3:*"), allow("*", "arn:x")))}]}
    assert list(iam.check_iam_wildcards(t.IAM_ROLE, props, {})) == [
        'inlinePolicies[0].policy: Statement[0]: s3:* on "Resource": "*" grants a whole service',
        'inlinePolicies[0].policy: Statement[1]: "Action": "*" grants every action of every service',
    ]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaFullAccess",
        "arn:aws-us-gov:iam::aws:policy/AmazonS3FullAccess",
    ],
)
def test_broad_aws_managed_policies_are_refused(arn: str) -> None:
    got = list(iam.check_managed_full_access(t.IAM_ROLE_POLICY_ATTACHMENT, {"policyArn": arn}, {}))
    assert got == [
        f"policyArn: AWS managed policy {arn} grants far more than the stack needs; "
        "attach a least-privilege policy instead"
    ]


def test_a_roles_managed_policy_list_is_checked_element_by_element() -> None:
    props = {
        "managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess", 5, "arn:aws:iam::1:policy/Mine"]
    }
    got = list(iam.check_managed_full_access(t.IAM_ROLE, props, {}))
    assert len(got) == 1 and got[0].startswith(
        "managedPolicyArns: AWS managed policy arn:aws:iam::aws:policy/Admin"
    )


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "arn:aws:iam::111122223333:policy/MyFullAccess",
        "arn:aws:iam::aws:policy/AdministratorAccessExtra",
        "xarn:aws:iam::aws:policy/AdministratorAccess",
    ],
)
def test_narrow_or_customer_managed_policies_pass(arn: str) -> None:
    assert list(iam.check_managed_full_access(t.IAM_ROLE_POLICY_ATTACHMENT, {"policyArn": arn}, {})) == []


def test_managed_policy_rule_ignores_types_that_attach_none() -> None:
    arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert (
        list(iam.check_managed_full_access(t.BUCKET, {"policyArn": arn, "managedPolicyArns": [arn]}, {}))
        == []
    )


def test_identity_resource_star_uses_the_configured_unscopable_actions() -> None:
    props = {"policy": json.dumps(doc(allow(["cloudwatch:GetMetricData", "s3:GetObject"])))}
    config = {"unscopableActions": {"cloudwatch:GetMetricData": ""}}
    assert list(iam.check_identity_resource_star(t.IAM_POLICY, props, config)) == [
        'policy: Statement[0]: s3:GetObject on "Resource": "*": scope it to the resources it needs'
    ]
    assert len(list(iam.check_identity_resource_star(t.IAM_POLICY, props, {"unscopableActions": {}}))) == 1


def test_identity_resource_star_leaves_resource_policies_alone() -> None:
    props = {"policy": json.dumps(doc(allow("s3:GetObject")))}
    assert list(iam.check_identity_resource_star(t.BUCKET_POLICY, props, {"unscopableActions": {}})) == []


# --- every statement is judged, whatever came before ----------------------------------------------------


def test_wildcard_grants_judge_every_statement_after_skipped_or_reported_ones() -> None:
    statements = doc(
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        allow("*"),
        allow("s3:*", "arn:aws:s3:::b/*"),
        allow("kms:*", Principal={"AWS": ROOT}),
        allow("sns:*"),
    )
    assert iam.wildcard_grants(t.KMS_KEY, statements) == [
        "Statement[1]: Allow with NotAction grants every action not listed",
        'Statement[2]: "Action": "*" grants every action of every service',
        'Statement[5]: sns:* on "Resource": "*" grants a whole service',
    ]


def test_a_key_policy_is_judged_as_a_key_policy_by_the_rule() -> None:
    props = {"policy": json.dumps(doc(allow("kms:*", Principal={"AWS": ROOT})))}
    assert list(iam.check_iam_wildcards(t.KMS_KEY, props, {})) == []
    assert len(list(iam.check_iam_wildcards(t.SNS_TOPIC_POLICY, props, {}))) == 1


def test_a_blank_inline_policy_does_not_hide_the_next_one() -> None:
    props = {"inlinePolicies": [{"policy": ""}, {"policy": json.dumps(doc(allow("s3:GetObject")))}]}
    assert [d.location for d in iam.policy_documents(t.IAM_ROLE, props)] == ["inlinePolicies[1].policy"]


def test_resource_star_grants_judge_every_statement_after_skipped_ones() -> None:
    statements = doc(
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"},
        allow("s3:GetObject", "arn:aws:s3:::b/*"),
        allow("s3:*"),
        allow(["s3:GetObject", "s3:PutObject"]),
    )
    assert iam.resource_star_grants(statements, UNSCOPABLE) == [
        'Statement[4]: s3:GetObject, s3:PutObject on "Resource": "*": scope it to the resources it needs'
    ]


def test_a_not_action_statement_is_left_to_the_wildcard_rule_even_with_an_action() -> None:
    # One wrong statement is one violation: iam-no-wildcard-actions reports NotAction, whatever else it holds.
    both = {"Effect": "Allow", "NotAction": "iam:*", "Action": "s3:GetObject", "Resource": "*"}
    assert iam.resource_star_grants(doc(both), UNSCOPABLE) == []

"""IAM documents: where each resource type carries policy documents, and what a grant too wide looks like."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .resource_types import (
    BUCKET_POLICY,
    IAM_GROUP_POLICY,
    IAM_GROUP_POLICY_ATTACHMENT,
    IAM_POLICY,
    IAM_POLICY_ATTACHMENT,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    IAM_USER_POLICY,
    IAM_USER_POLICY_ATTACHMENT,
    KMS_KEY,
    MODEL_PACKAGE_GROUP_POLICY,
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
    SQS_QUEUE_POLICY,
)
from .values import as_list, get, items, known

# Where each resource type carries policy documents, as paths into its properties ("[]" = every element).
POLICY_DOCUMENT_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    IAM_ROLE: (("inlinePolicies", "[]", "policy"),),
    IAM_ROLE_POLICY: (("policy",),),
    IAM_USER_POLICY: (("policy",),),
    IAM_GROUP_POLICY: (("policy",),),
    IAM_POLICY: (("policy",),),
    BUCKET_POLICY: (("policy",),),
    KMS_KEY: (("policy",),),
    SNS_TOPIC: (("policy",),),
    SNS_TOPIC_POLICY: (("policy",),),
    SQS_QUEUE_POLICY: (("policy",),),
    MODEL_PACKAGE_GROUP_POLICY: (("resourcePolicy",),),
}

# Identity policies: whoever holds them may act, so "Resource" is what scopes them (no Principal does).
IDENTITY_POLICY_TYPES = frozenset({IAM_ROLE, IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY, IAM_POLICY})

# Actions AWS offers no resource type to scope to, with the condition key that scopes them instead ("" if
# none): the IAM Service Authorization Reference, CloudWatch and ECR pages.
DEFAULT_UNSCOPABLE_ACTIONS = {
    "cloudwatch:GetMetricData": "",
    "cloudwatch:PutMetricData": "cloudwatch:namespace",
    "ecr:GetAuthorizationToken": "",
    # Step Functions' vended-log delivery (state machine logging): no resource type for any of them in the
    # Service Authorization Reference; https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html.
    "logs:CreateLogDelivery": "",
    "logs:DeleteLogDelivery": "",
    "logs:DescribeLogGroups": "",
    "logs:DescribeResourcePolicies": "",
    "logs:GetLogDelivery": "",
    "logs:ListLogDeliveries": "",
    "logs:PutResourcePolicy": "",
    "logs:UpdateLogDelivery": "",
}

# Where each resource type names managed policies it attaches.
MANAGED_POLICY_ARN_PATHS: dict[str, tuple[str, ...]] = {
    IAM_ROLE_POLICY_ATTACHMENT: ("policyArn",),
    IAM_USER_POLICY_ATTACHMENT: ("policyArn",),
    IAM_GROUP_POLICY_ATTACHMENT: ("policyArn",),
    IAM_POLICY_ATTACHMENT: ("policyArn",),
    IAM_ROLE: ("managedPolicyArns",),
}


@dataclass(frozen=True)
class PolicyDocument:
    location: str  # e.g. "inlinePolicies[0].policy"
    document: dict[str, Any]


def _walk(props: Any, path: Sequence[str], location: str) -> Iterator[tuple[str, Any]]:
    if not path:
        yield location, props
        return
    head, rest = path[0], path[1:]
    if head == "[]":
        for index, element in enumerate(items(props)):
            yield from _walk(element, rest, f"{location}[{index}]")
    else:
        value = get(props, head)
        if value is not None:
            yield from _walk(value, rest, f"{location}.{head}" if location else head)


def policy_documents(resource_type: str, props: Mapping[str, Any]) -> list[PolicyDocument]:
    """Every IAM policy document a resource carries, parsed; raises Unknown if any is not known yet."""
    documents = []
    for path in POLICY_DOCUMENT_PATHS.get(resource_type, ()):
        for location, raw in _walk(props, path, ""):
            raw = known(raw)
            if isinstance(raw, str):
                if not raw.strip():
                    continue
                try:
                    parsed = json.loads(raw)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{location}: not valid JSON ({e})") from e
            else:
                parsed = raw
            documents.append(PolicyDocument(location, parsed))
    return documents


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


_SERVICE_WIDE = re.compile(r"^[A-Za-z0-9-]+:\*$")
# Matched whole (fullmatch): "$" would also accept a trailing newline, and "\d" other scripts' digits.
_ACCOUNT_ROOT = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:root|[0-9]{12}")


def _is_account_root_only(principal: Any) -> bool:
    if not isinstance(principal, dict) or set(principal) != {"AWS"}:
        return False
    values = as_list(principal["AWS"])
    return bool(values) and all(isinstance(v, str) and _ACCOUNT_ROOT.fullmatch(v) for v in values)


def wildcard_grants(resource_type: str, document: Mapping[str, Any]) -> list[str]:
    """Allow statements that grant every action, or every action of a service on every resource."""
    problems = []
    for index, statement in enumerate(statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        label = statement.get("Sid") or f"Statement[{index}]"
        if "NotAction" in statement:
            problems.append(f"{label}: Allow with NotAction grants every action not listed")
            continue
        actions = [a for a in as_list(statement.get("Action")) if isinstance(a, str)]
        resources = as_list(statement.get("Resource"))
        every_resource = "*" in resources or "NotResource" in statement
        if "*" in actions:
            problems.append(f'{label}: "Action": "*" grants every action of every service')
            continue
        service_wide = [a for a in actions if _SERVICE_WIDE.match(a)]
        if not service_wide or not every_resource:
            continue
        # The account-root key-admin statement: in a key policy "*" is this key, and the root principal
        # only delegates to IAM, whose policies this pack checks. Without it the key becomes unmanageable.
        if (
            resource_type == KMS_KEY
            and service_wide == ["kms:*"]
            and len(actions) == 1
            and _is_account_root_only(statement.get("Principal"))
        ):
            continue
        problems.append(f'{label}: {", ".join(service_wide)} on "Resource": "*" grants a whole service')
    return problems


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """Every condition key a statement tests, lower-cased (IAM compares condition keys case-insensitively)."""
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return set()
    return {key.lower() for test in condition.values() if isinstance(test, dict) for key in test}


def resource_star_grants(document: Mapping[str, Any], unscopable: Mapping[str, str]) -> list[str]:
    """Allow statements on "Resource": "*" for actions AWS can scope, or without the condition that scopes them.

    A statement with NotAction or a wildcard action ("*", "svc:*") is left to `wildcard_grants`, so that
    one wrong statement is one violation.
    """
    problems = []
    for index, statement in enumerate(statements(document)):
        if statement.get("Effect") != "Allow" or "NotAction" in statement:
            continue
        if "*" not in as_list(statement.get("Resource")) and "NotResource" not in statement:
            continue
        label = statement.get("Sid") or f"Statement[{index}]"
        actions = [a for a in as_list(statement.get("Action")) if isinstance(a, str)]
        if any(a == "*" or _SERVICE_WIDE.match(a) for a in actions):
            continue
        scopable = [a for a in actions if a not in unscopable]
        if scopable:
            problems.append(
                f'{label}: {", ".join(scopable)} on "Resource": "*": scope it to the resources it needs'
            )
        keys = _condition_keys(statement)
        for action in actions:
            key = unscopable.get(action)
            if key and key.lower() not in keys:
                problems.append(f'{label}: {action} on "Resource": "*" without a {key} condition')
    return problems


_AWS_MANAGED_BROAD = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(?:[\w+=,.@-]+/)*(?:[\w+=,.@-]*FullAccess[\w+=,.@-]*|AdministratorAccess"
    r"|PowerUserAccess)$"
)


def check_iam_wildcards(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    for document in policy_documents(resource_type, props):
        for problem in wildcard_grants(resource_type, document.document):
            yield f"{document.location}: {problem}"


def check_managed_full_access(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    prop = MANAGED_POLICY_ARN_PATHS.get(resource_type)
    if prop is None:
        return
    for arn in items(props, *prop):
        if isinstance(arn, str) and _AWS_MANAGED_BROAD.match(arn):
            yield (
                f"{prop[0]}: AWS managed policy {arn} grants far more than the stack needs; "
                "attach a least-privilege policy instead"
            )


def check_identity_resource_star(
    resource_type: str, props: dict[str, Any], config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type not in IDENTITY_POLICY_TYPES:
        return
    for document in policy_documents(resource_type, props):
        for problem in resource_star_grants(document.document, config["unscopableActions"]):
            yield f"{document.location}: {problem}"

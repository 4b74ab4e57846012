"""A producer stack and a consumer stack in two accounts, recorded offline, and an IAM evaluator for them.

The producer is staging (account 123456789012) listing the consumer's account; the consumer is prod
(account 210987654321) pinned to a staging package, with the producer's bucket and key beside the pin,
as `python -m infra.promote` writes them. Both run the real program under the recording mocks; only the
account the mocks answer with differs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from policy.guardrails import iam as guardrails_iam
from tests.infra.harness import ACCOUNT_ID, Recording, RecordingMocks, run_program

PRODUCER_ACCOUNT = ACCOUNT_ID
CONSUMER_ACCOUNT = "210987654321"
PRODUCER_STACK, CONSUMER_STACK = "staging", "prod"
REGION = "eu-west-1"  # both stack files' aws:region
PINNED_VERSION = 3
CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"


class AccountMocks(RecordingMocks):
    """The recording mocks, answering as another account: caller identity and every ARN they make up."""

    def __init__(self, region: str, account: str):
        super().__init__(region)
        self.account = account

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        physical, state = super().new_resource(args)
        if isinstance(state.get("arn"), str):
            state["arn"] = state["arn"].replace(f":{ACCOUNT_ID}:", f":{self.account}:")
        return physical, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        result, failures = super().call(args)
        if args.token == CALLER_IDENTITY:
            result = {**result, "accountId": self.account, "id": self.account}
            result["arn"] = f"arn:aws:iam::{self.account}:user/ci"
        return result, failures


def producer_overrides() -> dict[str, str]:
    return {
        "modelConsumerAccounts": json.dumps([CONSUMER_ACCOUNT]),
        "aws:allowedAccountIds": json.dumps([PRODUCER_ACCOUNT]),
    }


@cache
def producer() -> Recording:
    return run_program(PRODUCER_STACK, producer_overrides())


def artifacts_bucket(recording: Recording) -> str:
    (bucket,) = [
        r.inputs["bucket"]
        for r in recording.of_type("aws:s3/bucket:Bucket")
        if r.inputs["bucket"].startswith(f"sagestack-{recording.stack}-artifacts-")
    ]
    return str(bucket)


def key_arn(recording: Recording) -> str:
    return str(recording.one("aws:kms/key:Key").state["arn"])


def pinned_package_arn() -> str:
    return f"arn:aws:sagemaker:{REGION}:{PRODUCER_ACCOUNT}:model-package/sagestack-{PRODUCER_STACK}-models/{PINNED_VERSION}"


def consumer_overrides() -> dict[str, str]:
    return {
        "approvedModelPackageArn": pinned_package_arn(),
        "modelArtifactsBucket": artifacts_bucket(producer()),
        "modelArtifactsKeyArn": key_arn(producer()),
        "aws:allowedAccountIds": json.dumps([CONSUMER_ACCOUNT]),
    }


@cache
def consumer() -> Recording:
    return run_program(CONSUMER_STACK, consumer_overrides(), mocks=AccountMocks(REGION, CONSUMER_ACCOUNT))


CROSS_ACCOUNT_RECORDINGS = {"producer (staging)": producer, "consumer (prod)": consumer}


# ---- IAM evaluation, for the operators and elements the stacks' documents use -------------------------


@dataclass(frozen=True)
class Request:
    """One authorisation request: who (a role ARN), what, on which ARN, with which request context."""

    principal: str
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.principal.split(":")[4]


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's `*` (any run of characters) and `?` (one character) matching."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
def _string_equals(expected: Any, actual: str) -> bool:
    return bool(expected == actual)


def _string_like(expected: Any, actual: str) -> bool:
    return _wildcard(str(expected), actual)


def _bool(expected: Any, actual: str) -> bool:
    return str(expected).lower() == actual.lower()


_OPERATORS: dict[str, Callable[[Any, str], bool]] = {
    "StringEquals": _string_equals,
    "StringLike": _string_like,
    "ArnEquals": _string_equals,
    "ArnLike": _string_like,
    "Bool": _bool,
}


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in statement.get("Condition", {}).items():
        if operator not in _OPERATORS:
            raise NotImplementedError(f"the evaluator does not know condition operator {operator}")
        for key, expected in tests.items():
            # A key missing from the request makes the condition false (no ...IfExists operator is used).
            actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if actual is None or not any(_OPERATORS[operator](e, actual) for e in _listed(expected)):
                return False
    return True


def _principal_matches(principal: Any, request: Request) -> bool:
    """An account's root ARN (or bare ID) stands for every principal of that account; "*" for anyone.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _listed(principal.get("AWS", [])):
        if (
            value in ("*", request.principal, request.account)
            or value == f"arn:aws:iam::{request.account}:root"
        ):
            return True
    return False


def _applies(statement: Mapping[str, Any], request: Request, *, resource_policy: bool) -> bool:
    if "NotAction" in statement or "NotResource" in statement or "NotPrincipal" in statement:
        raise NotImplementedError("the evaluator does not handle NotAction, NotResource or NotPrincipal")
    if resource_policy and not _principal_matches(statement.get("Principal"), request):
        return False
    if not any(_wildcard(a, request.action, ignore_case=True) for a in _listed(statement["Action"])):
        return False
    if not any(_wildcard(r, request.resource) for r in _listed(statement.get("Resource", "*"))):
        return False
    return _conditions_hold(statement, request.context)


def decision(document: Mapping[str, Any], request: Request, *, resource_policy: bool) -> str:
    """ "Deny" (an explicit deny applies), "Allow", or "Implicit" (nothing applies) for one document."""
    applying = [
        s
        for s in guardrails_iam.statements(document)
        if _applies(s, request, resource_policy=resource_policy)
    ]
    if any(s["Effect"] == "Deny" for s in applying):
        return "Deny"
    return "Allow" if applying else "Implicit"


def cross_account_allowed(
    request: Request, identity: Sequence[Mapping[str, Any]], resource: Mapping[str, Any]
) -> bool:
    """Across accounts both sides must allow, and no explicit deny on either side.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html"""
    decisions = [decision(d, request, resource_policy=False) for d in identity]
    decisions.append(decision(resource, request, resource_policy=True))
    return "Deny" not in decisions and "Allow" in decisions[:-1] and decisions[-1] == "Allow"


# ---- reading the recorded documents ----------------------------------------------------------------


def role_policy(recording: Recording, role_name_suffix: str) -> dict[str, Any]:
    (role,) = [
        r for r in recording.of_type("aws:iam/role:Role") if r.inputs["name"].endswith(role_name_suffix)
    ]
    return dict(json.loads(role.inputs["inlinePolicies"][0]["policy"]))


def bucket_policy(recording: Recording, bucket_resource: str) -> dict[str, Any]:
    (policy,) = [
        r
        for r in recording.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if r.name == f"{bucket_resource}-tls-only"
    ]
    return dict(json.loads(policy.inputs["policy"]))


def key_policy(recording: Recording) -> dict[str, Any]:
    return dict(json.loads(recording.one("aws:kms/key:Key").inputs["policy"]))


def registry_policy(recording: Recording) -> dict[str, Any]:
    policy = recording.one("aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy")
    return dict(json.loads(policy.inputs["resourcePolicy"]))


def resource_policies(recording: Recording) -> dict[str, dict[str, Any]]:
    """Every resource policy of a stack that may name principals: bucket, key, queue, topic, registry."""
    documents = {}
    for resource in recording.resources:
        if resource.type in guardrails_iam.IDENTITY_POLICY_TYPES:
            continue
        for document in guardrails_iam.policy_documents(resource.type, resource.inputs):
            documents[f"{resource.name} {document.location}"] = document.document
    return documents

"""Every IAM policy document the stacks generate, linted with parliament: no finding without a reason."""

from __future__ import annotations

import importlib.resources
import json
import sys
import types
import warnings
from collections.abc import Mapping
from typing import Any

import pytest

from policy.guardrails import iam, resource_types
from tests.infra.cross_account import CROSS_ACCOUNT_RECORDINGS
from tests.infra.harness import Recording, stack_names


def _import_parliament() -> Any:
    try:
        import pkg_resources  # noqa: F401
    except ModuleNotFoundError:
        # parliament 1.6.4 locates its data with pkg_resources, which setuptools >= 81 no longer ships.
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: str(importlib.resources.files(package) / name)  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # parliament's regexes use invalid escapes
        import parliament

    return parliament


parliament = _import_parliament()

# (resource type, statement Sid, parliament issue) -> why the finding is accepted. The one place for them.
SUPPRESSIONS: dict[tuple[str, str, str], str] = {
    (
        resource_types.KMS_KEY,
        "AccountAdministersKeyThroughIam",
        "RESOURCE_STAR",
    ): 'in a key policy "*" is the key itself; the root principal only delegates to IAM policies',
    (
        resource_types.KMS_KEY,
        "CloudWatchAlarmsPublishToEncryptedTopic",
        "RESOURCE_STAR",
    ): 'in a key policy "*" is the key itself, and aws:SourceAccount scopes the CloudWatch service',
    (
        resource_types.KMS_KEY,
        "EventBridgeDeadLettersToEncryptedQueue",
        "RESOURCE_STAR",
    ): 'in a key policy "*" is the key itself, and aws:SourceAccount scopes the EventBridge service',
    (
        resource_types.KMS_KEY,
        "LogDeliveryForEncryptedStateMachines",
        "RESOURCE_STAR",
    ): 'in a key policy "*" is the key itself; only kms:Decrypt, as the Step Functions guide documents it '
    "(encryption-at-rest.html, step 3)",
    (
        resource_types.KMS_KEY,
        "CloudWatchLogsEncryptStackLogGroups",
        "RESOURCE_STAR",
    ): 'in a key policy "*" is the key itself, and the encryption context scopes it to the stack\'s log groups',
    (
        resource_types.KMS_KEY,
        "CloudWatchLogsEncryptStackLogGroups",
        "UNKNOWN_CONDITION_FOR_ACTION",
    ): "AWS's documented CloudWatch Logs key statement puts DescribeKey under the log-group encryption context",
    (
        resource_types.KMS_KEY,
        "CloudWatchLogsEncryptStackLogGroups",
        "MISMATCHED_TYPE",
    ): "AWS documents ArnLike on kms:EncryptionContext:aws:logs:arn; parliament types that key as a String",
    (
        resource_types.KMS_KEY,
        "ConsumerAccountsDecryptModelsThroughS3",
        "RESOURCE_STAR",
    ): 'in a key policy "*" is the key itself; kms:ViaService, kms:CallerAccount and the S3 encryption '
    "context scope it to the artifacts bucket read through S3",
    (
        resource_types.MODEL_PACKAGE_GROUP_POLICY,
        "ConsumerAccountsUsePackages",
        "RESOURCE_MISMATCH",
    ): "the SageMaker guide's cross-account deployment grants CreateModel on the group's model packages "
    "(model-registry-deploy-xaccount.html): a CreateModel from a package is authorised on the package too",
}


def findings(document: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(Sid, issue, detail) of every finding: statements one by one, so each finding names its statement."""
    found: list[tuple[str | None, str, str]] = []
    for index, statement in enumerate(iam.statements(document)):
        single = {"Version": document.get("Version", "2012-10-17"), "Statement": [statement]}
        for finding in parliament.analyze_policy_string(json.dumps(single)).findings:
            found.append((statement.get("Sid") or f"Statement[{index}]", finding.issue, str(finding.detail)))
    per_statement = {(issue, detail) for _, issue, detail in found}
    for finding in parliament.analyze_policy_string(json.dumps(document)).findings:
        if (finding.issue, str(finding.detail)) not in per_statement:
            found.append(
                (None, finding.issue, str(finding.detail))
            )  # a finding about the document as a whole
    return found


def stack_documents(recording: Recording) -> list[tuple[str, str, iam.PolicyDocument]]:
    return [
        (r.type, r.name, document)
        for r in recording.resources
        for document in iam.policy_documents(r.type, r.inputs)
    ]


def _recording(stack: str, recordings: Mapping[str, Recording]) -> Recording:
    """A stack file's recording, or one of the cross-account pair (tests/infra/cross_account.py)."""
    return CROSS_ACCOUNT_RECORDINGS[stack]() if stack in CROSS_ACCOUNT_RECORDINGS else recordings[stack]


@pytest.mark.parametrize("stack", [*stack_names(), *CROSS_ACCOUNT_RECORDINGS])
def test_every_generated_policy_document_is_clean_or_suppressed_with_a_reason(
    stack: str, recordings: Mapping[str, Recording]
) -> None:
    documents = stack_documents(_recording(stack, recordings))
    kinds = {resource_type for resource_type, _, _ in documents}
    assert {resource_types.IAM_ROLE, resource_types.BUCKET_POLICY, resource_types.KMS_KEY} <= kinds, (
        f"{stack}: documents missing: {kinds}"
    )
    unexplained = [
        f"{resource_type} {name} {document.location} {sid}: {issue} {detail}"
        for resource_type, name, document in documents
        for sid, issue, detail in findings(document.document)
        if (resource_type, sid or "", issue) not in SUPPRESSIONS
    ]
    assert not unexplained, "parliament findings without a suppression:\n" + "\n".join(unexplained)


def test_every_suppression_is_still_needed(recordings: Mapping[str, Recording]) -> None:
    every = [*recordings.values(), *(record() for record in CROSS_ACCOUNT_RECORDINGS.values())]
    used = {
        (resource_type, sid or "", issue)
        for recording in every
        for resource_type, _, document in stack_documents(recording)
        for sid, issue, _ in findings(document.document)
    }
    assert set(SUPPRESSIONS) <= used, f"stale suppressions: {set(SUPPRESSIONS) - used}"


BROKEN_DOCUMENTS = {
    "unknown action": (
        {"Sid": "Typo", "Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::bucket/*"},
        "UNKNOWN_ACTION",
    ),
    "resource of the wrong kind": (
        {
            "Sid": "ObjectsOnBucket",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::bucket",
        },
        "RESOURCE_MISMATCH",
    ),
    "scopable actions on every resource": (
        {"Sid": "AllObjects", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        "RESOURCE_STAR",
    ),
    "malformed statement": (
        {"Sid": "NoEffect", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
        "MALFORMED",
    ),
}


@pytest.mark.parametrize("case", BROKEN_DOCUMENTS)
def test_a_broken_document_yields_findings(case: str) -> None:
    statement, issue = BROKEN_DOCUMENTS[case]
    found = findings({"Version": "2012-10-17", "Statement": [statement]})
    assert (statement["Sid"], issue) in {(sid, i) for sid, i, _ in found}, found


def test_action_star_is_caught_by_the_policy_pack_where_parliament_is_silent() -> None:
    """parliament does not flag "Action": "*" by itself; iam-no-wildcard-actions does, so both run."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    assert iam.wildcard_grants(resource_types.IAM_POLICY, document) == [
        'All: "Action": "*" grants every action of every service'
    ]


def test_the_pack_lets_only_unscopable_actions_use_resource_star() -> None:
    """The pack's default list, against parliament's copy of the IAM Service Authorization Reference."""
    definitions = json.loads((importlib.resources.files("parliament") / "iam_definition.json").read_text())
    privileges = {
        f"{service['prefix']}:{privilege['privilege']}": privilege
        for service in definitions
        for privilege in service["privileges"]
    }
    assert iam.DEFAULT_UNSCOPABLE_ACTIONS
    for action, condition_key in iam.DEFAULT_UNSCOPABLE_ACTIONS.items():
        resource_types_of_action = privileges[action]["resource_types"]
        # An empty resource type is the reference's "*": the action has no resource to scope to.
        assert [r["resource_type"] for r in resource_types_of_action] == [""], action
        keys = resource_types_of_action[0]["condition_keys"]
        assert (condition_key in keys) if condition_key else keys == [], (action, keys)
    # A scopable action for contrast: GetObject has the object as its resource type.
    assert "object*" in [r["resource_type"] for r in privileges["s3:GetObject"]["resource_types"]]

"""The rollback alarm's unit and the IAM conditions that scope unscopable actions, read from what each stack
records (the harness), not from the builders: they hold wherever the alarm and policy code lives.

Each test was proven by applying its mutant by hand to a scratch copy (issue 15): the ×1000 dropped from the
latency threshold, the PutMetricData namespace condition dropped, the GrantIsForAWSResource condition dropped,
and the training-job name scope widened to `training-job/*`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.infra.conftest import recording_of
from tests.infra.harness import Recording

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
POLICY_KEYS = ("policy", "assumeRolePolicy")


def _statements(recording: Recording) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every IAM-style JSON document among the recorded inputs, with its resource name."""
    for resource in recording.resources:
        texts = [resource.inputs.get(key) for key in POLICY_KEYS]
        texts += [inline.get("policy") for inline in resource.inputs.get("inlinePolicies") or []]
        for text in texts:
            if isinstance(text, str) and text.lstrip().startswith("{"):
                statements = json.loads(text).get("Statement", [])
                for statement in statements if isinstance(statements, list) else [statements]:
                    yield resource.name, statement


def _allowing(recording: Recording, action: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, statement in _statements(recording):
        actions = statement.get("Action", [])
        if statement.get("Effect") == "Allow" and action in (
            [actions] if isinstance(actions, str) else actions
        ):
            found.append((name, statement))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# "ModelLatency ... Units: Microseconds" (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html);
# prod configures latencyP99ThresholdMs: 300 (Pulumi.prod.yaml), dev keeps Pulumi.yaml's default of 500 ms.
def test_the_recorded_latency_alarm_threshold_is_the_configured_milliseconds_in_microseconds() -> None:
    for stack, microseconds in (("prod", 300_000), ("dev", 500_000)):
        latency = [
            alarm
            for alarm in recording_of(stack).of_type(ALARM)
            if (alarm.inputs.get("namespace"), alarm.inputs.get("metricName"))
            == ("AWS/SageMaker", "ModelLatency")
        ]
        assert len(latency) == 1, f"{stack}: one ModelLatency alarm"
        assert latency[0].inputs["threshold"] == microseconds, stack
        assert latency[0].inputs["extendedStatistic"] == "p99"


# PutMetricData supports no resource-level permission; the cloudwatch:namespace condition key is its only
# scope (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
def test_every_metric_publisher_is_limited_to_its_namespaces(recording: Recording) -> None:
    publishers = _allowing(recording, "cloudwatch:PutMetricData")
    assert publishers, "the SageMaker execution role publishes metrics (and the drift engine, where deployed)"
    for name, statement in publishers:
        conditions = statement.get("Condition", {})
        namespaces = [
            value
            for operator in ("StringEquals", "StringLike")
            for value in _as_list(conditions.get(operator, {}).get("cloudwatch:namespace", []))
        ]
        assert namespaces, f"{name}: PutMetricData without a cloudwatch:namespace condition"
        assert "*" not in namespaces, f"{name}: a wildcard namespace is no scope"


# kms:GrantIsForAWSResource is true only when an AWS service integrated with KMS creates the grant for the
# caller (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource):
# without it the role could grant the key to any principal.
def test_every_kms_grant_is_limited_to_aws_services(recording: Recording) -> None:
    granters = _allowing(recording, "kms:CreateGrant")
    assert granters, "the SageMaker execution role grants the stack key to its volumes"
    for name, statement in granters:
        assert statement.get("Condition") == {"Bool": {"kms:GrantIsForAWSResource": "true"}}, name


# SageMaker Pipelines names the training jobs it starts pipelines-<execution id>-<step>-<suffix>; the stack
# names its own job <base name>-<hash> (README "Training"). Nothing else may be started, described or stopped.
def test_training_job_permissions_are_scoped_to_the_stacks_own_and_pipeline_job_names(
    recording: Recording,
) -> None:
    trainers = _allowing(recording, "sagemaker:CreateTrainingJob")
    assert trainers, "the retraining pipeline starts training jobs"
    allowed = re.compile(
        rf"arn:aws:sagemaker:[a-z0-9-]+:\d{{12}}:training-job/(pipelines|sagestack-{recording.stack})-\*"
    )
    for name, statement in trainers:
        resources = _as_list(statement["Resource"])
        assert resources, name
        widened = [arn for arn in resources if not allowed.fullmatch(arn)]
        assert not widened, f"{name}: training-job scope wider than the stack's names: {widened}"

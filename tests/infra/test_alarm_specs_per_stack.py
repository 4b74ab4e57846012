"""Every alarm of every stack, field by field, from the stack file and from what AWS publishes.

In-process and fast (no program run): the mutation table maps these to infra/alarm_specs.py and
infra/engine_alarm_specs.py. Expected values are written here from the stack files (Pulumi.<stack>.yaml over
Pulumi.yaml's defaults, re-read below) and from AWS's metric documentation, never taken from the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

from infra import alarm_specs
from infra.alarm_model import AlarmSpec, AlarmSpecError, MetricMath, Threshold
from infra.config_schema import load_stack_config
from infra.settings import settings_from_values
from infra.settings_types import AlarmThresholds, Settings
from monitoring import metrics
from training import contract

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "ep-1"
VARIANT = "blue"
# https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html: endpoint invocation metrics live in
# AWS/SageMaker with dimensions EndpointName and VariantName; ModelLatency is in microseconds.
SAGEMAKER_DIMENSIONS = (("EndpointName", ENDPOINT), ("VariantName", VARIANT))


@dataclass(frozen=True)
class StackFacts:
    """What one stack file says about its alarms (defaults from Pulumi.yaml where the stack is silent)."""

    region: str
    latency_p99_ms: int
    errors_5xx: int
    errors_4xx: int
    no_invocations_minutes: int
    schedule_minutes: int
    captures: bool  # captureSamplingPercent > 0: the drift engine and its alarms exist


STACKS = {
    "dev": StackFacts("us-east-1", 500, 1, 50, 0, 60, captures=True),
    "staging": StackFacts("eu-west-1", 500, 1, 25, 0, 60, captures=True),
    "prod": StackFacts("eu-west-1", 300, 1, 50, 60, 30, captures=True),
    "sandbox": StackFacts("us-east-1", 500, 1, 50, 0, 60, captures=False),
}
DEFAULT_PSI = 0.2  # driftThreshold and predictionDriftThreshold, left at Pulumi.yaml's default by every stack


def _raw_config(stack: str) -> dict[str, object]:
    project = yaml.load((ROOT / "Pulumi.yaml").read_text(), Loader=yaml.CSafeLoader)
    values = {key: spec["default"] for key, spec in project["config"].items() if "default" in spec}
    written = yaml.load((ROOT / f"Pulumi.{stack}.yaml").read_text(), Loader=yaml.CSafeLoader)["config"]
    values.update({key.partition(":")[2]: value for key, value in written.items()})
    return values


@pytest.mark.parametrize("stack", STACKS)
def test_the_facts_table_is_what_the_stack_files_say(stack: str) -> None:
    raw = _raw_config(stack)
    facts = STACKS[stack]
    assert (
        raw["region"],
        raw["latencyP99ThresholdMs"],
        raw["errors5xxThreshold"],
        raw["errors4xxThreshold"],
        raw["noInvocationsMinutes"],
        raw["driftScheduleMinutes"],
        int(str(raw["captureSamplingPercent"])) > 0,
        float(str(raw["driftThreshold"])),
        float(str(raw["predictionDriftThreshold"])),
        raw["deployModel"],
    ) == (
        facts.region,
        facts.latency_p99_ms,
        facts.errors_5xx,
        facts.errors_4xx,
        facts.no_invocations_minutes,
        facts.schedule_minutes,
        facts.captures,
        DEFAULT_PSI,
        DEFAULT_PSI,
        True,
    )


@cache  # settings are not under test here; reading them once per stack keeps these tests fast
def _settings(stack: str) -> Settings:
    config = load_stack_config(stack)
    return settings_from_values(stack, config.region, config.values)


def _sagemaker(name: str, unit: str, statistic: str) -> metrics.MetricRef:
    return metrics.MetricRef("AWS/SageMaker", name, SAGEMAKER_DIMENSIONS, unit, statistic)


def _endpoint_expected(base: str, facts: StackFacts) -> list[AlarmSpec]:
    expected = [
        AlarmSpec(
            key="errors-5xx",
            name=f"{base}-errors-5xx",
            description="Endpoint answers 5XX: deployments roll back on this alarm",
            metric=_sagemaker("Invocation5XXErrors", "None", "Sum"),
            statistic="Sum",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=Threshold(facts.errors_5xx, "Count"),
            period=60,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data="notBreaching",
            rollback=True,
        ),
        AlarmSpec(
            key="latency-p99",
            name=f"{base}-latency-p99",
            description="Model latency p99 too high: deployments roll back on this alarm",
            metric=_sagemaker("ModelLatency", "Microseconds", "p99"),
            extended_statistic="p99",
            comparison="GreaterThanThreshold",
            # ModelLatency is in microseconds (monitoring-cloudwatch.html above); the setting is in ms.
            threshold=Threshold(facts.latency_p99_ms * 1000, "Microseconds"),
            period=60,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            rollback=True,
        ),
        AlarmSpec(
            key="errors-4xx",
            name=f"{base}-errors-4xx",
            description="Many rejected requests: a client sends payloads the model cannot read",
            metric=_sagemaker("Invocation4XXErrors", "None", "Sum"),
            statistic="Sum",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=Threshold(facts.errors_4xx, "Count"),
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data="notBreaching",
        ),
    ]
    if facts.no_invocations_minutes:
        expected.append(
            AlarmSpec(
                key="no-invocations",
                name=f"{base}-no-invocations",
                description="The endpoint received no request",
                metric=_sagemaker("Invocations", "None", "Sum"),
                statistic="Sum",
                comparison="LessThanThreshold",
                threshold=Threshold(1, "Count"),
                period=facts.no_invocations_minutes * 60,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                # SageMaker publishes no Invocations datapoint without traffic: missing data is the signal.
                treat_missing_data="breaching",
            )
        )
    return expected


def _drift_expected(base: str, period: int) -> list[AlarmSpec]:
    def drift(subject: str, ref: metrics.MetricRef, description: str) -> AlarmSpec:
        return AlarmSpec(
            key=f"drift-{subject.replace('_', '-')}",
            name=f"{base}-drift-{subject.replace('_', '-')}",
            description=description,
            metric=ref,
            statistic="Maximum",
            comparison="GreaterThanThreshold",
            threshold=Threshold(DEFAULT_PSI, "PSI"),
            period=period,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data="notBreaching",
        )

    specs = [
        drift(f, metrics.feature_drift(ENDPOINT, VARIANT, f), f"Input feature {f} drifted (PSI)")
        for f in contract.FEATURE_NAMES
    ]
    prediction = metrics.prediction_drift(ENDPOINT, VARIANT)
    return [*specs, drift("predictions", prediction, "Prediction distribution drifted (PSI)")]


def _engine(name: str, statistic: str) -> metrics.MetricRef:
    dimensions = (("EndpointName", ENDPOINT), ("VariantName", VARIANT))
    return metrics.MetricRef(metrics.NAMESPACE, name, dimensions, "Count", statistic)


def _health_expected(base: str, period: int) -> list[AlarmSpec]:
    measured = _engine("RecordsAnalyzed", "Sum")
    malformed = _engine("MalformedRecords", "Sum")
    refused = metrics.MetricRef(metrics.NAMESPACE, "RefusedRequests", SAGEMAKER_DIMENSIONS, "Count", "Sum")
    silent = AlarmSpec(
        key="monitor-silent",
        name=f"{base}-monitor-silent",
        description="The endpoint had traffic but the drift engine published no run for 3 scheduled windows",
        math=MetricMath(
            (
                ("invocations", _sagemaker("Invocations", "None", "Sum")),
                ("runs", _engine("RecordsAnalyzed", "SampleCount")),
            ),
            "IF(invocations > 0, FILL(runs, 0), 1)",
        ),
        comparison="LessThanThreshold",
        threshold=Threshold(1, "runs (1 = ran or no traffic)"),
        period=period,
        evaluation_periods=3,  # three silent windows, 3 x period within CloudWatch's one day
        datapoints_to_alarm=3,
        treat_missing_data="notBreaching",
    )
    blind = AlarmSpec(
        key="monitor-blind",
        name=f"{base}-monitor-blind",
        description="The drift engine saw under half the capture records the endpoint's invocations "
        "and sampling rate predict: capture stopped or is lagging",
        metric=metrics.MetricRef(
            metrics.NAMESPACE, "CaptureCoverage", SAGEMAKER_DIMENSIONS, "None", "Minimum"
        ),
        statistic="Minimum",
        comparison="LessThanThreshold",
        threshold=Threshold(0.5, "share"),
        period=period,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data="notBreaching",
    )
    malformed_share = AlarmSpec(
        key="monitor-malformed",
        name=f"{base}-monitor-malformed",
        description="Too many capture records could not be measured: drift monitoring is partly off "
        "(feature types or payloads disagree with the model's schema)",
        math=MetricMath(
            (("measured", measured), ("malformed", malformed)),
            "IF(measured + malformed > 0, malformed / (measured + malformed), 0)",
        ),
        comparison="GreaterThanThreshold",
        threshold=Threshold(0.05, "share"),
        period=period,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data="notBreaching",
    )
    broken = AlarmSpec(
        key="monitor-artifact-broken",
        name=f"{base}-monitor-artifact-broken",
        description="The model artifact's baseline.json or schema.json is unusable: no drift is measured",
        metric=_engine("ArtifactBroken", "Maximum"),
        statistic="Maximum",
        comparison="GreaterThanOrEqualToThreshold",
        threshold=Threshold(1, "Count"),
        period=period,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data="notBreaching",
    )
    categories = []
    for feature in ("contract", "payment_method", "internet_service"):
        unknown = metrics.MetricRef(
            metrics.NAMESPACE,
            "RefusedRequests",
            (*SAGEMAKER_DIMENSIONS, ("Code", "unknown_category"), ("Field", feature)),
            "Count",
            "Sum",
        )
        key = f"new-category-{feature.replace('_', '-')}"
        categories.append(
            AlarmSpec(
                key=key,
                name=f"{base}-{key}",
                description=f"Live requests refused for an unknown {feature}: a new category",
                math=MetricMath(
                    (
                        ("unknown", unknown),
                        ("measured", measured),
                        ("malformed", malformed),
                        ("refused", refused),
                    ),
                    "IF(measured + malformed + refused > 0, "
                    "FILL(unknown, 0) / (measured + malformed + refused), 0)",
                ),
                comparison="GreaterThanThreshold",
                threshold=Threshold(0.01, "share"),
                period=period,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                treat_missing_data="notBreaching",
            )
        )
    return [silent, blind, malformed_share, broken, *categories]


def _dead_letters(base: str) -> AlarmSpec:
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html:
    # AWS/SQS ApproximateNumberOfMessagesVisible, dimension QueueName.
    queue = f"{base}-monitoring-dead-letters"
    return AlarmSpec(
        key="monitoring-dead-letters",
        name=f"{base}-monitoring-dead-letters",
        description="A drift engine or retraining gate run failed after its retries (see the queue)",
        metric=metrics.MetricRef(
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", queue),), "Count", "Maximum"
        ),
        statistic="Maximum",
        comparison="GreaterThanOrEqualToThreshold",
        threshold=Threshold(1, "messages"),
        period=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data="notBreaching",
    )


def _scaleout(base: str, region: str) -> AlarmSpec:
    # https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html: AWS/States
    # ExecutionsFailed, ExecutionsTimedOut, ExecutionsAborted per StateMachineArn (Sum).
    arn = f"arn:{{partition}}:states:{region}:{{account_id}}:stateMachine:{base}-drift-scaleout"

    def runs(name: str) -> metrics.MetricRef:
        return metrics.MetricRef("AWS/States", name, (("StateMachineArn", arn),), "Count", "Sum")

    return AlarmSpec(
        key="monitor-scaleout-failed",
        name=f"{base}-monitor-scaleout-failed",
        description="A distributed drift run failed, timed out or was aborted: its window published nothing",
        math=MetricMath(
            (
                ("failed", runs("ExecutionsFailed")),
                ("timedout", runs("ExecutionsTimedOut")),
                ("aborted", runs("ExecutionsAborted")),
            ),
            "FILL(failed, 0) + FILL(timedout, 0) + FILL(aborted, 0)",
        ),
        comparison="GreaterThanOrEqualToThreshold",
        threshold=Threshold(1, "runs"),
        period=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data="notBreaching",
    )


def _expected(stack: str) -> list[AlarmSpec]:
    facts, base = STACKS[stack], f"sagestack-{stack}"
    expected = _endpoint_expected(base, facts)
    if not facts.captures:
        return expected
    period = facts.schedule_minutes * 60  # one drift engine run per alarm period
    return [
        *expected,
        _dead_letters(base),
        *_drift_expected(base, period),
        *_health_expected(base, period),
        _scaleout(base, facts.region),
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_declares_exactly_its_alarms_in_order(stack: str) -> None:
    specs = alarm_specs.stack_alarm_specs(_settings(stack), endpoint=ENDPOINT, variant=VARIANT)
    assert [s.key for s in specs] == [s.key for s in _expected(stack)]


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_of_every_stack_is_pinned_field_by_field(stack: str) -> None:
    specs = alarm_specs.stack_alarm_specs(_settings(stack), endpoint=ENDPOINT, variant=VARIANT)
    actual = {s.key: s for s in specs}
    for want in _expected(stack):
        assert actual.get(want.key) == want, want.key


def test_only_the_5xx_and_latency_alarms_roll_a_deployment_back() -> None:
    specs = alarm_specs.stack_alarm_specs(_settings("prod"), endpoint=ENDPOINT, variant=VARIANT)
    assert [s.key for s in specs if s.rollback] == ["errors-5xx", "latency-p99"]
    assert {s.actions for s in specs} == {("notify",)}


def test_a_stack_that_deploys_no_model_has_no_alarm() -> None:
    config = load_stack_config("dev")
    settings = settings_from_values("dev", config.region, {**config.values, "deployModel": "false"})
    assert alarm_specs.stack_alarm_specs(settings, endpoint=ENDPOINT, variant=VARIANT) == ()


def test_silent_periods_round_down_to_stay_within_one_day() -> None:
    # 86400 s / 36000 s = 2.4 windows: three would exceed CloudWatch's one day (PutMetricAlarm reference).
    assert alarm_specs.silent_periods(36_000) == 2
    assert alarm_specs.silent_periods(28_800) == 3
    assert alarm_specs.silent_periods(2 * 86_400) == 1


def test_an_alarm_period_holds_one_engine_run() -> None:
    assert alarm_specs.alarm_period_seconds(30) == 1800


def test_a_no_invocations_window_over_one_day_is_refused_naming_the_alarm() -> None:
    too_long = AlarmThresholds(0.2, 0.2, 500, 1, 50, no_invocations_minutes=1441)
    with pytest.raises(AlarmSpecError) as error:
        alarm_specs.endpoint_alarm_specs("b", ENDPOINT, VARIANT, too_long)
    assert str(error.value) == (
        "alarm b-no-invocations: evaluation_periods x period = 86460 s: expected at most one day"
    )


def test_drift_alarm_names_turn_underscores_into_dashes() -> None:
    assert alarm_specs.drift_alarm_name("b", "monthly_charges") == "b-drift-monthly-charges"
    assert alarm_specs.drift_alarm_prefix("b") == "b-drift-"

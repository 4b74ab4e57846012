"""The rehearsal's alarm evaluator against CloudWatch's documented semantics, and over the emulator.

Sources: "Evaluating an alarm" and "Configuring how CloudWatch alarms treat missing data"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html), and the
PutMetricAlarm reference (DatapointsToAlarm is the M of an "M out of N" alarm;
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import alarm_specs, engine_alarm_specs
from infra.alarm_specs import AlarmSpec
from rehearsal import alarms, emulator
from rehearsal.alarms import ALARM, INSUFFICIENT_DATA, OK

THREE_OF_FIVE = dataclasses.replace(
    engine_alarm_specs.dead_letter_alarm_spec("b"), evaluation_periods=5, datapoints_to_alarm=3
)  # ALARM when 3 of the last 5 datapoints are >= 1


def missing(treatment: str) -> AlarmSpec:
    return dataclasses.replace(THREE_OF_FIVE, treat_missing_data=treatment)


# "M out of N": ALARM once M of the last N datapoints breach, in any order.
@pytest.mark.parametrize(
    ("datapoints", "expected"),
    [
        ([0, 0, 0, 0, 0], OK),
        ([1, 1, 0, 0, 0], OK),
        ([1, 0, 1, 0, 1], ALARM),
        ([0, 0, 1, 1, 1], ALARM),
        ([1, 1, 1, 1, 1], ALARM),
        ([0.999, 0.999, 0.999, 1, 1], OK),  # GreaterThanOrEqualToThreshold: 1 breaches, 0.999 does not
    ],
)
def test_m_out_of_n(datapoints: list[float], expected: str) -> None:
    assert alarms.state(THREE_OF_FIVE, datapoints) == expected


# Treat missing data: breaching counts a missing point as bad, notBreaching as good; ignore keeps the state
# and missing goes to INSUFFICIENT_DATA when every point of the range is missing.
@pytest.mark.parametrize(
    ("datapoints", "treatment", "current", "expected"),
    [
        ([None] * 5, "breaching", OK, ALARM),
        ([None] * 5, "notBreaching", ALARM, OK),
        ([None] * 5, "ignore", ALARM, ALARM),
        ([None] * 5, "ignore", OK, OK),
        ([None] * 5, "missing", OK, INSUFFICIENT_DATA),
        ([1, None, 1, None, 0], "breaching", OK, ALARM),
        ([1, None, 1, None, 0], "notBreaching", OK, OK),
        ([1, None, 1, None, 1], "notBreaching", OK, ALARM),
        ([1, None, 1, None, 0], "missing", OK, OK),
    ],
)
def test_missing_data(datapoints: list[float | None], treatment: str, current: str, expected: str) -> None:
    assert alarms.state(missing(treatment), datapoints, current) == expected


def test_the_wrong_number_of_datapoints_is_refused() -> None:
    with pytest.raises(ValueError, match="alarm b-monitoring-dead-letters: expected 5 datapoints, got 4"):
        alarms.state(THREE_OF_FIVE, [0, 0, 0, 0])


# Metric math: a missing operand gives no datapoint, FILL replaces it, IF picks a branch.
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"invocations": 10.0, "runs": 1.0}, 1.0),
        ({"invocations": 10.0, "runs": None}, 0.0),  # traffic and no run: the silent alarm's breach
        ({"invocations": 0.0, "runs": None}, 1.0),
        ({"invocations": None, "runs": None}, None),  # no traffic at all: no datapoint, never silent
    ],
)
def test_the_silent_expression(values: dict[str, float | None], expected: float | None) -> None:
    expression = alarm_specs.engine_silent_math("e", "v").expression
    assert alarms.math_value(expression, values) == expected


def test_arithmetic_precedence_and_division_by_zero() -> None:
    assert alarms.math_value("1 + 2 * 3 - 4 / 2", {}) == 5.0
    assert alarms.math_value("(1 + 2) * 3", {}) == 9.0
    assert alarms.math_value("a / b", {"a": 1.0, "b": 0.0}) is None
    assert alarms.math_value("a + b", {"a": 1.0, "b": None}) is None


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("a +", "list index"),
        ("IF(a, 1)", "not enough"),
        ("x", "unknown query id 'x'"),
        ("1 $ 2", "unexpected text"),
    ],
)
def test_bad_expressions_fail_loudly(expression: str, problem: str) -> None:
    with pytest.raises((ValueError, IndexError), match=problem):
        alarms.math_value(expression, {"a": 1.0})


@pytest.fixture(scope="module")
def cloudwatch() -> Any:
    with emulator.moto_server() as endpoint:
        yield emulator.client("cloudwatch", endpoint)


def test_the_new_category_alarm_fires_over_published_metrics_and_only_for_its_field(cloudwatch: Any) -> None:
    when = datetime(2026, 11, 28, 10, 20, tzinfo=UTC)
    specs = alarm_specs.monitor_health_specs("b", "ep", "primary", 60)

    def put(name: str, value: float, **extra: str) -> None:
        dimensions = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "primary"}]
        dimensions += [{"Name": k, "Value": v} for k, v in extra.items()]
        cloudwatch.put_metric_data(
            Namespace="Sagestack/ModelMonitoring",
            MetricData=[{"MetricName": name, "Dimensions": dimensions, "Timestamp": when, "Value": value}],
        )

    put("RecordsAnalyzed", 90)
    put("MalformedRecords", 0)
    put("RefusedRequests", 10)
    put("RefusedRequests", 10, Code="unknown_category", Field="contract")
    put("CaptureCoverage", 1.0)
    put("ArtifactBroken", 0)
    assert alarms.firing_on_emulator(cloudwatch, specs, when) == ["b-new-category-contract"]
    # an hour later nothing was published: every health alarm treats that as fine
    assert alarms.firing_on_emulator(cloudwatch, specs, when + timedelta(hours=1)) == []

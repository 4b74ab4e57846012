"""The alarm specs themselves: CloudWatch's limits and vocabulary are refused at construction."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infra import alarm_specs, engine_alarm_specs
from infra.alarm_specs import AlarmSpec, AlarmSpecError, MetricMath, Threshold
from monitoring import metrics

GOOD = engine_alarm_specs.dead_letter_alarm_spec("sagestack-dev")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        # PutMetricAlarm ComparisonOperator and TreatMissingData enums
        # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html)
        ({"comparison": "Above"}, "comparison 'Above': expected one of GreaterThanOrEqualToThreshold"),
        ({"treat_missing_data": "ok"}, "treat_missing_data 'ok': expected one of breaching, notBreaching"),
        ({"statistic": "p99"}, "statistic 'p99': expected one of SampleCount"),
        ({"period": 90}, "period 90: expected a multiple of 60 seconds"),
        ({"datapoints_to_alarm": 2}, "datapoints_to_alarm 2: expected 1 to evaluation_periods (1)"),
        ({"datapoints_to_alarm": 0}, "datapoints_to_alarm 0: expected 1 to evaluation_periods (1)"),
        # "the number of evaluation periods multiplied by the period ... must be ≤ one day" (same page)
        (
            {"period": 3600, "evaluation_periods": 25, "datapoints_to_alarm": 1},
            "= 90000 s: expected at most one day",
        ),
        ({"statistic": None}, "expected exactly one of statistic or extended_statistic"),
        ({"extended_statistic": "p99"}, "expected exactly one of statistic or extended_statistic"),
        ({"math": MetricMath((), "1")}, "expected exactly one of a metric or a metric-math expression"),
        ({"metric": None}, "expected exactly one of a metric or a metric-math expression"),
    ],
)
def test_a_spec_cloudwatch_would_refuse_fails_with_the_field_named(
    change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(AlarmSpecError, match="alarm sagestack-dev-monitoring-dead-letters: ") as error:
        dataclasses.replace(GOOD, **change)
    assert problem in str(error.value)


def test_silent_periods_stay_within_one_day() -> None:
    assert alarm_specs.silent_periods(60 * 60) == 3
    assert alarm_specs.silent_periods(12 * 3600) == 2
    assert alarm_specs.silent_periods(86_400) == 1


def test_drift_alarm_names_start_with_the_prefix_the_retraining_rule_matches() -> None:
    specs = alarm_specs.drift_alarm_specs(
        "b", "e", "primary", feature_psi=0.2, prediction_psi=0.1, schedule_minutes=60
    )
    assert all(s.name.startswith(alarm_specs.drift_alarm_prefix("b")) for s in specs)
    health = alarm_specs.monitor_health_specs("b", "e", "primary", 60)
    assert not any(s.name.startswith(alarm_specs.drift_alarm_prefix("b")) for s in health)


def test_spec_rows_read_as_the_alarm_does() -> None:
    spec = AlarmSpec(
        key="latency",
        name="b-latency",
        description="d",
        metric=metrics.MetricRef(
            "AWS/SageMaker", "ModelLatency", (("EndpointName", "e"),), "Microseconds", "p99"
        ),
        extended_statistic="p99",
        comparison="GreaterThanThreshold",
        threshold=Threshold(500_000, "Microseconds"),
        period=60,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        treat_missing_data="notBreaching",
        rollback=True,
    )
    assert alarm_specs.spec_row(spec) == (
        "b-latency | AWS/SageMaker ModelLatency {EndpointName=e} p99 | > 500000 Microseconds | "
        "period 60s, 2 of 3 | missing=notBreaching | actions=notify rollback"
    )

"""What CloudWatch accepts in an alarm, at its edges, and how a spec reads in the golden table.

Source of every limit: the PutMetricAlarm reference
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html): Period is 10, 20,
30 or a multiple of 60 (we use standard resolution only: multiples of 60), DatapointsToAlarm is the M of
"M out of N" with N = EvaluationPeriods, EvaluationPeriods x Period is at most one day, Statistic is one of
SampleCount, Average, Sum, Minimum, Maximum, TreatMissingData is breaching, notBreaching, ignore or missing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infra import alarm_model
from infra.alarm_model import AlarmSpec, AlarmSpecError, MetricMath, Threshold, alarm_name, spec_row
from monitoring import metrics

REF = metrics.MetricRef("NS", "Errors", (("EndpointName", "e"), ("VariantName", "v")), "Count", "Sum")
OTHER = metrics.MetricRef("NS2", "Runs", (("Queue", "q"),), "Count", "SampleCount")


def spec(**change: Any) -> AlarmSpec:
    fields: dict[str, Any] = {
        "key": "k",
        "name": "b-k",
        "description": "d",
        "metric": REF,
        "statistic": "Sum",
        "comparison": "GreaterThanThreshold",
        "threshold": Threshold(1, "Count"),
        "period": 60,
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        "treat_missing_data": "notBreaching",
    }
    return AlarmSpec(**{**fields, **change})


@pytest.mark.parametrize(
    "change",
    [
        {"period": 60},  # the shortest standard-resolution period
        {"period": 120},
        {"period": 3600, "evaluation_periods": 24},  # exactly one day
        {"period": 60, "evaluation_periods": 1440, "datapoints_to_alarm": 1440},
        {"evaluation_periods": 3, "datapoints_to_alarm": 3},
        {"evaluation_periods": 3, "datapoints_to_alarm": 1},
        *({"statistic": s} for s in ("SampleCount", "Average", "Sum", "Minimum", "Maximum")),
        *({"treat_missing_data": t} for t in ("breaching", "notBreaching", "ignore", "missing")),
        *(
            {"comparison": c}
            for c in (
                "GreaterThanOrEqualToThreshold",
                "GreaterThanThreshold",
                "LessThanThreshold",
                "LessThanOrEqualToThreshold",
            )
        ),
        {"statistic": None, "extended_statistic": "p99"},
        {"metric": None, "statistic": None, "math": MetricMath((("m", REF),), "m")},
    ],
)
def test_every_value_cloudwatch_accepts_is_accepted(change: dict[str, Any]) -> None:
    built = spec(**change)
    assert {key: getattr(built, key) for key in change} == change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"period": 0}, "period 0: expected a multiple of 60 seconds"),
        ({"period": 30}, "period 30: expected a multiple of 60 seconds"),
        ({"period": 61}, "period 61: expected a multiple of 60 seconds"),
        ({"period": 59}, "period 59: expected a multiple of 60 seconds"),
        (
            {"period": 60, "evaluation_periods": 1441},
            "evaluation_periods x period = 86460 s: expected at most one day",
        ),
        (
            {"evaluation_periods": 2, "datapoints_to_alarm": 3},
            "datapoints_to_alarm 3: expected 1 to evaluation_periods (2)",
        ),
        (
            {"evaluation_periods": 2, "datapoints_to_alarm": 0},
            "datapoints_to_alarm 0: expected 1 to evaluation_periods (2)",
        ),
        (
            {"statistic": "p99"},
            "statistic 'p99': expected one of SampleCount, Average, Sum, Minimum, Maximum",
        ),
        (
            {"comparison": "Above"},
            "comparison 'Above': expected one of GreaterThanOrEqualToThreshold, GreaterThanThreshold, "
            "LessThanThreshold, LessThanOrEqualToThreshold",
        ),
        (
            {"treat_missing_data": "ok"},
            "treat_missing_data 'ok': expected one of breaching, notBreaching, ignore, missing",
        ),
        (
            {"statistic": "Sum", "extended_statistic": "p99"},
            "expected exactly one of statistic or extended_statistic for a metric",
        ),
        ({"statistic": None}, "expected exactly one of statistic or extended_statistic for a metric"),
        (
            {"metric": None, "statistic": None},
            "expected exactly one of a metric or a metric-math expression",
        ),
        (
            {"statistic": None, "math": MetricMath((("m", REF),), "m")},
            "expected exactly one of a metric or a metric-math expression",
        ),
    ],
)
def test_a_value_cloudwatch_refuses_is_named_with_what_is_expected(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(AlarmSpecError) as error:
        spec(**change)
    assert str(error.value) == f"alarm b-k: {message}"


def test_a_math_alarm_with_a_statistic_is_still_refused_for_the_statistic() -> None:
    # A statistic outside CloudWatch's five is named even when the alarm reads a math expression.
    with pytest.raises(AlarmSpecError, match=r"^alarm b-k: statistic 'Median': expected one of SampleCount"):
        spec(metric=None, statistic="Median", math=MetricMath((("m", REF),), "m"))


def test_the_first_problem_is_the_one_named() -> None:
    with pytest.raises(AlarmSpecError) as error:
        spec(comparison="Above", treat_missing_data="ok", period=90)
    assert str(error.value).startswith("alarm b-k: comparison 'Above'")


def test_a_spec_error_is_a_value_error() -> None:
    assert issubclass(AlarmSpecError, ValueError)


def test_an_alarm_watches_its_metric_or_every_query_of_its_expression() -> None:
    assert spec().watched == (REF,)
    math = spec(metric=None, statistic=None, math=MetricMath((("a", REF), ("b", OTHER)), "a + b"))
    assert math.watched == (REF, OTHER)


def test_a_spec_notifies_and_does_not_roll_back_unless_told() -> None:
    built = spec()
    assert (built.actions, built.rollback, built.extended_statistic, built.math) == (
        ("notify",),
        False,
        None,
        None,
    )


def test_alarm_names_join_base_and_key() -> None:
    assert alarm_name("sagestack-dev", "errors-5xx") == "sagestack-dev-errors-5xx"


@pytest.mark.parametrize(
    ("comparison", "symbol"),
    [
        ("GreaterThanOrEqualToThreshold", ">="),
        ("GreaterThanThreshold", ">"),
        ("LessThanThreshold", "<"),
        ("LessThanOrEqualToThreshold", "<="),
    ],
)
def test_a_metric_row_reads_as_the_alarm_does(comparison: str, symbol: str) -> None:
    row = spec_row(spec(comparison=comparison, threshold=Threshold(0.05, "share"), period=300))
    assert row == (
        f"b-k | NS Errors {{EndpointName=e,VariantName=v}} Sum | {symbol} 0.05 share | "
        "period 300s, 1 of 1 | missing=notBreaching | actions=notify"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1_000_000.0, "1000000"),
        (2_500_000.0, "2500000"),
        (500_000.0, "500000"),
        (0.2, "0.2"),
        (1e-4, "0.0001"),
    ],
)
def test_a_threshold_reads_as_a_plain_number(value: float, shown: str) -> None:
    # A 1 s p99 latency threshold is 1,000,000 microseconds (ModelLatency's unit); "1e+06" hid it in reviews.
    row = spec_row(spec(threshold=Threshold(value, "us")))
    assert f" {shown} us | " in row


def test_a_math_row_names_every_query_with_its_own_statistic() -> None:
    built = spec(
        metric=None,
        statistic=None,
        math=MetricMath((("a", REF), ("b", OTHER)), "a / b"),
        evaluation_periods=3,
        datapoints_to_alarm=2,
        treat_missing_data="breaching",
        actions=("notify", "page"),
        rollback=True,
    )
    assert spec_row(built) == (
        "b-k | a / b WHERE a=NS Errors {EndpointName=e,VariantName=v} Sum; b=NS2 Runs {Queue=q} SampleCount | "
        "> 1 Count | period 60s, 2 of 3 | missing=breaching | actions=notify,page rollback"
    )


def test_cloudwatchs_limits_are_the_documented_ones() -> None:
    assert alarm_model.MAX_ALARM_SECONDS == 24 * 60 * 60


def test_a_spec_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec().period = 120  # type: ignore[misc]

"""A window published twice leaves every alarm where one publication put it.

Exactly-once publication has one gap no code closes: PutMetricData has no idempotency token, so a worker that
dies between a successful PutMetricData and marking its claim done (scale-out), or a single-invocation run
retried by Lambda after it published, sends the window's metrics a second time. These tests prove the gap is
harmless: the window's metrics fit in one PutMetricData request (all or nothing), and every alarm that reads
them uses a statistic for which an identical second copy changes nothing (Maximum/Minimum of equal values,
a ratio of Sums whose every term doubles, a SampleCount compared with "< 1"). CloudWatch keeps every datapoint
published for the same timestamp and computes the period's statistics over all of them
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Statistic).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import alarm_specs
from infra.alarm_specs import AlarmSpec
from monitoring import engine, metrics
from monitoring.engine import DriftResult, Window
from rehearsal import alarms, emulator
from training import contract

SCHEDULE_MINUTES = 60
SCHEDULED = datetime(2026, 11, 28, 10, 20, tzinfo=UTC)
WINDOW = Window(SCHEDULED - timedelta(hours=1), SCHEDULED)


def engine_specs(endpoint: str) -> tuple[AlarmSpec, ...]:
    """Every alarm that reads the drift engine's metrics (the endpoint's own alarms read AWS/SageMaker)."""
    specs = (
        *alarm_specs.drift_alarm_specs(
            "b", endpoint, "primary", feature_psi=0.2, prediction_psi=0.2, schedule_minutes=SCHEDULE_MINUTES
        ),
        *alarm_specs.monitor_health_specs("b", endpoint, "primary", SCHEDULE_MINUTES),
    )
    return tuple(spec for spec in specs if any(ref.namespace == metrics.NAMESPACE for ref in read_by(spec)))


def read_by(spec: AlarmSpec) -> list[metrics.MetricRef]:
    if spec.metric is not None:
        return [spec.metric]
    assert spec.math is not None
    return [ref for _, ref in spec.math.queries]


def result(**changes: Any) -> DriftResult:
    quiet: dict[str, Any] = {
        "window": WINDOW,
        "records": 900,
        "rows": 900,
        "outside_window": 0,
        "malformed": {},
        "malformed_examples": {},
        "feature_drift": {name: 0.01 for name in contract.FEATURE_NAMES},
        "prediction_drift": 0.02,
    }
    return DriftResult(**{**quiet, **changes})


# Each window drives a different alarm family into ALARM (or none); the second copy must not move any.
WINDOWS = {
    "quiet": result(),
    "feature drift": result(feature_drift={**result().feature_drift, contract.FEATURE_NAMES[0]: 0.6}),
    "prediction drift": result(prediction_drift=0.5),
    "malformed share": result(malformed={"bad_json": 300, "missing_field": 20}),
    "new category": result(refused={"unknown_category/contract": 40, "bad_value/age": 3}),
    "low coverage": result(records=10, rows=10),
    "nothing measurable": result(records=0, rows=0, feature_drift={}, prediction_drift=None),
}
COVERAGE = {"low coverage": 0.1}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with emulator.moto_server() as endpoint:
        yield endpoint


def cloudwatch_client(endpoint: str) -> Any:
    return emulator.client("cloudwatch", endpoint)


def states(cloudwatch: Any, specs: tuple[AlarmSpec, ...]) -> dict[str, str]:
    return {spec.name: alarms.evaluate_on_emulator(cloudwatch, spec, SCHEDULED) for spec in specs}


@pytest.mark.parametrize("case", sorted(WINDOWS))
def test_a_second_identical_publication_changes_no_alarm_state(moto_endpoint: str, case: str) -> None:
    cloudwatch = cloudwatch_client(moto_endpoint)
    # A fresh endpoint name per case keeps the cases' datapoints apart in the one emulator.
    endpoint = f"ep-{case.replace(' ', '-')}"
    specs = engine_specs(endpoint)
    # The endpoint's traffic (AWS/SageMaker, published by SageMaker once) makes the silent alarm live.
    invocations = alarm_specs.invocations(endpoint, "primary")
    cloudwatch.put_metric_data(
        Namespace=invocations.namespace,
        MetricData=[
            {
                "MetricName": invocations.name,
                "Dimensions": invocations.dimensions_list(),
                "Timestamp": SCHEDULED,
                "Value": 1000.0,
            }
        ],
    )
    data = engine.metric_data(
        WINDOWS[case], endpoint, "primary", timestamp=SCHEDULED, coverage=COVERAGE.get(case, 1.0)
    )
    assert len(data) <= engine.MAX_METRICS_PER_REQUEST  # one request: CloudWatch takes all of it or none

    assert engine.publish(cloudwatch, data) == len(data)
    once = states(cloudwatch, specs)
    assert engine.publish(cloudwatch, data) == len(data)
    twice = states(cloudwatch, specs)

    assert twice == once
    expected_firing = {
        "quiet": set(),
        "feature drift": {alarm_specs.drift_alarm_name("b", contract.FEATURE_NAMES[0])},
        "prediction drift": {alarm_specs.drift_alarm_name("b", "predictions")},
        "malformed share": {"b-monitor-malformed"},
        "new category": {"b-new-category-contract"},
        "low coverage": {"b-monitor-blind"},
        "nothing measurable": set(),
    }[case]
    assert {name for name, state in once.items() if state == alarms.ALARM} == expected_firing


def test_every_alarm_on_engine_metrics_was_exercised() -> None:
    # A new alarm on the engine's metrics must join the cases above, with a statistic a duplicate cannot move.
    statistics = set()
    for spec in engine_specs("ep"):
        statistics |= {
            (ref.name, ref.statistic) for ref in read_by(spec) if ref.namespace == metrics.NAMESPACE
        }
    assert statistics == {
        ("FeatureDrift", "Maximum"),
        ("PredictionDrift", "Maximum"),
        ("CaptureCoverage", "Minimum"),
        ("ArtifactBroken", "Maximum"),
        ("RecordsAnalyzed", "SampleCount"),  # monitor-silent: "< 1", a second run only adds one
        ("RecordsAnalyzed", "Sum"),  # ratios whose every term is a Sum of the same window
        ("MalformedRecords", "Sum"),
        ("RefusedRequests", "Sum"),
    }


def test_the_largest_window_still_fits_one_request() -> None:
    # Every refusal kind the engine keeps, every feature, every optional metric: still one PutMetricData.
    refused = {f"code{i}/field{i}": 1 for i in range(engine.MAX_REFUSAL_KINDS)} | {"other/other": 5}
    data = engine.metric_data(result(refused=refused), "ep", "primary", timestamp=SCHEDULED, coverage=0.9)
    assert len(data) == 4 + len(refused) + 1 + len(contract.FEATURE_NAMES) + 2
    assert len(data) <= engine.MAX_METRICS_PER_REQUEST

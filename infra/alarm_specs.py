"""Every CloudWatch alarm of the stack as data: pure functions returning frozen specs.

Components only turn a spec into a resource (infra/alarms.py); tests pin the specs per stack
(tests/infra/snapshots/alarms/), and the rehearsal evaluates the same specs over the metrics it
published (rehearsal/alarms.py). Metric names and dimensions of the drift engine come from
`monitoring.metrics`, the module the engine publishes with, so an alarm cannot watch a metric
the engine does not write. No pulumi here: every value is a plain string or number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.alarm_model import (
    COMPARISONS,
    MAX_ALARM_SECONDS,
    AlarmSpec,
    AlarmSpecError,
    MetricMath,
    Threshold,
    alarm_name,
    spec_row,
)
from infra.engine_alarm_specs import dead_letter_alarm_spec, scaleout_failed_spec
from monitoring import metrics
from training import contract

if TYPE_CHECKING:
    from infra.settings_types import AlarmThresholds, Settings

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# AWS/SageMaker ModelLatency is reported in microseconds; the setting is in milliseconds.
MICROSECONDS_PER_MILLISECOND = 1000
# Alarm thresholds that are properties of the engine, not of an environment.
MIN_CAPTURE_COVERAGE = 0.5  # a window owning under half the lines Invocations x sampling predict is blind
MAX_MALFORMED_SHARE = 0.05
MAX_NEW_CATEGORY_SHARE = 0.01
# The symbolic action every alarm of the stack takes: notify the alarm topic (ALARM and back to OK).
NOTIFY = "notify"

__all__ = ["COMPARISONS", "AlarmSpec", "AlarmSpecError", "MetricMath", "Threshold", "spec_row"]


def drift_alarm_prefix(base_name: str) -> str:
    """Every drift alarm's name starts with this; the retraining rule matches on it."""
    return f"{base_name}-drift-"


def drift_alarm_name(base_name: str, subject: str) -> str:
    """The drift alarm of one feature, or of the predictions (`subject="predictions"`)."""
    return f"{drift_alarm_prefix(base_name)}{subject.replace('_', '-')}"


def alarm_period_seconds(schedule_minutes: int) -> int:
    """A drift alarm evaluates exactly one engine run per period."""
    return schedule_minutes * 60


def silent_periods(period: int) -> int:
    """Periods with traffic but no run before the silent alarm fires: three, within CloudWatch's one day."""
    return max(1, min(3, MAX_ALARM_SECONDS // period))


def invocations(endpoint: str, variant: str) -> metrics.MetricRef:
    dimensions = (("EndpointName", endpoint), ("VariantName", variant))
    return metrics.MetricRef(SAGEMAKER_NAMESPACE, "Invocations", dimensions, "None", "Sum")


def _sagemaker(name: str, endpoint: str, variant: str, unit: str, statistic: str) -> metrics.MetricRef:
    dimensions = (("EndpointName", endpoint), ("VariantName", variant))
    return metrics.MetricRef(SAGEMAKER_NAMESPACE, name, dimensions, unit, statistic)


def endpoint_alarm_specs(
    base_name: str, endpoint: str, variant: str, t: AlarmThresholds
) -> tuple[AlarmSpec, ...]:
    """5XX and latency (deployments roll back on both), 4XX, and optionally "no invocations".

    No traffic means no errors: missing data is healthy for the error and latency alarms.
    """
    specs = [
        AlarmSpec(
            key="errors-5xx",
            name=alarm_name(base_name, "errors-5xx"),
            description="Endpoint answers 5XX: deployments roll back on this alarm",
            metric=_sagemaker("Invocation5XXErrors", endpoint, variant, "None", "Sum"),
            statistic="Sum",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=Threshold(t.errors_5xx_per_minute, "Count"),
            period=60,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data="notBreaching",
            rollback=True,
        ),
        AlarmSpec(
            key="latency-p99",
            name=alarm_name(base_name, "latency-p99"),
            description="Model latency p99 too high: deployments roll back on this alarm",
            metric=_sagemaker("ModelLatency", endpoint, variant, "Microseconds", "p99"),
            extended_statistic="p99",
            comparison="GreaterThanThreshold",
            threshold=Threshold(t.latency_p99_ms * MICROSECONDS_PER_MILLISECOND, "Microseconds"),
            period=60,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            rollback=True,
        ),
        AlarmSpec(
            key="errors-4xx",
            name=alarm_name(base_name, "errors-4xx"),
            description="Many rejected requests: a client sends payloads the model cannot read",
            metric=_sagemaker("Invocation4XXErrors", endpoint, variant, "None", "Sum"),
            statistic="Sum",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=Threshold(t.errors_4xx_per_5_minutes, "Count"),
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data="notBreaching",
        ),
    ]
    if t.no_invocations_minutes:
        # SageMaker publishes no Invocations datapoint at all without traffic: missing data is the signal.
        specs.append(
            AlarmSpec(
                key="no-invocations",
                name=alarm_name(base_name, "no-invocations"),
                description="The endpoint received no request",
                metric=invocations(endpoint, variant),
                statistic="Sum",
                comparison="LessThanThreshold",
                threshold=Threshold(1, "Count"),
                period=t.no_invocations_minutes * 60,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                treat_missing_data="breaching",
            )
        )
    return tuple(specs)


def _drift(base_name: str, subject: str, ref: metrics.MetricRef, psi: float, period: int) -> AlarmSpec:
    what = "Prediction distribution" if subject == "predictions" else f"Input feature {subject}"
    name = drift_alarm_name(base_name, subject)
    return AlarmSpec(
        key=name.removeprefix(f"{base_name}-"),
        name=name,
        description=f"{what} drifted (PSI)",
        metric=ref,
        statistic=ref.statistic,
        comparison="GreaterThanThreshold",
        threshold=Threshold(psi, "PSI"),
        period=period,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data="notBreaching",  # silence is the silent alarm's job
    )


def drift_alarm_specs(
    base_name: str,
    endpoint: str,
    variant: str,
    *,
    feature_psi: float,
    prediction_psi: float,
    schedule_minutes: int,
) -> tuple[AlarmSpec, ...]:
    """One alarm per input feature and one on the predictions; their names start the retraining gate."""
    period = alarm_period_seconds(schedule_minutes)
    specs = [
        _drift(base_name, f, metrics.feature_drift(endpoint, variant, f), feature_psi, period)
        for f in contract.FEATURE_NAMES
    ]
    prediction = metrics.prediction_drift(endpoint, variant)
    specs.append(_drift(base_name, "predictions", prediction, prediction_psi, period))
    return tuple(specs)


def engine_silent_math(endpoint: str, variant: str) -> MetricMath:
    """1 per period in which the engine ran or the endpoint had no traffic, else 0.

    Each run publishes RecordsAnalyzed once, stamped at its scheduled time, so every period holds one run.
    With no invocations the expression has no data, which the alarm treats as fine: a fresh stack or a
    quiet endpoint is never "silent" (issue 10: the old alarm treated missing data as breaching).
    """
    runs = metrics.records_analyzed(endpoint, variant)
    runs = metrics.MetricRef(runs.namespace, runs.name, runs.dimensions, runs.unit, "SampleCount")
    return MetricMath(
        (("invocations", invocations(endpoint, variant)), ("runs", runs)),
        "IF(invocations > 0, FILL(runs, 0), 1)",
    )


def malformed_share_math(endpoint: str, variant: str) -> MetricMath:
    """Share of the window's capture lines that could not be measured (refused requests aside)."""
    return MetricMath(
        (
            ("measured", metrics.records_analyzed(endpoint, variant)),
            ("malformed", metrics.malformed_records(endpoint, variant)),
        ),
        "IF(measured + malformed > 0, malformed / (measured + malformed), 0)",
    )


def new_category_math(endpoint: str, variant: str, feature: str) -> MetricMath:
    """Share of the window's captured requests refused because `feature` held an unknown category."""
    return MetricMath(
        (
            ("unknown", metrics.refused_requests(endpoint, variant, "unknown_category", feature)),
            ("measured", metrics.records_analyzed(endpoint, variant)),
            ("malformed", metrics.malformed_records(endpoint, variant)),
            ("refused", metrics.refused_requests(endpoint, variant)),
        ),
        "IF(measured + malformed + refused > 0, FILL(unknown, 0) / (measured + malformed + refused), 0)",
    )


def _health(
    base_name: str,
    key: str,
    description: str,
    *,
    comparison: str,
    threshold: Threshold,
    period: int,
    metric: metrics.MetricRef | None = None,
    math: MetricMath | None = None,
    evaluation_periods: int = 1,
) -> AlarmSpec:
    """A monitor-health alarm: no traffic, no run or no datapoint is never an alarm (issue 10)."""
    return AlarmSpec(
        key=key,
        name=alarm_name(base_name, key),
        description=description,
        metric=metric,
        statistic=metric.statistic if metric is not None else None,
        math=math,
        comparison=comparison,
        threshold=threshold,
        period=period,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=evaluation_periods,
        treat_missing_data="notBreaching",
    )


def monitor_health_specs(
    base_name: str, endpoint: str, variant: str, schedule_minutes: int
) -> tuple[AlarmSpec, ...]:
    """Every way the engine can stop seeing traffic; none starts retraining (no "drift-" prefix)."""
    period = alarm_period_seconds(schedule_minutes)
    silent = silent_periods(period)
    specs = [
        _health(
            base_name,
            "monitor-silent",
            f"The endpoint had traffic but the drift engine published no run for {silent} scheduled windows",
            math=engine_silent_math(endpoint, variant),
            comparison="LessThanThreshold",
            threshold=Threshold(1, "runs (1 = ran or no traffic)"),
            period=period,
            evaluation_periods=silent,
        ),
        _health(
            base_name,
            "monitor-blind",
            "The drift engine saw under half the capture records the endpoint's invocations "
            "and sampling rate predict: capture stopped or is lagging",
            metric=metrics.capture_coverage(endpoint, variant),
            comparison="LessThanThreshold",
            threshold=Threshold(MIN_CAPTURE_COVERAGE, "share"),
            period=period,
        ),
        _health(
            base_name,
            "monitor-malformed",
            "Too many capture records could not be measured: drift monitoring is partly off "
            "(feature types or payloads disagree with the model's schema)",
            math=malformed_share_math(endpoint, variant),
            comparison="GreaterThanThreshold",
            threshold=Threshold(MAX_MALFORMED_SHARE, "share"),
            period=period,
        ),
        _health(
            base_name,
            "monitor-artifact-broken",
            "The model artifact's baseline.json or schema.json is unusable: no drift is measured",
            metric=metrics.artifact_broken(endpoint, variant),
            comparison="GreaterThanOrEqualToThreshold",
            threshold=Threshold(1, "Count"),
            period=period,
        ),
    ]
    # Not "drift-": retraining cannot learn a category the schema refuses; the schema must change first.
    for feature in contract.CATEGORICAL_FEATURES:
        specs.append(
            _health(
                base_name,
                f"new-category-{feature.name.replace('_', '-')}",
                f"Live requests refused for an unknown {feature.name}: a new category",
                math=new_category_math(endpoint, variant, feature.name),
                comparison="GreaterThanThreshold",
                threshold=Threshold(MAX_NEW_CATEGORY_SHARE, "share"),
                period=period,
            )
        )
    return tuple(specs)


def stack_alarm_specs(settings: Settings, *, endpoint: str, variant: str) -> tuple[AlarmSpec, ...]:
    """Every alarm a stack file declares, in the order the stack creates them."""
    if not settings.deploy_model:
        return ()
    base, m = settings.base_name, settings.monitoring
    specs = endpoint_alarm_specs(base, endpoint, variant, m.thresholds)
    if m.engine is None:
        return specs
    return (
        *specs,
        dead_letter_alarm_spec(base),
        *drift_alarm_specs(
            base,
            endpoint,
            variant,
            feature_psi=m.thresholds.drift_psi,
            prediction_psi=m.thresholds.prediction_drift_psi,
            schedule_minutes=m.schedule_minutes,
        ),
        *monitor_health_specs(base, endpoint, variant, m.schedule_minutes),
        scaleout_failed_spec(base, settings.region),
    )

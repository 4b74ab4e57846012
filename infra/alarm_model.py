"""What an alarm spec is, and which specs CloudWatch accepts: the data model of infra/alarm_specs.py.

Pure data, no pulumi: infra/alarms.py turns a spec into a resource, rehearsal/alarms.py evaluates one.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitoring import metrics

# CloudWatch: evaluation periods x period may not exceed one day.
MAX_ALARM_SECONDS = 86_400
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
MISSING_DATA_TREATMENTS = ("breaching", "notBreaching", "ignore", "missing")
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


class AlarmSpecError(ValueError):
    """A spec CloudWatch would refuse, or one that would not mean what it says."""


@dataclass(frozen=True)
class Threshold:
    """A threshold and the unit the watched value is in (ModelLatency: microseconds, PSI: none)."""

    value: float
    unit: str


@dataclass(frozen=True)
class MetricMath:
    """A metric-math alarm's data: (query id, metric) pairs and the one expression returned."""

    queries: tuple[tuple[str, metrics.MetricRef], ...]
    expression: str


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm. `metric` (with `statistic` or `extended_statistic`) or `math`, never both."""

    key: str  # the name after "<base>-": names the resource too
    name: str
    description: str
    comparison: str
    threshold: Threshold
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str
    metric: metrics.MetricRef | None = None
    statistic: str | None = None
    extended_statistic: str | None = None
    math: MetricMath | None = None
    actions: tuple[str, ...] = ("notify",)  # symbolic: the adapter maps each to an ARN
    rollback: bool = False  # a deployment rolls back while this alarm is in ALARM

    def __post_init__(self) -> None:
        for problem in _problems(self):
            raise AlarmSpecError(f"alarm {self.name}: {problem}")

    @property
    def watched(self) -> tuple[metrics.MetricRef, ...]:
        """Every metric the alarm reads."""
        if self.math is not None:
            return tuple(ref for _, ref in self.math.queries)
        return (self.metric,) if self.metric is not None else ()


def _problems(spec: AlarmSpec) -> list[str]:
    problems = []
    if (spec.metric is None) == (spec.math is None):
        problems.append("expected exactly one of a metric or a metric-math expression")
    if spec.metric is not None and (spec.statistic is None) == (spec.extended_statistic is None):
        problems.append("expected exactly one of statistic or extended_statistic for a metric")
    if spec.statistic is not None and spec.statistic not in STATISTICS:
        problems.append(f"statistic {spec.statistic!r}: expected one of {', '.join(STATISTICS)}")
    if spec.comparison not in COMPARISONS:
        problems.append(f"comparison {spec.comparison!r}: expected one of {', '.join(COMPARISONS)}")
    if spec.treat_missing_data not in MISSING_DATA_TREATMENTS:
        problems.append(
            f"treat_missing_data {spec.treat_missing_data!r}: expected one of {', '.join(MISSING_DATA_TREATMENTS)}"
        )
    if spec.period < 60 or spec.period % 60:
        problems.append(f"period {spec.period}: expected a multiple of 60 seconds")
    if not 1 <= spec.datapoints_to_alarm <= spec.evaluation_periods:
        problems.append(
            f"datapoints_to_alarm {spec.datapoints_to_alarm}: expected 1 to evaluation_periods "
            f"({spec.evaluation_periods})"
        )
    if spec.evaluation_periods * spec.period > MAX_ALARM_SECONDS:
        problems.append(
            f"evaluation_periods x period = {spec.evaluation_periods * spec.period} s: expected at most one day"
        )
    return problems


def _metric_text(ref: metrics.MetricRef, statistic: str) -> str:
    dimensions = ",".join(f"{k}={v}" for k, v in ref.dimensions)
    return f"{ref.namespace} {ref.name} {{{dimensions}}} {statistic}"


def spec_row(spec: AlarmSpec) -> str:
    """One readable line per alarm, for the golden table and reviews."""
    if spec.math is not None:
        queries = "; ".join(f"{i}={_metric_text(ref, ref.statistic)}" for i, ref in spec.math.queries)
        watched = f"{spec.math.expression} WHERE {queries}"
    else:
        assert spec.metric is not None
        watched = _metric_text(spec.metric, spec.statistic or spec.extended_statistic or "")
    return " | ".join(
        [
            spec.name,
            watched,
            f"{COMPARISONS[spec.comparison]} {spec.threshold.value:.15g} {spec.threshold.unit}",
            f"period {spec.period}s, {spec.datapoints_to_alarm} of {spec.evaluation_periods}",
            f"missing={spec.treat_missing_data}",
            f"actions={','.join(spec.actions)}" + (" rollback" if spec.rollback else ""),
        ]
    )


def alarm_name(base_name: str, key: str) -> str:
    """An alarm's name: the stack's base name, then the alarm's key."""
    return f"{base_name}-{key}"

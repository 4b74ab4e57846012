"""CloudWatch alarm evaluation, locally: the stack's alarm specs (infra/alarm_specs.py) over the metrics the
rehearsal published to the emulator, which stores metrics but never evaluates an alarm.

Semantics, from "Evaluating an alarm" and "Configuring how CloudWatch alarms treat missing data"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html): the alarm reads
its last `evaluation_periods` datapoints and goes to ALARM when `datapoints_to_alarm` of them breach.
Missing datapoints count as breaching (`breaching`), as good (`notBreaching`), or are left out
(`ignore`, `missing`); with every datapoint missing, `ignore` keeps the current state and `missing` gives
INSUFFICIENT_DATA. Metric math: a missing operand makes the result missing; FILL() replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.alarm_specs import COMPARISONS, AlarmSpec
from monitoring.metrics import MetricRef

ALARM, OK, INSUFFICIENT_DATA = "ALARM", "OK", "INSUFFICIENT_DATA"
Value = float | None  # None: no datapoint in the period

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}


def breaches(spec: AlarmSpec, value: float) -> bool:
    return _COMPARE[COMPARISONS[spec.comparison]](value, spec.threshold.value)


def state(spec: AlarmSpec, datapoints: Sequence[Value], current: str = OK) -> str:
    """The alarm's state after one evaluation of its last `evaluation_periods` datapoints (oldest first)."""
    if len(datapoints) != spec.evaluation_periods:
        raise ValueError(
            f"alarm {spec.name}: expected {spec.evaluation_periods} datapoints, got {len(datapoints)}"
        )
    present = [v for v in datapoints if v is not None]
    missing = len(datapoints) - len(present)
    if not present and spec.treat_missing_data in ("ignore", "missing"):
        return current if spec.treat_missing_data == "ignore" else INSUFFICIENT_DATA
    breaching = sum(breaches(spec, v) for v in present)
    if spec.treat_missing_data == "breaching":
        breaching += missing
    return ALARM if breaching >= spec.datapoints_to_alarm else OK


# Metric math, the subset the stack's alarms use: IF, FILL, comparisons, + - * /, numbers and query ids.
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_]\w*)|(>=|<=|==|!=|[-+*/(),<>]))")


def _tokens(expression: str) -> list[str]:
    tokens, position = [], 0
    while position < len(expression.rstrip()):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise ValueError(f"metric math {expression!r}: unexpected text at {position}")
        tokens.append(match.group(match.lastindex or 0))
        position = match.end()
    return tokens


class _Math:
    def __init__(self, expression: str, values: Mapping[str, Value]):
        self.tokens, self.values, self.at = _tokens(expression), values, 0

    def _take(self, expected: str | None = None) -> str:
        token = self.tokens[self.at]
        if expected is not None and token != expected:
            raise ValueError(f"metric math: expected {expected!r}, got {token!r}")
        self.at += 1
        return token

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def run(self) -> Value:
        value = self.comparison()
        if self._peek() is not None:
            raise ValueError(f"metric math: unexpected {self._peek()!r}")
        return value

    def comparison(self) -> Value:
        left = self.sum()
        operator = self._peek()
        if operator in (">", "<", ">=", "<=", "==", "!="):
            self._take()
            right = self.sum()
            if left is None or right is None:
                return None
            compare = {"==": left == right, "!=": left != right}.get(operator)
            return float(compare if compare is not None else _COMPARE[operator](left, right))
        return left

    def sum(self) -> Value:
        value = self.product()
        while self._peek() in ("+", "-"):
            operator, right = self._take(), self.product()
            value = None if value is None or right is None else value + (right if operator == "+" else -right)
        return value

    def product(self) -> Value:
        value = self.primary()
        while self._peek() in ("*", "/"):
            operator, right = self._take(), self.primary()
            if value is None or right is None or (operator == "/" and right == 0):
                value = None
            else:
                value = value * right if operator == "*" else value / right
        return value

    def _arguments(self) -> list[Value]:
        self._take("(")
        arguments = [self.comparison()]
        while self._peek() == ",":
            self._take()
            arguments.append(self.comparison())
        self._take(")")
        return arguments

    def primary(self) -> Value:
        token = self._take()
        if token == "(":
            value = self.comparison()
            self._take(")")
            return value
        if token == "IF":
            condition, then, otherwise = self._arguments()
            return None if condition is None else (then if condition else otherwise)
        if token == "FILL":
            series, fill = self._arguments()
            return fill if series is None else series
        if token[0].isdigit():
            return float(token)
        if token not in self.values:
            raise ValueError(f"metric math: unknown query id {token!r}")
        return self.values[token]


def math_value(expression: str, values: Mapping[str, Value]) -> Value:
    """One period's value of a metric-math expression, from each query's value in that period."""
    return _Math(expression, values).run()


def period_value(spec: AlarmSpec, read: Callable[[MetricRef, str], Value]) -> Value:
    """One period's datapoint of the alarm; `read(metric, statistic)` gives a metric's value in that period."""
    if spec.math is not None:
        return math_value(spec.math.expression, {q: read(ref, ref.statistic) for q, ref in spec.math.queries})
    assert spec.metric is not None
    return read(spec.metric, spec.statistic or spec.extended_statistic or "")


def _period_start(when: datetime, period: int) -> datetime:
    seconds = int(when.timestamp())
    return datetime.fromtimestamp(seconds - seconds % period, UTC)


def _reader(cloudwatch: Any, start: datetime, period: int) -> Callable[[MetricRef, str], Value]:
    def read(ref: MetricRef, statistic: str) -> Value:
        answer = cloudwatch.get_metric_statistics(
            Namespace=ref.namespace,
            MetricName=ref.name,
            Dimensions=ref.dimensions_list(),
            StartTime=start,
            EndTime=start + timedelta(seconds=period),
            Period=period,
            Statistics=[statistic],
        )
        points = answer["Datapoints"]
        return float(points[0][statistic]) if points else None

    return read


def evaluate_on_emulator(cloudwatch: Any, spec: AlarmSpec, when: datetime) -> str:
    """The alarm's state at the end of the period holding `when`, over the metrics stored in the emulator."""
    last = _period_start(when, spec.period)
    starts = [
        last - timedelta(seconds=spec.period * back) for back in reversed(range(spec.evaluation_periods))
    ]
    return state(spec, [period_value(spec, _reader(cloudwatch, start, spec.period)) for start in starts])


def firing_on_emulator(cloudwatch: Any, specs: Sequence[AlarmSpec], when: datetime) -> list[str]:
    """Names of the alarms among `specs` that would be in ALARM at the end of the period holding `when`."""
    return [spec.name for spec in specs if evaluate_on_emulator(cloudwatch, spec, when) == ALARM]

"""CloudWatch names for drift monitoring: the one module both the engine and the stack's alarms use.

Standard library only: infra imports it at deploy time and the Lambda imports it at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "Sagestack/ModelMonitoring"

ENDPOINT_DIMENSION = "EndpointName"
VARIANT_DIMENSION = "VariantName"
FEATURE_DIMENSION = "Feature"

FEATURE_DRIFT = "FeatureDrift"
MAX_FEATURE_DRIFT = "MaxFeatureDrift"
PREDICTION_DRIFT = "PredictionDrift"
RECORDS_ANALYZED = "RecordsAnalyzed"
MALFORMED_RECORDS = "MalformedRecords"

# A scheduled run covers at most one day: the longest period a CloudWatch alarm can evaluate in one step.
MAX_WINDOW_MINUTES = 1440

DRIFT_UNIT = "None"
COUNT_UNIT = "Count"
DRIFT_STATISTIC = "Maximum"
COUNT_STATISTIC = "Sum"

# CloudWatch rejects empty dimension values and values over 1024 characters.
MAX_DIMENSION_VALUE_LENGTH = 1024


@dataclass(frozen=True)
class MetricRef:
    """One CloudWatch metric: what the engine publishes and what an alarm watches."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str
    statistic: str

    def dimensions_dict(self) -> dict[str, str]:
        """Dimensions as `{name: value}` (the shape of `aws.cloudwatch.MetricAlarm(dimensions=...)`)."""
        return dict(self.dimensions)

    def dimensions_list(self) -> list[dict[str, str]]:
        """Dimensions as `[{"Name": ..., "Value": ...}]`, the PutMetricData shape."""
        return [{"Name": name, "Value": value} for name, value in self.dimensions]


def _dimension(name: str, value: str) -> tuple[str, str]:
    # Non-str values (e.g. pulumi Outputs resolved later by the stack) are passed through untouched.
    if isinstance(value, str) and not 1 <= len(value) <= MAX_DIMENSION_VALUE_LENGTH:
        raise ValueError(
            f"dimension {name}: expected 1 to {MAX_DIMENSION_VALUE_LENGTH} characters, got {value!r}"
        )
    return (name, value)


def _variant_dimensions(endpoint: str, variant: str) -> tuple[tuple[str, str], ...]:
    return (_dimension(ENDPOINT_DIMENSION, endpoint), _dimension(VARIANT_DIMENSION, variant))


def feature_drift(endpoint: str, variant: str, feature: str) -> MetricRef:
    """PSI of one input feature against the training baseline."""
    dimensions = (*_variant_dimensions(endpoint, variant), _dimension(FEATURE_DIMENSION, feature))
    return MetricRef(NAMESPACE, FEATURE_DRIFT, dimensions, DRIFT_UNIT, DRIFT_STATISTIC)


def max_drift(endpoint: str, variant: str) -> MetricRef:
    """The largest feature PSI of a run: the metric the drift alarm watches."""
    return MetricRef(
        NAMESPACE, MAX_FEATURE_DRIFT, _variant_dimensions(endpoint, variant), DRIFT_UNIT, DRIFT_STATISTIC
    )


def prediction_drift(endpoint: str, variant: str) -> MetricRef:
    """PSI of the positive-class probability against the validation baseline."""
    return MetricRef(
        NAMESPACE, PREDICTION_DRIFT, _variant_dimensions(endpoint, variant), DRIFT_UNIT, DRIFT_STATISTIC
    )


def records_analyzed(endpoint: str, variant: str) -> MetricRef:
    """Capture records measured in a run; published every run, even as 0, so silence means a broken engine."""
    return MetricRef(
        NAMESPACE, RECORDS_ANALYZED, _variant_dimensions(endpoint, variant), COUNT_UNIT, COUNT_STATISTIC
    )


def malformed_records(endpoint: str, variant: str) -> MetricRef:
    """Capture records skipped because they could not be decoded; published every run."""
    return MetricRef(
        NAMESPACE, MALFORMED_RECORDS, _variant_dimensions(endpoint, variant), COUNT_UNIT, COUNT_STATISTIC
    )

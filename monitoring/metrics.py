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
REFUSED_REQUESTS = "RefusedRequests"
CAPTURE_COVERAGE = "CaptureCoverage"
ARTIFACT_BROKEN = "ArtifactBroken"

CODE_DIMENSION = "Code"
FIELD_DIMENSION = "Field"
# Below this many expected capture records a window says nothing about coverage.
MIN_EXPECTED_RECORDS = 20

# A scheduled run covers at most one day: the longest period a CloudWatch alarm can evaluate in one step.
MAX_WINDOW_MINUTES = 1440

DRIFT_UNIT = "None"
RATIO_UNIT = "None"
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
    """The largest feature PSI of a run: the dashboard's one-line summary (alarms watch each feature)."""
    return MetricRef(
        NAMESPACE, MAX_FEATURE_DRIFT, _variant_dimensions(endpoint, variant), DRIFT_UNIT, DRIFT_STATISTIC
    )


def prediction_drift(endpoint: str, variant: str) -> MetricRef:
    """PSI of the positive-class probability against the validation baseline."""
    return MetricRef(
        NAMESPACE, PREDICTION_DRIFT, _variant_dimensions(endpoint, variant), DRIFT_UNIT, DRIFT_STATISTIC
    )


def records_analyzed(endpoint: str, variant: str) -> MetricRef:
    """Capture records measured in a run; published every run, even as 0 (the engine's heartbeat)."""
    return MetricRef(
        NAMESPACE, RECORDS_ANALYZED, _variant_dimensions(endpoint, variant), COUNT_UNIT, COUNT_STATISTIC
    )


def malformed_records(endpoint: str, variant: str) -> MetricRef:
    """Capture records skipped because they could not be decoded; published every run."""
    return MetricRef(
        NAMESPACE, MALFORMED_RECORDS, _variant_dimensions(endpoint, variant), COUNT_UNIT, COUNT_STATISTIC
    )


def refused_requests(
    endpoint: str, variant: str, code: str | None = None, field: str | None = None
) -> MetricRef:
    """Captured requests the endpoint refused (error body): in total, or for one error code and field."""
    dimensions = _variant_dimensions(endpoint, variant)
    if code is not None and field is not None:
        dimensions = (*dimensions, _dimension(CODE_DIMENSION, code), _dimension(FIELD_DIMENSION, field))
    return MetricRef(NAMESPACE, REFUSED_REQUESTS, dimensions, COUNT_UNIT, COUNT_STATISTIC)


def capture_coverage(endpoint: str, variant: str) -> MetricRef:
    """Capture lines a window owns over what Invocations x sampling predict; low means the monitor is blind."""
    return MetricRef(
        NAMESPACE, CAPTURE_COVERAGE, _variant_dimensions(endpoint, variant), RATIO_UNIT, "Minimum"
    )


def artifact_broken(endpoint: str, variant: str) -> MetricRef:
    """1 when the model artifact's baseline or schema cannot be used (never reported as drift), else 0."""
    return MetricRef(
        NAMESPACE, ARTIFACT_BROKEN, _variant_dimensions(endpoint, variant), COUNT_UNIT, "Maximum"
    )

from __future__ import annotations

import dataclasses

import pytest

from monitoring import metrics


def test_feature_drift_names_endpoint_variant_and_feature() -> None:
    ref = metrics.feature_drift("churn-prod", "AllTraffic", "tenure_months")
    assert ref.namespace == metrics.NAMESPACE == "Sagestack/ModelMonitoring"
    assert ref.name == "FeatureDrift"
    assert ref.dimensions_dict() == {
        "EndpointName": "churn-prod",
        "VariantName": "AllTraffic",
        "Feature": "tenure_months",
    }
    assert ref.dimensions_list() == [
        {"Name": "EndpointName", "Value": "churn-prod"},
        {"Name": "VariantName", "Value": "AllTraffic"},
        {"Name": "Feature", "Value": "tenure_months"},
    ]
    assert (ref.statistic, ref.unit) == ("Maximum", "None")


@pytest.mark.parametrize(
    ("factory", "name", "statistic", "unit"),
    [
        (metrics.max_drift, "MaxFeatureDrift", "Maximum", "None"),
        (metrics.prediction_drift, "PredictionDrift", "Maximum", "None"),
        (metrics.records_analyzed, "RecordsAnalyzed", "Sum", "Count"),
        (metrics.malformed_records, "MalformedRecords", "Sum", "Count"),
    ],
)
def test_variant_level_metrics(factory, name: str, statistic: str, unit: str) -> None:
    ref = factory("churn-prod", "AllTraffic")
    assert (ref.namespace, ref.name, ref.statistic, ref.unit) == (metrics.NAMESPACE, name, statistic, unit)
    assert ref.dimensions == (("EndpointName", "churn-prod"), ("VariantName", "AllTraffic"))


def test_metric_refs_are_frozen_and_comparable() -> None:
    ref = metrics.max_drift("e", "v")
    assert ref == metrics.max_drift("e", "v")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.name = "Other"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", "x" * 1025])
def test_empty_or_oversized_dimension_values_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="dimension Feature"):
        metrics.feature_drift("e", "v", bad)
    with pytest.raises(ValueError, match="dimension EndpointName"):
        metrics.records_analyzed(bad, "v")


def test_unresolved_values_pass_through_for_the_stack() -> None:
    placeholder = object()
    ref = metrics.max_drift(placeholder, "v")  # type: ignore[arg-type]
    assert ref.dimensions_dict()["EndpointName"] is placeholder


def test_window_limit_is_one_day() -> None:
    assert metrics.MAX_WINDOW_MINUTES == 24 * 60

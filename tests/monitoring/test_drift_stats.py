from __future__ import annotations

import copy
import json
import math
import random
import sys

import pytest

from monitoring.drift import (
    PSI_FLOOR,
    BaselineError,
    DriftAccumulator,
    InvalidValue,
    load_baseline,
    parse_baseline,
    parse_schema_feature_names,
    psi,
)
from tests.monitoring.monitoring_synthetic import FEATURES, SCHEMA, Traffic, draw_rows, training_baseline

BASELINE = training_baseline()


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi([25, 25, 50], [0.25, 0.25, 0.5]) == pytest.approx(0.0, abs=1e-12)


def test_psi_matches_the_formula_by_hand() -> None:
    live = [0.1, 0.4, 0.5]
    base = [0.3, 0.3, 0.4]
    expected = sum((lv - b) * math.log(lv / b) for lv, b in zip(live, base, strict=True))
    assert psi([10, 40, 50], base) == pytest.approx(expected)


def test_psi_floors_empty_bins_instead_of_dividing_by_zero() -> None:
    value = psi([0, 100], [0.5, 0.5])
    expected = (PSI_FLOOR - 0.5) * math.log(PSI_FLOOR / 0.5) + (1 - 0.5) * math.log(1 / 0.5)
    assert value == pytest.approx(expected)
    assert psi([0, 0], [0.5, 0.5]) is None


def test_psi_rejects_mismatched_bins() -> None:
    with pytest.raises(ValueError, match="3 bins but the baseline has 2"):
        psi([1, 2, 3], [0.5, 0.5])


def test_parse_baseline_accepts_the_documented_shape() -> None:
    baseline = load_baseline(json.dumps(BASELINE))
    assert baseline.feature_names == tuple(FEATURES)
    assert baseline.record_count == 20_000
    assert len(baseline.prediction.frequencies) == 10


def _broken(path: list[object], value: object) -> dict:
    document = copy.deepcopy(BASELINE)
    target = document
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["format_version"], 2, r"baseline\.format_version: expected 1"),
        (["record_count"], KeyError, r"baseline\.record_count: required field is missing"),
        (["record_count"], 0, r"baseline\.record_count: expected a positive integer"),
        (["features"], [], r"baseline\.features: expected a non-empty list"),
        (
            ["features", 0, "type"],
            "ordinal",
            r"baseline\.features\[0\]\.type: expected 'numeric' or 'categorical'",
        ),
        (
            ["features", 0, "edges"],
            [5.0, 3.0],
            r"baseline\.features\[0\]\.edges: expected strictly increasing",
        ),
        (["features", 0, "edges", 0], "x", r"baseline\.features\[0\]\.edges\[0\]: expected a finite number"),
        (
            ["features", 0, "frequencies"],
            [1.0],
            r"baseline\.features\[0\]\.frequencies: expected a list of \d+",
        ),
        (
            ["features", 2, "frequencies"],
            [0.5, 0.5, 0.5],
            r"baseline\.features\[2\]\.frequencies: .*summing to 1",
        ),
        (
            ["features", 2, "categories"],
            ["a", "a", "b"],
            r"baseline\.features\[2\]\.categories: expected .*distinct",
        ),
        (["features", 1, "name"], "tenure_months", r"baseline\.features: expected distinct names"),
        (["prediction"], KeyError, r"baseline\.prediction: required field is missing"),
        (
            ["prediction", "edges"],
            [0.0, 0.5],
            r"baseline\.prediction\.edges: expected cut points inside \(0, 1\)",
        ),
        (["prediction", "frequencies", 0], -0.1, r"baseline\.prediction\.frequencies: expected non-negative"),
    ],
)
def test_malformed_baseline_errors_name_the_field(path: list[object], value: object, message: str) -> None:
    with pytest.raises(BaselineError, match=message):
        parse_baseline(_broken(path, value))


def test_baseline_that_is_not_json_is_reported() -> None:
    with pytest.raises(BaselineError, match="baseline: not valid JSON"):
        load_baseline("{not json")
    with pytest.raises(BaselineError, match="expected a JSON object"):
        load_baseline("[1, 2]")


def test_schema_feature_names_keep_column_order_and_reject_nameless_features() -> None:
    assert parse_schema_feature_names(SCHEMA) == tuple(FEATURES)
    with pytest.raises(BaselineError, match=r"schema\.features\[1\]\.name"):
        parse_schema_feature_names({"features": [{"name": "a"}, {"type": "numeric"}]})


def _accumulator() -> DriftAccumulator:
    return DriftAccumulator(parse_baseline(BASELINE), FEATURES)


def test_numeric_values_fall_in_bisect_right_bins_and_unknown_categories_in_other() -> None:
    accumulator = _accumulator()
    edges = BASELINE["features"][0]["edges"]
    accumulator.add(
        [[edges[0], "50", "two-year", "0", "dsl"], ["-1", 50.0, "cancelled", 3, "none"]], [0.05, 0.95]
    )
    counts = accumulator.feature_counts()
    assert counts["tenure_months"][1] == 1, "a value equal to an edge belongs to the bin on its right"
    assert counts["tenure_months"][0] == 1
    assert counts["contract"] == [0, 0, 1, 1], "an unseen category counts in the extra 'other' bin"
    assert accumulator.prediction_counts()[0] == 1 and accumulator.prediction_counts()[9] == 1
    assert accumulator.rows == 2


@pytest.mark.parametrize(
    ("row", "probability", "field"),
    [
        (["abc", 50, "one-year", 0, "dsl"], 0.5, "tenure_months"),
        ([1, "nan", "one-year", 0, "dsl"], 0.5, "monthly_charges"),
        ([1, None, "one-year", 0, "dsl"], 0.5, "monthly_charges"),
        ([1, 50, None, 0, "dsl"], 0.5, "contract"),
        ([1, 50, "one-year", 0, ["dsl"]], 0.5, "internet_service"),
        ([1, 50, "one-year", 0, "dsl"], 1.5, "probability"),
        ([1, 50, "one-year", 0, "dsl"], "0.5", "probability"),
    ],
)
def test_unusable_values_reject_the_whole_record_and_count_nothing(row, probability, field: str) -> None:
    accumulator = _accumulator()
    good = [10, 50, "one-year", 0, "dsl"]
    with pytest.raises(InvalidValue, match=field) as raised:
        accumulator.add([good, row], [0.5, probability])
    assert raised.value.field == field
    assert accumulator.rows == 0
    assert all(sum(counts) == 0 for counts in accumulator.feature_counts().values())
    assert sum(accumulator.prediction_counts()) == 0


def test_accumulator_memory_is_counts_only() -> None:
    accumulator = _accumulator()
    rows = draw_rows(random.Random(3), 5000)
    before = sys.getsizeof(accumulator._counts) + sum(sys.getsizeof(c) for c in accumulator._counts)
    for row in rows:
        accumulator.add([row], [0.5])
    after = sys.getsizeof(accumulator._counts) + sum(sys.getsizeof(c) for c in accumulator._counts)
    assert accumulator.rows == 5000
    assert after == before


def test_merge_equals_one_accumulator_over_everything() -> None:
    rows = draw_rows(random.Random(5), 400, Traffic(monthly_charges_shift=10))
    whole, first, second = _accumulator(), _accumulator(), _accumulator()
    for number, row in enumerate(rows):
        whole.add([row], [0.3])
        (first if number % 2 else second).add([row], [0.3])
    first.merge(second)
    assert first.feature_counts() == whole.feature_counts()
    assert first.feature_psi() == pytest.approx(whole.feature_psi())


def test_baseline_and_schema_must_name_the_same_features() -> None:
    with pytest.raises(BaselineError, match="expected the schema's features"):
        DriftAccumulator(parse_baseline(BASELINE), [*FEATURES[:-1], "region"])


def test_no_rows_means_no_drift_values() -> None:
    accumulator = _accumulator()
    assert accumulator.feature_psi() == {}
    assert accumulator.prediction_psi() is None

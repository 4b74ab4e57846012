"""parse_baseline's remaining edges: missing top-level fields, the bounds of record_count and prediction edges.

The format is docs/formats.md ("Drift baseline: baseline.json"); training/baseline.py writes it. Each refusal
must name its field exactly, so an operator reading ArtifactBroken's log line knows which key to fix.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from monitoring.drift import (
    FREQUENCY_SUM_TOLERANCE,
    BaselineError,
    CategoricalBaseline,
    parse_baseline,
)
from tests.monitoring.monitoring_synthetic import hand_sized_baseline


def _refusal(document: dict[str, Any]) -> str:
    with pytest.raises(BaselineError) as raised:
        parse_baseline(document)
    return str(raised.value)


def test_a_missing_record_count_is_named_under_baseline() -> None:
    document = hand_sized_baseline()
    del document["record_count"]
    assert _refusal(document) == "baseline.record_count: required field is missing"


def test_a_record_count_of_zero_is_refused_and_one_is_accepted() -> None:
    # docs/formats.md: record_count counts the training rows the shares were taken from; none is no baseline.
    document = hand_sized_baseline()
    document["record_count"] = 0
    assert _refusal(document) == "baseline.record_count: expected a positive integer, got 0"
    document["record_count"] = 1
    assert parse_baseline(document).record_count == 1


def test_a_missing_prediction_is_named_under_baseline() -> None:
    document = hand_sized_baseline()
    del document["prediction"]
    assert _refusal(document) == "baseline.prediction: required field is missing"


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ("0.5", "baseline.prediction.edges: expected a list of numbers, got '0.5'"),
        ([0.5, 0.25], "baseline.prediction.edges: expected strictly increasing values, got 0.5 then 0.25"),
        ([0.5, "0.7"], "baseline.prediction.edges[1]: expected a finite number, got '0.7'"),
        ([math.nan], "baseline.prediction.edges[0]: expected a finite number, got nan"),
    ],
)
def test_malformed_prediction_edges_name_the_prediction_field(edges: object, message: str) -> None:
    document = hand_sized_baseline()
    document["prediction"]["edges"] = edges
    assert _refusal(document) == message


@pytest.mark.parametrize("edges", [[0.0, 0.5], [0.5, 1.0], [0.0], [1.0]])
def test_prediction_cut_points_at_zero_or_one_are_refused(edges: list[float]) -> None:
    # docs/formats.md: the prediction bins cut a probability; a cut at 0 or 1 makes a bin no probability reaches.
    document = hand_sized_baseline()
    document["prediction"]["edges"] = edges
    document["prediction"]["frequencies"] = [1.0] + [0.0] * len(edges)
    assert _refusal(document) == f"baseline.prediction.edges: expected cut points inside (0, 1), got {edges}"


def test_prediction_cut_points_just_inside_zero_and_one_are_accepted() -> None:
    document = hand_sized_baseline()
    edges = [math.nextafter(0.0, 1.0), math.nextafter(1.0, 0.0)]
    document["prediction"] = {"edges": edges, "frequencies": [0.0, 1.0, 0.0]}
    assert parse_baseline(document).prediction.edges == tuple(edges)


def test_missing_categorical_frequencies_are_named_under_the_feature() -> None:
    document = hand_sized_baseline()
    del document["features"][1]["frequencies"]
    assert _refusal(document) == "baseline.features[1].frequencies: required field is missing"


def test_categorical_frequencies_are_checked_like_numeric_ones() -> None:
    document = hand_sized_baseline()
    document["features"][1]["frequencies"] = [0.5, 0.6]
    message = _refusal(document)
    assert message.startswith("baseline.features[1].frequencies: expected shares summing to 1, got a sum of ")
    document["features"][1]["frequencies"] = [1.0, 0.0]
    assert parse_baseline(document).features[1] == CategoricalBaseline("c", ("a", "b"), (1.0, 0.0))


def test_no_sum_of_shares_near_one_differs_from_one_by_exactly_the_tolerance() -> None:
    # IEEE 754 doubles: s - 1.0 is exact for s in [0.5, 2] (Sterbenz) and a multiple of ulp(0.5) = 2**-53 there,
    # but the double nearest 1e-3 is not, so `> tolerance` and `>= tolerance` refuse the same sums.
    assert math.ulp(0.5) == 2.0**-53
    assert not (FREQUENCY_SUM_TOLERANCE / 2.0**-53).is_integer()
    below, above = 1.0 - FREQUENCY_SUM_TOLERANCE, 1.0 + FREQUENCY_SUM_TOLERANCE
    for share in (
        below,
        math.nextafter(below, 0.0),
        math.nextafter(below, 1.0),
        above,
        math.nextafter(above, 2.0),
    ):
        assert abs(share - 1.0) != FREQUENCY_SUM_TOLERANCE

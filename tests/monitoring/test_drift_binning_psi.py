"""monitoring/drift.py on tiny hand-made baselines: PSI by hand, bin edges, the accumulator's paths.

Every expected PSI below is the formula sum((a - e) * ln(a / e)) written out on small counts, never a value
the code under test computed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from monitoring.drift import (
    BASELINE_FORMAT_VERSION,
    FREQUENCY_SUM_TOLERANCE,
    PSI_FLOOR,
    BaselineError,
    CategoricalBaseline,
    DriftAccumulator,
    InvalidValue,
    NumericBaseline,
    PredictionBaseline,
    RecordBatch,
    load_baseline,
    parse_baseline,
    parse_schema_feature_names,
    psi,
)
from tests.monitoring.monitoring_synthetic import hand_sized_baseline


def test_the_documented_constants() -> None:
    assert BASELINE_FORMAT_VERSION == 1
    assert PSI_FLOOR == 1e-4
    assert FREQUENCY_SUM_TOLERANCE == 1e-3


def test_psi_by_hand_on_two_bins() -> None:
    # live shares 1/4, 3/4 against 1/2, 1/2: (-1/4)ln(1/2) + (1/4)ln(3/2) = (1/4)ln 3
    assert psi([1, 3], [0.5, 0.5]) == pytest.approx(0.25 * math.log(3), rel=1e-12)


def test_psi_by_hand_on_three_bins() -> None:
    # live 2/10, 3/10, 5/10 against 0.5, 0.3, 0.2: (-0.3)ln(0.4) + 0 + (0.3)ln(2.5) = 0.3 ln(6.25)
    assert psi([2, 3, 5], [0.5, 0.3, 0.2]) == pytest.approx(0.3 * math.log(6.25), rel=1e-12)


def test_psi_floors_a_zero_baseline_share() -> None:
    # live 1/2, 1/2 against base 0 -> 1e-4 and 1: (0.5 - 1e-4)ln(0.5/1e-4) + (-0.5)ln(0.5)
    expected = (0.5 - 1e-4) * math.log(5000.0) + 0.5 * math.log(2.0)
    assert psi([1, 1], [0.0, 1.0]) == pytest.approx(expected, rel=1e-12)


def test_psi_floors_an_empty_live_bin() -> None:
    # live 0 -> 1e-4 and 1 against 0.25, 0.75: (1e-4 - 0.25)ln(1e-4/0.25) + 0.25 ln(1/0.75)
    expected = (1e-4 - 0.25) * math.log(1e-4 / 0.25) + 0.25 * math.log(4.0 / 3.0)
    assert psi([0, 7], [0.25, 0.75]) == pytest.approx(expected, rel=1e-12)


def test_psi_of_no_rows_is_none_and_mismatched_bins_are_named() -> None:
    assert psi([0, 0, 0], [0.2, 0.3, 0.5]) is None
    with pytest.raises(ValueError, match=r"^live has 2 bins but the baseline has 3$"):
        psi([1, 1], [0.2, 0.3, 0.5])


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    document = hand_sized_baseline()
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


def _accumulator(columns: tuple[str, ...] = ("x", "c")) -> DriftAccumulator:
    return DriftAccumulator(parse_baseline(hand_sized_baseline()), columns)


def test_a_small_baseline_parses_to_its_values() -> None:
    baseline = load_baseline(json.dumps(hand_sized_baseline()).encode())
    assert baseline.record_count == 8
    assert baseline.feature_names == ("x", "c")
    x, c = baseline.features
    assert isinstance(x, NumericBaseline) and isinstance(c, CategoricalBaseline)
    assert (x.name, x.edges, x.frequencies) == ("x", (1.0, 2.0), (0.25, 0.5, 0.25))
    assert (c.name, c.categories, c.frequencies) == ("c", ("a", "b"), (0.5, 0.5))
    assert (baseline.prediction.edges, baseline.prediction.frequencies) == ((0.5,), (0.5, 0.5))


def test_integer_numbers_are_read_as_floats_and_shares_may_be_zero() -> None:
    document = _with(["features", 0, "edges"], [1, 2])
    document["features"][0]["frequencies"] = [0, 1, 0]
    x = parse_baseline(document).features[0]
    assert isinstance(x, NumericBaseline)
    assert x.edges == (1.0, 2.0) and all(type(edge) is float for edge in x.edges)
    assert x.frequencies == (0.0, 1.0, 0.0)


def test_shares_may_miss_one_by_the_rounding_tolerance_only() -> None:
    assert parse_baseline(_with(["prediction", "frequencies"], [0.5, 0.5009])).prediction.frequencies == (
        0.5,
        0.5009,
    )
    assert parse_baseline(_with(["prediction", "frequencies"], [0.5, 0.4991])).prediction.frequencies == (
        0.5,
        0.4991,
    )
    for shares, total in (([0.5, 0.5011], 1.0011), ([0.5, 0.4989], 0.9989)):
        with pytest.raises(BaselineError) as raised:
            parse_baseline(_with(["prediction", "frequencies"], shares))
        assert str(raised.value).startswith(
            "baseline.prediction.frequencies: expected shares summing to 1, got a sum of "
        )
        assert float(str(raised.value).rsplit(" ", 1)[1]) == pytest.approx(total)


def test_prediction_cut_points_may_be_absent_or_close_to_the_ends() -> None:
    document = _with(["prediction"], {"edges": [], "frequencies": [1.0]})
    assert parse_baseline(document).prediction == PredictionBaseline((), (1.0,))
    assert parse_baseline(_with(["prediction", "edges"], [0.001])).prediction.edges == (0.001,)
    assert parse_baseline(_with(["prediction", "edges"], [0.999])).prediction.edges == (0.999,)


def test_categories_may_be_integers_and_record_count_one_is_enough() -> None:
    document = _with(["features", 1, "categories"], [0, 1])
    document["record_count"] = 1
    baseline = parse_baseline(document)
    assert baseline.record_count == 1
    assert baseline.features[1] == CategoricalBaseline("c", (0, 1), (0.5, 0.5))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["format_version"], KeyError, "baseline.format_version: required field is missing"),
        (["format_version"], 0, "baseline.format_version: expected 1, got 0"),
        (["format_version"], "1", "baseline.format_version: expected 1, got '1'"),
        (["record_count"], True, "baseline.record_count: expected a positive integer, got True"),
        (["record_count"], -3, "baseline.record_count: expected a positive integer, got -3"),
        (["record_count"], 8.0, "baseline.record_count: expected a positive integer, got 8.0"),
        (["features"], KeyError, "baseline.features: required field is missing"),
        (["features"], {"x": 1}, "baseline.features: expected a non-empty list, got {'x': 1}"),
        (["features"], [], "baseline.features: expected a non-empty list, got []"),
        (["features", 1], "c", "baseline.features[1]: expected an object, got 'c'"),
        (["features", 1, "name"], KeyError, "baseline.features[1].name: required field is missing"),
        (["features", 1, "name"], "", "baseline.features[1].name: expected a non-empty string, got ''"),
        (["features", 1, "name"], 7, "baseline.features[1].name: expected a non-empty string, got 7"),
        (["features", 1, "name"], "x", "baseline.features: expected distinct names, got duplicates ['x']"),
        (["features", 1, "type"], KeyError, "baseline.features[1].type: required field is missing"),
        (
            ["features", 1, "type"],
            "Numeric",
            "baseline.features[1].type: expected 'numeric' or 'categorical', got 'Numeric'",
        ),
        (["features", 0, "edges"], KeyError, "baseline.features[0].edges: required field is missing"),
        (
            ["features", 0, "edges"],
            "1,2",
            "baseline.features[0].edges: expected a list of numbers, got '1,2'",
        ),
        (
            ["features", 0, "edges"],
            [1.0, 1.0],
            "baseline.features[0].edges: expected strictly increasing values, got 1.0 then 1.0",
        ),
        (
            ["features", 0, "edges"],
            [1.0, 3.0, 2.0],
            "baseline.features[0].edges: expected strictly increasing values, got 3.0 then 2.0",
        ),
        (
            ["features", 0, "edges", 1],
            True,
            "baseline.features[0].edges[1]: expected a finite number, got True",
        ),
        (
            ["features", 0, "edges", 1],
            float("inf"),
            "baseline.features[0].edges[1]: expected a finite number, got inf",
        ),
        (
            ["features", 0, "frequencies"],
            KeyError,
            "baseline.features[0].frequencies: required field is missing",
        ),
        (
            ["features", 0, "frequencies"],
            [0.5, 0.5],
            "baseline.features[0].frequencies: expected a list of 3 shares, got [0.5, 0.5]",
        ),
        (
            ["features", 0, "frequencies"],
            "0.25 0.5 0.25",
            "baseline.features[0].frequencies: expected a list of 3 shares, got '0.25 0.5 0.25'",
        ),
        (
            ["features", 0, "frequencies", 2],
            None,
            "baseline.features[0].frequencies[2]: expected a finite number, got None",
        ),
        (
            ["features", 0, "frequencies"],
            [0.5, 0.75, -0.25],
            "baseline.features[0].frequencies: expected non-negative shares, got [0.5, 0.75, -0.25]",
        ),
        (
            ["features", 1, "categories"],
            KeyError,
            "baseline.features[1].categories: required field is missing",
        ),
        (
            ["features", 1, "categories"],
            "ab",
            "baseline.features[1].categories: expected a non-empty list of distinct strings, got 'ab'",
        ),
        (
            ["features", 1, "categories"],
            [],
            "baseline.features[1].categories: expected a non-empty list of distinct strings, got []",
        ),
        (
            ["features", 1, "categories"],
            ["a", True],
            "baseline.features[1].categories: expected a non-empty list of distinct strings, got ['a', True]",
        ),
        (
            ["features", 1, "categories"],
            ["a", 1.5],
            "baseline.features[1].categories: expected a non-empty list of distinct strings, got ['a', 1.5]",
        ),
        (
            ["features", 1, "categories"],
            ["1", 1],
            "baseline.features[1].categories: expected a non-empty list of distinct strings, got ['1', 1]",
        ),
        (
            ["features", 1, "frequencies"],
            [1.0],
            "baseline.features[1].frequencies: expected a list of 2 shares, got [1.0]",
        ),
        (["prediction"], [0.5], "baseline.prediction: expected an object, got [0.5]"),
        (["prediction", "edges"], KeyError, "baseline.prediction.edges: required field is missing"),
        (
            ["prediction", "edges"],
            [1.0],
            "baseline.prediction.edges: expected cut points inside (0, 1), got [1.0]",
        ),
        (
            ["prediction", "edges"],
            [0.5, 1.5],
            "baseline.prediction.edges: expected cut points inside (0, 1), got [0.5, 1.5]",
        ),
        (
            ["prediction", "edges"],
            [-0.5, 0.5],
            "baseline.prediction.edges: expected cut points inside (0, 1), got [-0.5, 0.5]",
        ),
        (
            ["prediction", "frequencies"],
            KeyError,
            "baseline.prediction.frequencies: required field is missing",
        ),
        (
            ["prediction", "frequencies"],
            [1.0],
            "baseline.prediction.frequencies: expected a list of 2 shares, got [1.0]",
        ),
    ],
)
def test_each_baseline_error_names_its_field_exactly(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(BaselineError) as raised:
        parse_baseline(_with(path, value))
    assert str(raised.value) == message


def test_a_baseline_that_is_not_an_object_names_its_json_type() -> None:
    with pytest.raises(BaselineError) as raised:
        parse_baseline([1, 2])
    assert str(raised.value) == "baseline: expected a JSON object, got list"
    with pytest.raises(BaselineError) as raised:
        load_baseline(b"{")
    assert str(raised.value).startswith("baseline: not valid JSON (")
    assert isinstance(raised.value.__cause__, ValueError)


def test_schema_feature_names_errors_are_exact() -> None:
    assert parse_schema_feature_names({"features": [{"name": "b"}, {"name": "a"}]}) == ("b", "a")
    cases: list[tuple[object, str]] = [
        ("x", "schema: expected a JSON object, got str"),
        ({}, "schema.features: required field is missing"),
        ({"features": []}, "schema.features: expected a non-empty list, got []"),
        ({"features": {"name": "a"}}, "schema.features: expected a non-empty list, got {'name': 'a'}"),
        ({"features": [{"name": "a"}, "b"]}, "schema.features[1].name: expected a non-empty string, got 'b'"),
        (
            {"features": [{"name": ""}]},
            "schema.features[0].name: expected a non-empty string, got {'name': ''}",
        ),
        (
            {"features": [{"name": 3}]},
            "schema.features[0].name: expected a non-empty string, got {'name': 3}",
        ),
    ]
    for document, message in cases:
        with pytest.raises(BaselineError) as raised:
            parse_schema_feature_names(document)
        assert str(raised.value) == message


def test_invalid_value_names_its_field() -> None:
    error = InvalidValue("x", "abc", "a number")
    assert str(error) == "x: expected a number, got 'abc'"
    assert error.field == "x"


def test_record_batch_keeps_records_flat_and_gives_them_back() -> None:
    batch = RecordBatch(2)
    assert len(batch) == 0
    batch.add([[1, "a"], [2, "b"]], [0.1, 0.9])
    batch.add([[3, "c"]], [0.5])
    assert len(batch) == 2
    assert batch.values == [1, "a", 2, "b", 3, "c"]
    assert batch.probabilities == [0.1, 0.9, 0.5]
    assert batch.row_counts == [2, 1]
    assert list(batch.records()) == [([[1, "a"], [2, "b"]], [0.1, 0.9]), ([[3, "c"]], [0.5])]
    with pytest.raises(ValueError, match=r"^record: 1 rows but 2 probabilities$"):
        batch.add([[1, "a"]], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"^record: expected rows of 2 values, got 3$"):
        batch.add([[1, "a", 5]], [0.1])
    batch.clear()
    assert (len(batch), batch.values, batch.probabilities, list(batch.records())) == (0, [], [], [])


def test_record_by_record_bins_put_edges_on_their_right() -> None:
    accumulator = _accumulator()
    for value in (0.5, 1.0, 1.5, 2.0, 7):
        accumulator.add([[value, "a"]], [0.5])
    accumulator.add([["-3", "b"]], [0.0])
    accumulator.add([[True, "b"]], [1])
    accumulator.add([[2, "b"]], [1.0])
    assert accumulator.feature_counts() == {"x": [2, 3, 3], "c": [5, 3, 0]}
    assert accumulator.prediction_counts() == [1, 7]
    assert accumulator.rows == 8


def test_a_batch_bins_whole_columns_like_record_by_record() -> None:
    records: list[tuple[list[list[Any]], list[Any]]] = [
        ([[0.5, "a"], [1.0, "b"]], [0.0, 0.5]),
        ([[1.5, "a"]], [0.49]),
        ([[2.0, "b"], ["7", "a"], [1, "b"]], [1.0, 1, 0]),
    ]
    one_by_one, at_once = _accumulator(), _accumulator()
    for rows, probabilities in records:
        one_by_one.add(rows, probabilities)
    assert at_once.add_records(records) == []
    assert at_once.feature_counts() == one_by_one.feature_counts() == {"x": [1, 3, 2], "c": [3, 3, 0]}
    assert at_once.prediction_counts() == one_by_one.prediction_counts() == [3, 3]
    assert at_once.rows == one_by_one.rows == 6


def test_a_batch_with_a_bad_record_counts_the_others_and_names_the_bad_one() -> None:
    accumulator = _accumulator()
    rejected = accumulator.add_records(
        [([[0.5, "a"]], [0.2]), ([[1.5, "b"], ["nope", "a"]], [0.6, 0.7]), ([[2.5, "b"]], [0.9])]
    )
    assert [position for position, _ in rejected] == [1]
    assert str(rejected[0][1]) == "x: expected a number, got 'nope'"
    assert accumulator.feature_counts() == {"x": [1, 0, 1], "c": [1, 1, 0]}
    assert accumulator.prediction_counts() == [1, 1]
    assert accumulator.rows == 2


@pytest.mark.parametrize(
    ("rows", "probabilities", "message"),
    [
        ([[1.5, "a"]], [True], "probability: expected a probability in [0, 1], got True"),
        ([[1.5, "a"]], ["0.5"], "probability: expected a probability in [0, 1], got '0.5'"),
        ([[1.5, "a"]], [None], "probability: expected a probability in [0, 1], got None"),
        ([[1.5, "a"]], [1.0000001], "probability: expected a probability in [0, 1], got 1.0000001"),
        ([[1.5, "a"]], [-0.1], "probability: expected a probability in [0, 1], got -0.1"),
        ([[1.5, "a"]], [2], "probability: expected a probability in [0, 1], got 2"),
        ([[1.5, "a"]], [float("nan")], "probability: expected a probability in [0, 1], got nan"),
        ([[1.5, "a"]], [float("inf")], "probability: expected a probability in [0, 1], got inf"),
        ([[10**400, "a"]], [0.5], f"x: expected a number, got {10**400!r}"),
        ([[[1], "a"]], [0.5], "x: expected a number, got [1]"),
        ([["inf", "a"]], [0.5], "x: expected a finite number, got 'inf'"),
        ([[float("nan"), "a"]], [0.5], "x: expected a finite number, got nan"),
        ([[1.5, ["a"]]], [0.5], "c: expected a category value, got ['a']"),
        ([[1.5, {"a": 1}]], [0.5], "c: expected a category value, got {'a': 1}"),
        ([[1.5, None]], [0.5], "c: expected a category value, got None"),
    ],
)
def test_an_unusable_value_is_named_and_nothing_is_counted(
    rows: list[list[Any]], probabilities: list[Any], message: str
) -> None:
    for adding_one_record in (True, False):
        accumulator = _accumulator()
        good = ([[0.5, "a"], [2.5, "b"]], [0.1, 0.9])
        # The bad row comes after good rows, so a partial count would show.
        record = ([*good[0], *rows], [*good[1], *probabilities])
        if adding_one_record:
            with pytest.raises(InvalidValue) as raised:
                accumulator.add(*record)
            error = raised.value
        else:
            [(position, error)] = accumulator.add_records([good, record])
            assert position == 1
        assert str(error) == message
        assert error.field == message.split(":")[0]
        assert accumulator.rows == (0 if adding_one_record else 2)
        assert accumulator.feature_counts()["x"] == ([0, 0, 0] if adding_one_record else [1, 0, 1])
        assert accumulator.prediction_counts() == ([0, 0] if adding_one_record else [1, 1])


def test_a_row_of_another_width_is_named_and_nothing_is_counted() -> None:
    for row, shown in (([1.5], "[1.5]"), ([1.5, "a", 3], "[1.5, 'a', 3]")):
        accumulator = _accumulator()
        with pytest.raises(InvalidValue) as raised:
            accumulator.add([[0.5, "a"], row], [0.1, 0.2])
        assert str(raised.value) == f"row: expected 2 values, got {shown}"
        assert raised.value.field == "row"
        assert accumulator.rows == 0 and accumulator.feature_counts()["x"] == [0, 0, 0]


def test_uncommon_category_spellings() -> None:
    accumulator = _accumulator()
    accumulator.add([[0.5, " a "], [0.5, "b\n"], [0.5, "B"], [0.5, 3], [0.5, ""]], [0.1] * 5)
    assert accumulator.feature_counts()["c"] == [1, 1, 3]
    integers = DriftAccumulator(parse_baseline(_with(["features", 1, "categories"], [0, 1])), ["c", "x"])
    integers.add([[1, 0.5], ["1", 0.5], [" 0", 0.5], [1.0, 0.5], [False, 0.5], [2, 0.5]], [0.1] * 6)
    assert integers.feature_counts()["c"] == [2, 3, 1], "False is 0 and 1.0 is 1 to a dict"
    assert integers.add_records([([["0", 0.5], [1, 0.5]], [0.1, 0.1])]) == []
    assert integers.feature_counts()["c"] == [3, 4, 1]


def test_columns_may_come_in_another_order_than_the_baseline() -> None:
    accumulator = _accumulator(("c", "x"))
    assert accumulator.columns == ("c", "x")
    accumulator.add([["b", 2.5]], [0.9])
    assert accumulator.add_records([([["a", 0.5]], [0.1])]) == []
    assert accumulator.feature_counts() == {"c": [1, 1, 0], "x": [1, 0, 1]}
    assert list(accumulator.feature_psi()) == ["x", "c"]


def test_columns_must_be_the_baseline_features_once_each() -> None:
    for columns in (("x",), ("x", "c", "c"), ("x", "c", "d"), ("x", "x")):
        with pytest.raises(BaselineError) as raised:
            _accumulator(columns)
        assert str(raised.value) == (
            f"baseline.features: expected the schema's features {sorted(columns)}, got ['c', 'x']"
        )


def test_a_batch_of_another_width_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^batch: expected rows of 2 values, got 3$"):
        _accumulator().add_batch(RecordBatch(3))
    assert _accumulator().add_batch(RecordBatch(2)) == []


def test_a_batch_of_huge_integers_falls_back_and_rejects_only_them() -> None:
    accumulator = _accumulator()
    rejected = accumulator.add_records([([[0.5, "a"]], [10**400]), ([[0.5, "b"]], [1])])
    assert [(position, error.field) for position, error in rejected] == [(0, "probability")]
    rejected = accumulator.add_records([([[10**400, "a"]], [0.5]), ([[0.5, "b"]], [0])])
    assert [(position, error.field) for position, error in rejected] == [(0, "x")]
    assert accumulator.prediction_counts() == [1, 1]
    assert accumulator.rows == 2


def test_a_batch_with_an_unhashable_category_falls_back() -> None:
    accumulator = _accumulator()
    rejected = accumulator.add_records([([[0.5, ["a"]]], [0.5]), ([[0.5, "b"]], [0.5])])
    assert [(position, error.field) for position, error in rejected] == [(0, "c")]
    assert accumulator.feature_counts() == {"x": [1, 0, 0], "c": [0, 1, 0]}


def test_merge_adds_every_count_and_row() -> None:
    first, second = _accumulator(), _accumulator()
    first.add([[0.5, "a"], [1.5, "z"]], [0.2, 0.7])
    second.add([[1.5, "b"], [2.5, "b"], [3.5, "a"]], [0.6, 0.7, 0.1])
    first.merge(second)
    assert first.feature_counts() == {"x": [1, 2, 2], "c": [2, 2, 1]}
    assert first.prediction_counts() == [2, 3]
    assert first.rows == 5
    assert second.rows == 3 and second.feature_counts() == {"x": [0, 1, 2], "c": [1, 2, 0]}


def test_merge_refuses_another_baseline_or_column_order() -> None:
    other = DriftAccumulator(parse_baseline(_with(["record_count"], 9)), ["x", "c"])
    for foreign in (other, _accumulator(("c", "x"))):
        with pytest.raises(ValueError, match=r"^cannot merge accumulators built on different baselines$"):
            _accumulator().merge(foreign)


def test_add_counts_takes_another_accumulators_counts() -> None:
    source = _accumulator(("c", "x"))
    source.add([["a", 0.5], ["z", 2.5]], [0.2, 0.8])
    target = _accumulator()
    target.add([[1.5, "b"]], [0.9])
    target.add_counts(source.feature_counts(), source.prediction_counts(), source.rows)
    assert target.feature_counts() == {"x": [1, 1, 1], "c": [1, 1, 1]}
    assert target.prediction_counts() == [1, 2]
    assert target.rows == 3


def test_add_counts_refuses_counts_of_another_shape() -> None:
    good = {"x": [0, 0, 0], "c": [0, 0, 0]}
    cases: list[tuple[dict[str, list[int]], list[int], str]] = [
        ({"x": [0, 0, 0]}, [0, 0], "cannot add counts taken on a different baseline"),
        ({**good, "d": [0]}, [0, 0], "cannot add counts taken on a different baseline"),
        (good, [0, 0, 0], "cannot add counts taken on a different baseline"),
        (good, [0], "cannot add counts taken on a different baseline"),
        ({"x": [0, 0], "c": [0, 0, 0]}, [0, 0], "feature_counts['x']: expected 3 bins, got 2"),
        ({"x": [0, 0, 0], "c": [0, 0]}, [0, 0], "feature_counts['c']: expected 3 bins, got 2"),
    ]
    for features, predictions, message in cases:
        with pytest.raises(ValueError) as raised:
            _accumulator().add_counts(features, predictions, 1)
        assert str(raised.value) == message


def test_counts_are_copies() -> None:
    accumulator = _accumulator()
    accumulator.add([[0.5, "a"]], [0.1])
    accumulator.feature_counts()["x"][0] = 99
    accumulator.prediction_counts()[0] = 99
    assert accumulator.feature_counts()["x"] == [1, 0, 0]
    assert accumulator.prediction_counts() == [1, 0]


def test_feature_and_prediction_psi_by_hand() -> None:
    accumulator = _accumulator()
    accumulator.add(
        [[0.5, "a"], [1.5, "a"], [1.5, "a"], [1.5, "z"]],
        [0.1, 0.5, 0.6, 0.7],
    )
    floor = 1e-4
    # x: live 1/4, 3/4, 0 against 0.25, 0.5, 0.25 (the empty bin floored)
    x = 0.0 + 0.25 * math.log(0.75 / 0.5) + (floor - 0.25) * math.log(floor / 0.25)
    # c: live 3/4, 0, 1/4 against 0.5, 0.5 and the "other" bin's 0 (both zeros floored)
    c = (
        0.25 * math.log(0.75 / 0.5)
        + (floor - 0.5) * math.log(floor / 0.5)
        + (0.25 - floor) * math.log(0.25 / floor)
    )
    found = accumulator.feature_psi()
    assert list(found) == ["x", "c"]
    assert found["x"] == pytest.approx(x, rel=1e-12)
    assert found["c"] == pytest.approx(c, rel=1e-12)
    # prediction: live 1/4, 3/4 (0.5 sits on the cut and counts right) against 0.5, 0.5
    assert accumulator.prediction_psi() == pytest.approx(0.25 * math.log(3), rel=1e-12)


def test_psi_is_empty_until_rows_are_counted() -> None:
    accumulator = _accumulator()
    assert accumulator.feature_psi() == {}
    assert accumulator.prediction_psi() is None
    accumulator.add_counts({"x": [0, 0, 0], "c": [0, 0, 0]}, [1, 1], 0)
    assert accumulator.feature_psi() == {}
    assert accumulator.prediction_psi() == pytest.approx(0.0, abs=1e-15)


def _columns_only(accumulator: DriftAccumulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the record-by-record path fail, so a batch must be counted column by column."""

    def refuse(*_: object) -> None:
        raise AssertionError("the batch fell back to record-by-record counting")

    monkeypatch.setattr(accumulator, "add", refuse)


def test_a_clean_batch_is_counted_column_by_column(monkeypatch: pytest.MonkeyPatch) -> None:
    # add_batch's contract: whole columns are binned at once when every value is usable.
    accumulator = _accumulator()
    _columns_only(accumulator, monkeypatch)
    records: list[tuple[list[list[Any]], list[Any]]] = [
        ([[0.5, "a"], [1, "b"]], [0.0, 1]),
        ([["1.5", "a"], [2.0, "b"], [True, "a"]], [1.0, 0, 0.5]),
    ]
    assert accumulator.add_records(records[:1]) == []
    assert accumulator.rows == 2
    assert accumulator.add_records(records[1:]) == []
    assert accumulator.feature_counts() == {"x": [1, 3, 1], "c": [3, 2, 0]}
    assert accumulator.prediction_counts() == [2, 3]
    assert accumulator.rows == 5


def test_a_batch_with_an_integer_category_column_is_counted_column_by_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accumulator = DriftAccumulator(parse_baseline(_with(["features", 1, "categories"], [0, 1])), ["x", "c"])
    _columns_only(accumulator, monkeypatch)
    assert accumulator.add_records([([[0.5, 0], [0.5, "1"], [2.5, 1]], [0.2, 0.2, 0.7])]) == []
    assert accumulator.feature_counts() == {"x": [2, 0, 1], "c": [1, 2, 0]}


@pytest.mark.parametrize(
    ("rows", "probabilities"),
    [
        ([[0.5, "a"]], [True]),
        ([[0.5, "a"]], ["0.5"]),
        ([[0.5, "a"]], [1.5]),
        ([[0.5, "a"]], [-0.5]),
        ([[0.5, "a"]], [float("nan")]),
        ([[0.5, "a"]], [float("inf")]),
        ([[0.5, "a"]], [10**400]),
        ([["x", "a"]], [0.5]),
        ([[None, "a"]], [0.5]),
        ([[float("inf"), "a"]], [0.5]),
        ([[10**400, "a"]], [0.5]),
        ([[0.5, "z"]], [0.5]),
        ([[0.5, " a"]], [0.5]),
        ([[0.5, ["a"]]], [0.5]),
    ],
)
def test_a_batch_needing_a_closer_look_falls_back_to_records(
    rows: list[list[Any]], probabilities: list[Any]
) -> None:
    accumulator = _accumulator()
    batch = RecordBatch(2)
    batch.add([[1.5, "b"]], [0.6])
    batch.add(rows, probabilities)
    assert accumulator._count_columns(batch) is False
    assert accumulator.rows == 0
    assert accumulator.feature_counts() == {"x": [0, 0, 0], "c": [0, 0, 0]}
    assert accumulator.prediction_counts() == [0, 0]


def test_a_batch_whose_lists_disagree_counts_nothing() -> None:
    accumulator = _accumulator()
    batch = RecordBatch(2)
    batch.values.extend([0.5, "a", 1.5])
    batch.probabilities.append(0.5)
    assert accumulator._count_columns(batch) is False
    assert accumulator.add_batch(batch) == []
    assert accumulator.rows == 0 and accumulator.prediction_counts() == [0, 0]


def test_features_without_counts_have_no_psi() -> None:
    accumulator = _accumulator()
    accumulator.add_counts({"x": [0, 0, 0], "c": [1, 1, 0]}, [1, 1], 2)
    found = accumulator.feature_psi()
    assert list(found) == ["c"]
    # c: live 1/2, 1/2, 0 against 0.5, 0.5 and the floored "other" share: all terms 0
    assert found["c"] == pytest.approx(0.0, abs=1e-15)


def test_one_row_is_enough_for_psi() -> None:
    accumulator = _accumulator()
    accumulator.add([[0.5, "b"]], [0.7])
    floor = 1e-4
    # x: live 1, 0, 0 against 0.25, 0.5, 0.25 (the empty bins floored)
    x = 0.75 * math.log(4.0) + (floor - 0.5) * math.log(floor / 0.5) + (floor - 0.25) * math.log(floor / 0.25)
    found = accumulator.feature_psi()
    assert list(found) == ["x", "c"]
    assert found["x"] == pytest.approx(x, rel=1e-12)

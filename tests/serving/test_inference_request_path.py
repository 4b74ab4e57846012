"""The request path's helpers called directly (no server, no toolkit): exact status, code, field and message.

Fast in-process tests for the mutation run of serving/inference.py (tests/mutation/inference.toml): a model
of three features (two numbers, one category) built by hand, so no test here fits or loads anything.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest

import inference

NUMBER_A = inference.Feature("a", True, frozenset(), "a finite number")
NUMBER_B = inference.Feature("b", True, frozenset(), "a finite number")
COLOUR = inference.Feature("colour", False, frozenset({"red", "blue"}), "one of ['red', 'blue']")
NAMES = ("a", "b", "colour")
JSON = "application/json"
CSV = "text/csv"


class Estimator:
    """Answers fixed probabilities and records what it was called with."""

    def __init__(self, answer: list[list[float]] | None = None) -> None:
        self.answer = answer
        self.calls: list[Any] = []

    def predict_proba(self, data: Any) -> np.ndarray:
        self.calls.append(data)
        if self.answer is None:
            raise RuntimeError("broken model")
        return np.array(self.answer[: len(data)], dtype=np.float64)


def hand_model(max_rows: int = 3, pipeline: Any = None, **changes: Any) -> inference.LoadedModel:
    fields: dict[str, Any] = {
        "pipeline": pipeline,
        "schema": {},
        "model_info": {},
        "model_version": "v1",
        "max_rows": max_rows,
        "features": (NUMBER_A, NUMBER_B, COLOUR),
        "feature_names": NAMES,
        "feature_index": {name: index for index, name in enumerate(NAMES)},
        "classes": ("no", "yes"),
        "response_prefix": b'{"model_version": "v1", "classes": ["no", "yes"], ',
    }
    fields.update(changes)
    return inference.LoadedModel(**fields)


MODEL = hand_model()


def refusal(call: Any, *args: Any) -> tuple[int, str, str | None, str]:
    with pytest.raises(inference.RequestError) as caught:
        call(*args)
    error = caught.value
    assert str(error) == error.message
    return error.status, error.code, error.field, error.message


def parse(body: Any, content_type: str = JSON, model: inference.LoadedModel = MODEL) -> list[list[Any]]:
    rows: list[list[Any]] = inference.parse_rows(model, body, content_type)
    return rows


def parse_refusal(body: Any, content_type: str = JSON, model: inference.LoadedModel = MODEL) -> Any:
    return refusal(inference.parse_rows, model, body, content_type)


# --- RequestError --------------------------------------------------------------------------------------


def test_a_request_error_defaults_to_400_without_a_field() -> None:
    error = inference.RequestError("code", "message")
    assert (error.code, error.message, error.field, error.status) == ("code", "message", None, 400)


# --- Content-Type --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", JSON),
        ("TEXT/CSV", CSV),
        (" application/json ; charset=UTF-8", JSON),
        ('text/csv; charset="utf8"', CSV),
        ("application/json;", JSON),
        ("application/json; ;charset=utf-8", JSON),
        ("text/csv; CHARSET = Utf-8 ", CSV),
    ],
)
def test_media_type_is_the_bare_lowercase_type(content_type: str, expected: str) -> None:
    assert inference._media_type(content_type) == expected


@pytest.mark.parametrize(
    ("content_type", "parameter"),
    [
        ("application/json; charset=latin-1", "charset=latin-1"),
        ("text/csv; header=present", "header=present"),
        ("text/csv;=utf-8", "=utf-8"),
        ("text/csv; charset", "charset"),
        ("application/json; utf-8", "utf-8"),
        ("application/json; charset=utf-8; x=1", "x=1"),
        ("text/csv; charset=XUTF-8", "charset=XUTF-8"),
        ("text/csv; ; charset=latin-1", "charset=latin-1"),
        ('text/csv; charset="utf-8"X', 'charset="utf-8"X'),
    ],
)
def test_a_media_type_parameter_other_than_a_utf8_charset_is_415(content_type: str, parameter: str) -> None:
    assert refusal(inference._media_type, content_type) == (
        415,
        "unsupported_content_type",
        "Content-Type",
        f"content type parameter {parameter!r} is not supported; only charset=utf-8 is",
    )


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/jsonlines", "text/csv+x"])
def test_an_unsupported_media_type_is_415_naming_both_supported(content_type: str | None) -> None:
    assert refusal(inference._media_type, content_type) == (
        415,
        "unsupported_content_type",
        "Content-Type",
        f"content type {content_type!r} is not supported; expected 'application/json' or 'text/csv'",
    )


# --- Accept --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/*",
        "application/json",
        "APPLICATION/JSON",
        " application/json ; q=0.5",
        "text/csv, application/json",
        "text/csv,*/*;q=0.1",
        "text/csv, ",
    ],
)
def test_acceptable_accept_values(accept: str | None) -> None:
    assert inference._check_accept(accept) is None


@pytest.mark.parametrize("accept", ["text/csv", "text/*", "application/x-npy, text/csv", "json"])
def test_an_unacceptable_accept_is_406(accept: str) -> None:
    assert refusal(inference._check_accept, accept) == (
        406,
        "not_acceptable",
        "Accept",
        f"accept {accept!r} cannot be served; responses are 'application/json'",
    )


# --- body text -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("1,2,red", "1,2,red"),
        (b"1,2,red", "1,2,red"),
        (bytearray(b"1,2,red"), "1,2,red"),
        (memoryview(b"1,2,red"), "1,2,red"),
        ("\ufeff1,2,red", "1,2,red"),
        ("\ufeff1,2,red".encode(), "1,2,red"),
        (" x ", " x "),
        ("\ufeff\ufeffx", "\ufeffx"),
    ],
)
def test_body_text(body: Any, text: str) -> None:
    assert inference._text(body) == text


@pytest.mark.parametrize("body", [None, b"", "", " \n\t", "\ufeff", "\ufeff \r\n".encode()])
def test_an_empty_body_is_refused(body: Any) -> None:
    assert refusal(inference._text, body) == (
        400,
        "empty_body",
        "body",
        "request body is empty; expected at least one instance",
    )


@pytest.mark.parametrize(("body", "start"), [(b"\xff", 0), (b"ab\xfe\xff", 2), (b"1,2,r\xc3", 5)])
def test_a_body_that_is_not_utf8_names_the_first_bad_byte(body: bytes, start: int) -> None:
    assert refusal(inference._text, body) == (
        400,
        "invalid_encoding",
        "body",
        f"body is not valid UTF-8 (byte {start}); encode the request as UTF-8",
    )


# --- values --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "number"), [(3, 3.0), (-2.5, -2.5), (0, 0.0), (10**300, 1e300)])
def test_a_json_number_is_a_float(value: Any, number: float) -> None:
    got = inference._numeric(value, 0, NUMBER_A)
    assert type(got) is float
    assert got == number


@pytest.mark.parametrize(
    "value", [True, False, None, "1", [1], float("nan"), float("inf"), -float("inf"), 10**400, -(10**400)]
)
def test_a_json_value_that_is_not_a_finite_number_is_refused(value: Any) -> None:
    assert refusal(inference._numeric, value, 4, NUMBER_B) == (
        400,
        "invalid_value",
        "b",
        f"instance 4: b = {value!r} is not a finite number",
    )


def test_a_category_of_the_schema_is_accepted() -> None:
    assert inference._category("blue", 0, COLOUR) == "blue"


@pytest.mark.parametrize("value", [1, None, ["red"], True, b"red"])
def test_a_category_must_be_a_string(value: Any) -> None:
    assert refusal(inference._category, value, 2, COLOUR) == (
        400,
        "invalid_value",
        "colour",
        f"instance 2: colour = {value!r} is not a string, expected one of ['red', 'blue']",
    )


@pytest.mark.parametrize("value", ["Red", "green", "", " red"])
def test_a_category_outside_the_schema_is_refused(value: str) -> None:
    assert refusal(inference._category, value, 1, COLOUR) == (
        400,
        "unknown_category",
        "colour",
        f"instance 1: colour = {value!r} is not one of ['red', 'blue']",
    )


@pytest.mark.parametrize(("token", "number"), [("1", 1.0), ("-2.5e3", -2500.0), ("1_0", 10.0), (" 7 ", 7.0)])
def test_a_csv_number(token: str, number: float) -> None:
    assert inference._csv_number(token, 0, NUMBER_A) == number


@pytest.mark.parametrize("token", ["", "x", "nan", "-inf", "Infinity", "1e999", "0x10"])
def test_a_csv_token_that_is_not_a_finite_number_is_refused(token: str) -> None:
    assert refusal(inference._csv_number, token, 3, NUMBER_A) == (
        400,
        "invalid_value",
        "a",
        f"row 3: a = {token!r} is not a finite number",
    )


# --- row counts ----------------------------------------------------------------------------------------


def test_max_rows_is_allowed_and_one_more_is_refused() -> None:
    assert inference._check_row_count(MODEL, 3) is None
    assert refusal(inference._check_row_count, MODEL, 4) == (
        400,
        "too_many_rows",
        "instances",
        "request has more than 3 rows; send at most 3",
    )


def test_a_wrong_column_count_names_the_schema_order() -> None:
    error = inference._wrong_count(MODEL, 5, 2, "row")
    assert (error.status, error.code, error.field, error.message) == (
        400,
        "wrong_column_count",
        "instances",
        "row 5: got 2 values, expected 3 in schema order ['a', 'b', 'colour']",
    )


# --- CSV -----------------------------------------------------------------------------------------------


def test_csv_rows_in_schema_order_with_blank_lines_skipped() -> None:
    body = '\n1,2,red\n\n  \n" 3 ", 4.5 ,blue \r\n'
    assert parse(body, CSV) == [[1.0, 2.0, "red"], [3.0, 4.5, "blue"]]


def test_csv_rows_are_numbered_without_the_blank_lines() -> None:
    assert parse_refusal("\n1,2,red\n\n1,x,red\n", CSV) == (
        400,
        "invalid_value",
        "b",
        "row 1: b = 'x' is not a finite number",
    )


def test_a_csv_category_is_checked_after_stripping() -> None:
    assert parse_refusal("1,2, green ", CSV)[1:] == (
        "unknown_category",
        "colour",
        "instance 0: colour = 'green' is not one of ['red', 'blue']",
    )


@pytest.mark.parametrize(("line", "got"), [("1,2", 2), ("1,2,red,4", 4), (",", 2), (" ,", 2)])
def test_a_csv_row_of_the_wrong_width(line: str, got: int) -> None:
    assert parse_refusal(f"1,2,red\n{line}\n", CSV) == (
        400,
        "wrong_column_count",
        "instances",
        f"row 1: got {got} values, expected 3 in schema order ['a', 'b', 'colour']",
    )


def test_csv_max_rows_is_served_and_one_more_refused() -> None:
    assert len(parse("1,2,red\n" * 3, CSV)) == 3
    assert len(parse("1,2,red\n" * 3 + "\n\n", CSV)) == 3
    assert parse_refusal("1,2,red\n" * 4, CSV) == (
        400,
        "too_many_rows",
        "instances",
        "request has more than 3 rows; send at most 3",
    )


def test_the_row_limit_stops_before_reading_a_bad_row() -> None:
    assert parse_refusal("1,2,red\n" * 3 + "bad\n", CSV)[1] == "too_many_rows"


@pytest.mark.parametrize("body", ['""', '\n" "\n""\n'])
def test_csv_of_only_blank_lines_has_no_rows(body: str) -> None:
    assert parse_refusal(body, CSV) == (
        400,
        "empty_body",
        "body",
        "request body has no CSV rows; expected at least one",
    )


def test_a_csv_field_beyond_the_csv_module_limit_is_invalid_csv() -> None:
    status, code, field, message = parse_refusal("1,2," + "r" * 200_000, CSV)
    assert (status, code, field) == (400, "invalid_csv", "body")
    assert message == "body is not valid CSV: field larger than field limit (131072)"


# --- JSON ----------------------------------------------------------------------------------------------


def test_json_instances_as_lists_and_objects() -> None:
    body = json.dumps({"instances": [[1, 2.5, "red"], {"colour": "blue", "b": -1, "a": 0}]})
    assert parse(body) == [[1.0, 2.5, "red"], [0.0, -1.0, "blue"]]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
    ],
)
def test_invalid_json_quotes_the_parser(body: str, detail: str) -> None:
    assert parse_refusal(body) == (400, "invalid_json", "body", f"body is not valid JSON: {detail}")


def test_json_nested_too_deep_is_invalid_json() -> None:
    status, code, field, message = parse_refusal("[" * 100_000)
    assert (status, code, field) == (400, "invalid_json", "body")
    assert message.startswith("body is not valid JSON: maximum recursion depth exceeded")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_are_refused_by_name(constant: str) -> None:
    assert parse_refusal('{"instances": [[' + constant + ', 1, "red"]]}') == (
        400,
        "invalid_json",
        "body",
        f"body is not valid JSON: {constant} is not a JSON number",
    )


@pytest.mark.parametrize("body", ["[]", "3", '"instances"', "null", '{"rows": []}', '{"Instances": []}'])
def test_json_without_instances(body: str) -> None:
    assert parse_refusal(body) == (
        400,
        "missing_instances",
        "instances",
        'expected a JSON object {"instances": [...]}',
    )


def test_unknown_top_level_keys_are_named_sorted() -> None:
    assert parse_refusal('{"z": 1, "instances": [[1, 2, "red"]], "b": 2}') == (
        400,
        "unknown_field",
        "b",
        "unexpected top-level keys ['b', 'z']; expected only \"instances\"",
    )


@pytest.mark.parametrize("instances", [{}, "rows", 3, None, True])
def test_instances_must_be_a_list(instances: Any) -> None:
    assert parse_refusal(json.dumps({"instances": instances})) == (
        400,
        "invalid_instances",
        "instances",
        '"instances" must be a list of lists or objects',
    )


def test_instances_must_not_be_empty() -> None:
    assert parse_refusal('{"instances": []}') == (
        400,
        "empty_instances",
        "instances",
        '"instances" is empty; expected at least one instance',
    )


def test_json_max_rows_is_served_and_one_more_refused() -> None:
    assert len(parse(json.dumps({"instances": [[1, 2, "red"]] * 3}))) == 3
    assert parse_refusal(json.dumps({"instances": [["bad"]] * 4})) == (
        400,
        "too_many_rows",
        "instances",
        "request has more than 3 rows; send at most 3",
    )


@pytest.mark.parametrize("instance", [[1, 2], [1, 2, "red", 4], []])
def test_a_json_instance_of_the_wrong_length(instance: list[Any]) -> None:
    assert parse_refusal(json.dumps({"instances": [[1, 2, "red"], instance]})) == (
        400,
        "wrong_column_count",
        "instances",
        f"instance 1: got {len(instance)} values, expected 3 in schema order ['a', 'b', 'colour']",
    )


@pytest.mark.parametrize("instance", [3, "1,2,red", None, True])
def test_a_json_instance_neither_list_nor_object(instance: Any) -> None:
    assert parse_refusal(json.dumps({"instances": [[1, 2, "red"], instance]})) == (
        400,
        "invalid_instance",
        "instances",
        f"instance 1: expected a list in schema order or an object, got {instance!r}",
    )


def test_json_values_are_checked_with_their_instance_number() -> None:
    assert parse_refusal(json.dumps({"instances": [[1, 2, "red"], {"a": 1, "b": "2", "colour": "red"}]})) == (
        400,
        "invalid_value",
        "b",
        "instance 1: b = '2' is not a finite number",
    )
    assert parse_refusal(json.dumps({"instances": [[1, 2, "red"], [1, 2, "pink"]]})) == (
        400,
        "unknown_category",
        "colour",
        "instance 1: colour = 'pink' is not one of ['red', 'blue']",
    )


def test_an_unknown_feature_is_named() -> None:
    assert parse_refusal(json.dumps({"instances": [{"a": 1, "b": 2, "colour": "red", "size": 3}]})) == (
        400,
        "unknown_feature",
        "size",
        "instance 0: unknown feature 'size'; expected one of ['a', 'b', 'colour']",
    )


def test_an_unknown_feature_is_found_before_a_missing_one() -> None:
    assert parse_refusal(json.dumps({"instances": [[1, 2, "red"], {"A": 1}]}))[1:3] == (
        "unknown_feature",
        "A",
    )


def test_a_missing_feature_is_named() -> None:
    assert parse_refusal(json.dumps({"instances": [[1, 2, "red"], {"a": 1, "colour": "red"}]})) == (
        400,
        "missing_feature",
        "b",
        "instance 1: missing feature 'b'",
    )


def test_parse_rows_reads_bytes_with_a_charset() -> None:
    assert parse(b'{"instances": [[1, 2, "red"]]}', "application/json; charset=utf-8") == [[1.0, 2.0, "red"]]
    assert parse("\ufeff1,2,red", "text/csv; charset=utf-8") == [[1.0, 2.0, "red"]]


# --- the answer ----------------------------------------------------------------------------------------


def test_the_frame_has_the_schema_columns_and_dtypes() -> None:
    frame = inference.parse(MODEL, "1,2,red\n3,4.5,blue", CSV)
    assert list(frame.columns) == ["a", "b", "colour"]
    assert [frame.dtypes["a"], frame.dtypes["b"]] == [np.float64, np.float64]
    assert pd.api.types.is_string_dtype(frame.dtypes["colour"])
    assert frame.values.tolist() == [[1.0, 2.0, "red"], [3.0, 4.5, "blue"]]


def test_the_success_body_is_the_prefix_then_predictions_and_probabilities() -> None:
    body = inference._encode(MODEL, np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]]))
    assert body == (
        b'{"model_version": "v1", "classes": ["no", "yes"], '
        b'"predictions": ["yes", "no", "no"], "probabilities": [[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]]}'
    )


def test_the_error_body() -> None:
    assert inference._error_body("bad", 'it\'s "bad"', None) == (
        b'{"error": {"code": "bad", "message": "it\'s \\"bad\\"", "field": null}}'
    )
    assert json.loads(inference._error_body("c", "m", "f")) == {
        "error": {"code": "c", "message": "m", "field": "f"}
    }


def served(estimator: Estimator, **changes: Any) -> inference.LoadedModel:
    """The hand-built model serving through ``estimator`` as its Pipeline."""
    return hand_model(pipeline=estimator, **changes)


def test_handle_answers_200_with_the_pipelines_probabilities() -> None:
    estimator = Estimator([[0.9, 0.1], [0.2, 0.8]])
    status, body, content_type = inference.handle(
        served(estimator), '{"instances": [[1, 2, "red"], [3, 4, "blue"]]}', JSON, "application/json"
    )
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {
        "model_version": "v1",
        "classes": ["no", "yes"],
        "predictions": ["no", "yes"],
        "probabilities": [[0.9, 0.1], [0.2, 0.8]],
    }
    assert estimator.calls[0].values.tolist() == [[1.0, 2.0, "red"], [3.0, 4.0, "blue"]]


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "expected"),
    [
        ("1,2,red", CSV, "text/csv", (406, "not_acceptable", "Accept")),
        ("1,2,red", "text/plain", JSON, (415, "unsupported_content_type", "Content-Type")),
        ("1,2", CSV, JSON, (400, "wrong_column_count", "instances")),
    ],
)
def test_handle_answers_a_refusal_with_its_status_and_json_body(
    body: str, content_type: str, accept: str, expected: tuple[int, str, str]
) -> None:
    estimator = Estimator([[0.5, 0.5]])
    status, answer, answer_type = inference.handle(served(estimator), body, content_type, accept)
    error = json.loads(answer)["error"]
    assert (status, error["code"], error["field"], answer_type) == (*expected, "application/json")
    assert estimator.calls == []


def test_the_accept_header_is_checked_before_the_body() -> None:
    status, answer, _ = inference.handle(served(Estimator()), b"\xff", "text/plain", "text/csv")
    assert (status, json.loads(answer)["error"]["code"]) == (406, "not_acceptable")


def test_an_unexpected_parsing_failure_is_a_400_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # A model whose features are not Feature objects breaks parsing itself, not the request's checks.
    broken = hand_model(features=(None, None, None))
    with caplog.at_level(logging.ERROR, logger=inference.LOGGER.name):
        status, answer, content_type = inference.handle(broken, "1,2,red", CSV, "*/*")
    assert (status, content_type) == (400, "application/json")
    assert json.loads(answer) == {
        "error": {
            "code": "invalid_request",
            "message": "request could not be parsed: 'NoneType' object has no attribute 'is_numeric'",
            "field": None,
        }
    }
    assert [r.getMessage() for r in caplog.records] == ["unexpected failure while parsing a request"]
    assert caplog.records[0].exc_info is not None


def test_a_failing_model_is_a_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=inference.LOGGER.name):
        status, answer, content_type = inference.handle(served(Estimator()), "1,2,red", CSV, "")
    assert (status, content_type) == (500, "application/json")
    assert json.loads(answer) == {
        "error": {
            "code": "internal_error",
            "message": "model failed on a valid request: broken model",
            "field": None,
        }
    }
    assert [r.getMessage() for r in caplog.records] == ["model failed on a validated request"]
    assert caplog.records[0].exc_info is not None


def test_a_request_error_from_the_model_keeps_its_status() -> None:
    class Refusing:
        def predict_proba(self, data: Any) -> np.ndarray:
            raise inference.RequestError("out_of_range", "too big", "a", 422)

    status, answer, _ = inference.handle(hand_model(pipeline=Refusing()), "1,2,red", CSV, "")
    assert (status, json.loads(answer)) == (
        422,
        {"error": {"code": "out_of_range", "message": "too big", "field": "a"}},
    )


def test_transform_fn_answers_through_the_response_type() -> None:
    calls: list[dict[str, Any]] = []

    def response(**kwargs: Any) -> str:
        calls.append(kwargs)
        return "response"

    model = served(Estimator([[0.5, 0.5]]), response_type=response)
    assert inference.transform_fn(model, "1,2,red", CSV, "text/csv") == "response"
    assert calls == [
        {
            "response": inference._error_body(
                "not_acceptable",
                "accept 'text/csv' cannot be served; responses are 'application/json'",
                "Accept",
            ),
            "status": 406,
            "mimetype": "application/json",
        }
    ]


def test_transform_fn_refuses_a_model_without_the_response_type() -> None:
    with pytest.raises(
        RuntimeError,
        match=r"^transform_fn needs a model loaded by model_fn \(the container's response type\)$",
    ):
        inference.transform_fn(MODEL, "1,2,red", CSV, "")


def test_transform_fn_passes_the_request_on() -> None:
    calls: list[dict[str, Any]] = []

    def response(**kwargs: Any) -> str:
        calls.append(kwargs)
        return "response"

    model = served(Estimator([[0.5, 0.5]]), response_type=response)
    assert inference.transform_fn(model, b"1,2,red", "text/csv; charset=utf-8", "*/*") == "response"
    assert [(call["status"], call["mimetype"]) for call in calls] == [(200, "application/json")]
    assert json.loads(calls[0]["response"])["predictions"] == ["no"]


def test_the_frame_keeps_values_exactly() -> None:
    # numpy's fixed-width str arrays drop trailing NULs (numpy docs, numpy.str_; numpy/numpy#2617):
    # the frame keeps each value as the request sent it.
    nul = inference.Feature("nul", False, frozenset({"x\x00"}), "one of ['x\\x00']")
    model = hand_model(features=(NUMBER_A, NUMBER_B, nul), feature_names=("a", "b", "nul"))
    assert inference._frame(model, [[1.0, 2.0, "x\x00"]]).values.tolist() == [[1.0, 2.0, "x\x00"]]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1.0, 2.0, "red"], [1.0, 2.0, "red", 4.0]], "zip() argument 2 is longer than argument 1"),
        ([[1.0, 2.0, "red"], [1.0, 2.0]], "zip() argument 2 is shorter than argument 1"),
        ([[1.0, 2.0], [3.0, 4.0]], "zip() argument 2 is shorter than argument 1"),
    ],
)
def test_the_frame_refuses_rows_that_do_not_fit_the_schema(rows: list[list[Any]], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        inference._frame(MODEL, rows)
    assert str(caught.value) == message


def test_class_values_are_answered_exactly() -> None:
    # numpy's fixed-width str arrays drop trailing NULs (numpy docs, numpy.str_; numpy/numpy#2617):
    # a class is answered as the model names it.
    model = hand_model(classes=("no\x00", "yes"))
    body = inference._encode(model, np.array([[0.9, 0.1]]))
    assert json.loads(body)["predictions"] == ["no\x00"]

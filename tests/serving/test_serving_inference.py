"""Unit tests of serving/inference.py: the handlers called directly, one test per payload class."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

import inference
from tests.serving.conftest import (
    FEATURE_NAMES,
    FIXTURE_MODEL_VERSION,
    SAMPLE_OBJECT,
    SAMPLE_ROW,
    SCHEMA,
    build_model_dir,
    synthetic_frame,
)


def csv_line(row: list[Any]) -> str:
    return ",".join(str(value) for value in row)


def assert_success(answer: dict[str, Any], rows: int) -> None:
    assert set(answer) == {"model_version", "classes", "predictions", "probabilities"}
    assert answer["classes"] == [0, 1]
    assert len(answer["predictions"]) == rows
    assert len(answer["probabilities"]) == rows
    for prediction, probabilities in zip(answer["predictions"], answer["probabilities"], strict=True):
        assert len(probabilities) == 2
        assert sum(probabilities) == pytest.approx(1.0)
        assert prediction == answer["classes"][int(np.argmax(probabilities))]


def assert_error(
    status: int, answer: dict[str, Any], expected_status: int, code: str, field: str | None
) -> None:
    assert status == expected_status, answer
    assert set(answer) == {"error"}
    assert answer["error"]["code"] == code
    assert answer["error"]["field"] == field
    assert answer["error"]["message"]


# --- model_fn ---------------------------------------------------------------------------------------


def test_model_fn_loads_pipeline_schema_and_info(loaded_model):
    assert loaded_model.feature_names == tuple(FEATURE_NAMES)
    assert loaded_model.model_version == FIXTURE_MODEL_VERSION
    assert loaded_model.schema == SCHEMA
    assert loaded_model.model_info["model_version"] == FIXTURE_MODEL_VERSION
    assert loaded_model.max_rows == 1000
    assert loaded_model.classes == (0, 1)


def test_model_fn_prefers_model_version_from_environment(fixture_model_dir, monkeypatch):
    monkeypatch.setenv("SAGESTACK_MODEL_VERSION", "sagestack-dev-train-1a2b3c4d")
    model = inference.load_model(str(fixture_model_dir))
    status, body, _ = inference.handle(model, json.dumps({"instances": [SAMPLE_ROW]}), "application/json", "")
    assert status == 200
    assert json.loads(body)["model_version"] == "sagestack-dev-train-1a2b3c4d"


def test_model_fn_reads_max_rows_from_environment(fixture_model_dir, monkeypatch):
    monkeypatch.setenv("SAGESTACK_MAX_ROWS", "2")
    model = inference.load_model(str(fixture_model_dir))
    status, body, _ = inference.handle(
        model, json.dumps({"instances": [SAMPLE_ROW] * 3}), "application/json", ""
    )
    assert status == 400
    assert json.loads(body)["error"]["code"] == "too_many_rows"


@pytest.mark.parametrize("raw", ["0", "-5", "many"])
def test_model_fn_refuses_a_bad_max_rows(fixture_model_dir, monkeypatch, raw):
    monkeypatch.setenv("SAGESTACK_MAX_ROWS", raw)
    with pytest.raises(ValueError, match="SAGESTACK_MAX_ROWS"):
        inference.load_model(str(fixture_model_dir))


def test_model_fn_refuses_a_directory_without_schema(tmp_path):
    model_dir = build_model_dir(tmp_path / "model")
    (model_dir / "schema.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"schema\.json"):
        inference.load_model(str(model_dir))


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"features": []}, "non-empty 'features'"),
        ({"features": [{"name": "x", "type": "text"}]}, "numeric/categorical"),
        ({"features": [{"name": "c", "type": "categorical", "categories": []}]}, "string categories"),
        ({"features": [{"name": "x", "type": "numeric"}, {"name": "x", "type": "numeric"}]}, "duplicate"),
    ],
)
def test_model_fn_refuses_a_malformed_schema(tmp_path, schema, message):
    model_dir = build_model_dir(tmp_path / "model")
    (model_dir / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        inference.load_model(str(model_dir))


def test_model_fn_refuses_classes_that_differ_from_the_schema(tmp_path):
    model_dir = build_model_dir(tmp_path / "model")
    (model_dir / "schema.json").write_text(json.dumps({**SCHEMA, "classes": ["no", "yes"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="classes"):
        inference.load_model(str(model_dir))


def test_model_fn_refuses_missing_model_version(tmp_path):
    model_dir = build_model_dir(tmp_path / "model")
    (model_dir / "model_info.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="model_version"):
        inference.load_model(str(model_dir))


# --- accepted payloads --------------------------------------------------------------------------------


def test_json_list_rows_match_the_pipeline(invoke, loaded_model):
    frame, _ = synthetic_frame(5, seed=11)
    rows = frame.astype(object).values.tolist()
    status, answer = invoke(json.dumps({"instances": rows}))
    assert status == 200
    assert_success(answer, 5)
    assert answer["model_version"] == FIXTURE_MODEL_VERSION
    expected = loaded_model.pipeline.predict_proba(frame)
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-12)
    assert answer["predictions"] == loaded_model.pipeline.predict(frame).tolist()


def test_json_objects_in_any_key_order_equal_list_rows(invoke):
    reordered = dict(reversed(list(SAMPLE_OBJECT.items())))
    _, from_lists = invoke(json.dumps({"instances": [SAMPLE_ROW]}))
    status, from_objects = invoke(json.dumps({"instances": [reordered, SAMPLE_OBJECT]}))
    assert status == 200
    assert_success(from_objects, 2)
    assert from_objects["probabilities"][0] == from_objects["probabilities"][1]
    # One row and two rows take different BLAS paths in the estimator's matrix product (last-bit noise).
    assert from_objects["probabilities"][0] == pytest.approx(from_lists["probabilities"][0], rel=1e-12)


def test_csv_rows_equal_json_rows(invoke):
    _, from_json = invoke(json.dumps({"instances": [SAMPLE_ROW, SAMPLE_ROW]}))
    status, from_csv = invoke(f"{csv_line(SAMPLE_ROW)}\r\n{csv_line(SAMPLE_ROW)}\n\n", "text/csv")
    assert status == 200
    assert from_csv == from_json


def test_csv_accepts_quoted_fields_and_spaces(invoke):
    line = '12, 70.5 ,846,2,41,"month-to-month", electronic-check ,fiber-optic'
    status, answer = invoke(line, "text/csv")
    assert status == 200
    assert_success(answer, 1)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'Application/JSON; charset="utf8"',
        "application/json;",
    ],
)
def test_json_content_type_with_charset(invoke, content_type):
    status, answer = invoke(json.dumps({"instances": [SAMPLE_ROW]}).encode(), content_type)
    assert status == 200
    assert_success(answer, 1)


def test_csv_content_type_with_charset(invoke):
    status, _ = invoke(csv_line(SAMPLE_ROW).encode(), "text/csv; charset=utf-8")
    assert status == 200


@pytest.mark.parametrize("body_type", [bytes, bytearray, str])
def test_body_as_bytes_bytearray_or_text(invoke, body_type):
    text = json.dumps({"instances": [SAMPLE_ROW]})
    body = text if body_type is str else body_type(text.encode())
    status, _ = invoke(body)
    assert status == 200


def test_utf8_byte_order_mark_is_ignored(invoke):
    status, _ = invoke(b"\xef\xbb\xbf" + json.dumps({"instances": [SAMPLE_ROW]}).encode())
    assert status == 200


@pytest.mark.parametrize("accept", ["", "*/*", "application/json", "text/html, application/*;q=0.8"])
def test_acceptable_accept_headers(invoke, accept):
    status, _ = invoke(json.dumps({"instances": [SAMPLE_ROW]}), accept=accept)
    assert status == 200


def test_numbers_out_of_the_training_range_are_served(invoke):
    row = [500, -3, 1e6, 99, 150, "two-year", "credit-card", "none"]
    status, answer = invoke(json.dumps({"instances": [row]}))
    assert status == 200
    assert_success(answer, 1)


def test_exactly_max_rows_is_served(invoke):
    status, answer = invoke(json.dumps({"instances": [SAMPLE_ROW] * 1000}))
    assert status == 200
    assert_success(answer, 1000)


# --- refused payloads ---------------------------------------------------------------------------------

VALID_JSON = json.dumps({"instances": [SAMPLE_ROW]})


def replace(row: list[Any], name: str, value: Any) -> list[Any]:
    changed = list(row)
    changed[FEATURE_NAMES.index(name)] = value
    return changed


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-npy",
        "application/jsonlines",
        "",
        "application/json; charset=latin-1",
        "text/csv; header=present",
    ],
)
def test_unsupported_content_type_is_415(invoke, content_type):
    status, answer = invoke(VALID_JSON, content_type)
    assert_error(status, answer, 415, "unsupported_content_type", "Content-Type")


@pytest.mark.parametrize("accept", ["text/csv", "application/x-npy", "text/*"])
def test_unacceptable_accept_is_406(invoke, accept):
    status, answer = invoke(VALID_JSON, accept=accept)
    assert_error(status, answer, 406, "not_acceptable", "Accept")


@pytest.mark.parametrize(
    ("body", "content_type"), [(b"", "application/json"), (b"  \n", "text/csv"), (None, "text/csv")]
)
def test_empty_body(invoke, body, content_type):
    status, answer = invoke(body, content_type)
    assert_error(status, answer, 400, "empty_body", "body")


def test_csv_with_only_blank_lines_is_empty(invoke):
    status, answer = invoke(",\n", "text/csv")
    assert_error(status, answer, 400, "wrong_column_count", "instances")


@pytest.mark.parametrize("content_type", ["application/json", "text/csv"])
def test_non_utf8_bytes(invoke, content_type):
    status, answer = invoke(b'{"instances": [["\xff\xfe"]]}', content_type)
    assert_error(status, answer, 400, "invalid_encoding", "body")
    assert "UTF-8" in answer["error"]["message"]


@pytest.mark.parametrize("body", ["{", "[1, 2", "instances", '{"instances": [1,]}', "[" * 100000])
def test_invalid_json(invoke, body):
    status, answer = invoke(body)
    assert_error(status, answer, 400, "invalid_json", "body")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_literals(invoke, constant):
    body = json.dumps({"instances": [SAMPLE_ROW]}).replace("70.5", constant)
    status, answer = invoke(body)
    assert_error(status, answer, 400, "invalid_json", "body")
    assert constant in answer["error"]["message"]


@pytest.mark.parametrize("body", ["[]", "[[1, 2]]", '{"rows": []}', "42", '"instances"', "null"])
def test_missing_instances(invoke, body):
    status, answer = invoke(body)
    assert_error(status, answer, 400, "missing_instances", "instances")


def test_unknown_top_level_key(invoke):
    status, answer = invoke(json.dumps({"instances": [SAMPLE_ROW], "instance": []}))
    assert_error(status, answer, 400, "unknown_field", "instance")


@pytest.mark.parametrize("instances", [{}, "rows", 3, None])
def test_instances_not_a_list(invoke, instances):
    status, answer = invoke(json.dumps({"instances": instances}))
    assert_error(status, answer, 400, "invalid_instances", "instances")


def test_empty_instances(invoke):
    status, answer = invoke(json.dumps({"instances": []}))
    assert_error(status, answer, 400, "empty_instances", "instances")


@pytest.mark.parametrize("instance", [3, "12,70.5", None, True])
def test_instance_neither_list_nor_object(invoke, instance):
    status, answer = invoke(json.dumps({"instances": [SAMPLE_ROW, instance]}))
    assert_error(status, answer, 400, "invalid_instance", "instances")
    assert "instance 1" in answer["error"]["message"]


@pytest.mark.parametrize("row", [SAMPLE_ROW[:-1], [*SAMPLE_ROW, "extra"], []])
def test_json_wrong_column_count(invoke, row):
    status, answer = invoke(json.dumps({"instances": [row]}))
    assert_error(status, answer, 400, "wrong_column_count", "instances")
    assert f"got {len(row)} values, expected 8" in answer["error"]["message"]


@pytest.mark.parametrize("line", [csv_line(SAMPLE_ROW[:-1]), csv_line(SAMPLE_ROW) + ",1"])
def test_csv_wrong_column_count(invoke, line):
    status, answer = invoke(f"{csv_line(SAMPLE_ROW)}\n{line}\n", "text/csv")
    assert_error(status, answer, 400, "wrong_column_count", "instances")
    assert "row 1" in answer["error"]["message"]


def test_unknown_feature(invoke):
    status, answer = invoke(json.dumps({"instances": [{**SAMPLE_OBJECT, "foo": 1}]}))
    assert_error(status, answer, 400, "unknown_feature", "foo")
    assert "expected one of" in answer["error"]["message"]


def test_missing_feature(invoke):
    instance = {k: v for k, v in SAMPLE_OBJECT.items() if k != "age"}
    status, answer = invoke(json.dumps({"instances": [instance]}))
    assert_error(status, answer, 400, "missing_feature", "age")


@pytest.mark.parametrize(
    "token", ['"twelve"', '"12"', "null", "true", "[12]", '{"v": 12}', "1e400", "-1e999", "1" + "0" * 400]
)
def test_non_numeric_value_in_json(invoke, token):
    body = json.dumps({"instances": [replace(SAMPLE_ROW, "tenure_months", "TOKEN")]}).replace(
        '"TOKEN"', token
    )
    status, answer = invoke(body)
    assert_error(status, answer, 400, "invalid_value", "tenure_months")
    assert "a finite number" in answer["error"]["message"]


@pytest.mark.parametrize("token", ["twelve", "", "nan", "NaN", "inf", "-Infinity", "1e400", "0x10"])
def test_non_numeric_value_in_csv(invoke, token):
    status, answer = invoke(csv_line(replace(SAMPLE_ROW, "support_calls", token)), "text/csv")
    assert_error(status, answer, 400, "invalid_value", "support_calls")


def test_value_in_an_object_instance(invoke):
    status, answer = invoke(json.dumps({"instances": [{**SAMPLE_OBJECT, "age": "old"}]}))
    assert_error(status, answer, 400, "invalid_value", "age")


@pytest.mark.parametrize("content_type", ["application/json", "text/csv"])
@pytest.mark.parametrize("value", ["Month-to-month", "monthly", ""])
def test_unknown_category(invoke, content_type, value):
    row = replace(SAMPLE_ROW, "contract", value)
    body = json.dumps({"instances": [row]}) if content_type == "application/json" else csv_line(row)
    status, answer = invoke(body, content_type)
    assert_error(status, answer, 400, "unknown_category", "contract")
    assert "month-to-month" in answer["error"]["message"]


@pytest.mark.parametrize("value", [1, None, ["dsl"]])
def test_categorical_value_must_be_a_string(invoke, value):
    status, answer = invoke(json.dumps({"instances": [replace(SAMPLE_ROW, "internet_service", value)]}))
    assert_error(status, answer, 400, "invalid_value", "internet_service")


@pytest.mark.parametrize("content_type", ["application/json", "text/csv"])
def test_too_many_rows(invoke, content_type):
    rows = [SAMPLE_ROW] * 1001
    body = (
        json.dumps({"instances": rows})
        if content_type == "application/json"
        else "\n".join(map(csv_line, rows))
    )
    status, answer = invoke(body, content_type)
    assert_error(status, answer, 400, "too_many_rows", "instances")
    assert "1000" in answer["error"]["message"]


def test_csv_with_a_nul_byte(invoke):
    status, answer = invoke(csv_line(SAMPLE_ROW).replace("fiber-optic", "fiber\x00optic"), "text/csv")
    assert status == 400
    assert answer["error"]["code"] in {"invalid_csv", "unknown_category"}


@pytest.mark.parametrize("path", ["kernel", "estimator", "pipeline"])
def test_a_failing_model_is_a_500_with_a_json_body(loaded_model, path):
    class BrokenModel:
        classes_ = np.array([0, 1])
        max_rows = 1000  # as a kernel: serves every request size

        def predict_proba(self, data: object) -> np.ndarray:
            raise RuntimeError("corrupt model")

    if path == "kernel":
        broken = dataclasses.replace(loaded_model, kernel=BrokenModel())
    elif path == "estimator":
        broken = dataclasses.replace(loaded_model, estimator=BrokenModel(), kernel=None)
    else:
        broken = dataclasses.replace(
            loaded_model, compiled=None, estimator=None, kernel=None, pipeline=BrokenModel()
        )
    status, body, content_type = inference.handle(broken, VALID_JSON, "application/json", "")
    assert (status, content_type) == (500, "application/json")
    assert json.loads(body)["error"]["code"] == "internal_error"


def test_the_pipeline_receives_a_frame_in_schema_order(loaded_model):
    frame = inference.parse(loaded_model, json.dumps({"instances": [SAMPLE_OBJECT]}), "application/json")
    assert list(frame.columns) == FEATURE_NAMES
    assert frame.dtypes["tenure_months"] == np.float64
    assert pd.api.types.is_string_dtype(frame.dtypes["contract"])
    assert frame.iloc[0].tolist() == [12.0, 70.5, 846.0, 2.0, 41.0, *SAMPLE_ROW[5:]]


# --- transform_fn and the container's response type ----------------------------------------------------


def test_model_fn_needs_the_container_toolkit(fixture_model_dir):
    # The test environment has no sagemaker_containers (it lives in .venv-serving): model_fn must fail
    # loudly instead of serving answers the container would turn into 500s (issue 13, item 3).
    with pytest.raises(ModuleNotFoundError, match="sagemaker_containers"):
        inference.model_fn(str(fixture_model_dir))


def test_transform_fn_refuses_a_model_not_loaded_by_model_fn(loaded_model):
    with pytest.raises(RuntimeError, match="model_fn"):
        inference.transform_fn(loaded_model, VALID_JSON, "application/json", "application/json")


def test_module_defines_no_functions_the_container_forbids_beside_transform_fn():
    assert callable(inference.model_fn)
    assert callable(inference.transform_fn)
    for name in ("input_fn", "predict_fn", "output_fn"):
        assert not hasattr(inference, name)


# --- where a CSV request's rows and values end: RFC 4180, as the drift engine reads the captured body ---

ROW = ",".join(map(str, SAMPLE_ROW[:-1]))  # every value but internet_service, the last column


def test_a_quoted_line_break_stays_inside_its_value_and_is_not_dropped(invoke) -> None:
    # RFC 4180 section 2.6: a field in double quotes may hold CRLF. "fiber-\r\noptic" is not "fiber-optic":
    # read line by line, the break vanished and the model scored a value the client never sent.
    status, answer = invoke(f'{ROW},"fiber-\r\noptic"', "text/csv")
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "unknown_category",
        "internet_service",
    )
    assert "'fiber-\\r\\noptic'" in answer["error"]["message"]


@pytest.mark.parametrize("separator", ["\u2028", "\x1c", "\x0b", "\x85"])
def test_only_cr_and_lf_end_a_row(invoke, separator: str) -> None:
    # Python's csv module (newline="") ends a row at \r or \n only; str.splitlines also breaks at these.
    assert list(csv.reader(io.StringIO(f"a{separator}b,c", newline=""))) == [[f"a{separator}b", "c"]]
    values = list(map(str, SAMPLE_ROW))
    values[5] = f"month-to{separator}month"  # contract, a middle column: a row split there is too short
    status, answer = invoke(",".join(values), "text/csv")
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        400,
        "unknown_category",
        "contract",
    )


@pytest.mark.parametrize(
    "body", [f"{ROW},dsl\r{ROW},none\r\n{ROW},fiber-optic\n", f"{ROW},dsl\n\n{ROW},none\n"]
)
def test_cr_lf_and_crlf_each_end_a_row_and_blank_rows_are_skipped(invoke, body: str) -> None:
    status, answer = invoke(body, "text/csv")
    assert status == 200
    assert len(answer["predictions"]) == body.count("dsl") + body.count(",none") + body.count("fiber-optic")


@pytest.mark.parametrize("last", ['"fiber-optic', '"fiber"-optic'])
def test_an_unclosed_quote_or_text_after_a_closing_one_is_invalid_csv_not_a_guess(invoke, last: str) -> None:
    # csv docs, Dialect.strict: "When True, raise exception Error on bad CSV input"; capture reads with it too.
    status, answer = invoke(f"{ROW},{last}", "text/csv")
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, "invalid_csv", "body")

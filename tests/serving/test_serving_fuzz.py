"""Property-based fuzzing of inference.handle: malformed payloads get a 4xx JSON error, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inference
from tests.serving.conftest import FEATURE_NAMES, SAMPLE_ROW

FUZZ_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "text/csv",
            "application/json; charset=utf-8",
            "text/csv;charset=UTF-8",
            "application/json; charset=utf-16",
            "application/octet-stream",
            "",
        ]
    ),
    st.text(max_size=40),
)
ACCEPTS = st.one_of(st.sampled_from(["", "*/*", "application/json"]), st.text(max_size=30))
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["month-to-month", "dsl", "credit-card"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=30,
)


def answer_of(model: inference.LoadedModel, body: Any, content_type: str, accept: str = "application/json"):
    status, payload, payload_type = inference.handle(model, body, content_type, accept)
    assert payload_type == "application/json"
    document = json.loads(payload)
    assert status < 500, document
    if status == 200:
        assert len(document["predictions"]) == len(document["probabilities"]) >= 1
    else:
        assert 400 <= status < 500
        assert set(document) == {"error"}
        assert set(document["error"]) == {"code", "message", "field"}
        assert isinstance(document["error"]["code"], str)
        assert document["error"]["message"]
    return status, document


@FUZZ_SETTINGS
@given(body=st.binary(max_size=300), content_type=CONTENT_TYPES, accept=ACCEPTS)
def test_random_bytes_with_random_content_types(loaded_model, body, content_type, accept):
    answer_of(loaded_model, body, content_type, accept)


@FUZZ_SETTINGS
@given(document=JSON_VALUES)
def test_random_json_documents(loaded_model, document):
    status, _ = answer_of(loaded_model, json.dumps(document).encode(), "application/json")
    assert status == 400


@FUZZ_SETTINGS
@given(instances=st.lists(JSON_VALUES, min_size=1, max_size=4))
def test_random_instances(loaded_model, instances):
    answer_of(loaded_model, json.dumps({"instances": instances}), "application/json")


@FUZZ_SETTINGS
@given(
    rows=st.lists(st.lists(JSON_SCALARS, max_size=10), min_size=1, max_size=4),
    as_objects=st.booleans(),
    content_type=st.sampled_from(["application/json", "text/csv"]),
)
def test_rows_of_wrong_shapes_and_types(loaded_model, rows, as_objects, content_type):
    if content_type == "text/csv":
        body = "\n".join(",".join(str(value) for value in row) for row in rows)
    elif as_objects:
        body = json.dumps({"instances": [dict(zip(FEATURE_NAMES, row, strict=False)) for row in rows]})
    else:
        body = json.dumps({"instances": rows})
    answer_of(loaded_model, body, content_type)


@FUZZ_SETTINGS
@given(position=st.integers(0, len(SAMPLE_ROW) - 1), value=JSON_SCALARS, csv_text=st.text(max_size=80))
def test_one_corrupted_value_in_a_valid_row(loaded_model, position, value, csv_text):
    row = list(SAMPLE_ROW)
    row[position] = value
    answer_of(loaded_model, json.dumps({"instances": [SAMPLE_ROW, row]}), "application/json")
    answer_of(loaded_model, csv_text, "text/csv")

"""monitoring/capture.py line by line: each field SageMaker writes, each reason and message, the caches.

Capture line fields (captureData.endpointInput/endpointOutput with observedContentType, mode, data and
encoding CSV, JSON or BASE64; eventMetadata.inferenceTime in UTC with a Z):
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from monitoring import capture
from monitoring.capture import (
    Captured,
    CaptureDecoder,
    MalformedRecord,
    RefusedRequest,
    content_kind,
    inference_time_key,
    read_line,
    time_key,
)

FEATURES = ("a", "b", "c")
WHEN = "2026-11-28T03:15:42Z"
OUTPUT = {"classes": [0, 1], "probabilities": [[0.25, 0.75]]}


@pytest.fixture(autouse=True)
def _fresh_hours() -> Iterator[None]:
    capture._known_hours.clear()
    yield
    capture._known_hours.clear()


def _side(
    data: Any, encoding: Any = "CSV", content_type: Any = "text/csv", mode: str = "INPUT"
) -> dict[str, Any]:
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def _json_in(payload: Any) -> Captured:
    return Captured("application/json", json.dumps(payload), "JSON")


def _json_out(payload: Any) -> Captured:
    return Captured("application/json", json.dumps(payload), "JSON")


def _line(input_side: Any = None, output_side: Any = None, when: Any = WHEN, **extra: Any) -> str:
    document: dict[str, Any] = {
        "captureData": {
            "endpointInput": input_side if input_side is not None else _side("1,2,x"),
            "endpointOutput": output_side
            if output_side is not None
            else _side(json.dumps(OUTPUT), "JSON", "application/json", "OUTPUT"),
        },
        "eventMetadata": {"eventId": "e-1", "inferenceTime": when},
        "eventVersion": "0",
    }
    document.update(extra)
    return json.dumps(document)


def _malformed(call: Any, *args: Any) -> MalformedRecord:
    with pytest.raises(MalformedRecord) as raised:
        call(*args)
    return raised.value


def test_the_reasons_are_stable_metric_labels() -> None:
    assert capture.MALFORMED_REASONS == (
        "bad_json",
        "missing_field",
        "bad_inference_time",
        "late_or_skewed_time",
        "unknown_encoding",
        "bad_base64",
        "unsupported_content_type",
        "bad_csv",
        "bad_instances",
        "empty_payload",
        "wrong_feature_count",
        "unknown_feature",
        "missing_feature",
        "bad_value",
        "bad_output",
        "row_count_mismatch",
        "unexpected_error",
    )
    assert (capture.CSV_KIND, capture.JSON_KIND, capture.OTHER_LABEL) == ("csv", "json", "other")
    assert (capture.MAX_CONTENT_TYPES, capture.MAX_KNOWN_HOURS) == (64, 4096)


def test_errors_carry_reason_message_and_time() -> None:
    error = MalformedRecord("bad_csv", "endpointInput: oops")
    assert (str(error), error.reason, error.time_key) == ("bad_csv: endpointInput: oops", "bad_csv", None)
    assert MalformedRecord("x", "y", "2026-11-28T03:15:42").time_key == "2026-11-28T03:15:42"
    refused = RefusedRequest("bad_value", "a")
    assert str(refused) == "the endpoint refused the request (bad_value on a)"
    assert (refused.code, refused.field) == ("bad_value", "a")


def test_read_line_builds_the_typed_view() -> None:
    record = read_line(_line())
    assert record.eventMetadata is not None and record.eventMetadata.inferenceTime == WHEN
    assert record.captureData is not None and record.captureData.endpointInput is not None
    assert record.captureData.endpointInput == Captured("text/csv", "1,2,x", "CSV")


def test_read_line_decodes_odd_shapes_untyped_to_the_same_view() -> None:
    odd = read_line(_line(input_side="text", output_side=[1]))
    assert odd.captureData == capture.CaptureData(None, None)
    assert odd.eventMetadata == capture.EventMetadata(WHEN)
    no_capture = read_line(json.dumps({"captureData": [], "eventMetadata": ["x"]}))
    assert (no_capture.captureData, no_capture.eventMetadata) == (None, None)
    mixed = read_line(
        json.dumps({"captureData": {"endpointInput": {"data": "1"}, "endpointOutput": 3}, "eventMetadata": 2})
    )
    assert mixed.captureData == capture.CaptureData(Captured(None, "1", None), None)
    assert mixed.eventMetadata is None


def test_read_line_refuses_what_is_not_a_json_object() -> None:
    error = _malformed(read_line, "[1, 2]")
    assert str(error) == "bad_json: line: expected a JSON object"
    error = _malformed(read_line, '{"captureData": 1')
    assert error.reason == "bad_json" and str(error).startswith("bad_json: line is not valid JSON (")
    error = _malformed(read_line, '{"captureData": []} x')
    assert error.reason == "bad_json" and str(error).startswith("bad_json: line is not valid JSON (")


def test_time_key_needs_a_zone_and_gives_utc_seconds() -> None:
    moment = datetime(2026, 11, 28, 5, 15, 42, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert time_key(moment) == "2026-11-28T03:15:42"
    naive = datetime(2026, 11, 28, 3, 15, 42)
    with pytest.raises(ValueError) as raised:
        time_key(naive)
    assert str(raised.value) == f"expected a timezone-aware datetime, got {naive!r}"


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2026-11-28T03:15:42.123456789Z", "2026-11-28T03:15:42"),
        ("2026-11-28T23:59:59-00:30", "2026-11-29T00:29:59"),
        ("2026-11-28T03:15:42.5+05:30", "2026-11-27T21:45:42"),
        ("2026-11-28T03:15:42.5Z", "2026-11-28T03:15:42"),
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00"),
    ],
)
def test_inference_time_keys(value: str, key: str) -> None:
    assert inference_time_key(value) == key
    # The second read of a known hour gives the same key.
    assert inference_time_key(value) == key


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-28T03:15:42.1234567890Z",
        "2026-11-28T03:15:42z",
        "2026-11-28T03:15:42+0100",
        "2025-02-29T00:00:00Z",
        "2025-02-29T00:00:00+00:00",
        "x2026-11-28T03:15:42Z",
        "2026-11-28T03:15:42Zx",
        42,
    ],
)
def test_inference_times_that_are_refused(value: object) -> None:
    error = _malformed(inference_time_key, value)
    assert error.reason == "bad_inference_time"
    assert str(error) == (
        "bad_inference_time: eventMetadata.inferenceTime: expected an ISO 8601 time like "
        f"2026-11-28T03:15:42Z, got {value!r}"
    )


def test_a_long_refused_time_is_cut_to_80_characters() -> None:
    value = "9" * 200
    message = str(_malformed(inference_time_key, value))
    assert message.endswith(f"got {repr(value)[:80]}")


def test_hour_validity_is_remembered_and_the_memory_is_bounded() -> None:
    assert inference_time_key("2026-11-28T03:15:42Z") == "2026-11-28T03:15:42"
    assert capture._known_hours == {"2026-11-28T03": True}
    _malformed(inference_time_key, "2026-02-30T03:00:00Z")
    assert capture._known_hours == {"2026-11-28T03": True, "2026-02-30T03": False}
    # A remembered verdict is trusted, both ways.
    capture._known_hours["2026-02-31T03"] = True
    assert inference_time_key("2026-02-31T03:00:00Z") == "2026-02-31T03:00:00"
    capture._known_hours["2026-11-28T04"] = False
    _malformed(inference_time_key, "2026-11-28T04:00:00Z")
    _malformed(inference_time_key, "2026-11-28T04:00:00+00:00")
    capture._known_hours.clear()
    capture._known_hours.update({f"h{number}": True for number in range(capture.MAX_KNOWN_HOURS - 1)})
    inference_time_key("2026-11-28T05:00:00Z")
    assert len(capture._known_hours) == capture.MAX_KNOWN_HOURS
    inference_time_key("2026-11-28T06:00:00Z")
    assert capture._known_hours == {"2026-11-28T06": True}


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("text/csv", "csv"),
        (" TEXT/CSV ; charset=utf-8", "csv"),
        ("text/csv;header=present;x=y", "csv"),
        ("application/json", "json"),
        ("Application/JSON;charset=utf-8", "json"),
        ("application/vnd.sagemaker+json", "json"),
        ("application/jsonlines", None),
        ("text/csvx", None),
        ("text/plain", None),
        ("", None),
        (None, None),
        (["text/csv"], None),
    ],
)
def test_content_kinds(content_type: object, kind: str | None) -> None:
    assert content_kind(content_type) == kind


def test_a_decoder_needs_features() -> None:
    with pytest.raises(ValueError) as raised:
        CaptureDecoder([])
    assert str(raised.value) == "feature_names: expected at least one feature"
    decoder = CaptureDecoder(["a"])
    assert (decoder.feature_names, decoder.positive_class) == (("a",), 1)


def test_envelope_gives_time_input_and_output() -> None:
    key, captured_input, captured_output = CaptureDecoder(FEATURES).envelope(_line().encode())
    assert key == "2026-11-28T03:15:42"
    assert captured_input == Captured("text/csv", "1,2,x", "CSV")
    assert captured_output.encoding == "JSON"
    # Again, once the hour is known, and with an offset time.
    assert CaptureDecoder(FEATURES).envelope(_line())[0] == "2026-11-28T03:15:42"
    assert CaptureDecoder(FEATURES).envelope(_line(when="2026-11-28T04:15:42+01:00"))[0] == (
        "2026-11-28T03:15:42"
    )


def test_envelope_trusts_a_known_hour_only_for_the_utc_form() -> None:
    capture._known_hours["2026-02-30T03"] = True
    assert CaptureDecoder(FEATURES).envelope(_line(when="2026-02-30T03:00:00Z"))[0] == "2026-02-30T03:00:00"
    capture._known_hours["2026-11-28T03"] = False
    assert _malformed(CaptureDecoder(FEATURES).envelope, _line()).reason == "bad_inference_time"


@pytest.mark.parametrize(
    ("line", "message", "key"),
    [
        (json.dumps({"captureData": {}}), "missing_field: expected eventMetadata.inferenceTime", None),
        (_line(when=None), "missing_field: expected eventMetadata.inferenceTime", None),
        (
            json.dumps({"eventMetadata": {"inferenceTime": WHEN}}),
            "missing_field: expected objects captureData.endpointInput and captureData.endpointOutput",
            "2026-11-28T03:15:42",
        ),
        (
            _line(input_side=[]),
            "missing_field: expected objects captureData.endpointInput and captureData.endpointOutput",
            "2026-11-28T03:15:42",
        ),
        (
            _line(output_side="x"),
            "missing_field: expected objects captureData.endpointInput and captureData.endpointOutput",
            "2026-11-28T03:15:42",
        ),
        ("[]", "bad_json: line: expected a JSON object", None),
    ],
)
def test_envelope_names_what_is_missing(line: str, message: str, key: str | None) -> None:
    error = _malformed(CaptureDecoder(FEATURES).envelope, line)
    assert (str(error), error.time_key) == (message, key)


def test_payload_formats_follow_encoding_and_content_type() -> None:
    decoder = CaptureDecoder(FEATURES)
    # A textual encoding with a known type: the type says csv or json.
    assert decoder.input_rows(Captured("application/json", '{"instances": [[1, 2, 3]]}', "CSV")) == [
        [1, 2, 3]
    ]
    assert decoder.input_rows(Captured("text/csv", "1,2,3", "JSON")) == [["1", "2", "3"]]
    # Without a known type, the encoding says what the text is.
    assert decoder.input_rows(Captured("text/plain", "1,2,3", "CSV")) == [["1", "2", "3"]]
    assert decoder.input_rows(Captured(None, '{"instances": [[1, 2, 3]]}', "JSON")) == [[1, 2, 3]]
    encoded = base64.b64encode(b"4,5,6\n").decode()
    assert decoder.input_rows(Captured("text/csv", encoded, "BASE64")) == [["4", "5", "6"]]
    assert decoder._formats == {
        ("CSV", "application/json"): ("json", False),
        ("JSON", "text/csv"): ("csv", False),
        ("CSV", "text/plain"): ("csv", False),
        ("BASE64", "text/csv"): ("csv", True),
    }
    # The remembered format is used again.
    assert decoder.input_rows(Captured("text/csv", encoded, "BASE64")) == [["4", "5", "6"]]


def test_remembered_formats_are_bounded() -> None:
    decoder = CaptureDecoder(FEATURES)
    for number in range(capture.MAX_CONTENT_TYPES + 3):
        decoder.input_rows(Captured(f"text/csv; n={number}", "1,2,3", "CSV"))
    assert len(decoder._formats) == capture.MAX_CONTENT_TYPES
    assert ("CSV", f"text/csv; n={capture.MAX_CONTENT_TYPES - 1}") in decoder._formats


@pytest.mark.parametrize(
    ("captured", "message"),
    [
        (
            Captured("text/csv", "1,2,3", "UTF-8"),
            "unknown_encoding: endpointInput.encoding: expected CSV, JSON or BASE64, got 'UTF-8'",
        ),
        (
            Captured("text/csv", "1,2,3", "csv"),
            "unknown_encoding: endpointInput.encoding: expected CSV, JSON or BASE64, got 'csv'",
        ),
        (
            Captured("text/csv", "1,2,3", None),
            "unknown_encoding: endpointInput.encoding: expected CSV, JSON or BASE64, got None",
        ),
        (
            Captured("text/csv", "1,2,3", ["CSV"]),
            "unknown_encoding: endpointInput.encoding: expected CSV, JSON or BASE64, got ['CSV']",
        ),
        (
            Captured("text/csv", "1,2,3", "X" * 100),
            "unknown_encoding: endpointInput.encoding: expected CSV, JSON or BASE64, got '" + "X" * 79,
        ),
        (
            Captured("image/png", "AAAA", "BASE64"),
            "unsupported_content_type: endpointInput.observedContentType: expected text/csv or JSON, "
            "got 'image/png'",
        ),
        (
            Captured({"t": 1}, "AAAA", "BASE64"),
            "unsupported_content_type: endpointInput.observedContentType: expected text/csv or JSON, "
            "got {'t': 1}",
        ),
        (Captured("text/csv", 5, "CSV"), "missing_field: endpointInput.data: expected a string, got 5"),
        (Captured("text/csv", None, "CSV"), "missing_field: endpointInput.data: expected a string, got None"),
        (Captured("text/csv", "", "CSV"), "empty_payload: endpointInput: no rows"),
        (Captured("text/csv", "\n", "CSV"), "empty_payload: endpointInput: no rows"),
        (Captured("text/csv", "  \t", "CSV"), "empty_payload: endpointInput: no rows"),
        (Captured("text/csv", "\n \n\n", "CSV"), "empty_payload: endpointInput: no rows"),
        (
            Captured("text/csv", '""\r\n', "CSV"),
            "wrong_feature_count: endpointInput row 0: expected 3 values, got 1",
        ),
        (
            Captured("text/csv", "1,2", "CSV"),
            "wrong_feature_count: endpointInput row 0: expected 3 values, got 2",
        ),
        (
            Captured("text/csv", "1,2\n", "CSV"),
            "wrong_feature_count: endpointInput row 0: expected 3 values, got 2",
        ),
        (
            Captured("text/csv", "1,2,3\n1,2,3,4\n", "CSV"),
            "wrong_feature_count: endpointInput row 1: expected 3 values, got 4",
        ),
        (
            Captured("text/csv", '1,2,3\r\n"1",2', "CSV"),
            "wrong_feature_count: endpointInput row 1: expected 3 values, got 2",
        ),
        (Captured("application/json", "", "JSON"), "bad_instances: endpointInput is not valid JSON ("),
        (Captured("application/json", '{"instances": []}', "JSON"), "empty_payload: endpointInput: no rows"),
        (
            Captured("application/json", '{"instances": [[1, 2, 3], [1, 2]]}', "JSON"),
            "wrong_feature_count: endpointInput instance 1: expected 3 values, got 2",
        ),
        (
            Captured("application/json", '{"instances": [[1, 2], 7]}', "JSON"),
            "wrong_feature_count: endpointInput instance 0: expected 3 values, got 2",
        ),
        (
            Captured("application/json", '{"instances": [[1, 2, 3], 7]}', "JSON"),
            "bad_instances: endpointInput instance 1: expected a list or an object, got 7",
        ),
        (
            Captured("application/json", '{"instances": [[1, 2, 3], "' + "s" * 100 + '"]}', "JSON"),
            "bad_instances: endpointInput instance 1: expected a list or an object, got '" + "s" * 79,
        ),
        (
            Captured("application/json", '{"instances": {"a": 1}}', "JSON"),
            'bad_instances: endpointInput: expected {"instances": [...]}',
        ),
        (
            Captured("application/json", "[[1, 2, 3]]", "JSON"),
            'bad_instances: endpointInput: expected {"instances": [...]}',
        ),
        (
            Captured("application/json", "{}", "JSON"),
            'bad_instances: endpointInput: expected {"instances": [...]}',
        ),
        (
            Captured("application/json", '{"instances": [{"a": 1, "c": 3}]}', "JSON"),
            "missing_feature: endpointInput instance 0: missing feature 'b'",
        ),
        (
            Captured("application/json", '{"instances": [[1, 2, 3], {"c": 3, "z": 0}]}', "JSON"),
            "missing_feature: endpointInput instance 1: missing feature 'a'",
        ),
        (
            Captured("application/json", '{"instances": [{"a": 1, "b": 2, "c": 3, "z": 0, "y": 0}]}', "JSON"),
            "unknown_feature: endpointInput instance 0: unknown features ['y', 'z']; expected ['a', 'b', 'c']",
        ),
    ],
)
def test_unusable_inputs_are_named(captured: Captured, message: str) -> None:
    error = _malformed(CaptureDecoder(FEATURES).input_rows, captured)
    assert str(error).startswith(message)
    assert str(error) == message or message.endswith(("X" * 79, "s" * 79, "("))


@pytest.mark.parametrize(
    ("captured", "reason", "start"),
    [
        (
            Captured("text/csv", "!!", "BASE64"),
            "bad_base64",
            "bad_base64: endpointInput.data: invalid base64 UTF-8 payload (",
        ),
        (
            Captured("text/csv", base64.b64encode(b"\xff,1,2").decode(), "BASE64"),
            "bad_base64",
            "bad_base64: endpointInput.data: invalid base64 UTF-8 payload (",
        ),
        (Captured("text/csv", '1,"2,3', "CSV"), "bad_csv", "bad_csv: endpointInput: invalid CSV ("),
        (
            Captured("application/json", '{"instances": [[1, 2, 3]', "JSON"),
            "bad_instances",
            "bad_instances: endpointInput is not valid JSON (",
        ),
        (
            Captured("application/json", '{"instances": [7, ]}', "JSON"),
            "bad_instances",
            "bad_instances: endpointInput is not valid JSON (",
        ),
    ],
)
def test_undecodable_inputs_say_why(captured: Captured, reason: str, start: str) -> None:
    error = _malformed(CaptureDecoder(FEATURES).input_rows, captured)
    assert error.reason == reason
    assert str(error).startswith(start) and str(error).endswith(")")


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("1,2,3", [["1", "2", "3"]]),
        ("1,2,3\n", [["1", "2", "3"]]),
        ("1,2,3\n4,5,6", [["1", "2", "3"], ["4", "5", "6"]]),
        ("1,2,3\n4,5,6\n", [["1", "2", "3"], ["4", "5", "6"]]),
        ("\n1,2,3", [["1", "2", "3"]]),
        ('"1",2,"a,b"', [["1", "2", "a,b"]]),
        ('1,2,3\r\n \r\n"4",5,6\r\n', [["1", "2", "3"], ["4", "5", "6"]]),
        ("1,2,3\r\n", [["1", "2", "3"]]),
    ],
)
def test_csv_rows(text: str, rows: list[list[str]]) -> None:
    assert CaptureDecoder(FEATURES).input_rows(Captured("text/csv", text, "CSV")) == rows


def test_json_rows_typed_and_untyped() -> None:
    decoder = CaptureDecoder(FEATURES)
    typed = decoder.input_rows(_json_in({"instances": [[1, 2, 3], {"c": 3, "b": 2, "a": 1}]}))
    assert typed == [[1, 2, 3], (1, 2, 3)]
    assert [type(row) for row in typed] == [list, tuple]
    # A shape the typed view cannot hold (a null feature object key order is fine; a scalar is not) goes
    # untyped and gives lists.
    untyped = decoder._untyped_json_rows('{"instances": [[1, 2, 3], {"c": 3, "b": 2, "a": 1}]}')
    assert untyped == [[1, 2, 3], [1, 2, 3]]


def _probabilities(output: Any, decoder: CaptureDecoder | None = None) -> list[Any]:
    return (decoder or CaptureDecoder(FEATURES)).positive_probabilities(_json_out(output))


def test_the_positive_class_is_found_by_label() -> None:
    assert _probabilities({"classes": [1, 0], "probabilities": [[0.9, 0.1], [0.2, 0.8]]}) == [0.9, 0.2]
    assert _probabilities({"classes": ["0", "1"], "probabilities": [[0.3, 0.7]]}) == [0.7]
    assert _probabilities({"classes": [0, 1], "probabilities": []}) == []
    zero = CaptureDecoder(FEATURES, positive_class=0)
    assert _probabilities({"classes": [1, 0, 2], "probabilities": [[0.1, 0.6, 0.3]]}, zero) == [0.6]


def test_the_last_classes_and_known_orders_are_remembered() -> None:
    decoder = CaptureDecoder(FEATURES)
    assert _probabilities({"classes": [1, 0], "probabilities": [[0.9, 0.1]]}, decoder) == [0.9]
    assert (decoder._classes, decoder._position, decoder._positive_index) == ([1, 0], 0, {(1, 0): 0})
    assert _probabilities({"classes": [0, 1], "probabilities": [[0.9, 0.1]]}, decoder) == [0.1]
    assert (decoder._classes, decoder._position) == ([0, 1], 1)
    assert _probabilities({"classes": [1, 0], "probabilities": [[0.4, 0.6]]}, decoder) == [0.4]
    assert decoder._positive_index == {(1, 0): 0, (0, 1): 1}
    for number in range(capture.MAX_CONTENT_TYPES + 2):
        _probabilities({"classes": [1, f"c{number}"], "probabilities": [[0.5, 0.5]]}, decoder)
    assert len(decoder._positive_index) == capture.MAX_CONTENT_TYPES
    assert (1, f"c{capture.MAX_CONTENT_TYPES - 3}") in decoder._positive_index


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            {"classes": [0, 1]},
            'bad_output: endpointOutput: expected {"classes": [...], "probabilities": [...]}',
        ),
        (
            {"classes": "01", "probabilities": [[0.5, 0.5]]},
            'bad_output: endpointOutput: expected {"classes": [...], "probabilities": [...]}',
        ),
        (
            {"classes": [0, 1], "probabilities": {"1": 0.5}},
            'bad_output: endpointOutput: expected {"classes": [...], "probabilities": [...]}',
        ),
        (
            {"classes": [[0], [1]], "probabilities": [[0.5, 0.5]]},
            "bad_output: endpointOutput.classes: expected labels, got [[0], [1]]",
        ),
        (
            {"classes": [0, 2], "probabilities": [[0.5, 0.5]]},
            "bad_output: endpointOutput.classes: expected to contain 1, got [0, 2]",
        ),
        (
            {"classes": [False, True], "probabilities": [[0.5, 0.5]]},
            "bad_output: endpointOutput.classes: expected to contain 1, got [False, True]",
        ),
        (
            {"classes": [0, 1], "probabilities": [[0.5, 0.5], [0.5]]},
            "bad_output: endpointOutput.probabilities: expected rows of 2 numbers, got [0.5]",
        ),
        (
            {"classes": [0, 1], "probabilities": [0.5, 0.5]},
            "bad_output: endpointOutput.probabilities: expected rows of 2 numbers, got 0.5",
        ),
        ([0.5], "bad_output: endpointOutput: expected a JSON object"),
        ({"classes": [0, 1], "error": "boom", "probabilities": [[0.5, 0.5]]}, None),
    ],
)
def test_unusable_outputs_are_named(output: Any, message: str | None) -> None:
    decoder = CaptureDecoder(FEATURES)
    if message is None:
        assert _probabilities(output, decoder) == [0.5]
        return
    error = _malformed(_probabilities, output, decoder)
    assert str(error) == message


def test_outputs_that_are_not_json_are_named() -> None:
    decoder = CaptureDecoder(FEATURES)
    error = _malformed(decoder.positive_probabilities, Captured("text/csv", "0.5", "CSV"))
    assert str(error) == "bad_output: endpointOutput: expected a JSON response, got csv"
    error = _malformed(decoder.positive_probabilities, Captured("application/json", "{", "JSON"))
    assert str(error).startswith("bad_output: endpointOutput is not valid JSON (")
    error = _malformed(decoder.positive_probabilities, Captured("application/json", 5, "JSON"))
    assert str(error) == "missing_field: endpointOutput.data: expected a string, got 5"
    encoded = base64.b64encode(json.dumps(OUTPUT).encode()).decode()
    assert decoder.positive_probabilities(Captured("application/json", encoded, "BASE64")) == [0.75]


@pytest.mark.parametrize(
    ("error", "code", "field"),
    [
        ({"code": "unknown_category", "field": "c"}, "unknown_category", "c"),
        ({"code": "bad.value-1", "field": "a_b"}, "bad.value-1", "a_b"),
        ({"code": "x" * 64, "field": None}, "x" * 64, "none"),
        ({"code": "x" * 65}, "other", "none"),
        ({"code": "two words", "field": 3}, "other", "other"),
        ({"code": "", "field": "é"}, "other", "other"),
        ({}, "none", "none"),
        ("timeout", "timeout", "none"),
        (None, "none", "none"),
        (["a"], "other", "none"),
    ],
)
def test_an_error_body_is_a_refusal_with_plain_labels(error: Any, code: str, field: str) -> None:
    with pytest.raises(RefusedRequest) as raised:
        _probabilities({"error": error})
    assert (raised.value.code, raised.value.field) == (code, field)


def test_rows_and_probabilities_pair_one_to_one() -> None:
    decoder = CaptureDecoder(FEATURES)
    two = _json_out({"classes": [0, 1], "probabilities": [[0.4, 0.6], [0.1, 0.9]]})
    rows, probabilities = decoder.rows_and_probabilities(Captured("text/csv", "1,2,3\n4,5,6", "CSV"), two)
    assert (rows, probabilities) == ([["1", "2", "3"], ["4", "5", "6"]], [0.6, 0.9])
    rows, _ = decoder.rows_and_probabilities(_json_in({"instances": [[1, 2, 3], [4, 5, 6]]}), two)
    assert rows == [[1, 2, 3], [4, 5, 6]]
    error = _malformed(decoder.rows_and_probabilities, Captured("text/csv", "1,2,3", "CSV"), two)
    assert str(error) == "row_count_mismatch: endpointInput has 1 rows but endpointOutput 2"
    error = _malformed(decoder.rows_and_probabilities, Captured("text/csv", "\n", "CSV"), two)
    assert str(error) == "empty_payload: endpointInput: no rows"
    error = _malformed(
        decoder.rows_and_probabilities, Captured("text/csv", "1", "CSV"), _json_out({"classes": [0]})
    )
    assert error.reason == "bad_output", "the output is read before the input"


def test_a_first_response_without_classes_is_bad_output_not_a_crash() -> None:
    # Before the fix, the remembered classes (None) matched the missing classes and len(None) raised
    # TypeError, which the engine's safety net counted as unexpected_error.
    decoder = CaptureDecoder(FEATURES)
    with pytest.raises(MalformedRecord) as raised:
        decoder.positive_probabilities(Captured("application/json", '{"probabilities": [[0.5]]}', "JSON"))
    assert str(raised.value) == (
        'bad_output: endpointOutput: expected {"classes": [...], "probabilities": [...]}'
    )

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from monitoring import capture
from monitoring.capture import CaptureDecoder, MalformedRecord, RefusedRequest, inference_time_key
from tests.monitoring.monitoring_synthetic import FEATURES, capture_line

ROWS = [[12, 70.5, "one-year", 2, "fiber"], [40, 20.25, "two-year", 0, "dsl"]]
WHEN = datetime(2026, 11, 28, 3, 15, 42, tzinfo=UTC)


def decode(line: str | bytes) -> tuple[str, list[Sequence[Any]], list[Any]]:
    decoder = CaptureDecoder(FEATURES)
    key, captured_input, captured_output = decoder.envelope(line)
    rows, probabilities = decoder.rows_and_probabilities(captured_input, captured_output)
    return key, rows, probabilities


def reason_of(line: str | bytes) -> str:
    with pytest.raises(MalformedRecord) as raised:
        decode(line)
    assert raised.value.reason in capture.MALFORMED_REASONS
    return raised.value.reason


@pytest.mark.parametrize(
    ("content", "encoding", "instances"),
    [
        ("csv", "CSV", "lists"),
        ("json", "JSON", "lists"),
        ("json", "JSON", "objects"),
        ("json", "BASE64", "objects"),
        ("csv", "BASE64", "lists"),
    ],
)
def test_every_encoding_decodes_to_rows_in_schema_order(content: str, encoding: str, instances: str) -> None:
    key, rows, probabilities = decode(
        capture_line(ROWS, WHEN, content=content, encoding=encoding, instances=instances)
    )
    assert key == "2026-11-28T03:15:42"
    assert [[str(v) for v in row] for row in rows] == [[str(v) for v in row] for row in ROWS]
    assert len(probabilities) == 2 and all(0.0 <= p <= 1.0 for p in probabilities)


def test_bytes_lines_and_base64_output_decode_too() -> None:
    line = capture_line(ROWS, WHEN, output_encoding="BASE64").encode()
    assert decode(line)[1] == [[str(v) for v in row] for row in ROWS]


def _record(
    input_data: str,
    *,
    encoding: str = "CSV",
    content_type: str = "text/csv",
    output: dict[str, Any] | None = None,
) -> str:
    output = output if output is not None else {"classes": [0, 1], "probabilities": [[0.25, 0.75]]}
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": input_data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "application/json; charset=utf-8",
                    "mode": "OUTPUT",
                    "data": json.dumps(output),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": "e-1", "inferenceTime": "2026-11-28T03:15:42Z"},
            "eventVersion": "0",
        }
    )


def test_positive_probability_follows_the_classes_order() -> None:
    line = _record("1,2,one-year,0,dsl", output={"classes": [1, 0], "probabilities": [[0.9, 0.1]]})
    assert decode(line)[2] == [0.9]


def test_quoted_csv_fields_are_parsed_as_csv() -> None:
    assert decode(_record('1,2,"one-year",0,"fiber, optic"'))[1] == [
        ["1", "2", "one-year", "0", "fiber, optic"]
    ]


def test_content_type_parameters_are_ignored() -> None:
    line = _record(
        '{"instances": [[1, 2, "one-year", 0, "dsl"]]}',
        encoding="JSON",
        content_type="Application/JSON; charset=utf-8",
    )
    assert decode(line)[1] == [[1, 2, "one-year", 0, "dsl"]]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", capture.BAD_JSON),
        (b"\xff\xfe{}", capture.BAD_JSON),
        ("[1, 2]", capture.BAD_JSON),
        ('{"captureData": {}} trailing', capture.BAD_JSON),
        ('{"captureData": {"endpointInput": {}}}', capture.MISSING_FIELD),
        (_record("1,2,one-year,0,dsl", encoding="UTF-16"), capture.UNKNOWN_ENCODING),
        (_record("!!!not base64!!!", encoding="BASE64"), capture.BAD_BASE64),
        (_record(base64.b64encode(b"\xff\xfe").decode(), encoding="BASE64"), capture.BAD_BASE64),
        (
            _record("AAAA", encoding="BASE64", content_type="application/x-npy"),
            capture.UNSUPPORTED_CONTENT_TYPE,
        ),
        (_record("1,2,one-year,0"), capture.WRONG_FEATURE_COUNT),
        (_record("1,2,one-year,0,dsl\n1,2,one-year,0,dsl,extra"), capture.WRONG_FEATURE_COUNT),
        (_record('1,2,"one-year,0,dsl'), capture.BAD_CSV),
        (_record(""), capture.EMPTY_PAYLOAD),
        (_record('{"rows": []}', encoding="JSON", content_type="application/json"), capture.BAD_INSTANCES),
        (
            _record('{"instances": [7]}', encoding="JSON", content_type="application/json"),
            capture.BAD_INSTANCES,
        ),
        (
            _record('{"instances": [[1, 2]]}', encoding="JSON", content_type="application/json"),
            capture.WRONG_FEATURE_COUNT,
        ),
        (_record("{bad", encoding="JSON", content_type="application/json"), capture.BAD_INSTANCES),
        (
            _record(
                json.dumps(
                    {
                        "instances": [
                            dict(zip(FEATURES, [1, 2, "one-year", 0, "dsl"], strict=True)) | {"region": "eu"}
                        ]
                    }
                ),
                encoding="JSON",
                content_type="application/json",
            ),
            capture.UNKNOWN_FEATURE,
        ),
        (
            _record(
                json.dumps({"instances": [{"tenure_months": 1}]}),
                encoding="JSON",
                content_type="application/json",
            ),
            capture.MISSING_FEATURE,
        ),
        (_record("1,2,one-year,0,dsl", output={"model_version": "v1"}), capture.BAD_OUTPUT),
        (
            _record("1,2,one-year,0,dsl", output={"classes": [0, 2], "probabilities": [[0.5, 0.5]]}),
            capture.BAD_OUTPUT,
        ),
        (
            _record("1,2,one-year,0,dsl", output={"classes": [0, 1], "probabilities": [[0.5]]}),
            capture.BAD_OUTPUT,
        ),
        (
            _record(
                "1,2,one-year,0,dsl", output={"classes": [0, 1], "probabilities": [[0.5, 0.5], [0.5, 0.5]]}
            ),
            capture.ROW_COUNT_MISMATCH,
        ),
        (
            _record("1,2,one-year,0,dsl").replace("2026-11-28T03:15:42Z", "yesterday"),
            capture.BAD_INFERENCE_TIME,
        ),
        (
            _record("1,2,one-year,0,dsl").replace('"2026-11-28T03:15:42Z"', "12345"),
            capture.BAD_INFERENCE_TIME,
        ),
    ],
)
def test_malformed_lines_raise_a_stable_reason(line: str | bytes, reason: str) -> None:
    assert reason_of(line) == reason


def test_malformed_messages_say_what_was_expected() -> None:
    with pytest.raises(
        MalformedRecord, match=r"endpointInput\.encoding: expected CSV, JSON or BASE64, got 'UTF-16'"
    ):
        decode(_record("1", encoding="UTF-16"))
    with pytest.raises(MalformedRecord, match="expected 5 values, got 4"):
        decode(_record("1,2,one-year,0"))


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2026-11-28T03:15:42Z", "2026-11-28T03:15:42"),
        ("2026-11-28T03:15:42.123Z", "2026-11-28T03:15:42"),
        ("2026-11-28T03:15:42+00:00", "2026-11-28T03:15:42"),
        ("2026-11-28T05:15:42+02:00", "2026-11-28T03:15:42"),
    ],
)
def test_inference_times_become_sortable_utc_keys(value: str, key: str) -> None:
    assert inference_time_key(value) == key


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-28T03:15:42",
        "2026-11-28 03:15",
        "Z" * 20,
        None,
        # issue 14 item 3: garbage digits used to pass as a time in the window
        "2026-11-28T03:1x:00Z",
        "2026-11-28T03:15:4\u0661Z",
        "2026-13-28T03:15:42Z",
        "2026-02-30T03:15:42Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T03:60:00Z",
        # issue 14 item 1: these used to raise OverflowError out of the decoder and abort the window
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:30:00-01:00",
    ],
)
def test_inference_times_without_a_zone_or_unparseable_are_rejected(value: object) -> None:
    with pytest.raises(MalformedRecord, match="inferenceTime"):
        inference_time_key(value)


def test_an_error_response_is_a_refused_request_with_its_code_and_field() -> None:
    refused = {"error": {"code": "unknown_category", "message": "...", "field": "contract"}}
    with pytest.raises(RefusedRequest) as raised:
        decode(_record("1,2,three-year,0,dsl", output=refused))
    assert (raised.value.code, raised.value.field) == ("unknown_category", "contract")
    hostile = {"error": {"code": "x" * 500, "field": {"nested": 1}}}
    with pytest.raises(RefusedRequest) as raised:
        decode(_record("1,2,one-year,0,dsl", output=hostile))
    assert (raised.value.code, raised.value.field) == ("other", "other")


@pytest.mark.parametrize(
    ("payload", "rows"),
    [
        # AWS's own capture samples carry CSV payloads with a trailing newline (issue 14 item 5)
        ("1,2,one-year,0,dsl\n", [["1", "2", "one-year", "0", "dsl"]]),
        (
            "1,2,one-year,0,dsl\r\n3,4,two-year,1,fiber\r\n",
            [["1", "2", "one-year", "0", "dsl"], ["3", "4", "two-year", "1", "fiber"]],
        ),
        (
            "1,2,one-year,0,dsl\n\n  \n3,4,two-year,1,fiber",
            [["1", "2", "one-year", "0", "dsl"], ["3", "4", "two-year", "1", "fiber"]],
        ),
        (" 1, 2 ,one-year,0,dsl", [[" 1", " 2 ", "one-year", "0", "dsl"]]),
    ],
)
def test_csv_payload_shapes_decode_to_these_rows(payload: str, rows: list[list[str]]) -> None:
    decoder = CaptureDecoder(FEATURES)
    assert decoder.input_rows(decoder.envelope(_record(payload))[1]) == rows


def test_json_payload_with_trailing_whitespace_decodes_and_with_trailing_garbage_does_not() -> None:
    good = _record(
        '{"instances": [[1, 2, "one-year", 0, "dsl"]]}  ', encoding="JSON", content_type="application/json"
    )
    assert decode(good)[1] == [[1, 2, "one-year", 0, "dsl"]]
    bad = _record(
        '{"instances": [[1, 2, "one-year", 0, "dsl"]]} x', encoding="JSON", content_type="application/json"
    )
    assert reason_of(bad) == capture.BAD_INSTANCES


def test_a_crlf_terminated_line_decodes() -> None:
    assert decode(_record("1,2,one-year,0,dsl") + "\r")[1] == [["1", "2", "one-year", "0", "dsl"]]


def test_an_unknown_content_type_is_unsupported_even_when_its_base64_is_binary() -> None:
    # issue 14 item 3: the type is checked before the bytes are decoded
    binary = base64.b64encode(bytes(range(256))).decode()
    assert reason_of(_record(binary, encoding="BASE64", content_type="application/x-npy")) == (
        capture.UNSUPPORTED_CONTENT_TYPE
    )


@pytest.mark.parametrize("when", ["2026-11-28T03:15:42Z", "2026-11-28T03:15:42.123Z"])
def test_a_record_without_endpoint_output_carries_its_time_whatever_the_time_format(when: str) -> None:
    # issue 14 item 4: the same record used to be "outside" or missing_field depending on the time's format
    record = json.loads(_record("1,2,one-year,0,dsl").replace("2026-11-28T03:15:42Z", when))
    del record["captureData"]["endpointOutput"]
    with pytest.raises(MalformedRecord) as raised:
        CaptureDecoder(FEATURES).envelope(json.dumps(record))
    assert (raised.value.reason, raised.value.time_key) == (capture.MISSING_FIELD, "2026-11-28T03:15:42")


def test_a_line_whose_time_cannot_be_read_carries_no_time() -> None:
    with pytest.raises(MalformedRecord) as raised:
        CaptureDecoder(FEATURES).envelope("{not json")
    assert raised.value.time_key is None


def test_a_400_digit_integer_is_an_unusable_value_not_a_crash() -> None:
    # issue 14 item 1: float() of such an int raises OverflowError
    from monitoring.drift import DriftAccumulator, InvalidValue, parse_baseline
    from tests.monitoring.monitoring_synthetic import training_baseline

    payload = json.dumps({"instances": [[int("9" * 400), 2, "one-year", 0, "dsl"]]})
    _, rows, probabilities = decode(_record(payload, encoding="JSON", content_type="application/json"))
    accumulator = DriftAccumulator(parse_baseline(training_baseline(count=500)), FEATURES)
    with pytest.raises(InvalidValue, match="tenure_months"):
        accumulator.add(rows, probabilities)
    assert accumulator.rows == 0


def test_json_objects_take_the_last_of_a_repeated_key_as_json_does() -> None:
    # RFC 8259 leaves repeated names open; Python's json and the untyped decoder keep the last value
    payload = '{"instances": [{"tenure_months": 1, "monthly_charges": 2, "contract": "one-year", '
    payload += '"support_calls": 0, "internet_service": "dsl", "tenure_months": 7}]}'
    line = _record(payload, encoding="JSON", content_type="application/json")
    assert decode(line)[1] == [(7, 2, "one-year", 0, "dsl")]


@pytest.mark.parametrize(
    ("instance", "reason"),
    [
        ({"a-b": 1}, capture.MISSING_FEATURE),
        ({"a-b": 1, "c d": "x", "e": 2}, capture.UNKNOWN_FEATURE),
        ({"a-b": 1, "C D": "x"}, capture.MISSING_FEATURE),
        (["a-b", "c d"], None),
        ("a-b", capture.BAD_INSTANCES),
    ],
)
def test_feature_names_that_are_not_identifiers_decode_from_objects(
    instance: object, reason: str | None
) -> None:
    decoder = CaptureDecoder(["a-b", "c d"])
    good = {"a-b": 1.5, "c d": "x"}
    payload = json.dumps({"instances": [good, instance]})
    line = _record(payload, encoding="JSON", content_type="application/json")
    if reason is None:
        assert decoder.input_rows(decoder.envelope(line)[1]) == [(1.5, "x"), ["a-b", "c d"]]
        return
    with pytest.raises(MalformedRecord) as raised:
        decoder.input_rows(decoder.envelope(line)[1])
    assert raised.value.reason == reason

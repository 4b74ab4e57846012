"""monitoring/capture.py at its edges: the untyped view of odd lines, line breaks in CSV payloads, offset
times in an hour already seen, responses that break the remembered classes, and the local time zone.

Capture line fields (captureData.endpointInput/endpointOutput with observedContentType, mode, data and
encoding CSV, JSON or BASE64; eventMetadata.inferenceTime in UTC with a Z):
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html (docs/formats.md, "Data capture")
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from monitoring import capture
from monitoring.capture import (
    Captured,
    CaptureData,
    CaptureDecoder,
    MalformedRecord,
    RefusedRequest,
    read_line,
    time_key,
)

FEATURES = ("a", "b", "c")
WHEN = "2026-11-28T03:15:42Z"
RESPONSE = json.dumps({"classes": [0, 1], "probabilities": [[0.25, 0.75]]})


@pytest.fixture(autouse=True)
def _fresh_hours() -> Iterator[None]:
    capture._known_hours.clear()
    yield
    capture._known_hours.clear()


def _side(content_type: str, data: str, encoding: str, mode: str) -> dict[str, str]:
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def _line(input_side: Any, output_side: Any, metadata: Any) -> str:
    return json.dumps(
        {
            "captureData": {"endpointInput": input_side, "endpointOutput": output_side},
            "eventMetadata": metadata,
            "eventVersion": "0",
        }
    )


def _malformed(call: Any, *args: Any) -> MalformedRecord:
    with pytest.raises(MalformedRecord) as caught:
        call(*args)
    return caught.value


def _out(payload: Any) -> Captured:
    return Captured("application/json", json.dumps(payload), "JSON")


# --- read_line: the untyped decoding gives the same view as the typed one -------------------------------------


def test_an_untyped_line_keeps_every_field_of_both_sides() -> None:
    # Each side is {observedContentType, mode, data, encoding}; BASE64 is one of the three encodings.
    request = _side("text/csv", base64.b64encode(b"1,2,x").decode(), "BASE64", "INPUT")
    response = _side("application/json", RESPONSE, "JSON", "OUTPUT")
    expected = CaptureData(
        Captured("text/csv", request["data"], "BASE64"), Captured("application/json", RESPONSE, "JSON")
    )
    # eventMetadata that is not an object fails the typed decoding, so the untyped one builds the view.
    untyped = read_line(_line(request, response, "not an object"))
    assert (untyped.captureData, untyped.eventMetadata) == (expected, None)
    typed = read_line(_line(request, response, {"eventId": "e1", "inferenceTime": WHEN}))
    assert typed.captureData == untyped.captureData


def test_an_untyped_side_without_fields_reads_as_nones() -> None:
    untyped = read_line(_line({"mode": "INPUT"}, {"mode": "OUTPUT"}, []))
    assert untyped.captureData == CaptureData(Captured(None, None, None), Captured(None, None, None))


def test_a_syntax_error_before_any_type_error_is_named() -> None:
    # The typed decoder meets the broken JSON before any field of the wrong type.
    for line in ("{", '{"captureData": {', "", "nonsense"):
        error = _malformed(read_line, line)
        assert error.reason == "bad_json"
        assert str(error).startswith("bad_json: line is not valid JSON (") and str(error).endswith(")")


# --- envelope: the known-hour shortcut is for SageMaker's own Z form only -----------------------------------------


def test_an_offset_time_in_a_known_hour_is_still_converted_to_utc() -> None:
    decoder = CaptureDecoder(FEATURES)
    request = _side("text/csv", "1,2,x", "CSV", "INPUT")
    response = _side("application/json", RESPONSE, "JSON", "OUTPUT")
    assert decoder.envelope(_line(request, response, {"inferenceTime": WHEN}))[0] == "2026-11-28T03:15:42"
    assert capture._known_hours == {"2026-11-28T03": True}
    shifted = _line(request, response, {"inferenceTime": "2026-11-28T03:15:42+02:00"})
    assert decoder.envelope(shifted)[0] == "2026-11-28T01:15:42"
    # A known hour does not make a malformed rest of the time acceptable either.
    broken = _line(request, response, {"inferenceTime": "2026-11-28T03:15:42 UTC"})
    assert _malformed(decoder.envelope, broken).reason == "bad_inference_time"


def test_time_key_gives_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    moment = datetime(2026, 11, 28, 5, 15, 42, tzinfo=timezone(timedelta(hours=2)))
    # A POSIX zone string (9 hours east of UTC), so no zone database is needed.
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    try:
        assert time.localtime(0).tm_hour == 9  # the process's zone really is UTC+9 here
        assert time_key(moment) == "2026-11-28T03:15:42"
    finally:
        monkeypatch.undo()
        time.tzset()


# --- CSV payloads: line breaks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        # A trailing blank line is no row, and the last value keeps no newline.
        ("1,2,3\n\n", [["1", "2", "3"]]),
        # Rows split at newlines only: a space belongs to its value.
        ("1, 2,x\n4,5,y", [["1", " 2", "x"], ["4", "5", "y"]]),
        # RFC 4180 section 2.6: a quoted field may hold a CRLF, which is part of the value.
        ('a,"x\r\ny",c\r\n', [["a", "x\r\ny", "c"]]),
        ('a,"x\ry",c\r\n', [["a", "x\ry", "c"]]),
        # A bare CR ends a row, as the endpoint reads it (serving/inference.py splits the body with splitlines).
        ("1,2,x\r4,5,y", [["1", "2", "x"], ["4", "5", "y"]]),
        ('"1",2,x\r4,5,y\r', [["1", "2", "x"], ["4", "5", "y"]]),
    ],
)
def test_csv_line_breaks(text: str, rows: list[list[str]]) -> None:
    assert CaptureDecoder(FEATURES).input_rows(Captured("text/csv", text, "CSV")) == rows


def test_a_short_last_row_after_a_newline_is_counted() -> None:
    error = _malformed(CaptureDecoder(FEATURES).input_rows, Captured("text/csv", "1,2,x\n4", "CSV"))
    assert str(error) == "wrong_feature_count: endpointInput row 1: expected 3 values, got 1"


# --- responses: what the remembered classes may and may not skip --------------------------------------------------


@pytest.mark.parametrize("classes", ["", None, {}])
# With no rows (or an empty one), a position wrongly taken from the memory would never be read.
@pytest.mark.parametrize("probabilities", [[], [[]]])
def test_a_first_response_with_unusable_classes_is_bad_output(classes: Any, probabilities: Any) -> None:
    output = _out({"classes": classes, "probabilities": probabilities})
    error = _malformed(CaptureDecoder(FEATURES).positive_probabilities, output)
    assert str(error) == 'bad_output: endpointOutput: expected {"classes": [...], "probabilities": [...]}'


@pytest.mark.parametrize("probabilities", [{}, "", None, 0.75])
def test_known_classes_without_a_probabilities_list_are_bad_output(probabilities: Any) -> None:
    decoder = CaptureDecoder(FEATURES)
    known = _out({"classes": [0, 1], "probabilities": [[0.25, 0.75]]})
    assert decoder.positive_probabilities(known) == [0.75]
    error = _malformed(
        decoder.positive_probabilities, _out({"classes": [0, 1], "probabilities": probabilities})
    )
    assert str(error) == 'bad_output: endpointOutput: expected {"classes": [...], "probabilities": [...]}'


def test_an_error_body_after_known_classes_is_a_refusal() -> None:
    decoder = CaptureDecoder(FEATURES)
    assert decoder.positive_probabilities(_out({"classes": [0, 1], "probabilities": [[0.6, 0.4]]})) == [0.4]
    with pytest.raises(RefusedRequest) as refused:
        decoder.positive_probabilities(
            _out({"classes": [0, 1], "probabilities": None, "error": {"code": "bad_value", "field": "a"}})
        )
    assert (refused.value.code, refused.value.field) == ("bad_value", "a")

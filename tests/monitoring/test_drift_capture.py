from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from monitoring_synthetic import FEATURES, capture_line

from monitoring import capture
from monitoring.capture import CaptureDecoder, MalformedRecord, inference_time_key

ROWS = [[12, 70.5, "one-year", 2, "fiber"], [40, 20.25, "two-year", 0, "dsl"]]
WHEN = datetime(2026, 11, 28, 3, 15, 42, tzinfo=UTC)


def decode(line: str | bytes) -> tuple[str, list[list[object]], list[object]]:
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
    input_data: str, *, encoding: str = "CSV", content_type: str = "text/csv", output: dict | None = None
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
        (
            _record("1,2,one-year,0,dsl", output={"error": {"code": "unknown_category"}}),
            capture.ERROR_RESPONSE,
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


@pytest.mark.parametrize("value", ["2026-11-28T03:15:42", "2026-11-28 03:15", "Z" * 20, None])
def test_inference_times_without_a_zone_or_unparseable_are_rejected(value: object) -> None:
    with pytest.raises(MalformedRecord, match="inferenceTime"):
        inference_time_key(value)


def _outcome(decode_line, line: str | bytes):
    try:
        return "ok", decode_line(line, "2026-11-28T03:00:00", "2026-11-28T04:00:00")
    except MalformedRecord as error:
        return "malformed", error.reason


def _agreement_corpus() -> list[str | bytes]:
    import random

    from monitoring_synthetic import Traffic, capture_lines, draw_rows

    rows = draw_rows(random.Random(4), 60, Traffic())
    times = [datetime(2026, 11, 28, 3, 58, tzinfo=UTC).replace(second=s) for s in range(0, 60, 3)] * 3
    good = capture_lines(rows, times, rows_per_record=2) + capture_lines(rows, times)
    odd = [
        _record("1,2,one-year,0,dsl\r\n3,4,two-year,1,fiber\r\n"),
        _record(" 1, 2 ,one-year,0,dsl"),
        _record("1,2,one-year,0,dsl\x0c"),
        _record(
            '{"instances": [[1, 2, "one-year", 0, "dsl"]]}  ',
            encoding="JSON",
            content_type="application/json",
        ),
        _record(
            '{"instances": [[1, 2, "one-year", 0, "dsl"]]} x',
            encoding="JSON",
            content_type="application/json",
        ),
        _record("1,2,one-year,0,dsl").replace("03:15:42Z", "03:15:42.5Z"),
        _record("1,2,one-year,0,dsl").replace('"encoding": "JSON"', '"encoding": "BASE64"', 1),
        _record("1,2,one-year,0,dsl", output={"classes": ["0", "1"], "probabilities": [[0.5, 0.5]]}),
        _record("1,2,one-year,0,dsl", output={"classes": [0, 1], "probabilities": [0.5]}),
        _record("1,2,one-year,0,dsl") + "\n",
    ]
    return [*good, *odd]


@pytest.mark.parametrize("line", _agreement_corpus())
def test_inline_and_careful_decoding_agree(line: str | bytes) -> None:
    decoder = CaptureDecoder(FEATURES)
    careful = _outcome(CaptureDecoder(FEATURES).decode_carefully, line)
    assert _outcome(decoder.decode_in_window, line) == careful
    assert _outcome(decoder.decode_in_window, line) == careful, "second call, with the decoder's caches warm"


def test_the_agreement_corpus_exercises_accepted_and_rejected_lines() -> None:
    outcomes = [_outcome(CaptureDecoder(FEATURES).decode_carefully, line)[0] for line in _agreement_corpus()]
    assert outcomes.count("ok") >= 60 and outcomes.count("malformed") >= 3


def _with_response(line: str, response: str, content_type: str = "application/json") -> str:
    record = json.loads(line)
    record["captureData"]["endpointOutput"].update(
        {"data": response, "encoding": "JSON", "observedContentType": content_type}
    )
    return json.dumps(record)


def _with_request(line: str, change: Callable[[str], str]) -> str:
    """`line` with its request payload changed by `change` (applied under the base64 if there is one)."""
    record = json.loads(line)
    captured = record["captureData"]["endpointInput"]
    if captured["encoding"] == "BASE64":
        text = change(base64.b64decode(captured["data"]).decode())
        captured["data"] = base64.b64encode(text.encode()).decode()
    else:
        captured["data"] = change(captured["data"])
    return json.dumps(record)


# Responses near the one-row fast path's edges: each must decode exactly as the careful path decodes it.
RESPONSES_AT_THE_EDGES = [
    '{"classes": [0, 1], "probabilities": [[0.25, 0.75]]}',
    '{"classes": [1, 0], "probabilities": [[0.25, 0.75]]}',
    '{"classes": ["0", "1"], "probabilities": [[0.25, 0.75]]}',
    '{"classes": [0, 1, 2], "probabilities": [[0.25, 0.75]]}',
    '{"classes": [0, 2], "probabilities": [[0.25, 0.75]]}',
    '{"classes": [0, 1], "probabilities": [[0.25, 0.75]]} ',
    '{"classes": [0, 1], "probabilities": [[0.25, 0.75]]}x',
    '{"classes": [0, 1], "probabilities": [[0.25, 0.75]]}}',
    '{"classes": [0, 1], "probabilities": [[0.25,0.75]]}',
    '{"classes": [0, 1], "probabilities": [[1e-05, 0.99999]]}',
    '{"classes": [0, 1], "probabilities": [[0.99999, 1.5e-05]]}',
    '{"classes": [0, 1], "probabilities": [[0, 1]]}',
    '{"classes": [0, 1], "probabilities": [[0.0, 1.0]]}',
    '{"classes": [0, 1], "probabilities": [[NaN, Infinity]]}',
    '{"classes": [0, 1], "probabilities": [[0.5, 1.0e400]]}',
    '{"classes": [0, 1], "probabilities": [[0.25, 00.75]]}',
    '{"classes": [0, 1], "probabilities": [[0.25, 0.7\u0665]]}',
    '{"classes": [0, 1], "probabilities": [[0.25, 0.75], [0.5, 0.5]]}',
    '{"classes": [0, 1], "probabilities": [[0.1, 0.9]], "probabilities": [[0.25, 0.75]]}',
    '{"classes": [0, 1], "x\\"probabilities": [[0.25, 0.75]]}',
    '{"probabilities": [[0.1, 0.9]], "classes": [0, 1], "x\\"probabilities": [[0.25, 0.75]]}',
    '{"probabilities": [[0.25, 0.75]], "classes": [0, 1], "x\\"probabilities": [[0.1, 0.9]]}',
    '{"probabilities": [[0.125, 0.875]], "classes": [0, 1], "x\\"probabilities": [[0.1, 0.9]]}',
    '{"probabilities": [[0.1, 0.9]], "classes": [0, 1], "x": {"probabilities": [[0.25, 0.75]]}}',
    '{"classes": [0, 1], "x": {"probabilities": [[0.25, 0.75]]}',
    '{"error": {"code": "x"}, "probabilities": [[0.25, 0.75]]}',
    '{"model_version": "v\\u0001", "classes": [0, 1], "probabilities": [[0.25, 0.75]]}',
    '{"model_version": "v\x01", "classes": [0, 1], "probabilities": [[0.25, 0.75]]}',
    '[{"classes": [0, 1], "probabilities": [[0.25, 0.75]]}]',
    '{"classes": [0, 1], "probabilities": [[0.25, 0.75]]',
    '"probabilities": [[0.25, 0.75]]}',
]


# Requests near the one-instance fast path's edges.
REQUESTS_AT_THE_EDGES = [
    '{"instances": [[1, 2, "one-year", 0, "dsl"]]}',
    '{"instances": [[1, 2, "one-year", 0, "dsl"]]} x',
    '{"instances": [[1, 2, "one-year", 0, "dsl"]]} ',
    '{"instances": [[1, 2, "one-year", 0, "dsl"]], "instances": []}',
    '{"instances": [[1, 2, "one-year", 0, "dsl"], [1, 2]]}',
    '{"instances": [[1, 2, "one-year", 0, "dsl"], [3, 4, "two-year", 1, "dsl"]]}',
    '{"instances": ["abcde"]}',
    '{"instances": [5]}',
    '{"instances": [null]}',
    '{"instances": []}',
    '{"instances": [{"tenure_months": 1, "monthly_charges": 2, "contract": "one-year", "support_calls": 0}]}',
    '{"instances": [{"tenure_months": 1, "monthly_charges": 2, "contract": "one-year", "support_calls": 0, '
    '"region": "eu"}]}',
    '{"instances": [{"tenure_months": 1, "monthly_charges": 2, "contract": "one-year", "support_calls": 0, '
    '"internet_service": "dsl"}]}',
]


def _mutated(rng: random.Random, text: str) -> str:
    """`text` with one or two characters replaced, deleted or inserted, half the time near its end."""
    alphabet = '0123456789.eE-+ ,[]{}"\\:x\t\u0665'
    chars = list(text)
    for _ in range(rng.randint(1, 2)):
        low = max(0, len(chars) - 40) if rng.random() < 0.5 else 0
        at = rng.randrange(low, len(chars))
        operation = rng.random()
        if operation < 0.4:
            chars[at] = rng.choice(alphabet)
        elif operation < 0.7:
            del chars[at]
        else:
            chars.insert(at, rng.choice(alphabet))
    return "".join(chars)


def _generated_corpus() -> list[str]:
    from monitoring_synthetic import Traffic, capture_lines, draw_rows

    rng = random.Random(11)
    rows = draw_rows(rng, 40, Traffic())
    times = [datetime(2026, 11, 28, 3, 30, tzinfo=UTC)] * 40
    single = capture_lines(rows, times, formats=(("csv", "CSV"),))
    double = capture_lines(rows, times, formats=(("csv", "CSV"),), rows_per_record=2)
    lines = []
    for response in RESPONSES_AT_THE_EDGES:
        lines += [_with_response(single[0], response), _with_response(double[0], response)]
    for number in range(1500):
        line = single[number % len(single)]
        response = json.loads(line)["captureData"]["endpointOutput"]["data"]
        lines.append(_with_response(line, _mutated(rng, response)))
    for request in REQUESTS_AT_THE_EDGES:
        for encoding, data in (("JSON", request), ("BASE64", base64.b64encode(request.encode()).decode())):
            line = _record(data, encoding=encoding, content_type="application/json")
            for response in (
                '{"classes": [0, 1], "probabilities": [[0.25, 0.75]]}',
                '{"classes": [0, 1], "probabilities": [[0.25, 0.75], [0.5, 0.5]]}',
            ):
                lines.append(_with_response(line, response))
    requests = capture_lines(rows, times, formats=(("json", "JSON"), ("json", "BASE64"), ("csv", "CSV")))
    for number in range(900):
        lines.append(_with_request(requests[number % len(requests)], lambda text: _mutated(rng, text)))
    for content_type in ("application/json; charset=utf-8", "text/csv", "application/x-npy", ""):
        lines.append(_with_response(single[0], RESPONSES_AT_THE_EDGES[0], content_type))
    return [*single, *double, *lines]


def test_the_fast_paths_decode_generated_lines_as_the_careful_path_does() -> None:
    # One decoder for the whole corpus, so what it learns from one line is in play for every later line.
    decoder = CaptureDecoder(FEATURES)
    corpus = _generated_corpus()
    disagreements = [
        line
        for line in corpus
        if repr(_outcome(decoder.decode_in_window, line))
        != repr(_outcome(CaptureDecoder(FEATURES).decode_carefully, line))
    ]
    assert disagreements == []
    outcomes = [_outcome(CaptureDecoder(FEATURES).decode_carefully, line)[0] for line in corpus]
    assert outcomes.count("ok") >= 300 and outcomes.count("malformed") >= 300


def test_the_response_fast_path_remembers_a_bounded_number_of_heads() -> None:
    decoder = CaptureDecoder(FEATURES)
    line = _record("1,2,one-year,0,dsl")
    for number in range(capture.MAX_RESPONSE_HEADS + 50):
        response = f'{{"model_version": "v{number}", "classes": [0, 1], "probabilities": [[0.25, 0.75]]}}'
        assert decoder.decode_in_window(_with_response(line, response), "2026", "2027") == (
            [["1", "2", "one-year", "0", "dsl"]],
            [0.75],
        )
    assert len(decoder._response_heads) == capture.MAX_RESPONSE_HEADS


def test_content_type_cache_stays_bounded_under_a_hostile_stream() -> None:
    from monitoring import capture

    decoder = capture.CaptureDecoder(["tenure_months", "contract"])
    for number in range(capture.MAX_CONTENT_TYPES * 3):
        assert decoder._kind_of(f"text/csv; x={number}") == capture.CSV_KIND
    assert len(decoder._kinds) == capture.MAX_CONTENT_TYPES

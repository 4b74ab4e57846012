"""No capture line aborts a window, and consecutive windows count every line exactly once (issue 14)."""

from __future__ import annotations

import base64
import io
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.artifact import read_model_baseline
from monitoring.capture import MALFORMED_REASONS, UNEXPECTED_ERROR
from monitoring.engine import Window, WindowScan, select_objects
from tests.monitoring.monitoring_synthetic import (
    FEATURES,
    capture_line,
    draw_rows,
    model_tarball,
    training_baseline,
)

MODEL = read_model_baseline(io.BytesIO(model_tarball(training_baseline(count=2000))), "test://model.tar.gz")
BASE = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
ROOT = "datacapture/churn/AllTraffic/"

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
odd_times = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:30:00-01:00",
            "2026-11-28T03:1x:00Z",
            "2026-11-28T03:15:42",
            "2026-02-30T03:15:42Z",
            "2026-11-28T04:15:42+01:00",
            "2026-11-29T03:15:42Z",
            "",
        ]
    ),
    json_value,
)
odd_values = st.one_of(
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["three-year", "", "nan", "1e400"]),
    json_value,
)


def _sane_row(rng: random.Random) -> list[object]:
    row: list[object] = draw_rows(rng, 1)[0]
    return row


def _object_instances(draw: st.DrawFn, rows: list[list[object]]) -> str:
    """A JSON request of feature objects, one of them missing, adding, repeating or renaming a feature."""
    instances: list[dict[str, object]] = [dict(zip(FEATURES, row, strict=True)) for row in rows]
    bent = instances[draw(st.integers(0, len(instances) - 1))]
    name = draw(st.sampled_from(FEATURES))
    how = draw(st.integers(0, 3))
    if how == 0:
        del bent[name]
    elif how == 1:
        bent[draw(st.sampled_from(["extra", name.upper(), ""]))] = draw(odd_values)
    elif how == 2:
        text = json.dumps({"instances": instances})
        return text.replace(f'"{name}": ', f'"{name}": 1, "{name}": ', 1)  # a repeated key: the last wins
    else:
        bent[name + " "] = bent.pop(name)
    return json.dumps({"instances": instances})


def _bend_input(draw: st.DrawFn, how: int, captured_input: dict[str, Any], rows: list[list[object]]) -> None:
    if how == 1:
        rows[draw(st.integers(0, len(rows) - 1))][draw(st.integers(0, 4))] = draw(odd_values)
        captured_input.update(
            data=json.dumps({"instances": rows}), encoding="JSON", observedContentType="application/json"
        )
    elif how == 2:
        captured_input["encoding"] = draw(st.sampled_from(["UTF-7", "BASE64", "JSON", "CSV", None]))
    elif how == 3:
        captured_input["observedContentType"] = draw(st.sampled_from(["application/x-npy", "", "TEXT/CSV"]))
    elif how == 4:
        captured_input["data"] = draw(st.text(max_size=40) | json_value)
    elif how == 9:
        captured_input["data"] = captured_input["data"] + draw(st.sampled_from(["\n", "\r\n", "\n\n", ",x"]))
    elif how == 11:
        captured_input["data"] = base64.b64encode(bytes(draw(st.binary(max_size=20)))).decode()
        captured_input["encoding"] = "BASE64"
    elif how == 14:
        captured_input.update(
            data=_object_instances(draw, rows), encoding="JSON", observedContentType="application/json"
        )


def _mutations(draw: st.DrawFn, record: dict[str, Any], rows: list[list[object]]) -> None:
    """Bend the record in one place; each case is something a real or hostile stream can hold."""
    captured_output = record["captureData"]["endpointOutput"]
    how = draw(st.integers(0, 14))
    if how in (1, 2, 3, 4, 9, 11, 14):
        _bend_input(draw, how, record["captureData"]["endpointInput"], rows)
    elif how == 0:
        record["eventMetadata"]["inferenceTime"] = draw(odd_times)
    elif how == 5:
        captured_output["data"] = json.dumps(draw(json_value))
    elif how == 6:
        captured_output["data"] = json.dumps({"error": {"code": "unknown_category", "field": "contract"}})
    elif how == 7:
        del record[draw(st.sampled_from(["captureData", "eventMetadata"]))]
    elif how == 8:
        del record["captureData"][draw(st.sampled_from(["endpointInput", "endpointOutput"]))]
    elif how == 10:
        captured_output["data"] = base64.b64encode(captured_output["data"].encode()).decode()
        captured_output["encoding"] = "BASE64"
    elif how == 12:
        record["captureData"] = draw(json_value)
    # how == 13: left as it is


@st.composite
def capture_lines(draw: st.DrawFn) -> bytes:
    """A capture line near the file's time: well formed, bent in up to two places, or plain garbage."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        garbage: bytes = draw(st.binary(max_size=60))
        return garbage
    if kind == 1:
        return json.dumps(draw(json_value)).encode()
    rng = random.Random(draw(st.integers(0, 2**32)))
    rows = [_sane_row(rng) for _ in range(draw(st.integers(1, 3)))]
    when = BASE + timedelta(seconds=draw(st.integers(-600, 4200)), microseconds=draw(st.integers(0, 999999)))
    content, encoding = draw(
        st.sampled_from([("csv", "CSV"), ("json", "JSON"), ("json", "BASE64"), ("csv", "BASE64")])
    )
    text = capture_line(
        rows,
        when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        content=content,
        encoding=encoding,
        instances=draw(st.sampled_from(["lists", "objects"])),
    )
    record = json.loads(text)
    for _ in range(draw(st.integers(0, 2))):
        try:
            _mutations(draw, record, rows)
        except (KeyError, TypeError, AttributeError):
            break  # an earlier bend removed what this one would change
    text = json.dumps(record)
    if draw(st.integers(0, 19)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    ending: str = draw(st.sampled_from(["", "\r", " "]))
    return (text + ending).encode()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=capture_lines(), file_minute=st.integers(0, 59))
def test_no_line_aborts_a_window_and_each_is_measured_or_counted_under_one_reason(
    line: bytes, file_minute: int
) -> None:
    window = Window(BASE, BASE + timedelta(hours=1))
    scan = WindowScan(MODEL, window)
    file_key = f"2026-11-28T03:{file_minute:02d}:00"
    scan.feed([line, line], file_key)
    result = scan.result()
    accounted = result.records + result.malformed_total + result.refused_total + result.outside_window
    assert accounted == (0 if not line.strip() else 2)
    assert set(result.malformed) <= set(MALFORMED_REASONS) - {UNEXPECTED_ERROR}, result.malformed_examples
    assert (
        len(result.malformed)
        + (result.records > 0)
        + (result.refused_total > 0)
        + (result.outside_window > 0)
        <= 1
    )


def _folder_files(draw_lines: list[bytes], seed: int) -> dict[str, list[bytes]]:
    """Capture files over 02:30..05:30, named as SageMaker names them, holding the given lines."""
    rng = random.Random(seed)
    files: dict[str, list[bytes]] = {}
    for number, line in enumerate(draw_lines):
        opened = BASE + timedelta(minutes=rng.randrange(-30, 150), seconds=rng.randrange(60))
        key = f"{ROOT}{opened:%Y/%m/%d/%H}/{opened:%M-%S}-123-{number % 4:04d}.jsonl"
        files.setdefault(key, []).append(line)
    return files


def _count_over_windows(files: dict[str, list[bytes]], minutes: int) -> int:
    total = 0
    start = BASE - timedelta(hours=2)
    while start < BASE + timedelta(hours=5):
        window = Window(start, start + timedelta(minutes=minutes))
        scan = WindowScan(MODEL, window)
        for key, file_key in select_objects(sorted(files), ROOT, window):
            scan.feed(files[key], file_key)
        result = scan.result()
        assert UNEXPECTED_ERROR not in result.malformed
        total += result.records + result.malformed_total + result.refused_total
        start = window.end
    return total


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(capture_lines(), min_size=1, max_size=30),
    seed=st.integers(0, 1000),
    minutes=st.sampled_from([5, 30, 60]),
)
def test_consecutive_windows_sharing_folders_count_every_line_exactly_once(
    lines: list[bytes], seed: int, minutes: int
) -> None:
    files = _folder_files(lines, seed)
    assert _count_over_windows(files, minutes) == sum(1 for line in lines if line.strip())


def test_malformed_lines_of_one_folder_are_counted_once_by_half_hour_windows() -> None:
    # issue 14 item 2: a line without a readable time was counted by every window listing its folder
    good = capture_line(draw_rows(random.Random(3), 1), BASE + timedelta(minutes=10)).encode()
    files = {
        f"{ROOT}2026/11/28/03/05-00-000-a.jsonl": [b"{broken", good, b'{"eventMetadata": {}}'],
        f"{ROOT}2026/11/28/03/50-00-000-b.jsonl": [b"not json either"],
    }
    assert _count_over_windows(files, 30) == 4
    assert _count_over_windows(files, 60) == 4


record_values = st.one_of(
    st.integers(0, 80),
    st.floats(0, 200, allow_nan=False),
    st.sampled_from(["12", " 3.5 ", "one-year", "two-year", "dsl", "fiber", "none", " dsl", "Fiber"]),
    odd_values,
)
records = st.lists(
    st.tuples(
        st.lists(st.lists(record_values, min_size=5, max_size=5), min_size=1, max_size=2),
        st.lists(
            st.floats(0, 1) | st.sampled_from([0, 1, 1.5, -0.0, True, "0.5", None]), min_size=1, max_size=2
        ),
    ).filter(lambda record: len(record[0]) == len(record[1])),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(batch=records)
def test_binning_a_batch_of_records_counts_exactly_what_binning_them_one_by_one_counts(
    batch: list[tuple[list[list[object]], list[object]]],
) -> None:
    from monitoring.drift import DriftAccumulator, InvalidValue

    one_by_one = DriftAccumulator(MODEL.baseline, MODEL.columns)
    rejected_one_by_one = []
    for position, (rows, probabilities) in enumerate(batch):
        try:
            one_by_one.add(rows, probabilities)
        except InvalidValue:
            rejected_one_by_one.append(position)
    batched = DriftAccumulator(MODEL.baseline, MODEL.columns)
    rejected = batched.add_records(batch)
    assert [position for position, _ in rejected] == rejected_one_by_one
    assert batched.feature_counts() == one_by_one.feature_counts()
    assert batched.prediction_counts() == one_by_one.prediction_counts()
    assert batched.rows == one_by_one.rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(capture_lines(), min_size=1, max_size=40), parts=st.integers(1, 7))
def test_a_window_split_into_parts_merges_to_the_single_pass_bit_for_bit(
    lines: list[bytes], parts: int
) -> None:
    # issue 14 item 12: workers hand on partial counts (as JSON), one reducer merges and publishes
    window = Window(BASE, BASE + timedelta(hours=1))
    rng = random.Random(len(lines))
    clean = [
        capture_line(draw_rows(rng, 1), BASE + timedelta(minutes=rng.randrange(20))).encode()
        for _ in range(30)
    ]
    everything = clean + lines
    single = WindowScan(MODEL, window)
    single.feed(everything, "2026-11-28T03:05:00")
    merged = WindowScan(MODEL, window)
    size = -(-len(everything) // parts)
    for first in range(0, len(everything), size):
        worker = WindowScan(MODEL, window)
        worker.feed(everything[first : first + size], "2026-11-28T03:05:00")
        merged.merge_partial(json.loads(json.dumps(worker.partial())))
    assert merged.result() == single.result()


def test_a_partial_of_another_window_is_refused() -> None:
    import pytest

    worker = WindowScan(MODEL, Window(BASE, BASE + timedelta(hours=1)))
    reducer = WindowScan(MODEL, Window(BASE + timedelta(hours=1), BASE + timedelta(hours=2)))
    with pytest.raises(ValueError, match=r"partial\.window: expected"):
        reducer.merge_partial(worker.partial())

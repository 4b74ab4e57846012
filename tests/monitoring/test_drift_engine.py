from __future__ import annotations

import io
import itertools
import random
import re
import tarfile
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitoring import metrics
from monitoring.artifact import ModelBaseline, read_model_baseline
from monitoring.drift import BaselineError
from monitoring.engine import (
    MAX_METRICS_PER_REQUEST,
    Window,
    WindowScan,
    capture_root,
    hour_prefixes,
    iter_lines,
    metric_data,
    publish,
)
from tests.monitoring.monitoring_synthetic import (
    FEATURES,
    Traffic,
    capture_lines,
    draw_rows,
    model_tarball,
    training_baseline,
)

THRESHOLD = 0.2
START = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))
MODEL = read_model_baseline(io.BytesIO(model_tarball(training_baseline())), "test://model.tar.gz")


def lines_for(traffic: Traffic, count: int = 3000, seed: int = 11, rows_per_record: int = 1) -> list[str]:
    rows = draw_rows(random.Random(seed), count, traffic)
    times = (START + timedelta(seconds=(i * 3600) // count) for i in range(count))
    return capture_lines(rows, times, rows_per_record=rows_per_record)


def scan(lines, model: ModelBaseline = MODEL, window: Window = WINDOW):
    window_scan = WindowScan(model, window)
    window_scan.feed(lines)
    return window_scan.result()


def test_undrifted_traffic_stays_under_the_threshold_for_every_feature() -> None:
    result = scan(lines_for(Traffic(), rows_per_record=2))
    assert result.records == 1500 and result.rows == 3000 and result.malformed == {}
    assert set(result.feature_drift) == set(FEATURES)
    assert all(value < THRESHOLD for value in result.feature_drift.values()), result.feature_drift
    assert result.prediction_drift is not None and result.prediction_drift < THRESHOLD


def test_a_shifted_numeric_feature_is_the_only_one_over_the_threshold() -> None:
    result = scan(lines_for(Traffic(monthly_charges_shift=25.0)))
    over = {name for name, value in result.feature_drift.items() if value > THRESHOLD}
    assert over == {"monthly_charges"}
    assert result.max_feature == "monthly_charges"
    assert result.max_feature_drift == result.feature_drift["monthly_charges"]


def test_a_shifted_categorical_feature_is_the_only_one_over_the_threshold() -> None:
    result = scan(lines_for(Traffic(contract_weights=(0.1, 0.3, 0.6))))
    over = {name for name, value in result.feature_drift.items() if value > THRESHOLD}
    assert over == {"contract"}


def test_malformed_lines_are_counted_by_reason_and_the_rest_still_measured() -> None:
    clean = lines_for(Traffic(), count=600)
    broken = [
        "{this is not json",
        clean[0].replace('"encoding": "CSV"', '"encoding": "UTF-7"', 1),
        clean[2].replace('"data": "eyJ', '"data": "!!eyJ', 1),
        clean[0].replace('"data": "', '"data": "1,2,', 1),
        "",
    ]
    assert broken[1] != clean[0] and broken[2] != clean[2] and broken[3] != clean[0]
    mixed = []
    for number, line in enumerate(clean):
        mixed.append(line)
        if number % 100 == 0:
            mixed.extend(broken)
    result = scan(mixed)
    expected = scan(clean)
    assert result.malformed == {
        "bad_json": 6,
        "unknown_encoding": 6,
        "bad_base64": 6,
        "wrong_feature_count": 6,
    }
    assert result.malformed_total == 24
    assert set(result.malformed_examples) == set(result.malformed)
    assert result.records == expected.records == 600
    assert result.feature_drift == expected.feature_drift
    assert result.prediction_drift == expected.prediction_drift


def test_bad_values_are_counted_not_fatal() -> None:
    clean = lines_for(Traffic(), count=10)
    bad = clean[0].replace('"data": "', '"data": "oops', 1)
    result = scan([*clean, bad])
    assert result.malformed == {"bad_value": 1} and result.records == 10


def test_records_outside_the_window_are_ignored_with_start_inclusive_and_end_exclusive() -> None:
    rows = draw_rows(random.Random(1), 4)
    times = [START - timedelta(seconds=1), START, WINDOW.end - timedelta(seconds=1), WINDOW.end]
    result = scan(capture_lines(rows, times))
    assert result.records == 2 and result.outside_window == 2


def test_an_empty_window_has_counts_but_no_drift() -> None:
    result = scan([])
    assert (result.records, result.rows, result.feature_drift, result.prediction_drift) == (0, 0, {}, None)
    assert result.max_feature is None and result.max_feature_drift is None


@pytest.mark.parametrize(
    ("scheduled", "minutes", "start", "end"),
    [
        # the run at :20 measures the hour that ended 20 minutes (the settle delay) before it
        (
            datetime(2026, 11, 28, 4, 20, tzinfo=UTC),
            60,
            datetime(2026, 11, 28, 3, 0),
            datetime(2026, 11, 28, 4, 0),
        ),
        (
            datetime(2026, 11, 28, 4, 19, 59, tzinfo=UTC),
            60,
            datetime(2026, 11, 28, 2, 0),
            datetime(2026, 11, 28, 3, 0),
        ),
        (
            datetime(2026, 11, 28, 4, 50, 7, tzinfo=UTC),
            30,
            datetime(2026, 11, 28, 4, 0),
            datetime(2026, 11, 28, 4, 30),
        ),
        (
            datetime(2026, 11, 28, 0, 20, tzinfo=UTC),
            1440,
            datetime(2026, 11, 27, 0, 0),
            datetime(2026, 11, 28, 0, 0),
        ),
        (
            datetime(2026, 11, 28, 6, 20, tzinfo=timezone(timedelta(hours=2))),
            60,
            datetime(2026, 11, 28, 3, 0),
            datetime(2026, 11, 28, 4, 0),
        ),
    ],
)
def test_a_run_measures_the_last_aligned_window_that_has_settled(scheduled, minutes, start, end) -> None:
    window = Window.settled(scheduled, minutes)
    assert (window.start, window.end) == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def test_consecutive_runs_tile_time_even_when_late() -> None:
    first = datetime(2026, 11, 28, 0, 20, tzinfo=UTC)
    for minutes in (5, 30, 60, 120):
        runs = [first + timedelta(minutes=minutes * i, seconds=37) for i in range(50)]
        windows = [Window.settled(run, minutes) for run in runs]
        assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_window_is_validated() -> None:
    with pytest.raises(ValueError, match="expected start before end"):
        Window(START, START)
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_hour_folders_cover_the_window_across_midnight() -> None:
    bucket, root = capture_root("s3://captures/datacapture/", "churn", "AllTraffic")
    assert (bucket, root) == ("captures", "datacapture/churn/AllTraffic/")
    window = Window(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), datetime(2027, 1, 1, 1, 0, tzinfo=UTC))
    assert hour_prefixes(root, window) == [
        "datacapture/churn/AllTraffic/2026/12/31/23/",
        "datacapture/churn/AllTraffic/2027/01/01/00/",
        "datacapture/churn/AllTraffic/2027/01/01/01/",
    ]
    # a window starting on the hour also reads the previous hour: files opened then hold its first records
    window = Window(datetime(2027, 1, 1, 0, 0, tzinfo=UTC), datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    assert hour_prefixes(root, window) == [
        "datacapture/churn/AllTraffic/2026/12/31/23/",
        "datacapture/churn/AllTraffic/2027/01/01/00/",
    ]
    assert capture_root("s3://captures", "churn", "v1") == ("captures", "churn/v1/")


def test_capture_uri_must_be_s3() -> None:
    with pytest.raises(ValueError, match="CAPTURE_S3_URI: expected an s3://bucket/key URL"):
        capture_root("https://captures/x", "e", "v")


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20])
def test_line_iteration_is_independent_of_chunk_boundaries(chunk_size: int) -> None:
    lines = [b"first", b"", b"second line", b"third\r"]
    data = b"\n".join(lines) + b"\n"
    assert list(iter_lines(io.BytesIO(data), chunk_size)) == lines
    assert list(iter_lines(io.BytesIO(b"no trailing newline"), chunk_size)) == [b"no trailing newline"]


def test_metric_data_uses_the_shared_names_and_the_run_time_as_timestamp() -> None:
    result = scan(lines_for(Traffic(), count=300))
    run_time = WINDOW.end + timedelta(minutes=20)
    data = metric_data(result, "churn", "AllTraffic", timestamp=run_time)
    by_key = {(d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"])): d for d in data}
    expected_refs = [
        metrics.records_analyzed("churn", "AllTraffic"),
        metrics.malformed_records("churn", "AllTraffic"),
        metrics.refused_requests("churn", "AllTraffic"),
        metrics.artifact_broken("churn", "AllTraffic"),
        metrics.max_drift("churn", "AllTraffic"),
        metrics.prediction_drift("churn", "AllTraffic"),
        *(metrics.feature_drift("churn", "AllTraffic", name) for name in FEATURES),
    ]
    assert set(by_key) == {(ref.name, ref.dimensions) for ref in expected_refs}
    assert all(d["Timestamp"] == run_time for d in data)
    records = by_key[("RecordsAnalyzed", metrics.records_analyzed("churn", "AllTraffic").dimensions)]
    assert (records["Value"], records["Unit"]) == (300.0, "Count")


def test_an_empty_run_still_reports_its_counts() -> None:
    data = metric_data(scan([]), "churn", "AllTraffic")
    assert sorted(d["MetricName"] for d in data) == [
        "ArtifactBroken",
        "MalformedRecords",
        "RecordsAnalyzed",
        "RefusedRequests",
    ]
    assert all(d["Value"] == 0.0 for d in data)


class RecordingCloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def put_metric_data(self, **kwargs) -> None:
        self.calls.append(kwargs)


def test_publish_splits_into_put_metric_data_sized_batches() -> None:
    datum = metric_data(scan([]), "e", "v")[0]
    cloudwatch = RecordingCloudWatch()
    assert publish(cloudwatch, [datum] * 2500) == 2500
    assert [len(call["MetricData"]) for call in cloudwatch.calls] == [MAX_METRICS_PER_REQUEST, 1000, 500]
    assert {call["Namespace"] for call in cloudwatch.calls} == {metrics.NAMESPACE}


def test_model_artifact_without_baseline_or_schema_is_rejected() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.joblib")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    buffer.seek(0)
    with pytest.raises(
        BaselineError,
        match=re.escape("s3://m/model.tar.gz: model artifact has no baseline.json, schema.json"),
    ):
        read_model_baseline(buffer, "s3://m/model.tar.gz")
    with pytest.raises(BaselineError, match=re.escape("not a readable model.tar.gz")):
        read_model_baseline(io.BytesIO(b"plain bytes"), "s3://m/model.tar.gz")
    with pytest.raises(BaselineError, match=re.escape("model artifact has no schema.json")):
        read_model_baseline(
            io.BytesIO(model_tarball(training_baseline(), with_schema=False)), "s3://m/model.tar.gz"
        )

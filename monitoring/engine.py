"""The drift run: stream a window of captured traffic from S3, measure it against the baseline, publish."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from monitoring import metrics
from monitoring.artifact import ModelBaseline, parse_s3_url
from monitoring.capture import BAD_VALUE, CaptureDecoder, MalformedRecord, time_key
from monitoring.drift import DriftAccumulator, InvalidValue

logger = logging.getLogger(__name__)

LINE_CHUNK_BYTES = 1 << 20
# PutMetricData accepts at most 1000 metric data items per request.
MAX_METRICS_PER_REQUEST = 1000


@dataclass(frozen=True)
class Window:
    """The half-open time range [start, end) whose captured records a run measures."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError(f"window: expected timezone-aware times, got {self.start!r} .. {self.end!r}")
        if not self.start < self.end:
            raise ValueError(f"window: expected start before end, got {self.start} .. {self.end}")

    @classmethod
    def ending_at(cls, end: datetime, minutes: int) -> Window:
        end = end.astimezone(UTC).replace(second=0, microsecond=0)
        return cls(end - timedelta(minutes=minutes), end)


@dataclass(frozen=True)
class DriftResult:
    window: Window
    records: int
    rows: int
    outside_window: int
    malformed: dict[str, int]
    malformed_examples: dict[str, str]
    feature_drift: dict[str, float]
    prediction_drift: float | None
    objects_read: int = 0

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    @property
    def max_feature(self) -> str | None:
        if not self.feature_drift:
            return None
        return max(self.feature_drift, key=lambda name: self.feature_drift[name])

    @property
    def max_feature_drift(self) -> float | None:
        name = self.max_feature
        return None if name is None else self.feature_drift[name]

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable description of the run."""
        return {
            "window": {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
            "records_analyzed": self.records,
            "rows_analyzed": self.rows,
            "records_outside_window": self.outside_window,
            "malformed_records": self.malformed_total,
            "malformed_by_reason": dict(sorted(self.malformed.items())),
            "malformed_examples": dict(sorted(self.malformed_examples.items())),
            "feature_drift": dict(self.feature_drift),
            "prediction_drift": self.prediction_drift,
            "max_feature_drift": self.max_feature_drift,
            "max_drift_feature": self.max_feature,
            "objects_read": self.objects_read,
        }


class WindowScan:
    """Accumulates capture lines falling in one window; feed it any iterable of lines, as often as needed."""

    def __init__(self, model: ModelBaseline, window: Window):
        self.window = window
        self.decoder = CaptureDecoder(model.columns)
        self.accumulator = DriftAccumulator(model.baseline, model.columns)
        self._start_key = time_key(window.start)
        self._end_key = time_key(window.end)
        self.records = 0
        self.outside_window = 0
        self.malformed: dict[str, int] = {}
        self.malformed_examples: dict[str, str] = {}
        self.objects_read = 0

    def feed(self, lines: Iterable[bytes | str]) -> None:
        decode = self.decoder.decode_in_window
        add = self.accumulator.add
        start_key = self._start_key
        end_key = self._end_key
        records = 0
        outside = 0
        for line in lines:
            try:
                decoded = decode(line, start_key, end_key)
                if decoded is None:
                    outside += 1
                    continue
                add(*decoded)
            except MalformedRecord as error:
                if not line.strip():
                    continue
                self._count_malformed(error.reason, str(error))
                continue
            except InvalidValue as error:
                self._count_malformed(BAD_VALUE, f"{BAD_VALUE}: {error}")
                continue
            records += 1
        self.records += records
        self.outside_window += outside

    def _count_malformed(self, reason: str, message: str) -> None:
        self.malformed[reason] = self.malformed.get(reason, 0) + 1
        if reason not in self.malformed_examples:
            self.malformed_examples[reason] = message[:300]
            logger.warning("skipping malformed capture record: %s", message[:300])

    def result(self) -> DriftResult:
        return DriftResult(
            window=self.window,
            records=self.records,
            rows=self.accumulator.rows,
            outside_window=self.outside_window,
            malformed=dict(self.malformed),
            malformed_examples=dict(self.malformed_examples),
            feature_drift=self.accumulator.feature_psi(),
            prediction_drift=self.accumulator.prediction_psi(),
            objects_read=self.objects_read,
        )


def iter_lines(stream: IO[bytes], chunk_size: int = LINE_CHUNK_BYTES) -> Iterator[bytes]:
    """Lines of a binary stream (an S3 StreamingBody or a file), reading `chunk_size` bytes at a time."""
    pending = b""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def capture_root(capture_uri: str, endpoint: str, variant: str) -> tuple[str, str]:
    """(bucket, "<prefix>/<endpoint>/<variant>/") of the capture destination."""
    bucket, prefix = parse_s3_url(capture_uri, "CAPTURE_S3_URI")
    prefix = prefix.strip("/")
    root = f"{prefix}/{endpoint}/{variant}/" if prefix else f"{endpoint}/{variant}/"
    return bucket, root


def hour_prefixes(root: str, window: Window) -> list[str]:
    """The yyyy/mm/dd/hh/ folders under `root` that can hold records of the window.

    SageMaker files a record under the hour its file is written, never earlier than its inference time,
    so the folder of the window's end is included for records flushed just after it.
    """
    hour = window.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = window.end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour <= last:
        prefixes.append(f"{root}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def list_capture_keys(s3: Any, bucket: str, prefixes: Iterable[str]) -> Iterator[str]:
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        keys: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", ()))
        yield from sorted(keys)


def measure_window(
    s3: Any, *, capture_uri: str, endpoint: str, variant: str, model: ModelBaseline, window: Window
) -> DriftResult:
    """Stream every capture object that can hold records of `window` and measure the records in it."""
    bucket, root = capture_root(capture_uri, endpoint, variant)
    scan = WindowScan(model, window)
    for key in list_capture_keys(s3, bucket, hour_prefixes(root, window)):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            scan.feed(iter_lines(body))
        finally:
            body.close()
        scan.objects_read += 1
    return scan.result()


def metric_data(result: DriftResult, endpoint: str, variant: str) -> list[dict[str, Any]]:
    """PutMetricData items for a run: counts always, drift only when there were rows to measure."""
    timestamp = result.window.end

    def datum(ref: metrics.MetricRef, value: float) -> dict[str, Any]:
        return {
            "MetricName": ref.name,
            "Dimensions": ref.dimensions_list(),
            "Timestamp": timestamp,
            "Value": float(value),
            "Unit": ref.unit,
        }

    data = [
        datum(metrics.records_analyzed(endpoint, variant), result.records),
        datum(metrics.malformed_records(endpoint, variant), result.malformed_total),
    ]
    for feature, value in result.feature_drift.items():
        data.append(datum(metrics.feature_drift(endpoint, variant, feature), value))
    if result.max_feature_drift is not None:
        data.append(datum(metrics.max_drift(endpoint, variant), result.max_feature_drift))
    if result.prediction_drift is not None:
        data.append(datum(metrics.prediction_drift(endpoint, variant), result.prediction_drift))
    return data


def publish(cloudwatch: Any, data: list[dict[str, Any]]) -> int:
    """Send metric data in PutMetricData-sized batches; returns the number of items sent."""
    for first in range(0, len(data), MAX_METRICS_PER_REQUEST):
        cloudwatch.put_metric_data(
            Namespace=metrics.NAMESPACE, MetricData=data[first : first + MAX_METRICS_PER_REQUEST]
        )
    return len(data)

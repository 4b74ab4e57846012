"""The drift run: stream a window of captured traffic from S3, measure it against the baseline, publish.

Every capture line belongs to exactly one window (its *place*): the window holding its inference time when
that time is plausible for the capture file it sits in, else the window holding the file's own time (from
its name). Consecutive windows therefore count every line exactly once, measured or under one reason,
however many of them list the same hour folder.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from monitoring import metrics
from monitoring.artifact import ModelBaseline, parse_s3_url
from monitoring.capture import (
    BAD_VALUE,
    LATE_OR_SKEWED_TIME,
    OTHER_LABEL,
    UNEXPECTED_ERROR,
    CaptureDecoder,
    MalformedRecord,
    RefusedRequest,
    time_key,
)
from monitoring.drift import DriftAccumulator, InvalidValue, RecordBatch

logger = logging.getLogger(__name__)

LINE_CHUNK_BYTES = 1 << 20
# PutMetricData accepts at most 1000 metric data items per request.
MAX_METRICS_PER_REQUEST = 1000
# A capture file holds records from shortly before the time in its name (instance clocks) until it is
# closed; a real file named 12/32-18-648-<uuid>.jsonl was written to S3 at 12:46:24 (its S3 event).
FILE_EARLY_MINUTES = 2
FILE_LATE_MINUTES = 20
# A window is measured this long after it ends, once the files that can hold its records are in S3.
SETTLE_MINUTES = 20
# Distinct (error code, field) pairs of refused requests published per run: the largest, chosen from exact
# counts (so parts merge to the single pass); the rest are published as "other/other".
MAX_REFUSAL_KINDS = 20
# The request parts the server names in an error body's `field`, besides features. Any other field is a
# key the client chose (unknown_field, an unknown feature): counted under "other", never a dimension.
REQUEST_PARTS = ("Accept", "Content-Type", "body", "instances")
OTHER_KIND = f"{OTHER_LABEL}/{OTHER_LABEL}"
# Decoded records are binned in batches of this many (whole columns at a time, in C).
BATCH_RECORDS = 2048
# SageMaker names capture objects <yyyy>/<mm>/<dd>/<hh>/<MM>-<SS>-<mmm>-<uuid>.jsonl.
_CAPTURE_KEY = re.compile(
    r"([0-9]{4})/([0-9]{2})/([0-9]{2})/([0-9]{2})/(?:([0-5][0-9])-([0-5][0-9])-[^/]*)?[^/]*"
)


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
    def settled(cls, scheduled: datetime, minutes: int, settle_minutes: int = SETTLE_MINUTES) -> Window:
        """The last whole window of `minutes` (aligned to multiples of it since the epoch) that ended at
        least `settle_minutes` before `scheduled`: consecutive runs tile time with no gap and no overlap."""
        length = minutes * 60
        settled = int((scheduled - timedelta(minutes=settle_minutes)).timestamp())
        end = datetime.fromtimestamp(settled - settled % length, UTC)
        return cls(end - timedelta(minutes=minutes), end)


@dataclass
class WindowCounts:
    """Everything a scan of some capture objects adds up: integers only, so parts merge exactly."""

    records: int = 0
    outside_window: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    malformed_examples: dict[str, str] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # "code/field" -> count
    objects_read: int = 0

    def merge(self, other: WindowCounts) -> None:
        self.records += other.records
        self.outside_window += other.outside_window
        for reason, count in other.malformed.items():
            self.malformed[reason] = self.malformed.get(reason, 0) + count
        for reason, example in other.malformed_examples.items():
            self.malformed_examples.setdefault(reason, example)
        for kind, count in other.refused.items():
            self.refused[kind] = self.refused.get(kind, 0) + count
        self.objects_read += other.objects_read


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
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def lines_placed(self) -> int:
        """Every captured exchange this window owns: measured, malformed or refused."""
        return self.records + self.malformed_total + self.refused_total

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
            "refused_requests": self.refused_total,
            "refused_by_code_and_field": dict(sorted(self.refused.items())),
            "feature_drift": dict(self.feature_drift),
            "prediction_drift": self.prediction_drift,
            "max_feature_drift": self.max_feature_drift,
            "max_drift_feature": self.max_feature,
            "objects_read": self.objects_read,
        }


def _shifted_key(key: str, minutes: int) -> str:
    moment = datetime.strptime(key, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return time_key(moment + timedelta(minutes=minutes))


def capture_file_key(object_key: str) -> str | None:
    """The time key in a capture object's name (or its hour folder's start); None if it has neither."""
    match = _CAPTURE_KEY.search(object_key)
    if match is None:
        return None
    year, month, day, hour, minute, second = match.groups()
    key = f"{year}-{month}-{day}T{hour}:{minute or '00'}:{second or '00'}"
    try:
        datetime.strptime(key, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return key


class WindowScan:
    """Accumulates the capture lines a window owns; feed it the lines of each capture object in turn."""

    def __init__(self, model: ModelBaseline, window: Window):
        self.window = window
        self.decoder = CaptureDecoder(model.columns)
        self.accumulator = DriftAccumulator(model.baseline, model.columns)
        self._start_key = time_key(window.start)
        self._end_key = time_key(window.end)
        self.counts = WindowCounts()
        self._unexpected_logged = False
        self._batch = RecordBatch(len(model.columns))
        self._refusal_fields = frozenset((*model.columns, *REQUEST_PARTS))

    @property
    def objects_read(self) -> int:
        return self.counts.objects_read

    @objects_read.setter
    def objects_read(self, value: int) -> None:
        self.counts.objects_read = value

    def _file_bounds(self, file_key: str | None) -> tuple[str, str, bool]:
        """[earliest, latest) inference times plausible in a file named at `file_key`, and whether the
        file's own time is in this window (where its lines without a plausible time belong)."""
        if file_key is None:
            return "", "\U0010ffff", True
        return (
            _shifted_key(file_key, -FILE_EARLY_MINUTES),
            _shifted_key(file_key, FILE_LATE_MINUTES),
            self._start_key <= file_key < self._end_key,
        )

    def feed(self, lines: Iterable[bytes | str], file_key: str | None = None) -> None:
        """Place and count each line of one capture object whose name carries `file_key`.

        Without a file key (lines from nowhere in particular) a line is placed by its own time, and a line
        whose time cannot be read belongs to this window.
        """
        bounds = self._file_bounds(file_key)
        earliest, latest, owns_file = bounds
        start_key, end_key = max(self._start_key, earliest), min(self._end_key, latest)
        envelope = self.decoder.envelope
        measure = self.decoder.rows_and_probabilities
        batch = self._batch
        add_values, add_probabilities, add_row_count = (
            batch.values.extend,
            batch.probabilities.extend,
            batch.row_counts.append,
        )
        for line in lines:
            key = None
            try:
                key, captured_input, captured_output = envelope(line)
                if start_key <= key < end_key:
                    rows, probabilities = measure(captured_input, captured_output)
                    for row in rows:  # the decoder checked every row's width
                        add_values(row)
                    add_probabilities(probabilities)
                    add_row_count(len(rows))
                    if len(batch) >= BATCH_RECORDS:
                        self._count_batch()
                else:
                    self._place_unmeasured(key, bounds, file_key)
            except MalformedRecord as error:
                self._place_malformed(error, line, key, bounds)
            except RefusedRequest as refusal:
                self._count_refused(refusal)
            except Exception as error:  # a safety net: no line may abort a window; the fuzz keeps it unused
                self._unexpected(error, key is not None or owns_file)
        self._count_batch()

    def _place_unmeasured(self, key: str, bounds: tuple[str, str, bool], file_key: str | None) -> None:
        """A readable line that is not measured here: another window's, or one of this file's with an
        implausible time (late_or_skewed_time, in the window that owns the file)."""
        earliest, latest, owns_file = bounds
        if earliest <= key < latest or not owns_file:
            self.counts.outside_window += 1
            return
        self._count_malformed(
            LATE_OR_SKEWED_TIME,
            f"{LATE_OR_SKEWED_TIME}: inferenceTime {key} is outside "
            f"[{earliest}, {latest}) of its capture file named at {file_key}",
        )

    def _place_malformed(
        self, error: MalformedRecord, line: bytes | str, key: str | None, bounds: tuple[str, str, bool]
    ) -> None:
        """Count a malformed line in the window that owns it (this one or another)."""
        earliest, latest, owns_file = bounds
        if key is not None:
            owned = True  # the line's time placed it here before its payload failed
        elif error.time_key is None:
            if not line.strip():
                return  # blank lines (a final newline, CRLF leftovers) are not capture lines
            owned = owns_file
        elif earliest <= error.time_key < latest:
            owned = self._start_key <= error.time_key < self._end_key
        else:
            owned = owns_file
        if owned:
            self._count_malformed(error.reason, str(error))
        else:
            self.counts.outside_window += 1

    def _count_refused(self, refusal: RefusedRequest) -> None:
        refused = self.counts.refused
        field_name = refusal.field if refusal.field in self._refusal_fields else OTHER_LABEL
        kind = f"{refusal.code}/{field_name}"
        refused[kind] = refused.get(kind, 0) + 1

    def _count_batch(self) -> None:
        """Bin the batch of measured records; a record with an unusable value counts under bad_value."""
        batch = self._batch
        if not len(batch):
            return
        unusable = 0
        try:
            rejected = self.accumulator.add_batch(batch)
        except Exception:  # the safety net again: the batch's records one by one
            rejected = []
            for position, record in enumerate(batch.records()):
                try:
                    self.accumulator.add(*record)
                except InvalidValue as error:
                    rejected.append((position, error))
                except Exception as error:
                    self._unexpected(error, True)
                    unusable += 1
        for _, invalid in rejected:
            self._count_malformed(BAD_VALUE, f"{BAD_VALUE}: {invalid}")
        self.counts.records += len(batch) - len(rejected) - unusable
        batch.clear()

    def _unexpected(self, error: Exception, owned: bool) -> None:
        if not self._unexpected_logged:
            logger.exception("capture line raised an unexpected error; counted as %s", UNEXPECTED_ERROR)
            self._unexpected_logged = True
        if owned:
            self._count_malformed(UNEXPECTED_ERROR, f"{UNEXPECTED_ERROR}: {type(error).__name__}: {error}")
        else:
            self.counts.outside_window += 1

    def _count_malformed(self, reason: str, message: str) -> None:
        malformed = self.counts.malformed
        malformed[reason] = malformed.get(reason, 0) + 1
        if reason not in self.counts.malformed_examples:
            self.counts.malformed_examples[reason] = message[:300]
            logger.warning("skipping malformed capture record: %s", message[:300])

    def partial(self) -> dict[str, Any]:
        """This scan's counts as JSON-serialisable data: what one worker of a split window hands on."""
        return {
            "window": [self._start_key, self._end_key],
            "counts": {
                "records": self.counts.records,
                "outside_window": self.counts.outside_window,
                "malformed": dict(self.counts.malformed),
                "malformed_examples": dict(self.counts.malformed_examples),
                "refused": dict(self.counts.refused),
                "objects_read": self.counts.objects_read,
            },
            "rows": self.accumulator.rows,
            "feature_counts": self.accumulator.feature_counts(),
            "prediction_counts": self.accumulator.prediction_counts(),
        }

    def merge_partial(self, partial: dict[str, Any]) -> None:
        """Add one worker's partial() (of the same window and baseline) into this scan."""
        if partial.get("window") != [self._start_key, self._end_key]:
            raise ValueError(
                f"partial.window: expected {[self._start_key, self._end_key]}, got {partial.get('window')!r}"
            )
        self.counts.merge(WindowCounts(**partial["counts"]))
        self.accumulator.add_counts(partial["feature_counts"], partial["prediction_counts"], partial["rows"])

    def result(self) -> DriftResult:
        counts = self.counts
        return DriftResult(
            window=self.window,
            records=counts.records,
            rows=self.accumulator.rows,
            outside_window=counts.outside_window,
            malformed=dict(counts.malformed),
            malformed_examples=dict(counts.malformed_examples),
            feature_drift=self.accumulator.feature_psi(),
            prediction_drift=self.accumulator.prediction_psi(),
            objects_read=counts.objects_read,
            refused=largest_refusals(counts.refused),
        )


def largest_refusals(refused: dict[str, int]) -> dict[str, int]:
    """The MAX_REFUSAL_KINDS most refused kinds (ties by name), the rest summed under "other/other"."""
    ranked = sorted(refused.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:MAX_REFUSAL_KINDS])
    folded = sum(count for _, count in ranked[MAX_REFUSAL_KINDS:])
    if folded:
        kept[OTHER_KIND] = kept.get(OTHER_KIND, 0) + folded
    return kept


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


def file_range(window: Window) -> tuple[str, str]:
    """[first, last] time keys of the capture files that can hold records of the window."""
    return (
        time_key(window.start - timedelta(minutes=FILE_LATE_MINUTES)),
        time_key(window.end + timedelta(minutes=FILE_EARLY_MINUTES)),
    )


def hour_prefixes(root: str, window: Window) -> list[str]:
    """The yyyy/mm/dd/hh/ folders under `root` whose files can hold records of the window."""
    first = window.start.astimezone(UTC) - timedelta(minutes=FILE_LATE_MINUTES)
    last = window.end.astimezone(UTC) + timedelta(minutes=FILE_EARLY_MINUTES)
    hour = first.replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour <= last:
        prefixes.append(f"{root}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def capture_objects(s3: Any, bucket: str, root: str, window: Window) -> list[tuple[str, str]]:
    """(key, file time key) of every capture object that can hold records of the window, in key order.

    Objects whose name's time cannot overlap the window are skipped without being read.
    """
    paginator = s3.get_paginator("list_objects_v2")
    keys = [
        item["Key"]
        for prefix in hour_prefixes(root, window)
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", ())
    ]
    return select_objects(keys, root, window)


def select_objects(keys: Iterable[str], root: str, window: Window) -> list[tuple[str, str]]:
    """(key, file time key) of the listed capture objects whose name's time can overlap the window."""
    first, last = file_range(window)
    found = []
    for key in keys:
        file_key = capture_file_key(key[len(root) :] if key.startswith(root) else key)
        if file_key is not None and first <= file_key <= last:
            found.append((key, file_key))
    return sorted(found)


def scan_objects(s3: Any, bucket: str, objects: Iterable[tuple[str, str]], scan: WindowScan) -> WindowScan:
    for key, file_key in objects:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            scan.feed(iter_lines(body), file_key)
        finally:
            body.close()
        scan.objects_read += 1
    return scan


def measure_window(
    s3: Any, *, capture_uri: str, endpoint: str, variant: str, model: ModelBaseline, window: Window
) -> DriftResult:
    """Stream every capture object that can hold records of `window` and measure the records it owns."""
    bucket, root = capture_root(capture_uri, endpoint, variant)
    objects = capture_objects(s3, bucket, root, window)
    return scan_objects(s3, bucket, objects, WindowScan(model, window)).result()


def metric_data(
    result: DriftResult,
    endpoint: str,
    variant: str,
    *,
    timestamp: datetime | None = None,
    coverage: float | None = None,
) -> list[dict[str, Any]]:
    """PutMetricData items for a run: counts always, drift only when there were rows to measure.

    `timestamp` is the run's scheduled time, so each alarm period holds exactly one run.
    """
    when = timestamp or result.window.end

    def datum(ref: metrics.MetricRef, value: float) -> dict[str, Any]:
        return {
            "MetricName": ref.name,
            "Dimensions": ref.dimensions_list(),
            "Timestamp": when,
            "Value": float(value),
            "Unit": ref.unit,
        }

    data = [
        datum(metrics.records_analyzed(endpoint, variant), result.records),
        datum(metrics.malformed_records(endpoint, variant), result.malformed_total),
        datum(metrics.refused_requests(endpoint, variant), result.refused_total),
        datum(metrics.artifact_broken(endpoint, variant), 0),
    ]
    for kind, count in sorted(result.refused.items()):
        code, _, field_name = kind.partition("/")
        data.append(datum(metrics.refused_requests(endpoint, variant, code, field_name), count))
    if coverage is not None:
        data.append(datum(metrics.capture_coverage(endpoint, variant), coverage))
    for feature, value in result.feature_drift.items():
        data.append(datum(metrics.feature_drift(endpoint, variant, feature), value))
    if result.max_feature_drift is not None:
        data.append(datum(metrics.max_drift(endpoint, variant), result.max_feature_drift))
    if result.prediction_drift is not None:
        data.append(datum(metrics.prediction_drift(endpoint, variant), result.prediction_drift))
    return data


def capture_coverage(placed: int, invocations: float | None, sampling_percent: int) -> float | None:
    """Lines the window owns / lines the endpoint's invocations and the sampling rate predict.

    None when too few are expected to judge (a quiet endpoint is not a blind monitor).
    """
    if invocations is None or sampling_percent <= 0:
        return None
    expected = invocations * sampling_percent / 100
    if expected < metrics.MIN_EXPECTED_RECORDS:
        return None
    return placed / expected


def endpoint_invocations(cloudwatch: Any, endpoint: str, variant: str, window: Window) -> float | None:
    """Sum of AWS/SageMaker Invocations of the variant over the window (None when it published none)."""
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "invocations",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": "Invocations",
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": endpoint},
                            {"Name": "VariantName", "Value": variant},
                        ],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=window.start,
        EndTime=window.end,
    )
    values = [value for result in response.get("MetricDataResults", ()) for value in result.get("Values", ())]
    return float(sum(values)) if values else None


def artifact_broken_data(endpoint: str, variant: str, timestamp: datetime) -> list[dict[str, Any]]:
    """The one metric a run publishes when the model artifact's baseline cannot be used."""
    ref = metrics.artifact_broken(endpoint, variant)
    return [
        {
            "MetricName": ref.name,
            "Dimensions": ref.dimensions_list(),
            "Timestamp": timestamp,
            "Value": 1.0,
            "Unit": ref.unit,
        }
    ]


def publish(cloudwatch: Any, data: list[dict[str, Any]]) -> int:
    """Send metric data in PutMetricData-sized batches; returns the number of items sent."""
    for first in range(0, len(data), MAX_METRICS_PER_REQUEST):
        cloudwatch.put_metric_data(
            Namespace=metrics.NAMESPACE, MetricData=data[first : first + MAX_METRICS_PER_REQUEST]
        )
    return len(data)

"""The scheduled drift Lambda end to end against moto on 127.0.0.1 (S3 in, CloudWatch out)."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from monitoring_synthetic import FEATURES, Traffic, capture_lines, draw_rows, model_tarball, training_baseline

from monitoring import artifact, metrics
from monitoring.config import ConfigError
from monitoring.drift import BaselineError
from monitoring.handler import DriftConfig, handler

pytestmark = pytest.mark.slow

ENDPOINT = "churn-dev"
VARIANT = "AllTraffic"
CAPTURE_BUCKET = "sagestack-capture"
MODEL_BUCKET = "sagestack-models"
MODEL_KEY = "train-0001/output/model.tar.gz"
# Recent enough for CloudWatch's two-week limit on metric timestamps; the window spans two hour folders.
END = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=2)
WINDOW_MINUTES = 60


def environment(**overrides: str) -> dict[str, str]:
    env = {
        "CAPTURE_S3_URI": f"s3://{CAPTURE_BUCKET}/datacapture",
        "ENDPOINT_NAME": ENDPOINT,
        "VARIANT_NAME": VARIANT,
        "MODEL_DATA_URL": f"s3://{MODEL_BUCKET}/{MODEL_KEY}",
        "WINDOW_MINUTES": str(WINDOW_MINUTES),
    }
    env.update(overrides)
    return env


def scheduled_event(at: datetime) -> dict:
    return {
        "version": "0",
        "id": "5c2b4f3e-0000-4000-8000-000000000001",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/sagestack-drift"],
        "detail": {},
    }


def folder(moment: datetime) -> str:
    return f"datacapture/{ENDPOINT}/{VARIANT}/{moment:%Y/%m/%d/%H}/"


@pytest.fixture
def deployed(aws: str, monkeypatch: pytest.MonkeyPatch):
    """Buckets and a model artifact as the stack would leave them, with the handler's env set."""
    s3 = boto3.client("s3")
    for bucket in (CAPTURE_BUCKET, MODEL_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=MODEL_BUCKET, Key=MODEL_KEY, Body=model_tarball(training_baseline()))
    for name, value in environment().items():
        monkeypatch.setenv(name, value)
    return s3


def upload_traffic(s3, traffic: Traffic, count: int = 1200, seed: int = 21) -> None:
    """`count` rows spread over the window, split by hour folder, plus records outside the window."""
    start = END - timedelta(minutes=WINDOW_MINUTES)
    rows = draw_rows(random.Random(seed), count, traffic)
    times = [start + timedelta(seconds=(i * WINDOW_MINUTES * 60) // count) for i in range(count)]
    by_folder: dict[str, list[str]] = {}
    for line, moment in zip(capture_lines(rows, times), times, strict=True):
        by_folder.setdefault(folder(moment), []).append(line)
    outside = capture_lines(
        draw_rows(random.Random(99), 3, Traffic(monthly_charges_shift=80)),
        [start - timedelta(seconds=1), END, END + timedelta(minutes=1)],
    )
    by_folder.setdefault(folder(start), []).append(outside[0])
    by_folder.setdefault(folder(END), []).extend(outside[1:])
    by_folder.setdefault(folder(start - timedelta(hours=1)), []).append(outside[0])
    for number, (prefix, lines) in enumerate(sorted(by_folder.items())):
        half = len(lines) // 2
        for part, chunk in enumerate((lines[:half], lines[half:])):
            s3.put_object(
                Bucket=CAPTURE_BUCKET,
                Key=f"{prefix}capture-{number}-{part}.jsonl",
                Body="\n".join(chunk) + "\n",
            )


def metric_value(cloudwatch, ref: metrics.MetricRef) -> float | None:
    stats = cloudwatch.get_metric_statistics(
        Namespace=ref.namespace,
        MetricName=ref.name,
        Dimensions=ref.dimensions_list(),
        StartTime=END - timedelta(minutes=5),
        EndTime=END + timedelta(minutes=5),
        Period=60,
        Statistics=[ref.statistic],
    )
    points = stats["Datapoints"]
    return points[0][ref.statistic] if points else None


def test_scheduled_run_publishes_drift_for_the_window(deployed) -> None:
    upload_traffic(deployed, Traffic(monthly_charges_shift=25.0))
    summary = handler(scheduled_event(END + timedelta(seconds=17)), None)
    json.dumps(summary)

    assert summary["window"] == {"start": (END - timedelta(minutes=60)).isoformat(), "end": END.isoformat()}
    assert summary["records_analyzed"] == 1200
    assert summary["records_outside_window"] == 3, (
        "one before the start and two at/after the end share the folders"
    )
    assert summary["malformed_records"] == 0
    assert summary["max_drift_feature"] == "monthly_charges"
    assert summary["objects_read"] == 4, "the folder an hour before the window is not read"
    assert summary["baseline"]["etag"]

    cloudwatch = boto3.client("cloudwatch")
    listed = {
        (m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
        for m in cloudwatch.list_metrics(Namespace=metrics.NAMESPACE)["Metrics"]
    }
    refs = [
        metrics.records_analyzed(ENDPOINT, VARIANT),
        metrics.malformed_records(ENDPOINT, VARIANT),
        metrics.max_drift(ENDPOINT, VARIANT),
        metrics.prediction_drift(ENDPOINT, VARIANT),
        *(metrics.feature_drift(ENDPOINT, VARIANT, name) for name in FEATURES),
    ]
    assert listed == {(ref.name, tuple(sorted(ref.dimensions))) for ref in refs}
    assert metric_value(cloudwatch, metrics.records_analyzed(ENDPOINT, VARIANT)) == 1200
    assert metric_value(cloudwatch, metrics.max_drift(ENDPOINT, VARIANT)) == pytest.approx(
        summary["max_feature_drift"]
    )
    assert metric_value(cloudwatch, metrics.max_drift(ENDPOINT, VARIANT)) > 0.2
    assert metric_value(cloudwatch, metrics.feature_drift(ENDPOINT, VARIANT, "tenure_months")) < 0.2
    assert metric_value(cloudwatch, metrics.malformed_records(ENDPOINT, VARIANT)) == 0


def test_a_run_with_no_traffic_still_publishes_records_analyzed(deployed) -> None:
    summary = handler(scheduled_event(END), None)
    assert summary["records_analyzed"] == 0 and summary["max_feature_drift"] is None
    cloudwatch = boto3.client("cloudwatch")
    assert metric_value(cloudwatch, metrics.records_analyzed(ENDPOINT, VARIANT)) == 0
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=metrics.NAMESPACE)["Metrics"]}
    assert names == {"RecordsAnalyzed", "MalformedRecords"}


def test_malformed_capture_lines_are_counted_and_published(deployed) -> None:
    upload_traffic(deployed, Traffic(), count=200)
    deployed.put_object(
        Bucket=CAPTURE_BUCKET,
        Key=f"{folder(END - timedelta(minutes=10))}broken.jsonl",
        Body=b'{"captureData": \n{"captureData": {"endpointInput": {}}}\n',
    )
    summary = handler(scheduled_event(END), None)
    assert summary["malformed_by_reason"] == {"bad_json": 1, "missing_field": 1}
    assert summary["records_analyzed"] == 200
    assert all(value < 0.2 for value in summary["feature_drift"].values())
    assert metric_value(boto3.client("cloudwatch"), metrics.malformed_records(ENDPOINT, VARIANT)) == 2


def test_baseline_is_cached_per_etag(deployed) -> None:
    s3 = boto3.client("s3")
    downloads = []
    s3.meta.events.register(
        "before-parameter-build.s3.GetObject", lambda **kwargs: downloads.append(kwargs["params"]["Key"])
    )
    url = f"s3://{MODEL_BUCKET}/{MODEL_KEY}"
    first = artifact.load_model_baseline(s3, url)
    assert artifact.load_model_baseline(s3, url) is first
    assert downloads == [MODEL_KEY]
    changed = training_baseline(seed=8)
    s3.put_object(Bucket=MODEL_BUCKET, Key=MODEL_KEY, Body=model_tarball(changed))
    second = artifact.load_model_baseline(s3, url)
    assert second.etag != first.etag and downloads == [MODEL_KEY, MODEL_KEY]
    assert second.baseline.record_count == changed["record_count"]


def test_an_artifact_without_a_baseline_fails_the_run_and_publishes_nothing(deployed) -> None:
    deployed.put_object(Bucket=MODEL_BUCKET, Key=MODEL_KEY, Body=b"not a tarball")
    with pytest.raises(
        BaselineError, match=re.escape(f"s3://{MODEL_BUCKET}/{MODEL_KEY}: not a readable model.tar.gz")
    ):
        handler(scheduled_event(END), None)
    assert boto3.client("cloudwatch").list_metrics(Namespace=metrics.NAMESPACE)["Metrics"] == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CAPTURE_S3_URI": ""}, "CAPTURE_S3_URI: required environment variable is missing"),
        ({"CAPTURE_S3_URI": "/local/path"}, "CAPTURE_S3_URI: expected an s3://bucket/key URL"),
        (
            {"MODEL_DATA_URL": f"s3://{MODEL_BUCKET}"},
            "MODEL_DATA_URL: expected s3://bucket/key of a model.tar.gz",
        ),
        ({"ENDPOINT_NAME": " "}, "ENDPOINT_NAME: required environment variable is missing"),
        ({"VARIANT_NAME": "a/b"}, "VARIANT_NAME: expected a SageMaker name without '/'"),
        (
            {"WINDOW_MINUTES": "an hour"},
            "WINDOW_MINUTES: expected a whole number from 1 to 1440, got 'an hour'",
        ),
        ({"WINDOW_MINUTES": "0"}, "WINDOW_MINUTES: expected a whole number from 1 to 1440"),
        ({"WINDOW_MINUTES": "1441"}, "WINDOW_MINUTES: expected a whole number from 1 to 1440"),
    ],
)
def test_bad_configuration_names_the_variable(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        DriftConfig.from_env(environment(**overrides))


def test_bad_configuration_fails_the_handler_before_any_aws_call(
    deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_DATA_URL")
    with pytest.raises(ConfigError, match="MODEL_DATA_URL"):
        handler(scheduled_event(END), None)
    assert boto3.client("cloudwatch").list_metrics(Namespace=metrics.NAMESPACE)["Metrics"] == []


@pytest.mark.parametrize("bad_time", ["yesterday", "2026-11-28T03:00:00", 1700000000])
def test_an_event_with_an_unusable_time_is_rejected(deployed, bad_time: object) -> None:
    event = scheduled_event(END) | {"time": bad_time}
    with pytest.raises(ValueError, match=re.escape("event.time: expected an ISO 8601 UTC time")):
        handler(event, None)

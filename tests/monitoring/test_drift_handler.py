"""The scheduled drift Lambda end to end against moto on 127.0.0.1 (S3 in, CloudWatch out)."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from monitoring import artifact, metrics
from monitoring.config import ConfigError
from monitoring.drift import BaselineError
from monitoring.handler import DriftConfig, handler
from tests.monitoring.monitoring_synthetic import (
    FEATURES,
    Traffic,
    capture_lines,
    draw_rows,
    model_tarball,
    training_baseline,
)

pytestmark = pytest.mark.slow

ENDPOINT = "churn-dev"
VARIANT = "AllTraffic"
CAPTURE_BUCKET = "sagestack-capture"
MODEL_BUCKET = "sagestack-models"
MODEL_KEY = "train-0001/output/model.tar.gz"
# Recent enough for CloudWatch's two-week limit on metric timestamps; an hour window, aligned to the hour.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
WINDOW_MINUTES = 60
SAMPLING_PERCENT = 50
# The run that measures the window: the settle delay after it ends.
RUN = END + timedelta(minutes=20)


def environment(**overrides: str) -> dict[str, str]:
    env = {
        "CAPTURE_S3_URI": f"s3://{CAPTURE_BUCKET}/datacapture",
        "ENDPOINT_NAME": ENDPOINT,
        "VARIANT_NAME": VARIANT,
        "WINDOW_MINUTES": str(WINDOW_MINUTES),
        "CAPTURE_SAMPLING_PERCENT": str(SAMPLING_PERCENT),
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
    serve(f"s3://{MODEL_BUCKET}/{MODEL_KEY}", version="train-0001")
    for name, value in environment().items():
        monkeypatch.setenv(name, value)
    return s3


def serve(model_data_url: str | None = None, *, version: str, package_arn: str | None = None) -> None:
    """Point the endpoint at a new model, as a deployment (or a rollback to an older one) leaves it."""
    sm = boto3.client("sagemaker")
    container: dict = {"Environment": {"SAGESTACK_MODEL_VERSION": version}}
    if package_arn:
        container["ModelPackageName"] = package_arn
    else:
        container |= {"Image": "sklearn", "ModelDataUrl": model_data_url}
    model = f"{ENDPOINT}-model-{version}"
    sm.create_model(
        ModelName=model, ExecutionRoleArn="arn:aws:iam::123456789012:role/x", PrimaryContainer=container
    )
    config = f"{ENDPOINT}-config-{version}"
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": VARIANT,
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    # moto has no UpdateEndpoint: a fresh endpoint of the same name stands for the updated one.
    if any(e["EndpointName"] == ENDPOINT for e in sm.list_endpoints()["Endpoints"]):
        sm.delete_endpoint(EndpointName=ENDPOINT)
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config)


def capture_file(s3, opened: datetime, lines: list[str], number: int = 0) -> str:
    """One capture object named as SageMaker names them: <hour folder>/<MM>-<SS>-<mmm>-<uuid>.jsonl."""
    key = f"{folder(opened)}{opened:%M-%S}-000-{number:08d}-0000-4000-8000-000000000000.jsonl"
    s3.put_object(Bucket=CAPTURE_BUCKET, Key=key, Body="\n".join(lines) + "\n")
    return key


def upload_traffic(s3, traffic: Traffic, count: int = 1200, seed: int = 21) -> None:
    """`count` rows over the window in six 10-minute capture files, plus records outside the window."""
    start = END - timedelta(minutes=WINDOW_MINUTES)
    rows = draw_rows(random.Random(seed), count, traffic)
    times = [start + timedelta(seconds=(i * WINDOW_MINUTES * 60) // count) for i in range(count)]
    lines = capture_lines(rows, times)
    for number in range(6):
        chunk = lines[number * count // 6 : (number + 1) * count // 6]
        capture_file(s3, start + timedelta(minutes=10 * number), chunk, number)
    outside = capture_lines(
        draw_rows(random.Random(99), 3, Traffic(monthly_charges_shift=80)),
        [start - timedelta(seconds=1), END, END + timedelta(minutes=1)],
    )
    capture_file(s3, start - timedelta(minutes=5), outside[:1], 10)
    capture_file(s3, END, outside[1:], 11)
    # Opened 40 minutes before the window: it cannot hold the window's records, so it is never read.
    capture_file(s3, start - timedelta(minutes=40), outside[:1], 12)


def metric_value(cloudwatch, ref: metrics.MetricRef) -> float | None:
    stats = cloudwatch.get_metric_statistics(
        Namespace=ref.namespace,
        MetricName=ref.name,
        Dimensions=ref.dimensions_list(),
        StartTime=RUN - timedelta(minutes=5),
        EndTime=RUN + timedelta(minutes=5),
        Period=60,
        Statistics=[ref.statistic],
    )
    points = stats["Datapoints"]
    return points[0][ref.statistic] if points else None


def test_scheduled_run_publishes_drift_for_the_window(deployed) -> None:
    upload_traffic(deployed, Traffic(monthly_charges_shift=25.0))
    summary = handler(scheduled_event(RUN + timedelta(seconds=17)), None)
    json.dumps(summary)

    assert summary["window"] == {"start": (END - timedelta(minutes=60)).isoformat(), "end": END.isoformat()}
    assert summary["records_analyzed"] == 1200
    assert summary["records_outside_window"] == 3, "one before the start and two at/after the end"
    assert summary["malformed_records"] == 0
    assert summary["max_drift_feature"] == "monthly_charges"
    assert summary["objects_read"] == 8, "the file opened 40 minutes before the window is not read"
    assert summary["baseline"]["etag"]

    cloudwatch = boto3.client("cloudwatch")
    listed = {
        (m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
        for m in cloudwatch.list_metrics(Namespace=metrics.NAMESPACE)["Metrics"]
    }
    refs = [
        metrics.records_analyzed(ENDPOINT, VARIANT),
        metrics.malformed_records(ENDPOINT, VARIANT),
        metrics.refused_requests(ENDPOINT, VARIANT),
        metrics.artifact_broken(ENDPOINT, VARIANT),
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
    summary = handler(scheduled_event(RUN), None)
    assert summary["records_analyzed"] == 0 and summary["max_feature_drift"] is None
    cloudwatch = boto3.client("cloudwatch")
    assert metric_value(cloudwatch, metrics.records_analyzed(ENDPOINT, VARIANT)) == 0
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=metrics.NAMESPACE)["Metrics"]}
    assert names == {"RecordsAnalyzed", "MalformedRecords", "RefusedRequests", "ArtifactBroken"}
    assert summary["capture_coverage"] is None, "no invocations: nothing to compare with"


def put_invocations(count: int) -> None:
    """What SageMaker publishes for the variant during the window (moto accepts the AWS/ namespace)."""
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": ENDPOINT},
                    {"Name": "VariantName", "Value": VARIANT},
                ],
                "Timestamp": END - timedelta(minutes=30),
                "Value": float(count),
                "Unit": "None",
            }
        ],
    )


@pytest.mark.parametrize(("invocations", "coverage"), [(2400, 1.0), (12000, 0.2), (30, None)])
def test_capture_coverage_compares_the_lines_with_invocations_and_sampling(
    deployed, invocations: int, coverage: float | None
) -> None:
    upload_traffic(deployed, Traffic(), count=1200)
    put_invocations(invocations)
    summary = handler(scheduled_event(RUN), None)
    assert summary["capture_coverage"] == (None if coverage is None else pytest.approx(coverage))
    published = metric_value(boto3.client("cloudwatch"), metrics.capture_coverage(ENDPOINT, VARIANT))
    assert published == (None if coverage is None else pytest.approx(coverage))


def test_capture_that_stops_arriving_shows_as_zero_coverage(deployed) -> None:
    # issue 14 item 7: an empty window used to publish RecordsAnalyzed=0 and nothing else
    put_invocations(5000)
    summary = handler(scheduled_event(RUN), None)
    assert summary["records_analyzed"] == 0 and summary["capture_coverage"] == 0.0


def test_refused_requests_are_published_by_code_and_field(deployed) -> None:
    start = END - timedelta(minutes=WINDOW_MINUTES)
    refused = {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": "1,2,three-year,0,dsl",
                "encoding": "CSV",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": json.dumps(
                    {"error": {"code": "unknown_category", "message": "m", "field": "contract"}}
                ),
                "encoding": "JSON",
            },
        },
        "eventMetadata": {
            "eventId": "e",
            "inferenceTime": (start + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "eventVersion": "0",
    }
    capture_file(deployed, start, [json.dumps(refused)] * 7)
    summary = handler(scheduled_event(RUN), None)
    assert summary["refused_by_code_and_field"] == {"unknown_category/contract": 7}
    assert summary["malformed_records"] == 0 and summary["records_analyzed"] == 0
    ref = metrics.refused_requests(ENDPOINT, VARIANT, "unknown_category", "contract")
    assert metric_value(boto3.client("cloudwatch"), ref) == 7


def test_malformed_capture_lines_are_counted_and_published(deployed) -> None:
    upload_traffic(deployed, Traffic(), count=200)
    capture_file(
        deployed,
        END - timedelta(minutes=10),
        ['{"captureData": ', '{"captureData": {"endpointInput": {}}}'],
        20,
    )
    summary = handler(scheduled_event(RUN), None)
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


def published_names() -> set[str]:
    listed = boto3.client("cloudwatch").list_metrics(Namespace=metrics.NAMESPACE)["Metrics"]
    return {m["MetricName"] for m in listed}


def test_an_unreadable_artifact_is_reported_as_broken_never_as_drift(deployed) -> None:
    deployed.put_object(Bucket=MODEL_BUCKET, Key=MODEL_KEY, Body=b"not a tarball")
    upload_traffic(deployed, Traffic(), count=120)
    summary = handler(scheduled_event(RUN), None)
    assert summary["status"] == "artifact_broken"
    assert f"s3://{MODEL_BUCKET}/{MODEL_KEY}: not a readable model.tar.gz" in summary["error"]
    assert published_names() == {"ArtifactBroken"}
    assert metric_value(boto3.client("cloudwatch"), metrics.artifact_broken(ENDPOINT, VARIANT)) == 1


def test_a_baseline_whose_categories_disagree_with_the_schema_is_a_broken_artifact(deployed) -> None:
    # issue 14 item 10: "2-year" in the baseline vs "two-year" in schema.json is not drift
    baseline = training_baseline()
    contract = next(f for f in baseline["features"] if f["name"] == "contract")
    contract["categories"] = ["month-to-month", "one-year", "2-year"]
    deployed.put_object(Bucket=MODEL_BUCKET, Key=MODEL_KEY, Body=model_tarball(baseline))
    upload_traffic(deployed, Traffic(), count=120)
    summary = handler(scheduled_event(RUN), None)
    assert summary["status"] == "artifact_broken"
    assert "baseline categories of 'contract'" in summary["error"] and "two-year" in summary["error"]
    assert published_names() == {"ArtifactBroken"}


def test_a_baseline_whose_feature_type_disagrees_with_the_schema_is_a_broken_artifact() -> None:
    import io

    from tests.monitoring.monitoring_synthetic import SCHEMA

    schema = json.loads(json.dumps(SCHEMA))
    schema["features"][0]["type"] = "categorical"
    schema["features"][0]["categories"] = ["a"]
    with pytest.raises(
        BaselineError, match=re.escape("'tenure_months' is numeric but schema.json says 'categorical'")
    ):
        artifact.read_model_baseline(io.BytesIO(model_tarball(training_baseline(), schema)), "s3://m/k")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CAPTURE_S3_URI": ""}, "CAPTURE_S3_URI: required environment variable is missing"),
        ({"CAPTURE_S3_URI": "/local/path"}, "CAPTURE_S3_URI: expected an s3://bucket/key URL"),
        ({"ENDPOINT_NAME": " "}, "ENDPOINT_NAME: required environment variable is missing"),
        ({"VARIANT_NAME": "a/b"}, "VARIANT_NAME: expected a SageMaker name without '/'"),
        (
            {"WINDOW_MINUTES": "an hour"},
            "WINDOW_MINUTES: expected a whole number from 1 to 1440, got 'an hour'",
        ),
        ({"WINDOW_MINUTES": "0"}, "WINDOW_MINUTES: expected a whole number from 1 to 1440"),
        ({"WINDOW_MINUTES": "1441"}, "WINDOW_MINUTES: expected a whole number from 1 to 1440"),
        (
            {"CAPTURE_SAMPLING_PERCENT": "0"},
            "CAPTURE_SAMPLING_PERCENT: expected a whole number from 1 to 100",
        ),
    ],
)
def test_bad_configuration_names_the_variable(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        DriftConfig.from_env(environment(**overrides))


def test_bad_configuration_fails_the_handler_before_any_aws_call(
    deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAPTURE_S3_URI")
    with pytest.raises(ConfigError, match="CAPTURE_S3_URI"):
        handler(scheduled_event(RUN), None)
    assert boto3.client("cloudwatch").list_metrics(Namespace=metrics.NAMESPACE)["Metrics"] == []


@pytest.mark.parametrize("bad_time", ["yesterday", "2026-11-28T03:00:00", 1700000000])
def test_an_event_with_an_unusable_time_is_rejected(deployed, bad_time: object) -> None:
    event = scheduled_event(RUN) | {"time": bad_time}
    with pytest.raises(ValueError, match=re.escape("event.time: expected an ISO 8601 UTC time")):
        handler(event, None)


# Issue 12: the baseline is the served model's, resolved at every run, so a rollback (the endpoint back on an
# older model) or a promotion (a model package) changes what drift is measured against, by itself.
def test_after_a_rollback_drift_is_measured_against_the_older_models_baseline(deployed) -> None:
    older = training_baseline(seed=8)
    deployed.put_object(Bucket=MODEL_BUCKET, Key="train-0000/output/model.tar.gz", Body=model_tarball(older))
    first = handler(scheduled_event(RUN), None)
    assert first["model"]["version"] == "train-0001"
    serve(f"s3://{MODEL_BUCKET}/train-0000/output/model.tar.gz", version="train-0000")
    second = handler(scheduled_event(RUN), None)
    assert second["model"]["version"] == "train-0000"
    assert second["baseline"]["model_data_url"] == f"s3://{MODEL_BUCKET}/train-0000/output/model.tar.gz"
    assert second["model"]["endpoint_config_name"] == f"{ENDPOINT}-config-train-0000"


def test_a_promoted_package_is_resolved_to_its_artifact(deployed) -> None:
    sm = boto3.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="sagestack-staging-models")
    package = sm.create_model_package(
        ModelPackageGroupName="sagestack-staging-models",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "sklearn", "ModelDataUrl": f"s3://{MODEL_BUCKET}/{MODEL_KEY}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    serve(version=package, package_arn=package)
    summary = handler(scheduled_event(RUN), None)
    assert summary["model"]["version"] == summary["model"]["model_package_arn"] == package
    assert summary["baseline"]["model_data_url"] == f"s3://{MODEL_BUCKET}/{MODEL_KEY}"


def test_an_endpoint_whose_model_has_no_artifact_is_reported_broken_not_drifted(deployed) -> None:
    sm = boto3.client("sagemaker")
    sm.create_model(
        ModelName=f"{ENDPOINT}-empty",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
        PrimaryContainer={"Image": "sklearn"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{ENDPOINT}-config-empty",
        ProductionVariants=[
            {
                "VariantName": VARIANT,
                "ModelName": f"{ENDPOINT}-empty",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.delete_endpoint(EndpointName=ENDPOINT)
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config-empty")
    summary = handler(scheduled_event(RUN), None)
    assert summary["status"] == "artifact_broken"
    assert "names neither a ModelDataUrl nor a ModelPackageName" in summary["error"]

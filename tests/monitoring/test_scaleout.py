"""Drift scale-out: the planner, a window split across N in-process workers on moto S3, one publication."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from monitoring import metrics
from monitoring.artifact import load_model_baseline
from monitoring.config import ConfigError
from monitoring.engine import Window, measure_window
from monitoring.handler import DriftConfig
from monitoring.scaleout import (
    MAX_PARTS,
    ArtifactChanged,
    CaptureObject,
    CorruptPartial,
    PartialMissing,
    PublicationInProgress,
    PublishConfig,
    RunSpec,
    ScaleoutConfig,
    claim_publication,
    execution_name,
    manifest_key,
    measure_part,
    partial_key,
    plan_and_start,
    plan_window,
    publication_id,
    publish_once,
    reduce_and_publish,
)
from tests.monitoring.monitoring_synthetic import (
    Traffic,
    capture_line,
    capture_lines,
    draw_rows,
    model_tarball,
    training_baseline,
)

pytestmark = pytest.mark.slow

ENDPOINT = "churn-dev"
VARIANT = "AllTraffic"
CAPTURE_BUCKET = "sagestack-capture"
ARTIFACTS_BUCKET = "sagestack-artifacts"
MODEL_KEY = "models/train-0001/output/model.tar.gz"
TABLE = "sagestack-drift-publications"
ROLE = "arn:aws:iam::123456789012:role/sagestack-drift-scaleout"
# Recent enough for CloudWatch's two-week limit on metric timestamps; an hour window, aligned to the hour.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
WINDOW = Window(END - timedelta(hours=1), END)
RUN = END + timedelta(minutes=20)


def obj(key: str, size: int) -> CaptureObject:
    return CaptureObject(key, key, size)


# ---- the planner ----


def test_a_window_within_the_single_budget_stays_one_invocation() -> None:
    plan = plan_window(WINDOW, [obj("b", 40), obj("a", 60)], single_max_bytes=100, part_bytes=30)
    assert not plan.distributed and plan.parts == ()
    assert [o.key for o in plan.objects] == ["a", "b"] and plan.total_bytes == 100


def test_one_byte_over_the_single_budget_splits_into_parts_in_key_order() -> None:
    objects = [obj(f"k{i:02d}", 30) for i in range(7)]  # 210 bytes
    plan = plan_window(WINDOW, objects, single_max_bytes=209, part_bytes=60)
    assert plan.distributed
    assert [[o.key for o in part] for part in plan.parts] == [
        ["k00", "k01"],
        ["k02", "k03"],
        ["k04", "k05"],
        ["k06"],
    ]


def test_too_many_objects_split_even_when_small_and_an_oversized_object_is_a_part_of_its_own() -> None:
    many = plan_window(
        WINDOW, [obj(f"k{i}", 1) for i in range(5)], single_max_bytes=10**9, part_bytes=10**9, part_objects=2
    )
    assert [len(part) for part in many.parts] == [2, 2, 1]
    big = plan_window(WINDOW, [obj("a", 5), obj("b", 500), obj("c", 5)], single_max_bytes=100, part_bytes=100)
    assert [[o.key for o in part] for part in big.parts] == [["a"], ["b"], ["c"]]


def test_a_window_needing_more_parts_than_a_run_can_merge_is_refused_with_the_setting_to_change() -> None:
    objects = [obj(f"k{i:05d}", 10) for i in range(MAX_PARTS + 1)]
    with pytest.raises(ValueError, match=r"SCALEOUT_PART_BYTES: 5001 parts"):
        plan_window(WINDOW, objects, single_max_bytes=10, part_bytes=10, part_objects=10**6)


def test_execution_names_are_per_window_and_within_the_step_functions_limit() -> None:
    # StartExecution `name`: 1-80 characters (botocore stepfunctions service model, shape Name).
    model = boto3.session.Session().get_available_services()
    assert "stepfunctions" in model
    shape = (
        boto3.session.Session()._session.get_service_model("stepfunctions").operation_model("StartExecution")
    )
    limit = shape.input_shape.members["name"].metadata["max"]
    long_endpoint = "e" * 63  # SageMaker endpoint names may be 63 characters
    name = execution_name(long_endpoint, VARIANT, WINDOW)
    assert 1 <= len(name) <= limit
    assert name == execution_name(long_endpoint, VARIANT, WINDOW)
    later = Window(WINDOW.end, WINDOW.end + timedelta(hours=1))
    assert name != execution_name(long_endpoint, VARIANT, later)


def test_config_errors_name_the_variable() -> None:
    env = {
        "SCALEOUT_STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:s",
        "SCALEOUT_BUCKET": ARTIFACTS_BUCKET,
        "SCALEOUT_SINGLE_MAX_BYTES": "100",
        "SCALEOUT_PART_BYTES": "0",
        "SCALEOUT_PART_OBJECTS": "10",
    }
    with pytest.raises(ConfigError, match=r"SCALEOUT_PART_BYTES: expected a whole number from 1"):
        ScaleoutConfig.from_env(env)
    with pytest.raises(ConfigError, match=r"SCALEOUT_STATE_MACHINE_ARN: required"):
        ScaleoutConfig.from_env({k: v for k, v in env.items() if k != "SCALEOUT_STATE_MACHINE_ARN"})
    with pytest.raises(ConfigError, match=r"PUBLICATIONS_TABLE_NAME: required"):
        PublishConfig.from_env({})


def test_a_malformed_execution_input_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"run\.model\.etag: expected a non-empty string"):
        RunSpec.from_json(
            {
                "endpoint": "e",
                "variant": "v",
                "capture_bucket": "c",
                "bucket": "b",
                "model": {"url": "s3://m/k"},
            }
        )
    with pytest.raises(ValueError, match=r"run\.scheduled: expected the run's ISO 8601 time"):
        RunSpec.from_json({**spec_json(parts=1), "scheduled": None})
    with pytest.raises(ValueError, match=r"part\.objects: expected a non-empty list"):
        measure_part(None, {"run": spec_json(parts=1), "part": {"part": 0, "objects": []}})


# ---- a window split across workers on moto ----


def spec_json(parts: int) -> dict[str, Any]:
    return {
        "endpoint": ENDPOINT,
        "variant": VARIANT,
        "window": {"start": WINDOW.start.isoformat(), "end": WINDOW.end.isoformat()},
        "scheduled": RUN.isoformat(),
        "capture_bucket": CAPTURE_BUCKET,
        "bucket": ARTIFACTS_BUCKET,
        "manifest_key": manifest_key(ENDPOINT, VARIANT, WINDOW),
        "parts": parts,
        "model": {"url": f"s3://{ARTIFACTS_BUCKET}/{MODEL_KEY}", "etag": "x"},
        "sampling_percent": 100,
    }


def folder(moment: datetime) -> str:
    return f"datacapture/{ENDPOINT}/{VARIANT}/{moment:%Y/%m/%d/%H}/"


def short_row_line(rng: random.Random, moment: datetime) -> str:
    """A CSV request with one column missing: counted as malformed by whichever window owns it."""
    record = json.loads(capture_line(draw_rows(rng, 1), moment))
    data = record["captureData"]["endpointInput"]["data"]
    record["captureData"]["endpointInput"]["data"] = data.rsplit(",", 1)[0]
    return json.dumps(record)


def write_capture(s3: Any) -> int:
    """Twelve capture files around the window (two hour folders), drifted traffic, malformed lines too."""
    rng = random.Random(14)
    drifted = Traffic(monthly_charges_shift=25.0)
    files = 0
    for index in range(12):
        opened = WINDOW.start - timedelta(minutes=10) + timedelta(minutes=6 * index)
        times = [opened + timedelta(seconds=9 * n) for n in range(40)]
        lines = capture_lines(draw_rows(rng, 40, drifted), times, rows_per_record=1)
        lines.append('{"captureData": {}, "eventMetadata": {"inferenceTime": "not-a-time"}}')
        lines.append(short_row_line(rng, opened + timedelta(seconds=3)))
        key = f"{folder(opened)}{opened:%M-%S}-000-{index:08x}-0000-4000-8000-000000000000.jsonl"
        s3.put_object(Bucket=CAPTURE_BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())
        files += 1
    return files


def serve(sm: Any) -> None:
    sm.create_model(
        ModelName="sagestack-dev-model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={
            "Image": "123.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1",
            "ModelDataUrl": f"s3://{ARTIFACTS_BUCKET}/{MODEL_KEY}",
            "Environment": {"SAGESTACK_MODEL_VERSION": "train-0001"},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="sagestack-dev-config",
        ProductionVariants=[
            {
                "VariantName": VARIANT,
                "ModelName": "sagestack-dev-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="sagestack-dev-config")


@pytest.fixture
def stack(aws: str) -> dict[str, Any]:
    """Buckets, a served model, capture, the publications table and a state machine, as the stack leaves them."""
    s3 = boto3.client("s3")
    for bucket in (CAPTURE_BUCKET, ARTIFACTS_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=MODEL_KEY, Body=model_tarball(training_baseline()))
    write_capture(s3)
    serve(boto3.client("sagemaker"))
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "publication", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "publication", "AttributeType": "S"}],
    )
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="sagestack-dev-drift-scaleout",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    return {
        "s3": s3,
        "cloudwatch": boto3.client("cloudwatch"),
        "sagemaker": boto3.client("sagemaker"),
        "dynamodb": dynamodb,
        "stepfunctions": sfn,
        "state_machine_arn": machine,
    }


def drift_config() -> DriftConfig:
    return DriftConfig(f"s3://{CAPTURE_BUCKET}/datacapture", ENDPOINT, VARIANT, 60, 100)


def scale_config(stack: dict[str, Any], *, part_bytes: int) -> ScaleoutConfig:
    return ScaleoutConfig(stack["state_machine_arn"], ARTIFACTS_BUCKET, part_bytes, part_bytes, 1000)


def start(stack: dict[str, Any], part_bytes: int) -> dict[str, Any]:
    return plan_and_start(
        drift_config(),
        scale_config(stack, part_bytes=part_bytes),
        {"time": RUN.strftime("%Y-%m-%dT%H:%M:%SZ")},
        s3=stack["s3"],
        cloudwatch=stack["cloudwatch"],
        sagemaker=stack["sagemaker"],
        stepfunctions=stack["stepfunctions"],
    )


def execution_input(stack: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
    described = stack["stepfunctions"].describe_execution(executionArn=started["execution_arn"])
    return dict(json.loads(described["input"]))


def run_map(stack: dict[str, Any], run: dict[str, Any], retried: frozenset[int] = frozenset()) -> None:
    """What the Distributed Map does: each manifest item, with the ItemSelector's {run, part}, to a worker."""
    manifest = json.loads(
        stack["s3"].get_object(Bucket=run["bucket"], Key=run["manifest_key"])["Body"].read()
    )
    for item in manifest:
        measure_part(stack["s3"], {"run": run, "part": item})
        if item["part"] in retried:
            measure_part(stack["s3"], {"run": run, "part": item})


def reduce(stack: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    return reduce_and_publish(
        run,
        PublishConfig(TABLE),
        s3=stack["s3"],
        cloudwatch=stack["cloudwatch"],
        dynamodb=stack["dynamodb"],
        now=datetime.now(UTC),
    )


def published_runs(stack: dict[str, Any]) -> float:
    """How many times RecordsAnalyzed was put for the window's run (SampleCount at its timestamp)."""
    stats = stack["cloudwatch"].get_metric_statistics(
        Namespace=metrics.NAMESPACE,
        MetricName=metrics.RECORDS_ANALYZED,
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}],
        StartTime=RUN - timedelta(minutes=5),
        EndTime=RUN + timedelta(minutes=5),
        Period=600,
        Statistics=["SampleCount"],
    )
    return float(sum(point["SampleCount"] for point in stats["Datapoints"]))


def test_a_small_window_runs_in_one_invocation(stack: dict[str, Any]) -> None:
    summary = start(stack, part_bytes=10**9)
    assert summary["path"] == "single" and summary["status"] == "measured"
    assert (
        stack["stepfunctions"].list_executions(stateMachineArn=stack["state_machine_arn"])["executions"] == []
    )


def test_a_split_window_with_retried_workers_and_reduce_publishes_once_and_merges_bit_for_bit(
    stack: dict[str, Any],
) -> None:
    started = start(stack, part_bytes=4000)
    assert started["path"] == "distributed" and started["status"] == "started"
    assert started["parts"] >= 4, started
    # The planner's retry (Lambda async retry of the same event) starts nothing new.
    again = start(stack, part_bytes=4000)
    assert again.get("execution_arn") == started["execution_arn"]
    run = execution_input(stack, started)
    assert run["parts"] == started["parts"]

    run_map(stack, run, retried=frozenset({1}))
    first = reduce(stack, run)
    retried = reduce(stack, run)

    assert first["status"] == "published" and first["metrics_published"] > 0
    assert retried["status"] == "already_published" and retried["metrics_published"] == 0
    assert published_runs(stack) == 1.0, "RecordsAnalyzed was put exactly once for the window"

    model = load_model_baseline(stack["s3"], f"s3://{ARTIFACTS_BUCKET}/{MODEL_KEY}")
    single = measure_window(
        stack["s3"],
        capture_uri=f"s3://{CAPTURE_BUCKET}/datacapture",
        endpoint=ENDPOINT,
        variant=VARIANT,
        model=model,
        window=WINDOW,
    )
    assert single.records > 0 and single.malformed_total > 0 and single.max_feature_drift is not None
    # Frozen dataclass equality: every count, reason, example and every PSI float identical.
    merged = {key: value for key, value in first.items() if key in single.summary()}
    assert merged == single.summary()


def test_a_finished_run_is_not_started_again_for_the_same_window(stack: dict[str, Any]) -> None:
    started = start(stack, part_bytes=4000)
    stack["stepfunctions"].stop_execution(executionArn=started["execution_arn"])
    # StartExecution with a closed execution's name raises ExecutionAlreadyExists (botocore docs).
    assert start(stack, part_bytes=4000)["status"] == "already_started"


def test_a_missing_partial_fails_the_reduce_loudly_and_publishes_nothing(stack: dict[str, Any]) -> None:
    run = execution_input(stack, start(stack, part_bytes=4000))
    run_map(stack, run)
    stack["s3"].delete_object(Bucket=ARTIFACTS_BUCKET, Key=partial_key(RunSpec.from_json(run).prefix, 2))
    with pytest.raises(PartialMissing, match=r"partial of part 2 is missing at s3://.*partials/00002\.json"):
        reduce(stack, run)
    assert published_runs(stack) == 0.0
    claim = stack["dynamodb"].get_item(
        TableName=TABLE, Key={"publication": {"S": publication_id(ENDPOINT, VARIANT, WINDOW)}}
    )
    assert "Item" not in claim, "nothing was claimed either: a later complete reduce may publish"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda doc: b"{not json", r"is not JSON"),
        (lambda doc: json.dumps({**doc, "part": 0}).encode(), r"part is 0, expected 1"),
        (lambda doc: json.dumps({**doc, "objects": doc["objects"][:-1]}).encode(), r"objects is"),
        (lambda doc: json.dumps({**doc, "model_etag": "other"}).encode(), r"model_etag is 'other'"),
        (
            lambda doc: json.dumps(
                {**doc, "partial": {**doc["partial"], "feature_counts": "garbage"}}
            ).encode(),
            r"does not merge",
        ),
    ],
)
def test_a_corrupt_partial_fails_the_reduce_and_publishes_nothing(
    stack: dict[str, Any], tamper: Any, message: str
) -> None:
    run = execution_input(stack, start(stack, part_bytes=4000))
    run_map(stack, run)
    key = partial_key(RunSpec.from_json(run).prefix, 1)
    document = json.loads(stack["s3"].get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"].read())
    stack["s3"].put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=tamper(document))
    with pytest.raises(CorruptPartial, match=message):
        reduce(stack, run)
    assert published_runs(stack) == 0.0


def test_a_worker_refuses_a_model_artifact_that_changed_after_planning(stack: dict[str, Any]) -> None:
    run = execution_input(stack, start(stack, part_bytes=4000))
    stack["s3"].put_object(
        Bucket=ARTIFACTS_BUCKET, Key=MODEL_KEY, Body=model_tarball(training_baseline(seed=8))
    )
    manifest = json.loads(
        stack["s3"].get_object(Bucket=ARTIFACTS_BUCKET, Key=run["manifest_key"])["Body"].read()
    )
    with pytest.raises(ArtifactChanged, match=r"is not the planned"):
        measure_part(stack["s3"], {"run": run, "part": manifest[0]})


class FailingCloudWatch:
    def put_metric_data(self, **kwargs: Any) -> None:
        raise RuntimeError("throttled")


def test_a_failed_put_gives_the_claim_back_so_the_retry_publishes(stack: dict[str, Any]) -> None:
    publication = publication_id(ENDPOINT, VARIANT, WINDOW)
    data = [{"MetricName": metrics.RECORDS_ANALYZED, "Value": 1.0, "Unit": "Count", "Timestamp": RUN}]
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError, match="throttled"):
        publish_once(FailingCloudWatch(), stack["dynamodb"], TABLE, publication, data, now)
    assert (
        publish_once(stack["cloudwatch"], stack["dynamodb"], TABLE, publication, data, now)["status"]
        == "published"
    )


def test_a_claim_held_by_a_live_attempt_is_retried_later_and_a_dead_ones_is_taken_over(
    stack: dict[str, Any],
) -> None:
    publication = publication_id(ENDPOINT, VARIANT, WINDOW)
    now = datetime.now(UTC)
    assert claim_publication(stack["dynamodb"], TABLE, publication, "first", now) == "claimed"
    assert (
        claim_publication(stack["dynamodb"], TABLE, publication, "second", now + timedelta(seconds=30))
        == "in_progress"
    )
    with pytest.raises(PublicationInProgress):
        publish_once(
            stack["cloudwatch"], stack["dynamodb"], TABLE, publication, [], now + timedelta(seconds=30)
        )
    assert (
        claim_publication(stack["dynamodb"], TABLE, publication, "third", now + timedelta(minutes=10))
        == "claimed"
    )

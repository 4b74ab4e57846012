"""Drift at scale: a window too big for one invocation is measured by many workers and published once.

Three Lambda entry points (docs/decisions.md, "Drift at scale: splitting a window"):

- `handler` (the scheduled run): lists the window's capture objects with their sizes and plans. A window
  within one invocation's budget runs as before (`monitoring.handler.run`). A bigger one is cut into parts
  of at most `part_bytes`; the parts go to S3 as a JSON array (the manifest the state machine's Distributed
  Map reads) and one Step Functions execution, named after the window, is started for them.
- `measure_part_handler` (one Distributed Map item): scans its part's objects with `WindowScan` and writes
  `partial()` to a key derived from the window and the part, so a retried item overwrites its own result.
- `publish_handler` (the reduce step): reads the manifest and every part's partial, fails loudly when one
  is missing or corrupt, merges them with `merge_partial` and publishes once: a DynamoDB conditional write
  keyed by (endpoint, variant, window) is claimed before PutMetricData, so a retried reduce finds the
  window published and publishes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from monitoring.artifact import ModelBaseline, load_model_baseline
from monitoring.config import required, whole_number
from monitoring.drift import BaselineError
from monitoring.engine import (
    Window,
    WindowScan,
    capture_coverage,
    capture_root,
    endpoint_invocations,
    hour_prefixes,
    metric_data,
    publish,
    scan_objects,
    select_objects,
)
from monitoring.handler import DriftConfig, run, scheduled_time
from monitoring.served_model import ServedModelError, served_model

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

# Where manifests and partials live in the artifacts bucket; the stack scopes the roles to this prefix.
RUN_PREFIX = "drift-scaleout"
# Defaults sized by benchmarks/drift_scaleout.py; the stack sets both through the environment.
# Both well under what the measured rates allow (a window that times out publishes nothing; more parts cost
# little): one invocation up to 1 GiB of capture, parts of at most 2 GiB.
DEFAULT_SINGLE_MAX_BYTES = 1024**3
DEFAULT_PART_BYTES = 2 * 1024**3
# A part also stops at this many objects: each one costs a GetObject round trip.
DEFAULT_PART_OBJECTS = 2000
# Every part's result (a few bytes) returns to the Map state, whose output is capped at 256 KiB.
MAX_PARTS = 5000
# A claim that was never completed (its Lambda died) may be taken over after this long: longer than the
# reduce function's timeout, so the holder is certainly gone.
PUBLISH_LEASE_SECONDS = 360
# Publication records outlive the 90 days after which Step Functions lets an execution name be reused.
PUBLICATION_TTL_DAYS = 100
# Step Functions execution names: 1-80 characters.
MAX_EXECUTION_NAME = 80
PARTIAL_FORMAT = 1
# The publications table: its hash key, and the attribute DynamoDB's TTL deletes expired items by.
PUBLICATION_KEY = "publication"
PUBLICATION_TTL_ATTRIBUTE = "expires_at"


class PartialMissing(RuntimeError):
    """A part of the window has no partial result: the reduce publishes nothing."""


class CorruptPartial(RuntimeError):
    """A partial result cannot be read or does not belong to this run: the reduce publishes nothing."""


class ArtifactChanged(RuntimeError):
    """The model artifact changed between planning and measuring a part: the parts would not merge."""


class PublicationInProgress(RuntimeError):
    """Another attempt holds the window's publication claim; Step Functions retries after its lease."""


@dataclass(frozen=True)
class CaptureObject:
    key: str
    file_key: str  # the time key in the object's name
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "file_key": self.file_key, "size": self.size}

    @classmethod
    def from_json(cls, data: object, where: str) -> CaptureObject:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object with key, file_key and size, got {data!r}")
        key, file_key, size = data.get("key"), data.get("file_key"), data.get("size")
        if not isinstance(key, str) or not isinstance(file_key, str) or not isinstance(size, int):
            raise ValueError(f"{where}: expected key and file_key strings and an integer size, got {data!r}")
        return cls(key, file_key, size)


@dataclass(frozen=True)
class Plan:
    window: Window
    objects: tuple[CaptureObject, ...]
    parts: tuple[tuple[CaptureObject, ...], ...]  # empty: one invocation measures the window

    @property
    def distributed(self) -> bool:
        return bool(self.parts)

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)


@dataclass(frozen=True)
class ScaleoutConfig:
    state_machine_arn: str
    bucket: str  # the artifacts bucket: manifests and partials under RUN_PREFIX
    single_max_bytes: int
    part_bytes: int
    part_objects: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ScaleoutConfig:
        gib = 1024**3
        return cls(
            state_machine_arn=required(environ, "SCALEOUT_STATE_MACHINE_ARN"),
            bucket=required(environ, "SCALEOUT_BUCKET"),
            single_max_bytes=whole_number(environ, "SCALEOUT_SINGLE_MAX_BYTES", 1, 64 * gib),
            part_bytes=whole_number(environ, "SCALEOUT_PART_BYTES", 1, 64 * gib),
            part_objects=whole_number(environ, "SCALEOUT_PART_OBJECTS", 1, 100_000),
        )


def plan_window(
    window: Window,
    objects: Iterable[CaptureObject],
    *,
    single_max_bytes: int,
    part_bytes: int,
    part_objects: int = DEFAULT_PART_OBJECTS,
) -> Plan:
    """One invocation while the window's objects fit `single_max_bytes` and `part_objects`; else parts.

    Parts follow key order (time order) and close before `part_bytes` or `part_objects` would be exceeded;
    an object larger than `part_bytes` is a part of its own (one object is never split).
    """
    listed = tuple(sorted(objects, key=lambda o: o.key))
    if sum(o.size for o in listed) <= single_max_bytes and len(listed) <= part_objects:
        return Plan(window, listed, ())
    parts: list[tuple[CaptureObject, ...]] = []
    current: list[CaptureObject] = []
    current_bytes = 0
    for item in listed:
        if current and (current_bytes + item.size > part_bytes or len(current) >= part_objects):
            parts.append(tuple(current))
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += item.size
    if current:
        parts.append(tuple(current))
    if len(parts) > MAX_PARTS:
        raise ValueError(
            f"SCALEOUT_PART_BYTES: {len(parts)} parts of at most {part_bytes} bytes exceed the {MAX_PARTS} "
            f"a run can merge; raise the part size (the window holds {sum(o.size for o in listed)} bytes)"
        )
    return Plan(window, listed, tuple(parts))


def list_capture_objects(s3: Any, bucket: str, root: str, window: Window) -> list[CaptureObject]:
    """Every capture object that can hold records of the window, with its size (engine.capture_objects)."""
    paginator = s3.get_paginator("list_objects_v2")
    sizes: dict[str, int] = {}
    for prefix in hour_prefixes(root, window):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                sizes[item["Key"]] = int(item["Size"])
    return [CaptureObject(key, file_key, sizes[key]) for key, file_key in select_objects(sizes, root, window)]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def publication_id(endpoint: str, variant: str, window: Window) -> str:
    """The one key a window's metrics are published under, whichever path or attempt publishes them."""
    return f"{endpoint}/{variant}/{_stamp(window.start)}-{_stamp(window.end)}"


def run_prefix(endpoint: str, variant: str, window: Window) -> str:
    return f"{RUN_PREFIX}/{publication_id(endpoint, variant, window)}/"


def manifest_key(endpoint: str, variant: str, window: Window) -> str:
    return f"{run_prefix(endpoint, variant, window)}manifest.json"


def partial_key(prefix: str, part: int) -> str:
    return f"{prefix}partials/{part:05d}.json"


def execution_name(endpoint: str, variant: str, window: Window) -> str:
    """Deterministic per window: StartExecution with the same name and input is idempotent (STANDARD)."""
    digest = hashlib.sha256(publication_id(endpoint, variant, window).encode()).hexdigest()[:24]
    name = f"drift-{_stamp(window.start)}-{digest}"
    if len(name) > MAX_EXECUTION_NAME:
        raise AssertionError(f"execution name {name!r} is over {MAX_EXECUTION_NAME} characters")
    return name


def manifest_document(plan: Plan) -> list[dict[str, Any]]:
    """The JSON array the Distributed Map's ItemReader iterates over: one item per part."""
    return [
        {"part": number, "objects": [o.to_json() for o in part]} for number, part in enumerate(plan.parts)
    ]


def _window_json(window: Window) -> dict[str, str]:
    return {"start": window.start.isoformat(), "end": window.end.isoformat()}


def _window_from(data: object, where: str) -> Window:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected {{start, end}} ISO times, got {data!r}")
    try:
        return Window(datetime.fromisoformat(str(data["start"])), datetime.fromisoformat(str(data["end"])))
    except (KeyError, ValueError) as error:
        raise ValueError(f"{where}: expected {{start, end}} ISO times with a zone, got {data!r}") from error


@dataclass(frozen=True)
class RunSpec:
    """A distributed run: the execution input, handed unchanged to every worker and to the reduce step."""

    endpoint: str
    variant: str
    window: Window
    scheduled: datetime
    capture_bucket: str
    bucket: str
    parts: int
    model_url: str
    model_etag: str
    sampling_percent: int

    @property
    def prefix(self) -> str:
        return run_prefix(self.endpoint, self.variant, self.window)

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.endpoint, self.variant, self.window)

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "variant": self.variant,
            "window": _window_json(self.window),
            "scheduled": self.scheduled.isoformat(),
            "capture_bucket": self.capture_bucket,
            "bucket": self.bucket,
            "manifest_key": self.manifest_key,
            "parts": self.parts,
            "model": {"url": self.model_url, "etag": self.model_etag},
            "sampling_percent": self.sampling_percent,
        }

    @classmethod
    def from_json(cls, data: object) -> RunSpec:
        if not isinstance(data, Mapping):
            raise ValueError(f"run: expected the execution input object, got {type(data).__name__}")
        model = data.get("model")
        fields = {
            "endpoint": data.get("endpoint"),
            "variant": data.get("variant"),
            "capture_bucket": data.get("capture_bucket"),
            "bucket": data.get("bucket"),
            "model.url": model.get("url") if isinstance(model, Mapping) else None,
            "model.etag": model.get("etag") if isinstance(model, Mapping) else None,
        }
        for name, value in fields.items():
            if not isinstance(value, str) or not value:
                raise ValueError(f"run.{name}: expected a non-empty string, got {value!r}")
        if not isinstance(data.get("scheduled"), str):
            raise ValueError(
                f"run.scheduled: expected the run's ISO 8601 time, got {data.get('scheduled')!r}"
            )
        for name in ("parts", "sampling_percent"):
            if not isinstance(data.get(name), int) or data[name] < 0:
                raise ValueError(f"run.{name}: expected a whole number, got {data.get(name)!r}")
        return cls(
            endpoint=str(fields["endpoint"]),
            variant=str(fields["variant"]),
            window=_window_from(data.get("window"), "run.window"),
            scheduled=scheduled_time({"time": data.get("scheduled")}),
            capture_bucket=str(fields["capture_bucket"]),
            bucket=str(fields["bucket"]),
            parts=int(data["parts"]),
            model_url=str(fields["model.url"]),
            model_etag=str(fields["model.etag"]),
            sampling_percent=int(data["sampling_percent"]),
        )


# ---- the scheduled run: plan, then measure in place or start the state machine ----


def plan_and_start(
    config: DriftConfig,
    scale: ScaleoutConfig,
    event: Mapping[str, Any],
    *,
    s3: Any,
    cloudwatch: Any,
    sagemaker: Any,
    stepfunctions: Any,
) -> dict[str, Any]:
    """Measure the settled window in this invocation when it is small, else start the distributed run."""
    scheduled = scheduled_time(event)
    window = Window.settled(scheduled, config.window_minutes)
    capture_bucket, root = capture_root(config.capture_uri, config.endpoint_name, config.variant_name)
    plan = plan_window(
        window,
        list_capture_objects(s3, capture_bucket, root, window),
        single_max_bytes=scale.single_max_bytes,
        part_bytes=scale.part_bytes,
        part_objects=scale.part_objects,
    )
    try:
        model = _served_baseline(s3, sagemaker, config) if plan.distributed else None
    except (BaselineError, ServedModelError):
        model = None  # the single run reports the broken artifact (ArtifactBroken=1), never drift
    if model is None:
        return {**run(config, event, s3=s3, cloudwatch=cloudwatch, sagemaker=sagemaker), "path": "single"}
    spec = RunSpec(
        endpoint=config.endpoint_name,
        variant=config.variant_name,
        window=window,
        scheduled=scheduled,
        capture_bucket=capture_bucket,
        bucket=scale.bucket,
        parts=len(plan.parts),
        model_url=model.source,
        model_etag=model.etag,
        sampling_percent=config.sampling_percent,
    )
    return start_distributed_run(s3, stepfunctions, scale.state_machine_arn, spec, plan)


def _served_baseline(s3: Any, sagemaker: Any, config: DriftConfig) -> ModelBaseline:
    served = served_model(sagemaker, config.endpoint_name, config.variant_name)
    return load_model_baseline(s3, served.model_data_url)


def start_distributed_run(
    s3: Any, stepfunctions: Any, state_machine_arn: str, spec: RunSpec, plan: Plan
) -> dict[str, Any]:
    """Write the manifest, then start the window's one execution (a retry finds it already started)."""
    s3.put_object(
        Bucket=spec.bucket,
        Key=spec.manifest_key,
        Body=json.dumps(manifest_document(plan), sort_keys=True).encode(),
        ContentType="application/json",
    )
    name = execution_name(spec.endpoint, spec.variant, spec.window)
    summary = {
        "path": "distributed",
        "window": _window_json(spec.window),
        "parts": len(plan.parts),
        "objects": len(plan.objects),
        "bytes": plan.total_bytes,
        "execution_name": name,
    }
    try:
        started = stepfunctions.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(spec.to_json(), sort_keys=True)
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        # Same name, closed or with another input (say the artifact changed): the window has its run.
        logger.info("execution %s already exists: the window's distributed run was started before", name)
        return {**summary, "status": "already_started"}
    return {**summary, "status": "started", "execution_arn": started["executionArn"]}


# ---- one Distributed Map item ----


def measure_part(s3: Any, event: Mapping[str, Any]) -> dict[str, Any]:
    """Scan one part's capture objects and store its partial counts under the part's own key."""
    spec = RunSpec.from_json(event.get("run"))
    item = event.get("part")
    if not isinstance(item, Mapping) or not isinstance(item.get("part"), int):
        raise ValueError(f"part: expected the manifest item {{part, objects}}, got {item!r}")
    number = int(item["part"])
    raw_objects = item.get("objects")
    if not isinstance(raw_objects, list) or not raw_objects:
        raise ValueError(f"part.objects: expected a non-empty list of capture objects, got {raw_objects!r}")
    objects = [CaptureObject.from_json(o, f"part.objects[{i}]") for i, o in enumerate(raw_objects)]
    model = load_model_baseline(s3, spec.model_url)
    if model.etag != spec.model_etag:
        raise ArtifactChanged(
            f"{spec.model_url}: ETag {model.etag} is not the planned {spec.model_etag}; parts would not merge"
        )
    scan = scan_objects(
        s3, spec.capture_bucket, [(o.key, o.file_key) for o in objects], WindowScan(model, spec.window)
    )
    document = {
        "format": PARTIAL_FORMAT,
        "part": number,
        "objects": [o.key for o in objects],
        "model_etag": model.etag,
        "partial": scan.partial(),
    }
    key = partial_key(spec.prefix, number)
    s3.put_object(
        Bucket=spec.bucket,
        Key=key,
        Body=json.dumps(document, sort_keys=True).encode(),
        ContentType="application/json",
    )
    return {"part": number, "key": key, "records": scan.counts.records}


def measure_part_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return measure_part(boto3.client("s3"), event)


# ---- the reduce step ----


def _read_json(s3: Any, bucket: str, key: str, missing: type[Exception], what: str) -> Any:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        raise missing(f"{what} is missing at s3://{bucket}/{key}: nothing is published") from None
    try:
        return json.loads(body.read())
    except ValueError as error:
        raise CorruptPartial(
            f"{what} at s3://{bucket}/{key} is not JSON ({error}): nothing is published"
        ) from None
    finally:
        body.close()


def _manifest_parts(s3: Any, spec: RunSpec) -> list[list[str]]:
    manifest = _read_json(s3, spec.bucket, spec.manifest_key, PartialMissing, "the run's manifest")
    if not isinstance(manifest, list) or len(manifest) != spec.parts:
        raise CorruptPartial(
            f"s3://{spec.bucket}/{spec.manifest_key}: expected a list of {spec.parts} parts, got "
            f"{type(manifest).__name__} of {len(manifest) if isinstance(manifest, list) else '?'}"
        )
    parts = []
    for number, item in enumerate(manifest):
        objects = item.get("objects") if isinstance(item, Mapping) else None
        if not isinstance(item, Mapping) or item.get("part") != number or not isinstance(objects, list):
            raise CorruptPartial(f"manifest item {number}: expected {{part: {number}, objects: [...]}}")
        parts.append([CaptureObject.from_json(o, f"manifest[{number}].objects").key for o in objects])
    return parts


def _check_partial(document: object, number: int, keys: Sequence[str], spec: RunSpec, where: str) -> Any:
    """The partial() inside a part's document, once it is proven to be this run's part `number`."""
    if not isinstance(document, Mapping):
        raise CorruptPartial(f"{where}: expected a partial document object, got {type(document).__name__}")
    expected = {
        "format": PARTIAL_FORMAT,
        "part": number,
        "objects": list(keys),
        "model_etag": spec.model_etag,
    }
    for name, value in expected.items():
        if document.get(name) != value:
            raise CorruptPartial(f"{where}: {name} is {document.get(name)!r}, expected {value!r}")
    return document.get("partial")


def merge_parts(s3: Any, spec: RunSpec, model: ModelBaseline) -> WindowScan:
    """Every part's partial merged into one scan; any missing or corrupt part fails the whole run."""
    merged = WindowScan(model, spec.window)
    for number, keys in enumerate(_manifest_parts(s3, spec)):
        key = partial_key(spec.prefix, number)
        where = f"partial of part {number} (s3://{spec.bucket}/{key})"
        document = _read_json(s3, spec.bucket, key, PartialMissing, f"the partial of part {number}")
        partial = _check_partial(document, number, keys, spec, where)
        try:
            merged.merge_partial(partial)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CorruptPartial(f"{where}: does not merge: {type(error).__name__}: {error}") from None
    return merged


@dataclass(frozen=True)
class PublishConfig:
    table: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PublishConfig:
        return cls(table=required(environ, "PUBLICATIONS_TABLE_NAME"))


def claim_publication(dynamodb: Any, table: str, publication: str, token: str, now: datetime) -> str:
    """ "claimed" (this attempt may publish), "published" (done before) or "in_progress" (another holds it).

    A claim whose holder never completed it is free again after PUBLISH_LEASE_SECONDS.
    """
    try:
        dynamodb.update_item(
            TableName=table,
            Key={PUBLICATION_KEY: {"S": publication}},
            UpdateExpression="SET #state = :publishing, claimed_at = :now, claim_token = :token, #ttl = :ttl",
            ConditionExpression="attribute_not_exists(#key) OR (#state = :publishing AND claimed_at < :stale)",
            ExpressionAttributeNames={
                "#key": PUBLICATION_KEY,
                "#state": "state",
                "#ttl": PUBLICATION_TTL_ATTRIBUTE,
            },
            ExpressionAttributeValues={
                ":publishing": {"S": "publishing"},
                ":now": {"N": str(now.timestamp())},
                ":stale": {"N": str((now - timedelta(seconds=PUBLISH_LEASE_SECONDS)).timestamp())},
                ":token": {"S": token},
                ":ttl": {"N": str(int((now + timedelta(days=PUBLICATION_TTL_DAYS)).timestamp()))},
            },
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        item = dynamodb.get_item(
            TableName=table, Key={PUBLICATION_KEY: {"S": publication}}, ConsistentRead=True
        )
        state = item.get("Item", {}).get("state", {}).get("S")
        return "published" if state == "published" else "in_progress"
    return "claimed"


def publish_once(
    cloudwatch: Any, dynamodb: Any, table: str, publication: str, data: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """PutMetricData for the window exactly once, whichever attempt gets here first."""
    token = uuid.uuid4().hex
    outcome = claim_publication(dynamodb, table, publication, token, now)
    if outcome == "published":
        return {"status": "already_published", "metrics_published": 0}
    if outcome == "in_progress":
        raise PublicationInProgress(f"{publication}: another attempt is publishing; retry after its lease")
    key = {PUBLICATION_KEY: {"S": publication}}
    try:
        published = publish(cloudwatch, data)
    except Exception:
        # Give the claim back so the retry publishes; only this attempt's claim, never a newer one.
        dynamodb.delete_item(
            TableName=table,
            Key=key,
            ConditionExpression="claim_token = :token",
            ExpressionAttributeValues={":token": {"S": token}},
        )
        raise
    # A crash right here republishes after the lease: identical values no alarm statistic can tell apart
    # (docs/decisions.md "Drift at scale", tests/monitoring/test_publication_duplicates.py).
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #state = :published, metric_count = :count",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":published": {"S": "published"}, ":count": {"N": str(published)}},
    )
    return {"status": "published", "metrics_published": published}


def reduce_and_publish(
    event: Mapping[str, Any], config: PublishConfig, *, s3: Any, cloudwatch: Any, dynamodb: Any, now: datetime
) -> dict[str, Any]:
    """Merge every part of the run and publish the window's metrics once."""
    spec = RunSpec.from_json(event)
    model = load_model_baseline(s3, spec.model_url)
    if model.etag != spec.model_etag:
        raise ArtifactChanged(f"{spec.model_url}: ETag {model.etag} is not the planned {spec.model_etag}")
    result = merge_parts(s3, spec, model).result()
    coverage = capture_coverage(
        result.lines_placed,
        endpoint_invocations(cloudwatch, spec.endpoint, spec.variant, spec.window),
        spec.sampling_percent,
    )
    data = metric_data(result, spec.endpoint, spec.variant, timestamp=spec.scheduled, coverage=coverage)
    outcome = publish_once(
        cloudwatch,
        dynamodb,
        config.table,
        publication_id(spec.endpoint, spec.variant, spec.window),
        data,
        now,
    )
    logger.info("distributed drift run %s: %s", spec.prefix, outcome["status"])
    return {
        "endpoint_name": spec.endpoint,
        "variant_name": spec.variant,
        **outcome,
        **result.summary(),
        "capture_coverage": coverage,
        "parts": spec.parts,
    }


def publish_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return reduce_and_publish(
        event,
        PublishConfig.from_env(os.environ),
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        dynamodb=boto3.client("dynamodb"),
        now=datetime.now(UTC),
    )


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The scheduled drift run with scale-out: set as the engine function's handler to enable it."""
    config = DriftConfig.from_env(os.environ)
    scale = ScaleoutConfig.from_env(os.environ)
    return plan_and_start(
        config,
        scale,
        event,
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        sagemaker=boto3.client("sagemaker"),
        stepfunctions=boto3.client("stepfunctions"),
    )

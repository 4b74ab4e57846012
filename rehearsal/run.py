"""The rehearsal's steps, run in order against moto with the stack's settings, code and names."""

from __future__ import annotations

import io
import json
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import requests

from infra import (
    alarm_specs,
    packaging,
    retraining_pipeline,
    served,
    serving,
    storage,
    training,
    training_job,
)
from infra.alarm_specs import drift_alarm_name
from infra.config_schema import PROJECT_ROOT, load_stack_config
from infra.settings import settings_from_values
from infra.settings_types import Settings
from rehearsal import alarms, capture, emulator, promotion, report

for _runtime_dir in ("training", "serving"):
    # training/ and serving/ ship as flat script folders: their modules import each other by bare name.
    if str(PROJECT_ROOT / _runtime_dir) not in sys.path:
        sys.path.append(str(PROJECT_ROOT / _runtime_dir))

import contract  # noqa: E402
import local_server  # noqa: E402
import sample_data  # noqa: E402
import toolkit_runner  # noqa: E402
from monitoring import artifact, engine, metrics  # noqa: E402
from monitoring.handler import DriftConfig, run  # noqa: E402

DRIFTED_FEATURE = "monthly_charges"
PLACEHOLDER_IMAGE_URI = "local"  # no container registry locally; only feeds the job request and its name hash
DATA_SEED = 7
TRAFFIC_SEED = 11
TRAINING_TIMEOUT_SECONDS = 600
STEPS = (
    "start the AWS emulator and create the stack's key and buckets",
    "generate and upload sample data",
    "package the code and train through the SageMaker training toolkit",
    "register the model (and an older one), pin it in a copy of the target's stack file and serve the package",
    "serve the package on the target's endpoint and capture undrifted, drifted and blind-case traffic",
    "run the drift engine over each window and evaluate the stack's alarm specs over what it published",
    "summarise and write the HTML report",
)
# Windows with traffic that the drift alarms should not see as drift, but the blind-case alarms must flag.
CAPTURE_STOPPED = "capture-stopped"
NEW_CATEGORY = "new-category"
NEW_CATEGORY_FEATURE = "contract"
NEW_CATEGORY_VALUE = "three-year"
NEW_CATEGORY_EVERY = 10  # one request in ten carries the category the schema does not know ...
# ... the last of each ten, which capture.is_sampled keeps at 10, 20, 50 and 100% (the first would alias away).
NEW_CATEGORY_POSITION = NEW_CATEGORY_EVERY - 1


class RehearsalError(RuntimeError):
    """A step failed; `step` is its number (1-based) and `title` what it does."""

    def __init__(self, step: int, cause: BaseException | str):
        self.step = step
        self.title = STEPS[step - 1]
        super().__init__(f"step {step} ({self.title}) failed: {cause}")


@dataclass
class _State:
    stack: str
    work: Path
    log: Callable[[str], None]
    settings: Settings | None = None
    buckets: dict[str, str] = field(default_factory=dict)
    key_arn: str = ""
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    training_archive: packaging.Archive | None = None
    serving_archive: packaging.Archive | None = None
    model_archive: Path | None = None
    model_data_url: str = ""
    job_name: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    target: Settings | None = None  # the promotion's target, read back from its pinned stack file
    target_buckets: dict[str, str] = field(default_factory=dict)  # the target's own (the source's if same)
    target_key_arn: str = ""
    stack_files: Path = PROJECT_ROOT  # where Pulumi.yaml and the Pulumi.<stack>.yaml files are read from
    package_arn: str = ""
    older_package_arn: str = ""

    @property
    def s(self) -> Settings:
        assert self.settings is not None
        return self.settings


def serving_stack(state: _State) -> Settings:
    """The stack whose endpoint serves the traffic: the promotion's target once the model is promoted."""
    return state.target or state.s


def serving_buckets(state: _State) -> dict[str, str]:
    """The serving stack's buckets: capture lands in the target's own capture bucket."""
    return state.target_buckets or state.buckets


def _client(service: str) -> Any:
    return boto3.client(service)


def _put(bucket: str, key: str, body: bytes) -> None:
    _client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def load_settings(stack: str, root: Path = PROJECT_ROOT) -> Settings:
    config = load_stack_config(stack, root)
    return settings_from_values(stack, config.region, config.values, config.pulumi_config())


def check_target(source: Settings, target: Settings) -> None:
    """What makes a promotion impossible, said before anything is created."""
    # "The model artifacts must be in an S3 bucket that is in the same region as the model package" and as the
    # model (SageMaker API reference, ModelPackageContainerDefinition and ContainerDefinition, ModelDataUrl).
    if target.region != source.region:
        raise ValueError(
            f"aws:region = {target.region!r} in Pulumi.{target.stack}.yaml: expected {source.region!r}, the "
            f"region of {source.stack}'s registry and model bucket (SageMaker reads model data from its own "
            "region; promote between stacks of one region)"
        )
    if target.monitoring.engine is None:
        raise ValueError(
            f"sagestack:captureSamplingPercent = {target.serving.capture_sampling_percent} in "
            f"Pulumi.{target.stack}.yaml: expected a provisioned endpoint capturing traffic, so the rehearsal "
            "can measure drift on the target"
        )


def step_storage(state: _State) -> None:
    state.buckets, state.key_arn = create_storage(state.s)
    state.summary["buckets"] = dict(state.buckets)


def create_storage(s: Settings) -> tuple[dict[str, str], str]:
    """The stack's KMS key and its three buckets, by their physical names, with SSE-KMS by default."""
    kms = _client("kms")
    key_arn = kms.create_key(Description=f"{s.base_name} rehearsal key")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=f"alias/{s.base_name}", TargetKeyId=key_arn)
    s3 = _client("s3")
    buckets = {}
    for purpose in storage.BUCKET_PURPOSES:
        name = storage.bucket_name(s.base_name, purpose, emulator.MOTO_ACCOUNT_ID, s.region)
        create: dict[str, Any] = {"Bucket": name}
        if s.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": s.region}
        s3.create_bucket(**create)
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_arn,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        buckets[purpose] = name
    return buckets, key_arn


def step_data(state: _State, rows: int) -> None:
    """Sample customers for the train and validation channels, uploaded under the stack's data prefix."""
    data = sample_data.generate_customers(rows, DATA_SEED)
    train, validation = sample_data.split(data, DATA_SEED)
    prefix = state.s.training.data_key_prefix
    for channel, frame in (("train", train), ("validation", validation)):
        _put(state.buckets["data"], f"{prefix}/{channel}/{channel}.csv", frame.to_csv(index=False).encode())
    state.frames.update(train=train, validation=validation)
    state.summary["data"] = {"rows": rows, "train_rows": len(train), "validation_rows": len(validation)}


def _s3_channel(channel: dict[str, Any], downloads: Path) -> toolkit_runner.S3Channel:
    """A declared S3Prefix channel as S3 holds it: every object under its prefix, downloaded by key."""
    uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, prefix = contract.split_s3_uri(uri)
    s3 = _client("s3")
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            target = downloads / bucket / item["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(target))
            objects[item["Key"]] = target
    if not objects:
        raise RuntimeError(f"channel {channel['ChannelName']}: nothing under {uri}")
    return toolkit_runner.S3Channel(uri=uri, objects=objects, content_type=channel.get("ContentType"))


def _pack_model(model_dir: Path, destination: Path) -> Path:
    """model.tar.gz as SageMaker packs /opt/ml/model: the directory's contents at the archive root."""
    with tarfile.open(destination, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    return destination


def step_training(state: _State) -> None:
    s, artifacts = state.s, state.buckets["artifacts"]
    build_dir = state.work / "build"
    # As infra/stack.py builds it: every model carries its inference code, so its package serves anywhere.
    state.training_archive = packaging.build_training_archive(include_serving_code=True, build_dir=build_dir)
    state.serving_archive = packaging.build_serving_archive(build_dir)
    training_key = storage.code_key(state.training_archive, "training")
    _put(artifacts, training_key, state.training_archive.path.read_bytes())
    _put(
        artifacts, storage.code_key(state.serving_archive, "serving"), state.serving_archive.path.read_bytes()
    )
    code_uri = f"s3://{artifacts}/{training_key}"
    output_path = f"s3://{artifacts}/{training_job.MODEL_OUTPUT_PREFIX}"

    # The job exactly as the stack declares it: its hyperparameters and channels, staged from S3 by key.
    request = training_job.job_request(
        training_job.JobInputs(
            settings=s.training,
            image_uri=PLACEHOLDER_IMAGE_URI,
            role_arn=f"arn:aws:iam::{emulator.MOTO_ACCOUNT_ID}:role/{s.base_name}-sagemaker-execution",
            key_arn=state.key_arn,
            code_uri=code_uri,
            output_path=output_path,
            channel_uris=training_job.channel_uris(s.training, state.buckets["data"]),
        )
    )
    channels = {
        channel["ChannelName"]: _s3_channel(channel, state.work / "s3")
        for channel in request["InputDataConfig"]
    }
    state.job_name = training_job.job_name(base_name=s.base_name, request=request, run=s.training.run)
    hyperparameters = request["HyperParameters"]
    result = toolkit_runner.run_training_locally(
        hyperparameters,
        channels,
        base_dir=state.work / "opt-ml",
        env={"TRAINING_JOB_NAME": state.job_name},
        timeout=TRAINING_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        reason = result.failure_reason or result.stderr.strip().splitlines()[-1:]
        raise RuntimeError(f"training exited with {result.returncode}: {reason}")
    state.model_archive = _pack_model(result.model_dir, state.work / "model.tar.gz")
    state.model_data_url = training_job.model_artifact_uri(output_path, state.job_name)
    _put(artifacts, state.model_data_url.removeprefix(f"s3://{artifacts}/"), state.model_archive.read_bytes())
    trained = json.loads((result.model_dir / "metrics.json").read_text())
    state.summary["training"] = {
        "job_name": state.job_name,
        "hyperparameters": hyperparameters,
        "channels": {name: sorted(c.objects) for name, c in channels.items()},
        "model_data_url": state.model_data_url,
        "seconds": round(result.elapsed_seconds, 1),
        "accuracy": trained[contract.METRIC_ACCURACY],
        "f1": trained[contract.METRIC_F1],
        "roc_auc": trained[contract.METRIC_ROC_AUC],
    }


def _request(index: int, row: pd.Series) -> tuple[str, str]:
    """Alternating encodings: CSV rows, JSON lists and JSON objects keyed by feature name."""
    values = [value.item() if isinstance(value, np.generic) else value for value in row]
    kind = index % 3
    if kind == 0:
        return capture.CSV_CONTENT_TYPE, capture.csv_row(values)
    if kind == 1:
        return capture.JSON_CONTENT_TYPE, json.dumps({"instances": [values]})
    return capture.JSON_CONTENT_TYPE, json.dumps(
        {"instances": [dict(zip(contract.FEATURE_NAMES, values, strict=True))]}
    )


SHIFT_POPULATION = 200


def _traffic(requests_count: int) -> dict[str, pd.DataFrame]:
    """Fresh customers (not the training rows): undrifted, then the same population with one feature shifted;
    then undrifted traffic whose capture never arrives, and undrifted traffic with a new category in it."""
    half = max(1, requests_count // 2)
    # The drifted population is shifted by a standard deviation of at least SHIFT_POPULATION customers:
    # the std of a one-row window is NaN, and NaN is not a JSON number.
    pool = max(half, SHIFT_POPULATION)
    customers = sample_data.generate_customers(half + pool, TRAFFIC_SEED)[list(contract.FEATURE_NAMES)]
    undrifted = customers.iloc[:half].reset_index(drop=True)
    shifted = sample_data.drift(customers.iloc[half:].reset_index(drop=True), [DRIFTED_FEATURE], TRAFFIC_SEED)
    drifted = shifted.iloc[:half].reset_index(drop=True)
    return {"undrifted": undrifted, "drifted": drifted, CAPTURE_STOPPED: undrifted, NEW_CATEGORY: undrifted}


def served_artifact(state: _State) -> tuple[str, Path]:
    """model.tar.gz as the target's endpoint loads it: the promoted package's ModelDataUrl, read from S3."""
    package = _client("sagemaker").describe_model_package(ModelPackageName=state.package_arn)
    urls = [
        c["ModelDataUrl"] for c in package["InferenceSpecification"]["Containers"] if c.get("ModelDataUrl")
    ]
    if len(urls) != 1:
        raise RuntimeError(f"{state.package_arn} has {len(urls)} model artifacts; expected exactly one")
    bucket, key = contract.split_s3_uri(urls[0])
    destination = state.work / "served-model.tar.gz"
    _client("s3").download_file(bucket, key, str(destination))
    return urls[0], destination


def step_serving(state: _State, requests_count: int) -> None:
    s = serving_stack(state)
    # A package's container reads its code from inside model.tar.gz (serving.package_environment), with or
    # without isolation: the pinned Model sets no environment of its own.
    model_data_url, served_archive = served_artifact(state)
    traffic = _traffic(requests_count)
    windows = capture.consecutive_windows(s.monitoring.schedule_minutes, datetime.now(UTC), len(traffic))
    endpoint = serving.endpoint_name(s.base_name)
    root = f"{serving.CAPTURE_PREFIX}/{endpoint}/{serving.VARIANT_NAME}/"
    latencies: list[float] = []
    streams: dict[str, dict[str, Any]] = {}
    index = 0
    # The image's real serving stack (serving/local_server.py), in the layout the stack deploys.
    with local_server.serve(served_archive, None) as server, requests.Session() as http:
        for (name, frame), (start, end) in zip(traffic.items(), windows, strict=True):
            exchanges = []
            refused = 0
            times = capture.spread_times(len(frame), start, end)
            for position, (_, row) in enumerate(frame.iterrows()):
                if name == NEW_CATEGORY and position % NEW_CATEGORY_EVERY == NEW_CATEGORY_POSITION:
                    row = row.copy()
                    row[NEW_CATEGORY_FEATURE] = NEW_CATEGORY_VALUE
                content_type, body = _request(index, row)
                began = time.perf_counter()
                response = http.post(
                    f"{server.url}/invocations",
                    data=body.encode(),
                    headers={"Content-Type": content_type, "Accept": capture.JSON_CONTENT_TYPE},
                    timeout=30,
                )
                latencies.append((time.perf_counter() - began) * 1000)
                if response.status_code == 400 and name == NEW_CATEGORY:
                    refused += 1  # SageMaker captures the error body the container answered
                elif response.status_code != 200:
                    raise RuntimeError(
                        f"request {index} ({content_type}) got {response.status_code}: {response.text}"
                    )
                if name != CAPTURE_STOPPED and capture.is_sampled(index, s.serving.capture_sampling_percent):
                    exchanges.append(
                        capture.Exchange(
                            content_type, body, capture.JSON_CONTENT_TYPE, response.text, times[position]
                        )
                    )
                index += 1
            for key, data in capture.capture_objects(exchanges, root, f"rehearsal-{name}").items():
                _put(serving_buckets(state)["capture"], key, data)
            _publish_invocations(endpoint, start, end, len(frame))
            streams[name] = {
                "window": {"start": start.isoformat(), "end": end.isoformat()},
                "requests": len(frame),
                "refused": refused,
                "captured": len(exchanges),
                "frame": frame,
            }
    state.frames.update({name: stream.pop("frame") for name, stream in streams.items()})
    state.summary["serving"] = {
        "stack": s.stack,
        "endpoint_name": endpoint,
        "model_data_url": model_data_url,
        "capture_bucket": serving_buckets(state)["capture"],
        "network_isolation": s.serving.network_isolation,
        "requests": index,
        "capture_sampling_percent": s.serving.capture_sampling_percent,
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)),
            "p99": float(np.percentile(latencies, 99)),
            "samples": latencies,
        },
        "windows": streams,
    }


def _publish_invocations(endpoint: str, start: datetime, end: datetime, count: int) -> None:
    """AWS/SageMaker Invocations for the window, as SageMaker publishes them per endpoint and variant."""
    _client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": serving.VARIANT_NAME},
                ],
                "Timestamp": start + (end - start) / 2,
                "Value": float(count),
                "Unit": "None",
            }
        ],
    )


def drift_specs(s: Settings) -> tuple[alarm_specs.AlarmSpec, ...]:
    """The stack's drift alarms, exactly as infra/drift_engine.py creates them."""
    t = s.monitoring.thresholds
    return alarm_specs.drift_alarm_specs(
        s.base_name,
        serving.endpoint_name(s.base_name),
        serving.VARIANT_NAME,
        feature_psi=t.drift_psi,
        prediction_psi=t.prediction_drift_psi,
        schedule_minutes=s.monitoring.schedule_minutes,
    )


def health_specs(s: Settings) -> tuple[alarm_specs.AlarmSpec, ...]:
    """The stack's monitor-health (blind-case) alarms, exactly as infra/drift_engine.py creates them."""
    endpoint = serving.endpoint_name(s.base_name)
    return alarm_specs.monitor_health_specs(
        s.base_name, endpoint, serving.VARIANT_NAME, s.monitoring.schedule_minutes
    )


def drift_subjects_firing(s: Settings, cloudwatch: Any, run_at: datetime) -> list[str]:
    """Features (and "predictions") whose drift alarm the run's published metrics put in ALARM."""
    subjects = {drift_alarm_name(s.base_name, f): f for f in (*contract.FEATURE_NAMES, "predictions")}
    return [subjects[name] for name in alarms.firing_on_emulator(cloudwatch, drift_specs(s), run_at)]


def broken_artifact(model_archive: Path, destination: Path) -> Path:
    """The model artifact with baseline.json's categories spelled unlike schema.json's (`2-year`)."""
    with tarfile.open(model_archive) as source, tarfile.open(destination, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None and member.name.endswith("baseline.json"):
                data = data.replace(b'"two-year"', b'"2-year"')
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return destination


def drift_lambda_environment(state: _State) -> dict[str, str]:
    """The environment the serving stack gives its drift Lambda, from the same helpers and settings."""
    s = serving_stack(state)
    return {
        "CAPTURE_S3_URI": serving.capture_uri(serving_buckets(state)["capture"]),
        "ENDPOINT_NAME": serving.endpoint_name(s.base_name),
        "VARIANT_NAME": serving.VARIANT_NAME,
        "WINDOW_MINUTES": str(s.monitoring.schedule_minutes),
        "CAPTURE_SAMPLING_PERCENT": str(s.serving.capture_sampling_percent),
    }


def _published_metrics() -> list[dict[str, Any]]:
    paginator = _client("cloudwatch").get_paginator("list_metrics")
    return [m for page in paginator.paginate(Namespace=metrics.NAMESPACE) for m in page["Metrics"]]


def serve_on_emulator(state: _State, model_data_url: str, version: str) -> None:
    """Point the stack's endpoint at a model, as a deployment leaves it (moto has no UpdateEndpoint)."""
    sm, base = _client("sagemaker"), serving_stack(state).base_name
    model = serving.model_name(base, [model_data_url, version])
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=f"arn:aws:iam::123456789012:role/{base}-sagemaker-execution",
        PrimaryContainer={
            "Image": "sagemaker-scikit-learn",
            "ModelDataUrl": model_data_url,
            "Environment": {"SAGESTACK_MODEL_VERSION": version},
        },
    )
    config = f"{model}-config"
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": serving.VARIANT_NAME,
                "ModelName": model,
                "InstanceType": serving_stack(state).serving.instance_type,
                "InitialInstanceCount": 1,
            }
        ],
    )
    endpoint = serving.endpoint_name(base)
    if any(e["EndpointName"] == endpoint for e in sm.list_endpoints()["Endpoints"]):
        sm.delete_endpoint(EndpointName=endpoint)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)


def step_drift(state: _State) -> None:
    s = serving_stack(state)  # the target's drift engine, thresholds and alarm specs
    serve_promoted(state)
    config = DriftConfig.from_env(drift_lambda_environment(state))
    thresholds = s.monitoring.thresholds
    artifact.clear_cache()
    s3, cloudwatch, sagemaker = _client("s3"), _client("cloudwatch"), _client("sagemaker")
    results = {}
    blind = {}
    for name, stream in state.summary["serving"]["windows"].items():
        # The stack runs each window the settle delay after it ends.
        run_at = datetime.fromisoformat(stream["window"]["end"]) + timedelta(minutes=engine.SETTLE_MINUTES)
        outcome = run(config, {"time": run_at.isoformat()}, s3=s3, cloudwatch=cloudwatch, sagemaker=sagemaker)
        blind_firing = alarms.firing_on_emulator(cloudwatch, health_specs(s), run_at)
        if name in (CAPTURE_STOPPED, NEW_CATEGORY):
            blind[name] = {
                "alarms_firing": blind_firing,
                "capture_coverage": outcome["capture_coverage"],
                "records_analyzed": outcome["records_analyzed"],
                "refused_by_code_and_field": outcome["refused_by_code_and_field"],
            }
            continue
        if blind_firing:
            raise RuntimeError(
                f"window {name}: blind-case alarms would fire on healthy traffic: {blind_firing}"
            )
        firing = drift_subjects_firing(s, cloudwatch, run_at)
        prediction = outcome["prediction_drift"]
        results[name] = {
            "model_version": outcome["model"]["version"],  # the model the endpoint served: the baseline's
            "alarm_names": [drift_alarm_name(s.base_name, subject) for subject in firing],
            "records_analyzed": outcome["records_analyzed"],
            "malformed_records": outcome["malformed_records"],
            "feature_drift": outcome["feature_drift"],
            "prediction_drift": prediction,
            "alarms_firing": firing,
            "capture_coverage": outcome["capture_coverage"],
        }
        if outcome["records_analyzed"] != stream["captured"] or outcome["malformed_records"]:
            raise RuntimeError(
                f"window {name}: captured {stream['captured']} records, the engine analysed "
                f"{outcome['records_analyzed']} with {outcome['malformed_records']} malformed"
            )
    # A model artifact whose baseline disagrees with its schema: reported as broken, never as drift.
    assert state.model_archive is not None
    broken = broken_artifact(state.model_archive, state.work / "broken-model.tar.gz")
    broken_url = state.model_data_url.replace("model.tar.gz", "broken/model.tar.gz")
    bucket, key = artifact.parse_s3_url(broken_url, "MODEL_DATA_URL")
    _put(bucket, key, broken.read_bytes())
    first = state.summary["serving"]["windows"]["undrifted"]["window"]
    run_at = datetime.fromisoformat(first["end"]) + timedelta(minutes=engine.SETTLE_MINUTES)
    serve_on_emulator(state, broken_url, f"{state.job_name}-broken")
    outcome = run(config, {"time": run_at.isoformat()}, s3=s3, cloudwatch=cloudwatch, sagemaker=sagemaker)
    serve_promoted(state)
    blind["artifact-broken"] = {
        "alarms_firing": alarms.firing_on_emulator(cloudwatch, health_specs(s), run_at),
        "error": outcome.get("error"),
    }
    state.summary["drift"] = {
        "blind_cases": blind,
        "thresholds": {
            "feature_psi": thresholds.drift_psi,
            "prediction_psi": thresholds.prediction_drift_psi,
        },
        "drifted_feature": DRIFTED_FEATURE,
        "windows": results,
        "cloudwatch_metrics": _published_metrics(),
    }
    state.summary["rollback"] = rollback_to_older_model(state, config)


def step_promotion(state: _State, target: str) -> None:
    """Register an older model and the trained one in the stack's registry, promote the newest Approved version
    to `target` (a temporary copy of its stack file) and serve it on the target's endpoint."""
    s, s3 = state.s, _client("s3")
    assert state.model_archive is not None
    group = training.model_package_group_name(s.base_name)
    _client("sagemaker").create_model_package_group(ModelPackageGroupName=group)
    evaluation_base = f"s3://{state.buckets['artifacts']}/{retraining_pipeline.EVALUATION_PREFIX}"
    tags = training.stack_lineage(
        job_name=state.job_name,
        channel_uris=training_job.channel_uris(s.training, state.buckets["data"]),
        code_sha256=state.training_archive.sha256 if state.training_archive else "",
        settings=s.training,
        image_uri=PLACEHOLDER_IMAGE_URI,
        git_commit=None,
    )
    metrics = {k: v for k, v in state.summary["training"].items() if k in ("accuracy", "f1", "roc_auc")}
    # An older model: the same code, trained when the data looked like the drifted traffic does.
    older_job = f"{state.job_name}-older"
    older_features = sample_data.drift(
        state.frames["train"][list(contract.FEATURE_NAMES)], [DRIFTED_FEATURE], TRAFFIC_SEED
    )
    older = promotion.register(
        s3=s3,
        group=group,
        model_data_url=training_job.model_artifact_uri(
            f"s3://{state.buckets['artifacts']}/{training_job.MODEL_OUTPUT_PREFIX}", older_job
        ),
        model_archive=promotion.older_model(state.model_archive, older_features),
        lineage_tags={**tags, "training_job": older_job},
        metrics=metrics,
        evaluation_uri=f"{evaluation_base}/{older_job}/evaluation.json",
        region=s.region,
    )
    trained = promotion.register(
        s3=s3,
        group=group,
        model_data_url=state.model_data_url,
        model_archive=state.model_archive.read_bytes(),
        lineage_tags=tags,
        metrics=metrics,
        evaluation_uri=f"{evaluation_base}/{state.job_name}/evaluation.json",
        region=s.region,
    )
    state.target, state.package_arn, pinned = promotion.promote_to(
        target, group, state.work, state.stack_files
    )
    if state.package_arn != trained.arn:
        raise RuntimeError(f"promoted {state.package_arn}, expected the newest Approved {trained.arn}")
    state.older_package_arn = older.arn
    prepare_target(state)
    endpoint = promotion.serve_package(state.target, state.package_arn)
    state.summary["promotion"] = {
        "registry": group,
        "package_arn": state.package_arn,
        "older_package_arn": older.arn,
        "source_stack": state.stack,
        "target_stack": target,
        "target_endpoint": endpoint,
        "target_buckets": dict(state.target_buckets),
        "pinned_stack_file": pinned,
    }


def prepare_target(state: _State) -> None:
    """The target's own key and buckets (the source's when it promotes to itself); its pin must say where the
    model lives: the source's artifacts bucket and key, the only things it reads from the source."""
    assert state.target is not None
    if state.target.stack == state.stack:
        state.target_buckets, state.target_key_arn = dict(state.buckets), state.key_arn
        return
    artifacts = state.target.serving.package_artifacts
    where = (artifacts.bucket, artifacts.key_arn) if artifacts else None
    if where != (state.buckets["artifacts"], state.key_arn):
        raise RuntimeError(
            f"the pin in Pulumi.{state.target.stack}.yaml reads the model from {where}, expected the source's "
            f"artifacts bucket and key {(state.buckets['artifacts'], state.key_arn)}"
        )
    state.target_buckets, state.target_key_arn = create_storage(state.target)


def serve_promoted(state: _State) -> None:
    assert state.target is not None
    promotion.serve_package(state.target, state.package_arn)


def rollback_to_older_model(state: _State, config: DriftConfig) -> dict[str, Any]:
    """Point the target's endpoint back at the older package and measure the drifted window again."""
    assert state.target is not None
    promotion.serve_package(state.target, state.older_package_arn)
    window = state.summary["serving"]["windows"]["drifted"]["window"]
    run_at = datetime.fromisoformat(window["end"]) + timedelta(minutes=engine.SETTLE_MINUTES)
    s3, cloudwatch, sagemaker = _client("s3"), _client("cloudwatch"), _client("sagemaker")
    outcome = run(config, {"time": run_at.isoformat()}, s3=s3, cloudwatch=cloudwatch, sagemaker=sagemaker)
    serve_promoted(state)
    return {
        "package_arn": state.older_package_arn,
        "model_version": outcome["model"]["version"],
        "feature_drift": outcome["feature_drift"],
        "records_analyzed": outcome["records_analyzed"],
    }


def served_screen(state: _State) -> dict[str, str]:
    """`python -m infra.served --stack <target>` against the emulator: what the target's endpoint serves."""
    endpoint = serving.endpoint_name(serving_stack(state).base_name)
    described = served.describe_served(_client("sagemaker"), _client("s3"), endpoint, serving.VARIANT_NAME)
    return {"endpoint": endpoint, "version": described.served.version, "screen": served.render(described)}


def inventory(state: _State) -> dict[str, list[str]]:
    """Every object of the source's and the target's buckets, by bucket: where each step left its output."""
    s3 = _client("s3")
    return {
        bucket: [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", ())
        ]
        for bucket in sorted({*state.buckets.values(), *state.target_buckets.values()})
    }


def step_report(state: _State, reports_dir: Path) -> None:
    s = serving_stack(state)
    state.summary["served"] = served_screen(state)
    state.summary["objects"] = inventory(state)
    state.log(state.summary["served"]["screen"])
    state.summary["settings"] = {  # what the stack does when an alarm fires, for the report's next steps
        "latency_p99_threshold_ms": s.monitoring.thresholds.latency_p99_ms,
        "errors_5xx_per_minute": s.monitoring.thresholds.errors_5xx_per_minute,
        "retrain_cooldown_minutes": s.monitoring.retrain_cooldown_minutes,
        "deployment_strategy": s.serving.deployment.strategy,
        "drift_schedule_minutes": s.monitoring.schedule_minutes,
        "alarm_emails": len(s.monitoring.alarm_emails),
    }
    baseline = state.frames["train"][DRIFTED_FEATURE]
    live = state.frames["drifted"][DRIFTED_FEATURE]
    name = state.stack if s.stack == state.stack else f"{state.stack}-to-{s.stack}"
    path = report.write_report(state.summary, baseline, live, reports_dir / f"rehearsal-{name}.html")
    state.summary["report"] = str(path)
    state.log(report.text_summary(state.summary))


@contextmanager
def _step(number: int, log: Callable[[str], None]) -> Iterator[None]:
    began = time.monotonic()
    log(f"[{number}/{len(STEPS)}] {STEPS[number - 1]} ...")
    try:
        yield
    except RehearsalError:
        raise
    except Exception as error:
        raise RehearsalError(number, f"{type(error).__name__}: {error}") from error
    log(f"[{number}/{len(STEPS)}] done in {time.monotonic() - began:.1f} s")


def run_rehearsal(
    stack: str = "dev",
    rows: int = 4000,
    # prod captures 20%: 1,250 requests per window leave it 250 records; at 100 the PSI noise of an undrifted
    # window reached the 0.2 threshold (total_charges 0.18-0.2 in two runs)
    requests: int = 2500,
    reports_dir: Path | str = "reports",
    log: Callable[[str], None] = print,
    promote_to: str | None = None,
    stack_files: Path = PROJECT_ROOT,
) -> dict[str, Any]:
    """Run every step for `stack`, promoting its model to `promote_to` (default: to itself); returns the
    summary. Raises RehearsalError naming the step that failed."""
    if rows < 50:
        raise RehearsalError(2, f"rows: expected at least 50, got {rows}")
    if requests < 2:
        raise RehearsalError(5, f"requests: expected at least 2, got {requests}")
    target = promote_to or stack
    with tempfile.TemporaryDirectory(prefix="sagestack-rehearsal-") as work, ExitStack() as resources:
        state = _State(stack=stack, work=Path(work), log=log, stack_files=stack_files)
        state.summary["stack"] = stack
        with _step(1, log):
            state.settings = load_settings(stack, stack_files)
            if target != stack:  # the target's file and settings are checked before anything is created
                check_target(state.s, load_settings(target, stack_files))
            endpoint_url = resources.enter_context(emulator.moto_server())
            resources.enter_context(emulator.aws_environment(endpoint_url, state.s.region))
            log(f"      AWS emulator (moto) at {endpoint_url}, region {state.s.region}")
            step_storage(state)
        with _step(2, log):
            step_data(state, rows)
        with _step(3, log):
            step_training(state)
        with _step(4, log):
            # A pinned copy of the target's file; from here on the target's endpoint, capture, drift engine and
            # alarm specs are the ones exercised (the source's own when it promotes to itself).
            step_promotion(state, target)
        with _step(5, log):
            step_serving(state, requests)
        with _step(6, log):
            step_drift(state)
        with _step(7, log):
            step_report(state, Path(reports_dir))
        return state.summary

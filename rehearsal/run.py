"""The rehearsal's steps, run in order against moto with the stack's settings, code and names."""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import requests

from infra import packaging, serving, storage, training
from infra.config_schema import PROJECT_ROOT, load_stack_config
from infra.monitoring import drift_alarm_name
from infra.settings import Settings, settings_from_values
from rehearsal import capture, emulator, report

for _runtime_dir in ("training", "serving"):
    # training/ and serving/ ship as flat script folders: their modules import each other by bare name.
    if str(PROJECT_ROOT / _runtime_dir) not in sys.path:
        sys.path.append(str(PROJECT_ROOT / _runtime_dir))

import contract  # noqa: E402
import local_server  # noqa: E402
import sample_data  # noqa: E402
import toolkit_runner  # noqa: E402
from monitoring import artifact, metrics  # noqa: E402
from monitoring.handler import DriftConfig, run  # noqa: E402

DRIFTED_FEATURE = "monthly_charges"
PLACEHOLDER_IMAGE_URI = "local"  # no container registry locally; only feeds the job-name hash
DATA_SEED = 7
TRAFFIC_SEED = 11
TRAINING_TIMEOUT_SECONDS = 600
STEPS = (
    "start the AWS emulator and create the stack's key and buckets",
    "generate and upload sample data",
    "package the code and train through the SageMaker training toolkit",
    "serve the model on the image's serving stack and capture undrifted then drifted traffic",
    "run the drift engine over each window and compare with the alarm thresholds",
    "summarise and write the HTML report",
)


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

    @property
    def s(self) -> Settings:
        assert self.settings is not None
        return self.settings


def _client(service: str) -> Any:
    return boto3.client(service)


def _put(bucket: str, key: str, body: bytes) -> None:
    _client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def load_settings(stack: str) -> Settings:
    config = load_stack_config(stack)
    return settings_from_values(stack, config.region, config.values)


def step_storage(state: _State) -> None:
    """The stack's KMS key and its three buckets, by their physical names, with SSE-KMS by default."""
    s = state.s
    kms = _client("kms")
    state.key_arn = kms.create_key(Description=f"{s.base_name} rehearsal key")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=f"alias/{s.base_name}", TargetKeyId=state.key_arn)
    s3 = _client("s3")
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
                            "KMSMasterKeyID": state.key_arn,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        state.buckets[purpose] = name
    state.summary["buckets"] = dict(state.buckets)


def step_data(state: _State, rows: int) -> None:
    """Sample customers for the train and validation channels, uploaded under the stack's data prefix."""
    data = sample_data.generate_customers(rows, DATA_SEED)
    train, validation = sample_data.split(data, DATA_SEED)
    prefix = state.s.training.data_key_prefix
    for channel, frame in (("train", train), ("validation", validation)):
        _put(state.buckets["data"], f"{prefix}/{channel}/{channel}.csv", frame.to_csv(index=False).encode())
    state.frames.update(train=train, validation=validation)
    state.summary["data"] = {"rows": rows, "train_rows": len(train), "validation_rows": len(validation)}


def _download_channel(bucket: str, uri: str, destination: Path) -> None:
    prefix = uri.removeprefix(f"s3://{bucket}/")
    s3 = _client("s3")
    destination.mkdir(parents=True)
    found = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            target = destination / item["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(target))
            found += 1
    if not found:
        raise RuntimeError(f"channel {uri} is empty")


def _pack_model(model_dir: Path, destination: Path) -> Path:
    """model.tar.gz as SageMaker packs /opt/ml/model: the directory's contents at the archive root."""
    with tarfile.open(destination, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    return destination


def step_training(state: _State) -> None:
    s, artifacts = state.s, state.buckets["artifacts"]
    build_dir = state.work / "build"
    state.training_archive = packaging.build_training_archive(
        include_serving_code=s.serving.network_isolation, build_dir=build_dir
    )
    state.serving_archive = packaging.build_serving_archive(build_dir)
    training_key = storage.code_key(state.training_archive, "training")
    _put(artifacts, training_key, state.training_archive.path.read_bytes())
    _put(
        artifacts, storage.code_key(state.serving_archive, "serving"), state.serving_archive.path.read_bytes()
    )
    code_uri = f"s3://{artifacts}/{training_key}"

    channels = {}
    for channel, uri in training.channel_uris(s.training, state.buckets["data"]).items():
        channels[channel] = state.work / "channels" / channel
        _download_channel(state.buckets["data"], uri, channels[channel])
    state.job_name = training.job_name(
        base_name=s.base_name,
        code_sha256=state.training_archive.sha256,
        settings=s.training,
        image_uri=PLACEHOLDER_IMAGE_URI,
    )
    hyperparameters = training.job_hyperparameters(s.training, code_uri)
    result = toolkit_runner.run_training_locally(
        state.training_archive.path,
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
    output_path = f"s3://{artifacts}/{training.MODEL_OUTPUT_PREFIX}"
    state.model_data_url = training.model_artifact_uri(output_path, state.job_name)
    _put(artifacts, state.model_data_url.removeprefix(f"s3://{artifacts}/"), state.model_archive.read_bytes())
    trained = json.loads((result.model_dir / "metrics.json").read_text())
    state.summary["training"] = {
        "job_name": state.job_name,
        "hyperparameters": hyperparameters,
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


def _traffic(requests_count: int) -> dict[str, pd.DataFrame]:
    """Fresh customers (not the training rows): undrifted, then the same population with one feature shifted."""
    half = max(1, requests_count // 2)
    customers = sample_data.generate_customers(2 * half, TRAFFIC_SEED)[list(contract.FEATURE_NAMES)]
    undrifted = customers.iloc[:half].reset_index(drop=True)
    drifted = sample_data.drift(customers.iloc[half:].reset_index(drop=True), [DRIFTED_FEATURE], TRAFFIC_SEED)
    return {"undrifted": undrifted, "drifted": drifted}


def step_serving(state: _State, requests_count: int) -> None:
    s = state.s
    assert state.model_archive is not None and state.serving_archive is not None
    code_archive = None if s.serving.network_isolation else state.serving_archive.path
    windows = capture.consecutive_windows(s.monitoring.schedule_minutes, datetime.now(UTC), 2)
    endpoint = serving.endpoint_name(s.base_name)
    root = f"{serving.CAPTURE_PREFIX}/{endpoint}/{serving.VARIANT_NAME}/"
    latencies: list[float] = []
    streams: dict[str, dict[str, Any]] = {}
    index = 0
    # The image's real serving stack (serving/local_server.py), in the layout the stack deploys.
    with local_server.serve(state.model_archive, code_archive) as server, requests.Session() as http:
        for (name, frame), (start, end) in zip(_traffic(requests_count).items(), windows, strict=True):
            exchanges = []
            times = capture.spread_times(len(frame), start, end)
            for position, (_, row) in enumerate(frame.iterrows()):
                content_type, body = _request(index, row)
                began = time.perf_counter()
                response = http.post(
                    f"{server.url}/invocations",
                    data=body.encode(),
                    headers={"Content-Type": content_type, "Accept": capture.JSON_CONTENT_TYPE},
                    timeout=30,
                )
                latencies.append((time.perf_counter() - began) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"request {index} ({content_type}) got {response.status_code}: {response.text}"
                    )
                if capture.is_sampled(index, s.serving.capture_sampling_percent):
                    exchanges.append(
                        capture.Exchange(
                            content_type, body, capture.JSON_CONTENT_TYPE, response.text, times[position]
                        )
                    )
                index += 1
            for key, data in capture.capture_objects(exchanges, root, f"rehearsal-{name}").items():
                _put(state.buckets["capture"], key, data)
            streams[name] = {
                "window": {"start": start.isoformat(), "end": end.isoformat()},
                "requests": len(frame),
                "captured": len(exchanges),
                "frame": frame,
            }
    state.frames.update({name: stream.pop("frame") for name, stream in streams.items()})
    state.summary["serving"] = {
        "endpoint_name": endpoint,
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


def drift_lambda_environment(state: _State) -> dict[str, str]:
    """The environment the stack gives its drift Lambda, from the same helpers and settings."""
    s = state.s
    return {
        "CAPTURE_S3_URI": serving.capture_uri(state.buckets["capture"]),
        "ENDPOINT_NAME": serving.endpoint_name(s.base_name),
        "VARIANT_NAME": serving.VARIANT_NAME,
        "MODEL_DATA_URL": state.model_data_url,
        "WINDOW_MINUTES": str(s.monitoring.schedule_minutes),
    }


def _published_metrics() -> list[dict[str, Any]]:
    paginator = _client("cloudwatch").get_paginator("list_metrics")
    return [m for page in paginator.paginate(Namespace=metrics.NAMESPACE) for m in page["Metrics"]]


def step_drift(state: _State) -> None:
    s = state.s
    config = DriftConfig.from_env(drift_lambda_environment(state))
    thresholds = s.monitoring.thresholds
    artifact.clear_cache()
    s3, cloudwatch = _client("s3"), _client("cloudwatch")
    results = {}
    for name, stream in state.summary["serving"]["windows"].items():
        outcome = run(config, {"time": stream["window"]["end"]}, s3=s3, cloudwatch=cloudwatch)
        firing = [f for f, psi in outcome["feature_drift"].items() if psi > thresholds.drift_psi]
        prediction = outcome["prediction_drift"]
        if prediction is not None and prediction > thresholds.prediction_drift_psi:
            firing.append("predictions")
        results[name] = {
            "alarm_names": [drift_alarm_name(s.base_name, subject) for subject in firing],
            "records_analyzed": outcome["records_analyzed"],
            "malformed_records": outcome["malformed_records"],
            "feature_drift": outcome["feature_drift"],
            "prediction_drift": prediction,
            "alarms_firing": firing,
        }
        if outcome["records_analyzed"] != stream["captured"] or outcome["malformed_records"]:
            raise RuntimeError(
                f"window {name}: captured {stream['captured']} records, the engine analysed "
                f"{outcome['records_analyzed']} with {outcome['malformed_records']} malformed"
            )
    state.summary["drift"] = {
        "thresholds": {
            "feature_psi": thresholds.drift_psi,
            "prediction_psi": thresholds.prediction_drift_psi,
        },
        "drifted_feature": DRIFTED_FEATURE,
        "windows": results,
        "cloudwatch_metrics": _published_metrics(),
    }


def step_report(state: _State, reports_dir: Path) -> None:
    baseline = state.frames["train"][DRIFTED_FEATURE]
    live = state.frames["drifted"][DRIFTED_FEATURE]
    path = report.write_report(state.summary, baseline, live, reports_dir / f"rehearsal-{state.stack}.html")
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
    requests: int = 600,
    reports_dir: Path | str = "reports",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every step for `stack`; returns the summary. Raises RehearsalError naming the step that failed."""
    if rows < 50:
        raise RehearsalError(2, f"rows: expected at least 50, got {rows}")
    if requests < 2:
        raise RehearsalError(4, f"requests: expected at least 2, got {requests}")
    with tempfile.TemporaryDirectory(prefix="sagestack-rehearsal-") as work, ExitStack() as resources:
        state = _State(stack=stack, work=Path(work), log=log)
        state.summary["stack"] = stack
        with _step(1, log):
            state.settings = load_settings(stack)
            endpoint_url = resources.enter_context(emulator.moto_server())
            resources.enter_context(emulator.aws_environment(endpoint_url, state.s.region))
            log(f"      AWS emulator (moto) at {endpoint_url}, region {state.s.region}")
            step_storage(state)
        with _step(2, log):
            step_data(state, rows)
        with _step(3, log):
            step_training(state)
        with _step(4, log):
            step_serving(state, requests)
        with _step(5, log):
            step_drift(state)
        with _step(6, log):
            step_report(state, Path(reports_dir))
        return state.summary

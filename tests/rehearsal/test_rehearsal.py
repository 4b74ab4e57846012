"""The local rehearsal end to end on moto, and the stack's drift alarms checked against what it published."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from infra.config_schema import PROJECT_ROOT
from monitoring import metrics
from rehearsal import RehearsalError, capture, run_rehearsal
from rehearsal import run as rehearsal_run
from tests.infra.conftest import recording_of
from tests.infra.harness import run_program

# The artifact validated in staging is the one served in prod: staging trains, prod is pinned and serves.
STACK = "staging"
TARGET = "prod"
REQUESTS = 2500  # half per window (four windows); prod captures 20% (Pulumi.prod.yaml captureSamplingPercent)
ALARM_TYPE = "aws:cloudwatch/metricAlarm:MetricAlarm"
Rehearsal = tuple[dict[str, Any], list[str]]
ACCOUNT = "123456789012"  # moto's account: both stacks live in it on the emulator
REGION = "eu-west-1"  # Pulumi.staging.yaml and Pulumi.prod.yaml aws:region


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[str]]:
    lines: list[str] = []
    reports = tmp_path_factory.mktemp("reports")
    summary = run_rehearsal(
        STACK, rows=1500, requests=REQUESTS, reports_dir=reports, log=lines.append, promote_to=TARGET
    )
    return summary, lines


def _flagged(summary: dict[str, Any], window: str) -> list[str]:
    return list(summary["drift"]["windows"][window]["alarms_firing"])


@pytest.mark.slow
def test_drifted_feature_alone_is_flagged_in_the_drifted_window(rehearsal: Rehearsal) -> None:
    summary, _ = rehearsal
    drifted = summary["drift"]["drifted_feature"]
    threshold = summary["drift"]["thresholds"]["feature_psi"]
    window = summary["drift"]["windows"]["drifted"]
    assert window["feature_drift"][drifted] > threshold
    assert drifted in _flagged(summary, "drifted")
    others = {f: psi for f, psi in window["feature_drift"].items() if f != drifted}
    assert others and all(psi <= threshold for psi in others.values()), others
    assert not set(_flagged(summary, "drifted")) - {drifted, "predictions"}


@pytest.mark.slow
def test_drift_is_measured_against_the_promoted_package_the_endpoint_serves(rehearsal: Rehearsal) -> None:
    summary, lines = rehearsal
    versions = {w["model_version"] for w in summary["drift"]["windows"].values()}
    assert versions == {summary["promotion"]["package_arn"]}
    assert f"promoted  {summary['promotion']['package_arn']}" in "\n".join(lines)


def test_alarms_it_says_would_fire_are_alarms_the_stack_declares(rehearsal: Rehearsal) -> None:
    summary, lines = rehearsal
    declared = {
        a.inputs["name"] for a in recording_of(TARGET).of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    named = summary["drift"]["windows"]["drifted"]["alarm_names"]
    assert named and set(named) <= declared
    assert any(named[0] in line for line in lines)


@pytest.mark.slow
def test_nothing_is_flagged_in_the_undrifted_window(rehearsal: Rehearsal) -> None:
    summary, _ = rehearsal
    assert _flagged(summary, "undrifted") == []
    # 1,250 requests in the window, 20% of them captured by prod
    assert summary["drift"]["windows"]["undrifted"]["records_analyzed"] == 250


@pytest.mark.slow
def test_training_metrics_serving_latency_and_progress_lines(rehearsal: Rehearsal) -> None:
    summary, lines = rehearsal
    training = summary["training"]
    assert training["roc_auc"] > 0.7
    assert 0.5 < training["accuracy"] <= 1.0 and 0.0 < training["f1"] <= 1.0
    assert training["model_data_url"].endswith(f"/models/training/{training['job_name']}/output/model.tar.gz")
    latency = summary["serving"]["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"]
    windows = summary["serving"]["windows"]
    assert windows["undrifted"]["requests"] + windows["drifted"]["requests"] == REQUESTS
    assert summary["serving"]["requests"] == sum(window["requests"] for window in windows.values())
    for step in range(1, 8):
        assert f"[{step}/7] done" in "\n".join(lines)


@pytest.mark.slow
def test_report_is_written_with_its_plots(rehearsal: Rehearsal) -> None:
    summary, _ = rehearsal
    report = Path(summary["report"])
    assert report.name == f"rehearsal-{STACK}-to-{TARGET}.html" and report.is_file()
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 3
    assert summary["drift"]["drifted_feature"] in page


def _published(summary: dict[str, Any], namespace: str, name: str, dimensions: dict[str, str]) -> bool:
    wanted = sorted(dimensions.items())
    return any(
        metric["Namespace"] == namespace
        and metric["MetricName"] == name
        and sorted((d["Name"], d["Value"]) for d in metric["Dimensions"]) == wanted
        for metric in summary["drift"]["cloudwatch_metrics"]
    )


@pytest.mark.slow
def test_every_drift_alarm_of_the_stack_watches_a_metric_the_engine_published(rehearsal: Rehearsal) -> None:
    summary, _ = rehearsal
    watched = []  # (alarm, namespace, metric, dimensions), metric-math alarms' metrics included
    for alarm in recording_of(TARGET).of_type(ALARM_TYPE):
        inputs = alarm.inputs
        if "metricName" in inputs:
            watched.append((inputs["name"], inputs["namespace"], inputs["metricName"], inputs["dimensions"]))
        for query in inputs.get("metricQueries") or []:
            if "metric" in query:
                metric = query["metric"]
                watched.append(
                    (inputs["name"], metric["namespace"], metric["metricName"], metric["dimensions"])
                )
    ours = [w for w in watched if w[1] == metrics.NAMESPACE]
    feature_alarms = {w[0] for w in ours if w[2] == metrics.FEATURE_DRIFT}
    assert len(feature_alarms) == len(summary["drift"]["windows"]["drifted"]["feature_drift"])
    assert {w[2] for w in ours} >= {
        metrics.PREDICTION_DRIFT,
        metrics.RECORDS_ANALYZED,
        metrics.CAPTURE_COVERAGE,
        metrics.ARTIFACT_BROKEN,
        metrics.REFUSED_REQUESTS,
    }
    for name, namespace, metric, dimensions in ours:
        if metrics.CODE_DIMENSION in dimensions and dimensions[metrics.FIELD_DIMENSION] != "contract":
            continue  # refusals per code and field exist once one happens (the alarm FILLs them with 0)
        assert _published(summary, namespace, metric, dimensions), (name, metric, dimensions)


@pytest.mark.slow
def test_metric_cross_check_rejects_an_alarm_on_another_endpoint(rehearsal: Rehearsal) -> None:
    summary, _ = rehearsal
    metric = summary["drift"]["cloudwatch_metrics"][0]
    dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
    assert _published(summary, metric["Namespace"], metric["MetricName"], dimensions)
    dimensions[metrics.ENDPOINT_DIMENSION] = "another-endpoint"
    assert not _published(summary, metric["Namespace"], metric["MetricName"], dimensions)
    assert not _published(summary, metric["Namespace"], "NoSuchMetric", {})


def test_unknown_stack_exits_non_zero_naming_step_one(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "rehearsal", "--stack", "no-such-stack", "--reports-dir", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0
    assert "step 1 (start the AWS emulator" in completed.stderr
    assert "Pulumi.no-such-stack.yaml" in completed.stderr
    assert not (tmp_path / "rehearsal-no-such-stack.html").exists()


@pytest.mark.slow
def test_corrupt_training_data_fails_the_training_step_and_stops_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample_data = rehearsal_run.__dict__["sample_data"]  # training/'s flat module, imported by bare name
    generate = sample_data.generate_customers

    def corrupt_labels(rows: int, seed: int) -> pd.DataFrame:
        customers = generate(rows, seed)
        customers["churned"] = customers["churned"].map({0: "no", 1: "maybe"})
        return customers

    monkeypatch.setattr(sample_data, "generate_customers", corrupt_labels)
    lines: list[str] = []
    with pytest.raises(RehearsalError) as failure:
        run_rehearsal("dev", rows=200, requests=10, reports_dir=tmp_path, log=lines.append)
    assert failure.value.step == 3
    assert "churned" in str(failure.value)
    found = re.search(r"AWS emulator \(moto\) at (\S+),", "\n".join(lines))
    assert found is not None
    endpoint = found.group(1)
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoint, timeout=5)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("rows, requests_count, step", [(10, 400, 2), (1500, 1, 5)])
def test_too_small_a_sample_is_refused_before_anything_starts(
    tmp_path: Path, rows: int, requests_count: int, step: int
) -> None:
    with pytest.raises(RehearsalError) as failure:
        run_rehearsal(STACK, rows=rows, requests=requests_count, reports_dir=tmp_path, log=lambda line: None)
    assert failure.value.step == step


@pytest.mark.parametrize("percent", [0, 1, 5, 37, 50, 100])
def test_capture_sampling_keeps_exactly_the_percentage(percent: int) -> None:
    kept = [index for index in range(1000) if capture.is_sampled(index, percent)]
    assert len(kept) == 10 * percent


def test_windows_are_back_to_back_and_end_at_a_past_hour() -> None:
    now = datetime(2026, 11, 28, 3, 41, 7, tzinfo=UTC)
    (first_start, first_end), (second_start, second_end) = capture.consecutive_windows(60, now, 2)
    assert second_end == datetime(2026, 11, 28, 2, tzinfo=UTC)
    assert first_end == second_start and first_end - first_start == second_end - second_start
    assert second_start.hour == 1 and first_start.hour == 0


def test_capture_record_follows_the_data_capture_format() -> None:
    moment = datetime(2026, 11, 28, 3, 15, 42, 250000, tzinfo=UTC)
    exchange = capture.Exchange("text/csv", "1,2", "application/json", '{"predictions": [1]}', moment)
    record = capture.capture_record(exchange)
    assert record["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert record["captureData"]["endpointOutput"]["encoding"] == "JSON"
    assert record["eventMetadata"]["inferenceTime"] == "2026-11-28T03:15:42.250Z"
    objects = capture.capture_objects([exchange], "datacapture/ep/primary/", "f")
    # SageMaker's capture object names: <hour folder>/<MM>-<SS>-<mmm>-<uuid>.jsonl, e.g. 12/32-18-648-cee08c3a-...
    [key] = objects
    assert re.fullmatch(r"datacapture/ep/primary/2026/11/28/03/15-42-250-[0-9a-f-]{36}\.jsonl", key), key


@pytest.mark.slow
def test_the_blind_cases_fire_their_alarms_and_nothing_else(rehearsal: Rehearsal) -> None:
    # issue 14 "Done when": capture stopped, artifact broken and a new-category surge each fire their alarm
    summary, _ = rehearsal
    base = f"sagestack-{TARGET}"  # the target's monitor-health alarms watch the target's endpoint
    blind = summary["drift"]["blind_cases"]
    assert blind["capture-stopped"]["alarms_firing"] == [f"{base}-monitor-blind"]
    assert blind["capture-stopped"]["capture_coverage"] == 0.0
    assert blind["artifact-broken"]["alarms_firing"] == [f"{base}-monitor-artifact-broken"]
    assert "baseline categories of 'contract'" in blind["artifact-broken"]["error"]
    assert blind["new-category"]["alarms_firing"] == [f"{base}-new-category-contract"]
    refused = summary["serving"]["windows"]["new-category"]["refused"]
    assert refused > 0 and blind["new-category"]["refused_by_code_and_field"] == {
        "unknown_category/contract": refused
    }
    declared = {
        a.inputs["name"] for a in recording_of(TARGET).of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    for case in blind.values():
        assert set(case["alarms_firing"]) <= declared


@pytest.mark.slow
def test_training_ran_the_job_the_stack_declares(rehearsal: Rehearsal) -> None:
    """Issue 10: the rehearsal trains from the stack's own hyperparameters, channel names and code key."""
    summary, _ = rehearsal
    job = recording_of(STACK).one("aws:sagemaker/trainingJob:TrainingJob").inputs
    assert summary["training"]["hyperparameters"] == job["hyperParameters"]
    declared = {c["channelName"]: c["dataSource"]["s3DataSource"]["s3Uri"] for c in job["inputDataConfigs"]}
    staged = summary["training"]["channels"]
    assert set(staged) == set(declared)
    for name, uri in declared.items():
        prefix = uri.split("/", 3)[3]
        assert staged[name] and all(key.startswith(prefix) for key in staged[name])
    assert staged["code"] == [declared["code"].split("/", 3)[3]]


# Issue 12 "Done when": the rehearsal promotes the model it trained to a second stack (registry entry, pin in a
# copy of the target's stack file, serve, capture, drift) and the drift report names the promoted model's version.
@pytest.mark.slow
def test_the_trained_model_is_registered_with_its_lineage_and_pinned_in_a_copy_of_the_targets_file(
    rehearsal: Rehearsal,
) -> None:
    summary, _ = rehearsal
    promoted = summary["promotion"]
    arn = promoted["package_arn"]
    assert arn == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/sagestack-{STACK}-models/2"
    assert promoted["older_package_arn"].endswith(f"/sagestack-{STACK}-models/1")
    assert promoted["source_stack"] == STACK and promoted["target_stack"] == TARGET
    assert promoted["target_endpoint"] == f"sagestack-{TARGET}"
    pinned = promoted["pinned_stack_file"]
    assert f"sagestack:approvedModelPackageArn: {arn}" in pinned
    # The pin says where the model lives: the producer's artifacts bucket, the only thing read from it.
    assert f"sagestack:modelArtifactsBucket: sagestack-{STACK}-artifacts-{ACCOUNT}-{REGION}" in pinned
    assert "sagestack:endpointInstanceCount: 4" in pinned  # the rest of prod's own file is kept
    assert f"#   training job: {summary['training']['job_name']}" in pinned
    assert "(not recorded)" in pinned  # the emulator knows no git commit, and the pin says so
    for fact in ("code archive: ", "hyperparameters: ", "validation: accuracy=", "evaluation report: s3://"):
        assert fact in pinned
    # The repository's own stack file is never touched by the rehearsal.
    assert "approvedModelPackageArn" not in (PROJECT_ROOT / f"Pulumi.{TARGET}.yaml").read_text()


@pytest.mark.slow
def test_after_a_rollback_the_drift_engine_uses_the_older_models_baseline(rehearsal: Rehearsal) -> None:
    summary, _ = rehearsal
    rollback = summary["rollback"]
    promoted_window = summary["drift"]["windows"]["drifted"]
    feature = summary["drift"]["drifted_feature"]
    assert rollback["model_version"] == rollback["package_arn"] == summary["promotion"]["older_package_arn"]
    assert rollback["records_analyzed"] == promoted_window["records_analyzed"]
    # The older model was trained on data shaped like the drifted traffic: against its baseline the shifted
    # feature barely moves, against the promoted model's it drifts past the threshold.
    threshold = summary["drift"]["thresholds"]["feature_psi"]
    assert promoted_window["feature_drift"][feature] > threshold >= rollback["feature_drift"][feature]


def _bucket(stack: str, purpose: str) -> str:
    # infra/storage.py's physical names: <namePrefix>-<stack>-<purpose>-<account>-<region>
    return f"sagestack-{stack}-{purpose}-{ACCOUNT}-{REGION}"


@pytest.mark.slow
def test_the_target_serves_captures_and_measures_drift_with_its_own_resources(rehearsal: Rehearsal) -> None:
    summary, _ = rehearsal
    promoted, serving, objects = summary["promotion"], summary["serving"], summary["objects"]
    assert promoted["target_buckets"] == {p: _bucket(TARGET, p) for p in ("data", "artifacts", "capture")}
    assert serving["stack"] == TARGET and serving["endpoint_name"] == f"sagestack-{TARGET}"
    assert serving["capture_sampling_percent"] == 20 and serving["network_isolation"] is True
    # Captured under the target's capture prefix, in the target's bucket; the source's capture stays empty.
    captured = objects[_bucket(TARGET, "capture")]
    assert captured and all(key.startswith(f"datacapture/sagestack-{TARGET}/primary/") for key in captured)
    assert objects[_bucket(STACK, "capture")] == []
    # Drift metrics carry the target's endpoint; its alarms are the target's (names and 30-minute windows).
    endpoints = {
        d["Value"]
        for metric in summary["drift"]["cloudwatch_metrics"]
        for d in metric["Dimensions"]
        if d["Name"] == metrics.ENDPOINT_DIMENSION
    }
    assert endpoints == {f"sagestack-{TARGET}"}
    drifted = summary["drift"]["windows"]["drifted"]["alarm_names"]
    assert drifted and all(name.startswith(f"sagestack-{TARGET}-drift-") for name in drifted)
    window = summary["serving"]["windows"]["drifted"]["window"]
    span = datetime.fromisoformat(window["end"]) - datetime.fromisoformat(window["start"])
    assert span.total_seconds() == 30 * 60  # Pulumi.prod.yaml driftScheduleMinutes: 30


@pytest.mark.slow
def test_the_target_trains_nothing_and_serves_the_packages_model(
    rehearsal: Rehearsal, tmp_path: Path
) -> None:
    summary, _ = rehearsal
    arn = summary["promotion"]["package_arn"]
    # The model served is the package's ModelDataUrl in the producer's bucket; the target has no model of its own.
    assert summary["serving"]["model_data_url"] == summary["training"]["model_data_url"]
    assert summary["training"]["model_data_url"].startswith(f"s3://{_bucket(STACK, 'artifacts')}/models/")
    assert not [key for key in summary["objects"][_bucket(TARGET, "artifacts")] if key.startswith("models/")]
    assert summary["objects"][_bucket(TARGET, "data")] == []
    # The real program on the pinned copy of the target's file starts no training job and serves the package.
    shutil.copyfile(PROJECT_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / f"Pulumi.{TARGET}.yaml").write_text(summary["promotion"]["pinned_stack_file"])
    pinned = run_program(TARGET, root=tmp_path)
    assert pinned.of_type("aws:sagemaker/trainingJob:TrainingJob") == []
    model = pinned.one("aws:sagemaker/model:Model").inputs
    assert model["primaryContainer"]["modelPackageName"] == arn


@pytest.mark.slow
def test_the_one_screen_report_and_the_drift_report_name_the_promoted_version(rehearsal: Rehearsal) -> None:
    summary, lines = rehearsal
    arn = summary["promotion"]["package_arn"]
    assert summary["served"]["endpoint"] == f"sagestack-{TARGET}"
    assert summary["served"]["version"] == arn
    screen = summary["served"]["screen"]
    assert (
        f"model version      {arn}" in screen
        and f"training job       {summary['training']['job_name']}" in screen
    )
    assert summary["served"]["screen"] in "\n".join(lines)
    assert f"rehearsal summary for stack {STACK}, promoted to and served by stack {TARGET}" in "\n".join(
        lines
    )
    assert {w["model_version"] for w in summary["drift"]["windows"].values()} == {arn}
    assert arn in Path(summary["report"]).read_text()  # the HTML report names it too


def _stack_files(tmp_path: Path, **files: str) -> Path:
    """A folder of stack files: the project's, the source's, and the given ones."""
    tmp_path.mkdir()
    shutil.copyfile(PROJECT_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copyfile(PROJECT_ROOT / f"Pulumi.{STACK}.yaml", tmp_path / f"Pulumi.{STACK}.yaml")
    for name, text in files.items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    "target, files, named",
    [
        ("missing", {}, "Pulumi.missing.yaml"),
        (
            "broken",
            {"broken": (PROJECT_ROOT / "Pulumi.prod.yaml").read_text() + "  sagestack:driftThreshold: -1\n"},
            "sagestack:driftThreshold = ",
        ),
        # The model must be in the model's region (SageMaker API reference, ContainerDefinition ModelDataUrl).
        (
            "faraway",
            {"faraway": (PROJECT_ROOT / "Pulumi.prod.yaml").read_text().replace(REGION, "us-east-1")},
            "aws:region = 'us-east-1' in Pulumi.faraway.yaml",
        ),
        ("sandbox", {"sandbox": (PROJECT_ROOT / "Pulumi.sandbox.yaml").read_text()}, "aws:region"),
    ],
)
def test_a_promotion_target_that_cannot_serve_fails_before_anything_is_created(
    tmp_path: Path, target: str, files: dict[str, str], named: str
) -> None:
    stack_files = _stack_files(tmp_path / "stacks", **files)
    reports = tmp_path / "reports"
    lines: list[str] = []
    with pytest.raises(RehearsalError) as failure:
        run_rehearsal(
            STACK,
            rows=200,
            requests=10,
            reports_dir=reports,
            log=lines.append,
            promote_to=target,
            stack_files=stack_files,
        )
    assert failure.value.step == 1 and named in str(failure.value)
    assert not any(
        "AWS emulator (moto) at" in line for line in lines
    )  # no emulator, so no bucket, key or endpoint
    assert not reports.exists()


def test_a_target_that_captures_nothing_is_refused_naming_the_key(tmp_path: Path) -> None:
    sandbox = (PROJECT_ROOT / "Pulumi.sandbox.yaml").read_text().replace("us-east-1", REGION)
    stack_files = _stack_files(tmp_path / "stacks", sandbox=sandbox)
    with pytest.raises(RehearsalError) as failure:
        run_rehearsal(
            STACK,
            rows=200,
            requests=10,
            reports_dir=tmp_path,
            log=lambda line: None,
            promote_to="sandbox",
            stack_files=stack_files,
        )
    assert failure.value.step == 1 and "sagestack:captureSamplingPercent = 0" in str(failure.value)

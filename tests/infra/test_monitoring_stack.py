"""Alarms, the drift engine's deployment, the retraining rule and the dashboard for every stack file."""

from __future__ import annotations

import json

from infra import monitoring as monitoring_infra
from infra.config_schema import load_stack_config
from infra.settings import settings_from_values
from monitoring import metrics
from tests.infra.harness import Recording, run_program
from training import contract

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTION = "aws:lambda/function:Function"


def settings_of(stack: str):
    config = load_stack_config(stack)
    return settings_from_values(stack, config.region, config.values)


def alarms_by_metric(recording: Recording) -> dict[tuple[str, str], list[dict]]:
    found: dict[tuple[str, str], list[dict]] = {}
    for alarm in recording.of_type(ALARM):
        found.setdefault((alarm.inputs["namespace"], alarm.inputs["metricName"]), []).append(alarm.inputs)
    return found


def test_every_endpoint_has_drift_silence_5xx_and_latency_alarms_wired_to_the_topic(
    recording: Recording,
) -> None:
    s = settings_of(recording.stack)
    endpoint = recording.outputs["endpoint_name"]
    topic = recording.outputs["alarm_topic_arn"]
    alarms = alarms_by_metric(recording)
    assert [a["dimensions"]["EndpointName"] for a in alarms[("AWS/SageMaker", "Invocation5XXErrors")]] == [
        endpoint
    ]
    assert [a["dimensions"]["EndpointName"] for a in alarms[("AWS/SageMaker", "ModelLatency")]] == [endpoint]
    assert ("AWS/SageMaker", "Invocation4XXErrors") in alarms
    if s.monitoring.engine == "lambda":
        drift = alarms[(metrics.NAMESPACE, metrics.FEATURE_DRIFT)]
        assert sorted(a["dimensions"]["Feature"] for a in drift) == sorted(contract.FEATURE_NAMES)
        assert all(a["dimensions"]["EndpointName"] == endpoint for a in drift)
        assert alarms[(metrics.NAMESPACE, metrics.PREDICTION_DRIFT)]
        silent = alarms[(metrics.NAMESPACE, metrics.RECORDS_ANALYZED)]
        assert [a["treatMissingData"] for a in silent] == ["breaching"]
    else:
        assert s.serving.serverless is not None, (
            "only a stack that captures nothing may go without drift alarms"
        )
    for alarm in recording.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic]


def test_drift_alarms_match_the_engine_metrics_and_the_schedule(recording: Recording) -> None:
    s = settings_of(recording.stack).monitoring
    if s.engine != "lambda":
        return
    endpoint = recording.outputs["endpoint_name"]
    for alarm in recording.of_type(ALARM):
        inputs = alarm.inputs
        if inputs["namespace"] != metrics.NAMESPACE:
            continue
        assert inputs["period"] == s.schedule_minutes * 60
        if inputs["metricName"] == metrics.FEATURE_DRIFT:
            ref = metrics.feature_drift(endpoint, "primary", inputs["dimensions"]["Feature"])
            assert (inputs["statistic"], inputs["threshold"]) == (ref.statistic, s.thresholds.drift_psi)
            assert inputs["dimensions"] == ref.dimensions_dict()
            assert inputs["treatMissingData"] == "notBreaching"


def test_drift_engine_lambda_reads_this_stack_and_runs_on_its_schedule(recording: Recording) -> None:
    s = settings_of(recording.stack).monitoring
    functions = {f.inputs["name"]: f.inputs for f in recording.of_type(FUNCTION)}
    if s.engine != "lambda":
        assert functions == {}
        return
    engine = functions[f"sagestack-{recording.stack}-drift-engine"]
    variables = engine["environment"]["variables"]
    assert variables == {
        "CAPTURE_S3_URI": f"s3://{recording.outputs['capture_bucket']}/datacapture",
        "ENDPOINT_NAME": recording.outputs["endpoint_name"],
        "VARIANT_NAME": "primary",
        "MODEL_DATA_URL": recording.outputs["model_data_url"],
        "WINDOW_MINUTES": str(s.schedule_minutes),
    }
    assert engine["runtime"].startswith("python3.") and engine["handler"] == "monitoring.handler.handler"
    rules = {r.inputs["name"]: r.inputs for r in recording.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert rules[f"sagestack-{recording.stack}-drift-schedule"][
        "scheduleExpression"
    ] == monitoring_infra.schedule_expression(s.schedule_minutes)


def test_drift_alarm_starts_the_retraining_pipeline_through_the_gate(recording: Recording) -> None:
    s = settings_of(recording.stack).monitoring
    if s.engine is None:
        return
    rules = {r.inputs["name"]: r for r in recording.of_type("aws:cloudwatch/eventRule:EventRule")}
    rule = rules[f"sagestack-{recording.stack}-drift-to-retraining"]
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"]["state"] == {"value": ["ALARM"]}
    prefix = pattern["detail"]["alarmName"][0]["prefix"]
    drift_alarms = [a.inputs["name"] for a in recording.of_type(ALARM) if a.inputs["name"].startswith(prefix)]
    assert len(drift_alarms) == len(contract.FEATURE_NAMES) + 1
    assert not any(
        a.inputs["name"].startswith(prefix)
        for a in recording.of_type(ALARM)
        if a.inputs["namespace"] == "AWS/SageMaker"
    )
    target = next(
        t.inputs
        for t in recording.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.inputs["rule"] == rule.inputs["name"]
    )
    gate = next(f.inputs for f in recording.of_type(FUNCTION) if target["arn"].endswith(f.inputs["name"]))
    assert gate["handler"] == "monitoring.retrain.handler"
    assert gate["environment"]["variables"] == {
        "PIPELINE_NAME": recording.outputs["pipeline_name"],
        "COOLDOWN_MINUTES": str(s.retrain_cooldown_minutes),
    }


def test_alarm_topic_is_encrypted_and_emails_subscribe() -> None:
    recording = run_program("staging", {"alarmEmails": '["ops@example.com", "ml@example.com"]'})
    assert recording.one("aws:sns/topic:Topic").inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    subscriptions = recording.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == ["ml@example.com", "ops@example.com"]
    assert {s.inputs["protocol"] for s in subscriptions} == {"email"}


def test_no_invocations_alarm_only_where_configured() -> None:
    def has_it(stack: str) -> bool:
        return any(a.inputs["metricName"] == "Invocations" for a in run_program(stack).of_type(ALARM))

    assert has_it("prod") and not has_it("dev")


def test_model_monitor_engine_produces_the_schedule_and_its_metric_names() -> None:
    recording = run_program("dev", {"driftEngine": "model-monitor"})
    definition = recording.one("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs
    assert definition["dataQualityAppSpecification"]["environment"] == {
        "publish_cloudwatch_metrics": "Enabled"
    }
    assert "sagemaker-model-monitor-analyzer" in definition["dataQualityAppSpecification"]["imageUri"]
    schedule = recording.one("aws:sagemaker/monitoringSchedule:MonitoringSchedule").inputs
    assert schedule["monitoringScheduleConfig"]["monitoringType"] == "DataQuality"
    drift = [
        a.inputs
        for a in recording.of_type(ALARM)
        if a.inputs["namespace"] == "aws/sagemaker/Endpoints/data-metrics"
    ]
    assert sorted(a["metricName"] for a in drift) == sorted(
        f"feature_baseline_drift_{f}" for f in contract.FEATURE_NAMES
    )
    assert {a["dimensions"]["MonitoringSchedule"] for a in drift} == {schedule["name"]}
    assert recording.of_type(FUNCTION)[0].inputs["handler"] == "monitoring.retrain.handler"  # only the gate


def test_dashboard_shows_traffic_errors_drift_and_alarms(recording: Recording) -> None:
    body = json.loads(recording.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert {"Invocations", "Errors", "Alarm states"} <= set(titles)
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(recording.of_type(ALARM)) - (
        1 if settings_of(recording.stack).monitoring.engine == "lambda" else 0
    )
    if settings_of(recording.stack).monitoring.engine == "lambda":
        drift = next(w for w in body["widgets"] if w["properties"]["title"].startswith("Drift"))
        assert {m[-1] for m in drift["properties"]["metrics"] if m[1] == metrics.FEATURE_DRIFT} == set(
            contract.FEATURE_NAMES
        )

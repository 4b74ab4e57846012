"""Alarms, the drift engine's deployment, the retraining rule and the dashboard for every stack file."""

from __future__ import annotations

import json
import re

import pytest

from infra import alarm_specs, drift_engine, drift_scaleout, packaging
from infra.config_schema import load_stack_config
from infra.settings import settings_from_values
from monitoring import metrics
from tests.infra.conftest import recording_of
from tests.infra.harness import ACCOUNT_ID, RecordedResource, Recording, run_program
from training import contract

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTION = "aws:lambda/function:Function"


def settings_of(stack: str):
    config = load_stack_config(stack)
    return settings_from_values(stack, config.region, config.values)


def alarms_by_metric(recording: Recording) -> dict[tuple[str, str], list[dict]]:
    found: dict[tuple[str, str], list[dict]] = {}
    for alarm in recording.of_type(ALARM):
        for namespace, name in watched_metrics(alarm.inputs):
            found.setdefault((namespace, name), []).append(alarm.inputs)
    return found


def watched_metrics(alarm: dict) -> list[tuple[str, str]]:
    """(namespace, metric name) of a plain alarm, or of every metric in a metric-math alarm."""
    if "metricName" in alarm:
        return [(alarm["namespace"], alarm["metricName"])]
    return [
        (q["metric"]["namespace"], q["metric"]["metricName"]) for q in alarm["metricQueries"] if "metric" in q
    ]


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
        silent = [
            a for a in alarms[(metrics.NAMESPACE, metrics.RECORDS_ANALYZED)] if a["name"].endswith("-silent")
        ]
        assert [a["treatMissingData"] for a in silent] == ["notBreaching"]
    else:
        assert s.serving.serverless is not None, (
            "only a stack that captures nothing may go without drift alarms"
        )
    for alarm in recording.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic]


def test_drift_alarms_match_the_engine_metrics_and_the_schedule(recording: Recording) -> None:
    s = settings_of(recording.stack).monitoring
    if s.engine != "lambda":
        pytest.skip("this stack runs no drift Lambda")
    endpoint = recording.outputs["endpoint_name"]
    for alarm in recording.of_type(ALARM):
        inputs = alarm.inputs
        if inputs.get("namespace") != metrics.NAMESPACE:
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
        "WINDOW_MINUTES": str(s.schedule_minutes),
        "CAPTURE_SAMPLING_PERCENT": str(settings_of(recording.stack).serving.capture_sampling_percent),
        # the planner's: a window one invocation cannot measure goes to the Distributed Map
        "SCALEOUT_STATE_MACHINE_ARN": recording.one("aws:sfn/stateMachine:StateMachine").state["arn"],
        "SCALEOUT_BUCKET": recording.outputs["artifacts_bucket"],
        "SCALEOUT_SINGLE_MAX_BYTES": str(drift_scaleout.SINGLE_MAX_BYTES),
        "SCALEOUT_PART_BYTES": str(drift_scaleout.PART_BYTES),
        "SCALEOUT_PART_OBJECTS": str(drift_scaleout.PART_OBJECTS),
    }
    assert engine["handler"] == "monitoring.scaleout.handler"
    # the zip carries compiled wheels for exactly this interpreter and architecture
    assert engine["runtime"] == f"python{packaging.LAMBDA_PYTHON_VERSION}"
    assert engine["architectures"] == [packaging.LAMBDA_ARCHITECTURE]
    rules = {r.inputs["name"]: r.inputs for r in recording.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert rules[f"sagestack-{recording.stack}-drift-schedule"][
        "scheduleExpression"
    ] == drift_engine.schedule_expression(s.schedule_minutes)


def test_drift_alarm_starts_the_retraining_pipeline_through_the_gate(recording: Recording) -> None:
    s = settings_of(recording.stack).monitoring
    if s.engine is None:
        pytest.skip("this stack captures nothing, so it watches no drift")
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
        if a.inputs.get("namespace") == "AWS/SageMaker"
    )
    target = next(
        t.inputs
        for t in recording.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.inputs["rule"] == rule.inputs["name"]
    )
    gate = next(f.inputs for f in recording.of_type(FUNCTION) if target["arn"].endswith(f.inputs["name"]))
    assert gate["handler"] == "monitoring.retrain.handler"
    table = retrain_claims_table(recording).inputs
    assert gate["environment"]["variables"] == {
        "PIPELINE_NAME": recording.outputs["pipeline_name"],
        "COOLDOWN_MINUTES": str(s.retrain_cooldown_minutes),
        "CLAIM_TABLE_NAME": table["name"],
    }
    assert table["hashKey"] == "pipeline" and table["attributes"] == [{"name": "pipeline", "type": "S"}]


def test_alarm_topic_is_encrypted_and_emails_subscribe() -> None:
    recording = run_program("staging", {"alarmEmails": '["ops@example.com", "ml@example.com"]'})
    assert recording.one("aws:sns/topic:Topic").inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    subscriptions = recording.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == ["ml@example.com", "ops@example.com"]
    assert {s.inputs["protocol"] for s in subscriptions} == {"email"}


def test_no_invocations_alarm_only_where_configured() -> None:
    def has_it(stack: str) -> bool:
        return any(a.inputs.get("metricName") == "Invocations" for a in recording_of(stack).of_type(ALARM))

    assert has_it("prod") and not has_it("dev")


def test_dashboard_shows_traffic_errors_drift_and_alarms(recording: Recording) -> None:
    body = json.loads(recording.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert {"Invocations", "Errors", "Alarm states"} <= set(titles)
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    shown = recording.of_type(ALARM)
    assert len(set(alarm_widget["properties"]["alarms"])) == len(shown), "every alarm shown"
    if settings_of(recording.stack).monitoring.engine == "lambda":
        drift = next(w for w in body["widgets"] if w["properties"]["title"].startswith("Drift"))
        assert {m[-1] for m in drift["properties"]["metrics"] if m[1] == metrics.FEATURE_DRIFT} == set(
            contract.FEATURE_NAMES
        )


QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ASYNC_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"


def retrain_claims_table(recording: Recording) -> RecordedResource:
    tables = [t for t in recording.of_type("aws:dynamodb/table:Table") if t.name == "retraining-gate-claims"]
    assert len(tables) == 1, [t.name for t in recording.of_type("aws:dynamodb/table:Table")]
    return tables[0]


def alarm_named(recording: Recording, suffix: str) -> dict:
    name = f"sagestack-{recording.stack}-{suffix}"
    found = [a.inputs for a in recording.of_type(ALARM) if a.inputs["name"] == name]
    assert len(found) == 1, f"expected one alarm {name}"
    return found[0]


def blind_alarm_suffixes() -> list[str]:
    return [
        "monitor-silent",
        "monitor-blind",
        "monitor-malformed",
        "monitor-artifact-broken",
        *(f"new-category-{f.name.replace('_', '-')}" for f in contract.CATEGORICAL_FEATURES),
    ]


def test_every_stack_that_captures_has_the_blind_case_alarms_and_none_starts_retraining(
    recording: Recording,
) -> None:
    s = settings_of(recording.stack)
    if s.monitoring.engine != "lambda":
        assert not any(a.inputs["name"].endswith("monitor-blind") for a in recording.of_type(ALARM))
        return
    prefix = alarm_specs.drift_alarm_prefix(f"sagestack-{recording.stack}")
    for suffix in blind_alarm_suffixes():
        alarm = alarm_named(recording, suffix)
        assert not alarm["name"].startswith(prefix)
        # no traffic, no run or no datapoint is never a blind monitor: fresh stacks stay OK (issue 10)
        assert alarm["treatMissingData"] == "notBreaching"
        assert alarm["alarmActions"] == [recording.outputs["alarm_topic_arn"]]


def _queries(alarm: dict) -> dict[str, dict]:
    return {q["id"]: q for q in alarm["metricQueries"]}


def test_the_silent_alarm_compares_engine_runs_with_endpoint_traffic(recording: Recording) -> None:
    s = settings_of(recording.stack).monitoring
    if s.engine != "lambda":
        pytest.skip("this stack runs no drift Lambda")
    alarm = alarm_named(recording, "monitor-silent")
    queries = _queries(alarm)
    assert (
        queries["e"]["expression"] == "IF(invocations > 0, FILL(runs, 0), 1)" and queries["e"]["returnData"]
    )
    invocations, runs = queries["invocations"]["metric"], queries["runs"]["metric"]
    # SageMaker publishes Invocations per EndpointName/VariantName in AWS/SageMaker
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html)
    assert (invocations["namespace"], invocations["metricName"], invocations["stat"]) == (
        "AWS/SageMaker",
        "Invocations",
        "Sum",
    )
    assert (runs["namespace"], runs["metricName"], runs["stat"]) == (
        metrics.NAMESPACE,
        metrics.RECORDS_ANALYZED,
        "SampleCount",
    )
    assert (
        invocations["dimensions"]
        == runs["dimensions"]
        == {
            "EndpointName": recording.outputs["endpoint_name"],
            "VariantName": "primary",
        }
    )
    period = s.schedule_minutes * 60
    assert invocations["period"] == runs["period"] == period
    # CloudWatch: evaluation periods x period may not exceed one day
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html)
    assert alarm["evaluationPeriods"] * period <= 86_400
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 1)


def test_blind_coverage_malformed_and_new_category_alarms_watch_what_the_engine_publishes(
    recording: Recording,
) -> None:
    s = settings_of(recording.stack).monitoring
    if s.engine != "lambda":
        pytest.skip("this stack runs no drift Lambda")
    endpoint = recording.outputs["endpoint_name"]
    blind = alarm_named(recording, "monitor-blind")
    ref = metrics.capture_coverage(endpoint, "primary")
    assert (blind["metricName"], blind["dimensions"], blind["statistic"]) == (
        ref.name,
        ref.dimensions_dict(),
        ref.statistic,
    )
    assert (blind["comparisonOperator"], blind["threshold"]) == ("LessThanThreshold", 0.5)
    malformed = _queries(alarm_named(recording, "monitor-malformed"))
    assert malformed["malformed"]["metric"]["metricName"] == metrics.MALFORMED_RECORDS
    assert malformed["measured"]["metric"]["metricName"] == metrics.RECORDS_ANALYZED
    for feature in contract.CATEGORICAL_FEATURES:
        queries = _queries(alarm_named(recording, f"new-category-{feature.name.replace('_', '-')}"))
        unknown = metrics.refused_requests(endpoint, "primary", "unknown_category", feature.name)
        assert queries["unknown"]["metric"]["dimensions"] == unknown.dimensions_dict()
    broken = alarm_named(recording, "monitor-artifact-broken")
    assert (broken["metricName"], broken["statistic"], broken["threshold"]) == (
        metrics.ARTIFACT_BROKEN,
        "Maximum",
        1,
    )


def _docs_table() -> list[tuple[str, str]]:
    """(metric, "watched by" cell) rows of docs/formats.md's drift-metrics table."""
    text = (packaging.PROJECT_ROOT / "docs" / "formats.md").read_text()
    section = text.split("## Drift metrics (CloudWatch)", 1)[1]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows.append((cells[0].strip("`"), cells[3]))
    return rows


def test_the_documented_metrics_and_the_alarms_that_watch_them_agree(recording: Recording) -> None:
    # issue 14 item 11: MaxFeatureDrift was documented as watched by an alarm that did not exist
    if settings_of(recording.stack).monitoring.engine != "lambda":
        pytest.skip("this stack runs no drift Lambda")
    base = f"sagestack-{recording.stack}"
    documented: dict[str, set[str]] = {}
    for metric, cell in _docs_table():
        names = set()
        for pattern in re.findall(r"`<base>-([^`]+)`", cell):
            if "<feature>" in pattern:
                names |= {
                    f"{base}-{pattern.replace('<feature>', f.replace('_', '-'))}"
                    for f in contract.FEATURE_NAMES
                }
            elif "<categorical>" in pattern:
                names |= {
                    f"{base}-{pattern.replace('<categorical>', f.name.replace('_', '-'))}"
                    for f in contract.CATEGORICAL_FEATURES
                }
            else:
                names.add(f"{base}-{pattern}")
        documented.setdefault(metric, set()).update(names)
    actual: dict[str, set[str]] = {}
    for alarm in recording.of_type(ALARM):
        for namespace, name in watched_metrics(alarm.inputs):
            if namespace == metrics.NAMESPACE:
                actual.setdefault(name, set()).add(alarm.inputs["name"])
    assert {m: n for m, n in documented.items() if n} == actual
    assert documented[metrics.MAX_FEATURE_DRIFT] == set()


@pytest.mark.parametrize(
    ("minutes", "expression"),
    [
        # EventBridge cron fields: minutes hours day-of-month month day-of-week year, "?" in one day field
        # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html)
        (60, "cron(20 * * * ? *)"),
        (30, "cron(20/30 * * * ? *)"),
        (15, "cron(5/15 * * * ? *)"),
        (5, "cron(0/5 * * * ? *)"),
        (120, "cron(20 0/2 * * ? *)"),
        (1440, "cron(20 0 * * ? *)"),
        (300, "rate(5 hours)"),
    ],
)
def test_runs_are_scheduled_the_settle_delay_after_each_aligned_window(minutes: int, expression: str) -> None:
    assert drift_engine.schedule_expression(minutes, 20) == expression


def test_failed_runs_and_deliveries_land_in_an_encrypted_dead_letter_queue_with_an_alarm(
    recording: Recording,
) -> None:
    s = settings_of(recording.stack).monitoring
    queues = recording.of_type(QUEUE)
    if s.engine is None:
        assert queues == []
        return
    [queue] = queues
    queue_arn = queue.state.get("arn") or f"arn:aws:sqs:{settings_of(recording.stack).region}"
    assert queue.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    assert queue.inputs["messageRetentionSeconds"] == 1_209_600  # SQS's maximum: 14 days
    # EventBridge-driven functions only: the scale-out's run synchronously under Step Functions.
    functions = [f for f in recording.of_type(FUNCTION) if not f.name.startswith("drift-scaleout")]
    targets = recording.of_type(TARGET)
    configs = recording.of_type(ASYNC_CONFIG)
    assert len(targets) == len(configs) == len(functions) >= 1
    for target in targets:
        # EventBridge target DeadLetterConfig with a RetryPolicy
        # (https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html)
        assert target.inputs["deadLetterConfig"]["arn"] == queue_arn
        assert target.inputs["retryPolicy"] == {"maximumRetryAttempts": 2, "maximumEventAgeInSeconds": 3600}
    for config in configs:
        # Lambda async invocation: on-failure destination after retries
        # (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)
        assert config.inputs["destinationConfig"]["onFailure"]["destination"] == queue_arn
        assert config.inputs["maximumRetryAttempts"] == 2
    policy = json.loads(recording.one(QUEUE_POLICY).inputs["policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == queue_arn
    rules = recording.of_type("aws:cloudwatch/eventRule:EventRule")
    assert len(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == len(rules)
    depth = alarm_named(recording, "monitoring-dead-letters")
    # SQS publishes ApproximateNumberOfMessagesVisible per QueueName in AWS/SQS
    # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html)
    assert (depth["namespace"], depth["metricName"], depth["dimensions"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": queue.inputs["name"]},
    )
    for role in recording.of_type("aws:iam/role:Role"):
        if role.inputs["name"] not in {f.inputs["name"] for f in functions}:
            continue
        statements = json.loads(role.inputs["inlinePolicies"][0]["policy"])["Statement"]
        send = [x for x in statements if "sqs:SendMessage" in x["Action"]]
        assert send and send[0]["Resource"] == [queue_arn]
        assert any("kms:GenerateDataKey" in x["Action"] for x in statements)


def test_the_key_lets_eventbridge_write_to_the_encrypted_dead_letter_queue(recording: Recording) -> None:
    key_policy = json.loads(recording.one("aws:kms/key:Key").inputs["policy"])
    [statement] = [
        x for x in key_policy["Statement"] if x["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]


def test_the_gate_may_claim_only_its_own_table(recording: Recording) -> None:
    if settings_of(recording.stack).monitoring.engine is None:
        pytest.skip("this stack captures nothing, so it has no retraining gate")
    table = retrain_claims_table(recording)
    gate_role = next(
        r for r in recording.of_type("aws:iam/role:Role") if r.inputs["name"].endswith("-retrain-gate")
    )
    statements = json.loads(gate_role.inputs["inlinePolicies"][0]["policy"])["Statement"]
    [claim] = [x for x in statements if x["Sid"] == "ClaimRetraining"]
    assert claim["Action"] == ["dynamodb:DeleteItem", "dynamodb:UpdateItem"]
    assert claim["Resource"] == [table.state.get("arn", claim["Resource"][0])]


# Issue 12: the drift engine measures against the model the endpoint serves now, never a URL fixed at deploy
# time; its role may follow endpoint -> configuration -> model -> package, for this stack's names only.
def test_the_drift_engine_resolves_the_served_model_at_every_run(recording: Recording) -> None:
    if settings_of(recording.stack).monitoring.engine != "lambda":
        pytest.skip("this stack runs no drift Lambda")
    engine = next(f for f in recording.of_type(FUNCTION) if f.inputs["name"].endswith("-drift-engine"))
    assert "MODEL_DATA_URL" not in engine.inputs["environment"]["variables"]
    role = next(
        r for r in recording.of_type("aws:iam/role:Role") if r.inputs["name"].endswith("-drift-engine")
    )
    statements = {st["Sid"]: st for st in json.loads(role.inputs["inlinePolicies"][0]["policy"])["Statement"]}
    region, base = settings_of(recording.stack).region, f"sagestack-{recording.stack}"
    arn = f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}"
    assert statements["ReadServedEndpoint"]["Resource"] == [f"{arn}:endpoint/{base}"]
    assert statements["ReadServedConfiguration"]["Resource"] == [f"{arn}:endpoint-config/{base}-*"]
    assert statements["ReadServedModel"]["Resource"] == [f"{arn}:model/{base}-*"]
    assert statements["ReadServedModelPackage"]["Resource"] == [f"{arn}:model-package/{base}-models/*"]


def test_a_stack_pinned_to_a_package_trains_nothing_and_serves_the_package() -> None:
    package = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:model-package/sagestack-staging-models/7"
    # Another stack's package: its bucket and key come beside the pin (infra/settings_rules.py, package_artifacts).
    artifacts = {
        "modelArtifactsBucket": f"sagestack-staging-artifacts-{ACCOUNT_ID}-us-east-1",
        "modelArtifactsKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/staging-key",
    }
    recording = run_program("dev", {"approvedModelPackageArn": package, **artifacts})
    assert recording.of_type("aws:sagemaker/trainingJob:TrainingJob") == []
    assert recording.of_type("aws:sagemaker/pipeline:Pipeline")  # the registry's pipeline stays
    model = recording.one("aws:sagemaker/model:Model").inputs
    assert model["primaryContainer"]["modelPackageName"] == package
    # No environment beside the package's (aws/sagemaker-python-sdk#3397); the resolver reports the package ARN.
    assert not model["primaryContainer"].get("environment")
    role = next(
        r for r in recording.of_type("aws:iam/role:Role") if r.inputs["name"].endswith("-drift-engine")
    )
    statements = {st["Sid"]: st for st in json.loads(role.inputs["inlinePolicies"][0]["policy"])["Statement"]}
    assert package in statements["ReadServedModelPackage"]["Resource"]
    assert "training_job_name" not in recording.outputs and "model_data_url" not in recording.outputs


def _recorded_as_spec_fields(alarm: dict) -> dict:
    return {
        "comparison": alarm["comparisonOperator"],
        "threshold": alarm["threshold"],
        "evaluation_periods": alarm["evaluationPeriods"],
        "datapoints_to_alarm": alarm["datapointsToAlarm"],
        "treat_missing_data": alarm["treatMissingData"],
        "description": alarm["alarmDescription"],
    }


def test_every_recorded_alarm_is_exactly_one_spec_of_the_stack(recording: Recording) -> None:
    """The adapter turns each spec into one MetricAlarm and adds nothing: the specs are the whole truth."""
    specs = {
        spec.name: spec
        for spec in alarm_specs.stack_alarm_specs(
            settings_of(recording.stack), endpoint=recording.outputs["endpoint_name"], variant="primary"
        )
    }
    recorded = {a.inputs["name"]: a.inputs for a in recording.of_type(ALARM)}
    assert sorted(recorded) == sorted(specs)
    topic = recording.outputs["alarm_topic_arn"]
    for name, alarm in recorded.items():
        spec = specs[name]
        assert _recorded_as_spec_fields(alarm) == {
            "comparison": spec.comparison,
            "threshold": spec.threshold.value,
            "evaluation_periods": spec.evaluation_periods,
            "datapoints_to_alarm": spec.datapoints_to_alarm,
            "treat_missing_data": spec.treat_missing_data,
            "description": spec.description,
        }
        assert alarm["alarmActions"] == alarm["okActions"] == [topic]
        if spec.math is not None:
            queries = _queries(alarm)
            assert queries["e"]["expression"] == spec.math.expression
            assert {
                q: (queries[q]["metric"]["metricName"], queries[q]["metric"]["period"])
                for q, _ in spec.math.queries
            } == {q: (ref.name, spec.period) for q, ref in spec.math.queries}
        else:
            assert spec.metric is not None
            assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"], alarm["period"]) == (
                spec.metric.namespace,
                spec.metric.name,
                spec.metric.dimensions_dict(),
                spec.period,
            )
            assert (alarm.get("statistic"), alarm.get("extendedStatistic")) == (
                spec.statistic,
                spec.extended_statistic,
            )


# "ModelLatency ... Units: Microseconds"; Invocation4XXErrors, Invocation5XXErrors and Invocations are per
# EndpointName/VariantName in AWS/SageMaker (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html)
@pytest.mark.parametrize("latency_ms", [1, 250, 600_000])
def test_the_latency_threshold_is_in_microseconds_as_sagemaker_reports_model_latency(latency_ms: int) -> None:
    settings = settings_from_values(
        "dev", "us-east-1", {**load_stack_config("dev").values, "latencyP99ThresholdMs": str(latency_ms)}
    )
    [latency] = [
        s
        for s in alarm_specs.endpoint_alarm_specs("b", "e", "primary", settings.monitoring.thresholds)
        if s.key == "latency-p99"
    ]
    assert (latency.threshold.value, latency.threshold.unit) == (latency_ms * 1000, "Microseconds")
    assert (latency.metric.namespace, latency.metric.name) == ("AWS/SageMaker", "ModelLatency")  # type: ignore[union-attr]
    assert latency.extended_statistic == "p99" and latency.statistic is None


def test_the_endpoint_alarms_watch_sagemakers_documented_metric_names(recording: Recording) -> None:
    endpoint = recording.outputs["endpoint_name"]
    watched = {
        (a.inputs["metricName"], a.inputs["comparisonOperator"])
        for a in recording.of_type(ALARM)
        if a.inputs.get("namespace") == "AWS/SageMaker"
    }
    assert {
        ("Invocation5XXErrors", "GreaterThanOrEqualToThreshold"),
        ("Invocation4XXErrors", "GreaterThanOrEqualToThreshold"),
        ("ModelLatency", "GreaterThanThreshold"),
    } <= watched
    for alarm in recording.of_type(ALARM):
        if alarm.inputs.get("namespace") == "AWS/SageMaker":
            assert alarm.inputs["dimensions"] == {"EndpointName": endpoint, "VariantName": "primary"}


def _documented_alarm_rows() -> dict[str, list[str]]:
    text = (packaging.PROJECT_ROOT / "docs" / "formats.md").read_text()
    section = text.split("### Alarms (every stack)", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`<base>-"):
            rows[cells[0].strip("`").removeprefix("<base>-")] = cells
    return rows


def _pattern(key: str) -> str:
    for feature in contract.FEATURE_NAMES:
        key = key.replace(f"drift-{feature.replace('_', '-')}", "drift-<feature>")
    for feature in contract.CATEGORICAL_FEATURES:
        key = key.replace(f"new-category-{feature.name.replace('_', '-')}", "new-category-<categorical>")
    return key


def test_the_documented_alarm_table_is_every_alarm_spec() -> None:
    rows = _documented_alarm_rows()
    specs = {
        _pattern(spec.key): spec
        for stack in ("dev", "prod")
        for spec in alarm_specs.stack_alarm_specs(settings_of(stack), endpoint="e", variant="primary")
    }
    assert sorted(rows) == sorted(specs)
    for key, spec in specs.items():
        _, _, fires, timing, missing, besides = rows[key]
        assert alarm_specs.COMPARISONS[spec.comparison] in fires.split()[0], key
        assert (
            f"{spec.datapoints_to_alarm} of {spec.evaluation_periods}" in timing
            or spec.key == "monitor-silent"
        )
        assert missing == spec.treat_missing_data, key
        assert ("roll back" in besides) == spec.rollback, key
        assert ("retraining" in besides) == spec.key.startswith("drift-"), key


SPLIT_COMPONENTS = (
    "sagestack:notifications:Notifications",
    "sagestack:endpoint_alarms:EndpointAlarms",
    "sagestack:dead_letters:DeadLetterQueue",
    "sagestack:drift_engine:DriftEngine",
    "sagestack:retraining_gate:RetrainingGate",
    "sagestack:dashboard:Dashboard",
)
FORMER = "sagestack:stack:Sagestack$sagestack:monitoring:Monitoring$"


def test_every_resource_moved_out_of_the_former_monitoring_component_answers_to_its_old_urn(
    recording: Recording,
) -> None:
    """A moved resource without an alias is replaced: a new queue, table, log group or alarm, its data or
    history gone, and fixed physical names collide when the new one is created before the old is deleted."""
    moved = [
        r
        for r in recording.resources
        if any(f"${c}$" in r.urn for c in SPLIT_COMPONENTS) or r.name == "monitoring-code"
    ]
    assert moved
    for resource in moved:
        former = [a for a in resource.aliases if FORMER in a]
        assert len(former) == 1, resource.urn
        assert former[0].split("$")[-1].split("::")[0] == resource.type

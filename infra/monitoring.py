"""Monitoring: the drift engine on a schedule, the alarms it and the endpoint feed, the topic, the dashboard,
and the gate that starts the retraining pipeline when drift alarms.

Metric names and dimensions come from `monitoring.metrics`, the module the engine publishes with,
so an alarm cannot watch a metric the engine does not write.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

import contract
from infra import iam
from infra.packaging import LAMBDA_ARCHITECTURE, LAMBDA_PYTHON_VERSION, Archive
from infra.settings import MonitoringSettings
from infra.storage import upload_code
from monitoring import engine, metrics

# The zip carries compiled wheels for exactly this Python and architecture (infra/packaging.py).
LAMBDA_RUNTIME = f"python{LAMBDA_PYTHON_VERSION}"
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# Alarm thresholds that are properties of the engine, not of an environment.
MIN_CAPTURE_COVERAGE = 0.5  # a window owning under half the lines Invocations x sampling predict is blind
MAX_MALFORMED_SHARE = 0.05
MAX_NEW_CATEGORY_SHARE = 0.01
# CloudWatch: evaluation periods x period may not exceed one day.
MAX_ALARM_SECONDS = 86_400
# SQS keeps a message at most 14 days: the longest an operator has to look at a failed run.
DEAD_LETTER_RETENTION_SECONDS = 1_209_600
# Async invocations and EventBridge deliveries are retried twice within the hour, then dead-lettered.
ASYNC_RETRIES = 2
MAX_EVENT_AGE_SECONDS = 3600
# Model Monitor's data-quality jobs publish here, one metric per feature.
MODEL_MONITOR_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"


def drift_alarm_prefix(base_name: str) -> str:
    """Every drift alarm's name starts with this; the retraining rule matches on it."""
    return f"{base_name}-drift-"


def drift_alarm_name(base_name: str, subject: str) -> str:
    """The drift alarm of one feature, or of the predictions (`subject="predictions"`)."""
    return f"{drift_alarm_prefix(base_name)}{subject.replace('_', '-')}"


def model_monitor_metric(feature: str) -> str:
    return f"feature_baseline_drift_{feature}"


def alarm_period_seconds(schedule_minutes: int) -> int:
    """A drift alarm evaluates exactly one engine run per period."""
    return schedule_minutes * 60


@dataclass(frozen=True)
class MonitoringArgs:
    base_name: str
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    settings: MonitoringSettings
    log_retention_days: int
    permissions_boundary_arn: str | None
    endpoint_name: str
    variant_name: str
    key_arn: pulumi.Input[str]
    capture_bucket: pulumi.Input[str]
    capture_bucket_arn: pulumi.Input[str]
    capture_prefix: str
    artifacts_bucket: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    model_package_arns: tuple[pulumi.Input[str], ...]  # the packages the endpoint may serve
    pipeline_name: pulumi.Input[str]
    pipeline_arn: pulumi.Input[str]
    engine_code: Archive
    model_monitor_schedule_name: str
    capture_sampling_percent: int = 100


class Monitoring(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    rollback_alarm_names: pulumi.Output[list[str]]
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:monitoring:Monitoring", name, None, opts)
        self._name = name
        self._args = args
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)

        topic = aws.sns.Topic(
            f"{name}-alarms",
            aws.sns.TopicArgs(name=f"{args.base_name}-alarms", kms_master_key_id=args.key_arn),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            aws.sns.TopicPolicyArgs(
                arn=topic.arn,
                policy=iam.document_json(
                    iam.document(
                        {
                            "Sid": "CloudWatchAlarmsPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": topic.arn,
                            "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
                        }
                    )
                ),
            ),
            opts=child,
        )
        for index, email in enumerate(s.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-alarm-email-{index}",
                aws.sns.TopicSubscriptionArgs(topic=topic.arn, protocol="email", endpoint=email),
                opts=child,
            )
        self.topic_arn = topic.arn

        self._alarms: list[aws.cloudwatch.MetricAlarm] = []
        endpoint_alarms = self._endpoint_alarms()
        self.rollback_alarm_names = pulumi.Output.all(
            endpoint_alarms["errors-5xx"].name, endpoint_alarms["latency-p99"].name
        )
        drift_alarms: list[aws.cloudwatch.MetricAlarm] = []
        self._code: aws.s3.BucketObjectv2 | None = None
        self._dead_letters: aws.sqs.Queue | None = None
        self._dead_letter_sources: list[pulumi.Output[str]] = []
        if s.engine == "lambda":
            drift_alarms = self._lambda_engine()
        elif s.engine == "model-monitor":
            drift_alarms = self._model_monitor_alarms()
        if drift_alarms:
            self._retraining_gate()
        self._dead_letter_queue_policy()

        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            aws.cloudwatch.DashboardArgs(
                dashboard_name=args.base_name,
                dashboard_body=pulumi.Output.json_dumps(
                    self._dashboard_body([a.arn for a in self._alarms]),
                    sort_keys=True,
                ),
            ),
            opts=child,
        )
        self.dashboard_name = dashboard.dashboard_name
        self.register_outputs(
            {
                "topic_arn": self.topic_arn,
                "rollback_alarm_names": self.rollback_alarm_names,
                "dashboard_name": self.dashboard_name,
            }
        )

    def _alarm(
        self,
        suffix: str,
        *,
        description: str,
        metric_name: str,
        namespace: str,
        dimensions: dict[str, str],
        comparison: str,
        threshold: float,
        period: int,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        statistic: str | None = None,
        extended_statistic: str | None = None,
        treat_missing_data: str,
    ) -> aws.cloudwatch.MetricAlarm:
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            aws.cloudwatch.MetricAlarmArgs(
                name=f"{self._args.base_name}-{suffix}",
                alarm_description=description,
                namespace=namespace,
                metric_name=metric_name,
                dimensions=dimensions,
                statistic=statistic,
                extended_statistic=extended_statistic,
                comparison_operator=comparison,
                threshold=threshold,
                period=period,
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
                treat_missing_data=treat_missing_data,
                alarm_actions=[self.topic_arn],
                ok_actions=[self.topic_arn],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._alarms.append(alarm)
        return alarm

    def _drift_suffix(self, subject: str) -> str:
        base = self._args.base_name
        return drift_alarm_name(base, subject).removeprefix(f"{base}-")

    def _engine_code(self) -> aws.s3.BucketObjectv2:
        """The `monitoring` package zip, uploaded once for the drift engine and the retraining gate."""
        if self._code is None:
            a = self._args
            self._code = upload_code(
                f"{self._name}-lambda-code",
                archive=a.engine_code,
                unit="monitoring",
                bucket=a.artifacts_bucket,
                parent=self,
            )
        return self._code

    def _endpoint_alarms(self) -> dict[str, aws.cloudwatch.MetricAlarm]:
        a, t = self._args, self._args.settings.thresholds
        variant = {"EndpointName": a.endpoint_name, "VariantName": a.variant_name}
        alarms = {
            # No traffic means no errors: missing data is healthy for error and latency alarms.
            "errors-5xx": self._alarm(
                "errors-5xx",
                description="Endpoint answers 5XX: deployments roll back on this alarm",
                namespace=SAGEMAKER_NAMESPACE,
                metric_name="Invocation5XXErrors",
                dimensions=variant,
                statistic="Sum",
                comparison="GreaterThanOrEqualToThreshold",
                threshold=t.errors_5xx_per_minute,
                period=60,
                treat_missing_data="notBreaching",
            ),
            "latency-p99": self._alarm(
                "latency-p99",
                description="Model latency p99 too high: deployments roll back on this alarm",
                namespace=SAGEMAKER_NAMESPACE,
                metric_name="ModelLatency",
                dimensions=variant,
                extended_statistic="p99",
                comparison="GreaterThanThreshold",
                threshold=t.latency_p99_ms * 1000,  # ModelLatency is reported in microseconds
                period=60,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data="notBreaching",
            ),
            "errors-4xx": self._alarm(
                "errors-4xx",
                description="Many rejected requests: a client sends payloads the model cannot read",
                namespace=SAGEMAKER_NAMESPACE,
                metric_name="Invocation4XXErrors",
                dimensions=variant,
                statistic="Sum",
                comparison="GreaterThanOrEqualToThreshold",
                threshold=t.errors_4xx_per_5_minutes,
                period=300,
                treat_missing_data="notBreaching",
            ),
        }
        if t.no_invocations_minutes:
            # SageMaker publishes no Invocations datapoint at all without traffic: missing data is the signal.
            alarms["no-invocations"] = self._alarm(
                "no-invocations",
                description="The endpoint received no request",
                namespace=SAGEMAKER_NAMESPACE,
                metric_name="Invocations",
                dimensions=variant,
                statistic="Sum",
                comparison="LessThanThreshold",
                threshold=1,
                period=t.no_invocations_minutes * 60,
                treat_missing_data="breaching",
            )
        return alarms

    def _lambda_engine(self) -> list[aws.cloudwatch.MetricAlarm]:
        a, s = self._args, self._args.settings
        function_name = f"{a.base_name}-drift-engine"
        self._event_driven_function(
            "engine",
            function_name=function_name,
            description="Measures drift of captured endpoint traffic against the training baseline",
            handler="monitoring.handler.handler",
            policy=iam.drift_engine_policy(
                partition=a.partition,
                region=a.region,
                account_id=a.account_id,
                function_name=function_name,
                capture_bucket_arn=a.capture_bucket_arn,
                capture_prefix=a.capture_prefix,
                artifacts_bucket_arn=a.artifacts_bucket_arn,
                key_arn=a.key_arn,
                metric_namespace=metrics.NAMESPACE,
                base_name=a.base_name,
                endpoint_name=a.endpoint_name,
                model_package_arns=a.model_package_arns,
            ),
            environment={
                "CAPTURE_S3_URI": pulumi.Output.format("s3://{0}/{1}", a.capture_bucket, a.capture_prefix),
                "ENDPOINT_NAME": a.endpoint_name,
                "VARIANT_NAME": a.variant_name,
                "WINDOW_MINUTES": str(s.schedule_minutes),
                "CAPTURE_SAMPLING_PERCENT": str(a.capture_sampling_percent),
            },
            timeout=900,
            memory_size=512,
            rule_key="engine-schedule",
            rule=aws.cloudwatch.EventRuleArgs(
                name=f"{a.base_name}-drift-schedule",
                description="Runs the drift engine over the last window of captured traffic",
                schedule_expression=schedule_expression(s.schedule_minutes),
            ),
        )

        t, period = s.thresholds, alarm_period_seconds(s.schedule_minutes)
        alarms = []
        for feature in contract.FEATURE_NAMES:
            ref = metrics.feature_drift(a.endpoint_name, a.variant_name, feature)
            alarms.append(
                self._alarm(
                    self._drift_suffix(feature),
                    description=f"Input feature {feature} drifted (PSI)",
                    namespace=ref.namespace,
                    metric_name=ref.name,
                    dimensions=ref.dimensions_dict(),
                    statistic=ref.statistic,
                    comparison="GreaterThanThreshold",
                    threshold=t.drift_psi,
                    period=period,
                    treat_missing_data="notBreaching",
                )
            )  # silence is the silence alarm's job
        ref = metrics.prediction_drift(a.endpoint_name, a.variant_name)
        alarms.append(
            self._alarm(
                self._drift_suffix("predictions"),
                description="Prediction distribution drifted (PSI)",
                namespace=ref.namespace,
                metric_name=ref.name,
                dimensions=ref.dimensions_dict(),
                statistic=ref.statistic,
                comparison="GreaterThanThreshold",
                threshold=t.prediction_drift_psi,
                period=period,
                treat_missing_data="notBreaching",
            )
        )
        self._blind_alarms(period)
        return alarms

    def _math_alarm(
        self,
        suffix: str,
        *,
        description: str,
        spec: AlarmMath,
        comparison: str,
        threshold: float,
        evaluation_periods: int = 1,
    ) -> aws.cloudwatch.MetricAlarm:
        """An alarm on a metric-math expression: missing data (no traffic, no run) is never an alarm."""
        queries = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=ref.namespace,
                    metric_name=ref.name,
                    dimensions=ref.dimensions_dict(),
                    stat=ref.statistic,
                    period=spec.period,
                ),
            )
            for query_id, ref in spec.metrics
        ]
        queries.append(
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="e", expression=spec.expression, label=description, return_data=True
            )
        )
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            aws.cloudwatch.MetricAlarmArgs(
                name=f"{self._args.base_name}-{suffix}",
                alarm_description=description,
                metric_queries=queries,
                comparison_operator=comparison,
                threshold=threshold,
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=evaluation_periods,
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic_arn],
                ok_actions=[self.topic_arn],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._alarms.append(alarm)
        return alarm

    def _blind_alarms(self, period: int) -> list[aws.cloudwatch.MetricAlarm]:
        """Alarms for every way the engine can stop seeing traffic; none starts retraining (no "drift-")."""
        a = self._args
        endpoint, variant = a.endpoint_name, a.variant_name
        coverage = metrics.capture_coverage(endpoint, variant)
        artifact = metrics.artifact_broken(endpoint, variant)
        alarms = [
            self._math_alarm(
                "monitor-silent",
                description="The endpoint had traffic but the drift engine published no run for "
                f"{silent_periods(period)} scheduled windows",
                spec=engine_silent_math(endpoint, variant, period),
                comparison="LessThanThreshold",
                threshold=1,
                evaluation_periods=silent_periods(period),
            ),
            self._alarm(
                "monitor-blind",
                description="The drift engine saw under half the capture records the endpoint's invocations "
                "and sampling rate predict: capture stopped or is lagging",
                namespace=coverage.namespace,
                metric_name=coverage.name,
                dimensions=coverage.dimensions_dict(),
                statistic=coverage.statistic,
                comparison="LessThanThreshold",
                threshold=MIN_CAPTURE_COVERAGE,
                period=period,
                treat_missing_data="notBreaching",  # the engine publishes no coverage for a quiet endpoint
            ),
            self._math_alarm(
                "monitor-malformed",
                description="Too many capture records could not be measured: drift monitoring is partly off "
                "(feature types or payloads disagree with the model's schema)",
                spec=malformed_share_math(endpoint, variant, period),
                comparison="GreaterThanThreshold",
                threshold=MAX_MALFORMED_SHARE,
            ),
            self._alarm(
                "monitor-artifact-broken",
                description="The model artifact's baseline.json or schema.json is unusable: no drift is measured",
                namespace=artifact.namespace,
                metric_name=artifact.name,
                dimensions=artifact.dimensions_dict(),
                statistic=artifact.statistic,
                comparison="GreaterThanOrEqualToThreshold",
                threshold=1,
                period=period,
                treat_missing_data="notBreaching",
            ),
        ]
        # Not "drift-": retraining cannot learn a category the schema refuses; the schema must change first.
        for feature in contract.CATEGORICAL_FEATURES:
            alarms.append(
                self._math_alarm(
                    f"new-category-{feature.name.replace('_', '-')}",
                    description=f"Live requests refused for an unknown {feature.name}: a new category",
                    spec=new_category_math(endpoint, variant, feature.name, period),
                    comparison="GreaterThanThreshold",
                    threshold=MAX_NEW_CATEGORY_SHARE,
                )
            )
        return alarms

    def _model_monitor_alarms(self) -> list[aws.cloudwatch.MetricAlarm]:
        a, s = self._args, self._args.settings
        dimensions = {"Endpoint": a.endpoint_name, "MonitoringSchedule": a.model_monitor_schedule_name}
        return [
            self._alarm(
                self._drift_suffix(feature),
                description=f"Model Monitor: input feature {feature} drifted from its baseline",
                namespace=MODEL_MONITOR_NAMESPACE,
                metric_name=model_monitor_metric(feature),
                dimensions=dimensions,
                statistic="Maximum",
                comparison="GreaterThanThreshold",
                threshold=s.thresholds.drift_psi,
                period=alarm_period_seconds(s.schedule_minutes),
                treat_missing_data="notBreaching",
            )
            for feature in contract.FEATURE_NAMES
        ]

    def _retraining_gate(self) -> None:
        """Drift alarm -> EventBridge -> gate Lambda -> pipeline; the gate enforces the cooldown."""
        a, s = self._args, self._args.settings
        function_name = f"{a.base_name}-retrain-gate"
        # One item per pipeline; it holds a time and an event id, so the AWS owned key encrypts it.
        claims = aws.dynamodb.Table(
            f"{self._name}-retrain-claims",
            aws.dynamodb.TableArgs(
                name=f"{a.base_name}-retrain-claims",
                billing_mode="PAY_PER_REQUEST",
                hash_key="pipeline",
                attributes=[aws.dynamodb.TableAttributeArgs(name="pipeline", type="S")],
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=False),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._event_driven_function(
            "gate",
            function_name=function_name,
            description="Starts the retraining pipeline on drift, at most once per cooldown",
            handler="monitoring.retrain.handler",
            policy=iam.retrain_gate_policy(
                partition=a.partition,
                region=a.region,
                account_id=a.account_id,
                function_name=function_name,
                pipeline_arn=a.pipeline_arn,
                claim_table_arn=claims.arn,
            ),
            environment={
                "PIPELINE_NAME": a.pipeline_name,
                "COOLDOWN_MINUTES": str(s.retrain_cooldown_minutes),
                "CLAIM_TABLE_NAME": claims.name,
            },
            timeout=60,
            memory_size=128,
            rule_key="drift-rule",
            rule=aws.cloudwatch.EventRuleArgs(
                name=f"{a.base_name}-drift-to-retraining",
                description="A drift alarm entering ALARM asks the gate to start retraining",
                event_pattern=pulumi.Output.json_dumps(drift_event_pattern(a.base_name), sort_keys=True),
            ),
        )

    def _event_driven_function(
        self,
        key: str,
        *,
        function_name: str,
        description: str,
        handler: str,
        policy: dict[str, Any],
        environment: dict[str, pulumi.Input[str]],
        timeout: int,
        memory_size: int,
        rule_key: str,
        rule: aws.cloudwatch.EventRuleArgs,
    ) -> aws.lambda_.Function:
        """A function from the `monitoring` package with its own role and log group, run by an EventBridge rule.

        A delivery EventBridge gives up on, or a run that fails after Lambda's retries, lands in the
        stack's dead-letter queue, which has an alarm: a failed drift or gate run never vanishes.
        """
        a = self._args
        child = pulumi.ResourceOptions(parent=self)
        dead_letters = self._dead_letter_queue()
        role = iam.role(
            f"{self._name}-{key}-role",
            role_name=function_name,
            description=description,
            trust_policy=iam.lambda_trust_policy(iam.service_principal("lambda", a.region, parent=self)),
            inline_policy={
                **policy,
                "Statement": [
                    *policy["Statement"],
                    *iam.dead_letter_statements(queue_arn=dead_letters.arn, key_arn=a.key_arn),
                ],
            },
            permissions_boundary=a.permissions_boundary_arn,
            parent=self,
        )
        code = self._engine_code()
        logs = aws.cloudwatch.LogGroup(
            f"{self._name}-{key}-logs",
            aws.cloudwatch.LogGroupArgs(
                name=f"/aws/lambda/{function_name}",
                retention_in_days=a.log_retention_days,
                kms_key_id=a.key_arn,
            ),
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{self._name}-{key}",
            aws.lambda_.FunctionArgs(
                name=function_name,
                description=description,
                runtime=LAMBDA_RUNTIME,
                handler=handler,
                architectures=[LAMBDA_ARCHITECTURE],
                role=role.arn,
                s3_bucket=code.bucket,
                s3_key=code.key,
                source_code_hash=base64.b64encode(bytes.fromhex(a.engine_code.sha256)).decode(),
                timeout=timeout,
                memory_size=memory_size,
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=logs.name),
            ),
            opts=child,
        )
        trigger = aws.cloudwatch.EventRule(f"{self._name}-{rule_key}", rule, opts=child)
        aws.lambda_.Permission(
            f"{self._name}-{key}-invoke",
            aws.lambda_.PermissionArgs(
                action="lambda:InvokeFunction",
                function=function.name,
                principal="events.amazonaws.com",
                source_arn=trigger.arn,
            ),
            opts=child,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{self._name}-{key}-async",
            aws.lambda_.FunctionEventInvokeConfigArgs(
                function_name=function.name,
                maximum_retry_attempts=ASYNC_RETRIES,
                maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
                destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                    on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                        destination=dead_letters.arn
                    )
                ),
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-{key}-target",
            aws.cloudwatch.EventTargetArgs(
                rule=trigger.name,
                arn=function.arn,
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_retry_attempts=ASYNC_RETRIES, maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS
                ),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dead_letters.arn),
            ),
            opts=child,
        )
        self._dead_letter_sources.append(trigger.arn)
        return function

    def _dead_letter_queue(self) -> aws.sqs.Queue:
        """One encrypted queue for every failed delivery and run of the stack's monitoring functions."""
        if self._dead_letters is None:
            a = self._args
            self._dead_letters = aws.sqs.Queue(
                f"{self._name}-dead-letters",
                aws.sqs.QueueArgs(
                    name=f"{a.base_name}-monitoring-dead-letters",
                    kms_master_key_id=a.key_arn,
                    kms_data_key_reuse_period_seconds=3600,
                    message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self._alarm(
                "monitoring-dead-letters",
                description="A drift engine or retraining gate run failed after its retries (see the queue)",
                namespace="AWS/SQS",
                metric_name="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": f"{a.base_name}-monitoring-dead-letters"},
                statistic="Maximum",
                comparison="GreaterThanOrEqualToThreshold",
                threshold=1,
                period=300,
                treat_missing_data="notBreaching",
            )
        return self._dead_letters

    def _dead_letter_queue_policy(self) -> None:
        """EventBridge may send to the queue only for this stack's own rules."""
        if self._dead_letters is None:
            return
        aws.sqs.QueuePolicy(
            f"{self._name}-dead-letters-policy",
            aws.sqs.QueuePolicyArgs(
                queue_url=self._dead_letters.url,
                policy=iam.document_json(
                    iam.dead_letter_queue_policy(
                        queue_arn=self._dead_letters.arn, rule_arns=self._dead_letter_sources
                    )
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _dashboard_body(self, alarm_arns: list[pulumi.Output[str]]) -> dict[str, object]:
        a = self._args
        region = a.region
        variant = ["EndpointName", a.endpoint_name, "VariantName", a.variant_name]

        def widget(
            title: str, metrics_: list[list[object]], y: int, x: int, stat: str = "Sum"
        ) -> dict[str, object]:
            return {
                "type": "metric",
                "x": x,
                "y": y,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": title,
                    "region": region,
                    "stat": stat,
                    "period": 60,
                    "view": "timeSeries",
                    "metrics": metrics_,
                },
            }

        widgets: list[dict[str, object]] = [
            widget("Invocations", [["AWS/SageMaker", "Invocations", *variant]], 0, 0),
            widget(
                "Model latency (microseconds)",
                [
                    ["AWS/SageMaker", "ModelLatency", *variant, {"stat": "p50"}],
                    ["AWS/SageMaker", "ModelLatency", *variant, {"stat": "p99"}],
                ],
                0,
                12,
                stat="p99",
            ),
            widget(
                "Errors",
                [
                    ["AWS/SageMaker", "Invocation4XXErrors", *variant],
                    ["AWS/SageMaker", "Invocation5XXErrors", *variant],
                ],
                6,
                0,
            ),
        ]
        if a.settings.engine == "lambda":
            drift: list[list[object]] = [
                [metrics.NAMESPACE, metrics.FEATURE_DRIFT, *variant, metrics.FEATURE_DIMENSION, f]
                for f in contract.FEATURE_NAMES
            ]
            drift.append([metrics.NAMESPACE, metrics.PREDICTION_DRIFT, *variant])
            drift.append([metrics.NAMESPACE, metrics.MAX_FEATURE_DRIFT, *variant])
            drift_widget = widget("Drift (PSI) per feature", drift, 6, 12, stat="Maximum")
            drift_widget["properties"]["period"] = alarm_period_seconds(a.settings.schedule_minutes)  # type: ignore[index]
            drift_widget["properties"]["annotations"] = {  # type: ignore[index]
                "horizontal": [{"label": "drift threshold", "value": a.settings.thresholds.drift_psi}]
            }
            widgets.append(drift_widget)
        widgets.append(
            {
                "type": "alarm",
                "x": 0,
                "y": 12,
                "width": 24,
                "height": 4,
                "properties": {"title": "Alarm states", "alarms": alarm_arns},
            }
        )
        return {"widgets": widgets}


def schedule_expression(minutes: int, settle_minutes: int = engine.SETTLE_MINUTES) -> str:
    """Run each window `settle_minutes` after it ends (windows are aligned to multiples of `minutes`).

    EventBridge cron: minutes, hours, day-of-month, month, day-of-week, year; "?" in one of the day fields.
    A length that does not divide a day cannot be aligned by cron: rate() runs it, the engine still tiles.
    """
    if minutes < 60 and 60 % minutes == 0:
        return f"cron({settle_minutes % minutes}/{minutes} * * * ? *)"
    if minutes % 60 == 0 and 1440 % minutes == 0:
        hours = minutes // 60
        hour_field = "*" if hours == 1 else ("0" if hours == 24 else f"0/{hours}")
        return f"cron({settle_minutes % 60} {hour_field} * * ? *)"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"rate({hours} hour{'s' if hours > 1 else ''})"
    return f"rate({minutes} minute{'s' if minutes > 1 else ''})"


@dataclass(frozen=True)
class AlarmMath:
    """The data of a metric-math alarm: (query id, metric) pairs, one expression, the period."""

    metrics: tuple[tuple[str, metrics.MetricRef], ...]
    expression: str
    period: int


def _invocations(endpoint: str, variant: str) -> metrics.MetricRef:
    dimensions = (("EndpointName", endpoint), ("VariantName", variant))
    return metrics.MetricRef(SAGEMAKER_NAMESPACE, "Invocations", dimensions, "None", "Sum")


def silent_periods(period: int) -> int:
    """Periods with traffic but no run before the silent alarm fires: three, within CloudWatch's one day."""
    return max(1, min(3, MAX_ALARM_SECONDS // period))


def engine_silent_math(endpoint: str, variant: str, period: int) -> AlarmMath:
    """1 per period in which the engine ran or the endpoint had no traffic, else 0.

    Each run publishes RecordsAnalyzed once, stamped at its scheduled time, so every period holds one run.
    With no invocations the expression has no data, which the alarm treats as fine: a fresh stack or a
    quiet endpoint is never "silent" (issue 10: the old alarm treated missing data as breaching).
    """
    runs = metrics.records_analyzed(endpoint, variant)
    runs = metrics.MetricRef(runs.namespace, runs.name, runs.dimensions, runs.unit, "SampleCount")
    return AlarmMath(
        (("invocations", _invocations(endpoint, variant)), ("runs", runs)),
        "IF(invocations > 0, FILL(runs, 0), 1)",
        period,
    )


def malformed_share_math(endpoint: str, variant: str, period: int) -> AlarmMath:
    """Share of the window's capture lines that could not be measured (refused requests aside)."""
    return AlarmMath(
        (
            ("measured", metrics.records_analyzed(endpoint, variant)),
            ("malformed", metrics.malformed_records(endpoint, variant)),
        ),
        "IF(measured + malformed > 0, malformed / (measured + malformed), 0)",
        period,
    )


def new_category_math(endpoint: str, variant: str, feature: str, period: int) -> AlarmMath:
    """Share of the window's captured requests refused because `feature` held an unknown category."""
    return AlarmMath(
        (
            ("unknown", metrics.refused_requests(endpoint, variant, "unknown_category", feature)),
            ("measured", metrics.records_analyzed(endpoint, variant)),
            ("malformed", metrics.malformed_records(endpoint, variant)),
            ("refused", metrics.refused_requests(endpoint, variant)),
        ),
        "IF(measured + malformed + refused > 0, FILL(unknown, 0) / (measured + malformed + refused), 0)",
        period,
    )


def drift_event_pattern(base_name: str) -> dict[str, object]:
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [{"prefix": drift_alarm_prefix(base_name)}],
            "state": {"value": ["ALARM"]},
        },
    }


@dataclass(frozen=True)
class ModelMonitorArgs:
    base_name: str
    region: str
    schedule_name: str
    endpoint_name: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    artifacts_bucket: pulumi.Input[str]
    image_uri: pulumi.Input[str]
    schedule_minutes: int


class ModelMonitorEngine(pulumi.ComponentResource):
    """SageMaker Model Monitor as the drift engine: a data-quality job on an hourly-or-slower schedule.

    Its baseline (statistics.json, constraints.json) is produced by a Model Monitor baselining job
    and placed under s3://<artifacts>/monitoring/baseline/.
    """

    def __init__(self, name: str, args: ModelMonitorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:monitoring:ModelMonitorEngine", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        reports = pulumi.Output.format("s3://{0}/{1}", args.artifacts_bucket, iam.MONITORING_PREFIX)
        definition = aws.sagemaker.DataQualityJobDefinition(
            f"{name}-definition",
            aws.sagemaker.DataQualityJobDefinitionArgs(
                name=f"{args.base_name}-data-quality",
                role_arn=args.execution_role_arn,
                data_quality_app_specification=aws.sagemaker.DataQualityJobDefinitionDataQualityAppSpecificationArgs(
                    image_uri=args.image_uri,
                    environment={"publish_cloudwatch_metrics": "Enabled"},
                ),
                data_quality_baseline_config=aws.sagemaker.DataQualityJobDefinitionDataQualityBaselineConfigArgs(
                    constraints_resource=(
                        aws.sagemaker.DataQualityJobDefinitionDataQualityBaselineConfigConstraintsResourceArgs(
                            s3_uri=pulumi.Output.concat(reports, "/baseline/constraints.json")
                        )
                    ),
                    statistics_resource=(
                        aws.sagemaker.DataQualityJobDefinitionDataQualityBaselineConfigStatisticsResourceArgs(
                            s3_uri=pulumi.Output.concat(reports, "/baseline/statistics.json")
                        )
                    ),
                ),
                data_quality_job_input=aws.sagemaker.DataQualityJobDefinitionDataQualityJobInputArgs(
                    endpoint_input=aws.sagemaker.DataQualityJobDefinitionDataQualityJobInputEndpointInputArgs(
                        endpoint_name=args.endpoint_name, local_path="/opt/ml/processing/input"
                    )
                ),
                data_quality_job_output_config=aws.sagemaker.DataQualityJobDefinitionDataQualityJobOutputConfigArgs(
                    kms_key_id=args.key_arn,
                    monitoring_outputs=aws.sagemaker.DataQualityJobDefinitionDataQualityJobOutputConfigMonitoringOutputsArgs(
                        s3_output=aws.sagemaker.DataQualityJobDefinitionDataQualityJobOutputConfigMonitoringOutputsS3OutputArgs(
                            s3_uri=pulumi.Output.concat(reports, "/reports"),
                            local_path="/opt/ml/processing/output",
                            s3_upload_mode="EndOfJob",
                        )
                    ),
                ),
                job_resources=aws.sagemaker.DataQualityJobDefinitionJobResourcesArgs(
                    cluster_config=aws.sagemaker.DataQualityJobDefinitionJobResourcesClusterConfigArgs(
                        instance_count=1,
                        instance_type="ml.m5.large",
                        volume_size_in_gb=20,
                        volume_kms_key_id=args.key_arn,
                    )
                ),
                stopping_condition=aws.sagemaker.DataQualityJobDefinitionStoppingConditionArgs(
                    max_runtime_in_seconds=3600
                ),
            ),
            opts=child,
        )
        hours = max(1, args.schedule_minutes // 60)
        aws.sagemaker.MonitoringSchedule(
            f"{name}-schedule",
            aws.sagemaker.MonitoringScheduleArgs(
                name=args.schedule_name,
                monitoring_schedule_config=aws.sagemaker.MonitoringScheduleMonitoringScheduleConfigArgs(
                    monitoring_job_definition_name=definition.name,
                    monitoring_type="DataQuality",
                    schedule_config=aws.sagemaker.MonitoringScheduleMonitoringScheduleConfigScheduleConfigArgs(
                        schedule_expression="cron(0 * ? * * *)"
                        if hours == 1
                        else f"cron(0 */{hours} ? * * *)"
                    ),
                ),
            ),
            opts=child,
        )
        self.register_outputs({})

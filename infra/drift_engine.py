"""The drift engine: the `monitoring` Lambda on a schedule, and the drift and monitor-health alarms it feeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import alarm_specs, iam, iam_sharing, role_policies
from infra.alarms import child_options, metric_alarm
from infra.event_function import EventFunction, FunctionSetting, event_driven_function
from infra.settings_types import AlarmThresholds
from monitoring import engine, metrics


def function_name(base_name: str) -> str:
    return f"{base_name}-drift-engine"


def schedule_rule_name(base_name: str) -> str:
    return f"{base_name}-drift-schedule"


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
class DriftEngineArgs:
    base_name: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    endpoint_name: str
    variant_name: str
    schedule_minutes: int
    thresholds: AlarmThresholds
    capture_bucket: pulumi.Input[str]
    capture_bucket_arn: pulumi.Input[str]
    capture_prefix: str
    capture_sampling_percent: int
    artifacts_bucket_arn: pulumi.Input[str]
    model_package_arns: tuple[pulumi.Input[str], ...]  # the packages the endpoint may serve
    package_artifacts: (
        iam_sharing.PackageArtifactsScope | None
    )  # where a package pinned from another stack lives
    function: FunctionSetting
    topic_arn: pulumi.Input[str]
    # The distributed run for windows one invocation cannot measure (infra/drift_scaleout.py).
    scaleout_environment: Mapping[str, pulumi.Input[str]]
    scaleout_statements: Sequence[iam.Statement]


class DriftEngine(pulumi.ComponentResource):
    alarm_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: DriftEngineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:drift_engine:DriftEngine", name, None, opts)
        a, fn = args, function_name(args.base_name)
        region = a.function.region
        event_driven_function(
            name,
            EventFunction(
                function_name=fn,
                description="Measures drift of captured endpoint traffic against the training baseline",
                # The planner: measures a window itself, or starts the distributed run for a big one.
                handler="monitoring.scaleout.handler",
                policy=iam.with_statements(
                    role_policies.drift_engine_policy(
                        partition=a.partition,
                        region=region,
                        account_id=a.account_id,
                        function_name=fn,
                        capture_bucket_arn=a.capture_bucket_arn,
                        capture_prefix=a.capture_prefix,
                        artifacts_bucket_arn=a.artifacts_bucket_arn,
                        key_arn=a.function.key_arn,
                        metric_namespace=metrics.NAMESPACE,
                        base_name=a.base_name,
                        endpoint_name=a.endpoint_name,
                        model_package_arns=a.model_package_arns,
                        package_artifacts=a.package_artifacts,
                    ),
                    a.scaleout_statements,
                ),
                environment={
                    "CAPTURE_S3_URI": pulumi.Output.format(
                        "s3://{0}/{1}", a.capture_bucket, a.capture_prefix
                    ),
                    "ENDPOINT_NAME": a.endpoint_name,
                    "VARIANT_NAME": a.variant_name,
                    "WINDOW_MINUTES": str(a.schedule_minutes),
                    "CAPTURE_SAMPLING_PERCENT": str(a.capture_sampling_percent),
                    **a.scaleout_environment,
                },
                timeout=900,
                memory_size=512,
                rule_suffix="schedule",
                rule=aws.cloudwatch.EventRuleArgs(
                    name=schedule_rule_name(a.base_name),
                    description="Runs the drift engine over the last window of captured traffic",
                    schedule_expression=schedule_expression(a.schedule_minutes),
                ),
                former_key="engine",
                former_rule_key="engine-schedule",
            ),
            a.function,
            parent=self,
        )
        t = a.thresholds
        specs = (
            *alarm_specs.drift_alarm_specs(
                a.base_name,
                a.endpoint_name,
                a.variant_name,
                feature_psi=t.drift_psi,
                prediction_psi=t.prediction_drift_psi,
                schedule_minutes=a.schedule_minutes,
            ),
            *alarm_specs.monitor_health_specs(
                a.base_name, a.endpoint_name, a.variant_name, a.schedule_minutes
            ),
        )
        self.alarm_arns = [
            metric_alarm(
                f"{name}-{spec.key}",
                spec,
                actions={alarm_specs.NOTIFY: a.topic_arn},
                opts=child_options(self, f"monitoring-{spec.key}"),
            ).arn
            for spec in specs
        ]
        self.register_outputs({})

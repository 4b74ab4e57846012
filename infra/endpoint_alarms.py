"""Endpoint alarms, beside serving: 5XX and latency (deployments roll back on both), 4XX, no invocations."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra import alarm_specs
from infra.alarms import child_options, metric_alarm
from infra.settings_types import AlarmThresholds


@dataclass(frozen=True)
class EndpointAlarmsArgs:
    base_name: str
    endpoint_name: str
    variant_name: str
    thresholds: AlarmThresholds
    topic_arn: pulumi.Input[str]


class EndpointAlarms(pulumi.ComponentResource):
    rollback_alarm_names: pulumi.Output[list[str]]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: EndpointAlarmsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:endpoint_alarms:EndpointAlarms", name, None, opts)
        specs = alarm_specs.endpoint_alarm_specs(
            args.base_name, args.endpoint_name, args.variant_name, args.thresholds
        )
        alarms = [
            (
                spec,
                metric_alarm(
                    f"{name}-{spec.key}",
                    spec,
                    actions={alarm_specs.NOTIFY: args.topic_arn},
                    opts=child_options(self, f"monitoring-{spec.key}"),
                ),
            )
            for spec in specs
        ]
        self.rollback_alarm_names = pulumi.Output.all(
            *(alarm.name for spec, alarm in alarms if spec.rollback)
        )
        self.alarm_arns = [alarm.arn for _, alarm in alarms]
        self.register_outputs({"rollback_alarm_names": self.rollback_alarm_names})

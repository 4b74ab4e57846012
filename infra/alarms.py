"""The one adapter from an alarm spec (infra/alarm_specs.py) to a CloudWatch alarm resource."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from infra.alarm_specs import AlarmSpec, MetricMath
from monitoring import metrics

# The parent every monitoring resource had before infra/monitoring.py was split into components.
FORMER_MONITORING_TYPE = "sagestack:stack:Sagestack$sagestack:monitoring:Monitoring"


def moved_from_monitoring(former_name: str) -> pulumi.Alias:
    """The URN a resource had as a child of the former single Monitoring component: no replacement on move.

    A URN carries the whole parent type chain, so a resource moved into a new component needs this alias
    or Pulumi replaces it (a new queue, table, log group or alarm: its messages, items or history gone).
    """
    parent = f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{FORMER_MONITORING_TYPE}::monitoring"
    return pulumi.Alias(name=former_name, parent=parent)


def child_options(parent: pulumi.Resource, former_name: str | None = None) -> pulumi.ResourceOptions:
    aliases = [moved_from_monitoring(former_name)] if former_name else []
    return pulumi.ResourceOptions(parent=parent, aliases=aliases)


def _dimensions(
    ref: metrics.MetricRef, placeholders: Mapping[str, pulumi.Input[str]]
) -> dict[str, pulumi.Input[str]]:
    """A spec's dimension values, with `{name}` placeholders (known only at deployment) filled in."""
    return {
        name: pulumi.Output.format(value, **placeholders) if "{" in value else value
        for name, value in ref.dimensions
    }


def _queries(
    spec: MetricMath, period: int, label: str, placeholders: Mapping[str, pulumi.Input[str]]
) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    queries = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id,
            return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=ref.namespace,
                metric_name=ref.name,
                dimensions=_dimensions(ref, placeholders),
                stat=ref.statistic,
                period=period,
            ),
        )
        for query_id, ref in spec.queries
    ]
    queries.append(
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="e", expression=spec.expression, label=label, return_data=True
        )
    )
    return queries


def metric_alarm(
    resource_name: str,
    spec: AlarmSpec,
    *,
    actions: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
    placeholders: Mapping[str, pulumi.Input[str]] | None = None,
) -> aws.cloudwatch.MetricAlarm:
    """`actions` resolves the spec's symbolic actions (e.g. "notify") to ARNs; ALARM and OK both notify.

    `placeholders` fills the `{name}` fields of dimension values (e.g. an ARN's account id).
    """
    values = placeholders or {}
    targets: Sequence[pulumi.Input[str]] = [actions[action] for action in spec.actions]
    single = spec.metric
    args = aws.cloudwatch.MetricAlarmArgs(
        name=spec.name,
        alarm_description=spec.description,
        namespace=single.namespace if single else None,
        metric_name=single.name if single else None,
        dimensions=_dimensions(single, values) if single else None,
        statistic=spec.statistic,
        extended_statistic=spec.extended_statistic,
        period=spec.period if single else None,
        metric_queries=_queries(spec.math, spec.period, spec.description, values) if spec.math else None,
        comparison_operator=spec.comparison,
        threshold=spec.threshold.value,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.datapoints_to_alarm,
        treat_missing_data=spec.treat_missing_data,
        alarm_actions=list(targets),
        ok_actions=list(targets),
    )
    return aws.cloudwatch.MetricAlarm(resource_name, args, opts=opts)

"""The stack's CloudWatch dashboard: traffic, latency, errors, drift per feature and every alarm's state."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.alarm_specs import SAGEMAKER_NAMESPACE, alarm_period_seconds
from infra.alarms import child_options
from monitoring import metrics
from training import contract


@dataclass(frozen=True)
class DriftView:
    schedule_minutes: int
    drift_psi: float


@dataclass(frozen=True)
class DashboardArgs:
    base_name: str
    region: str
    endpoint_name: str
    variant_name: str
    drift: DriftView | None  # None: the stack runs no drift engine
    alarm_arns: tuple[pulumi.Input[str], ...]


def _widget(
    region: str, title: str, rows: list[list[object]], y: int, x: int, stat: str = "Sum", period: int = 60
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
            "period": period,
            "view": "timeSeries",
            "metrics": rows,
        },
    }


def _drift_widget(args: DashboardArgs, drift: DriftView, variant: list[object]) -> dict[str, object]:
    rows: list[list[object]] = [
        [metrics.NAMESPACE, metrics.FEATURE_DRIFT, *variant, metrics.FEATURE_DIMENSION, f]
        for f in contract.FEATURE_NAMES
    ]
    rows.append([metrics.NAMESPACE, metrics.PREDICTION_DRIFT, *variant])
    rows.append([metrics.NAMESPACE, metrics.MAX_FEATURE_DRIFT, *variant])
    period = alarm_period_seconds(drift.schedule_minutes)
    widget = _widget(args.region, "Drift (PSI) per feature", rows, 6, 12, stat="Maximum", period=period)
    properties = widget["properties"]
    assert isinstance(properties, dict)
    properties["annotations"] = {"horizontal": [{"label": "drift threshold", "value": drift.drift_psi}]}
    return widget


def dashboard_body(args: DashboardArgs) -> dict[str, object]:
    variant: list[object] = ["EndpointName", args.endpoint_name, "VariantName", args.variant_name]
    sm = SAGEMAKER_NAMESPACE
    widgets: list[dict[str, object]] = [
        _widget(args.region, "Invocations", [[sm, "Invocations", *variant]], 0, 0),
        _widget(
            args.region,
            "Model latency (microseconds)",
            [
                [sm, "ModelLatency", *variant, {"stat": "p50"}],
                [sm, "ModelLatency", *variant, {"stat": "p99"}],
            ],
            0,
            12,
            stat="p99",
        ),
        _widget(
            args.region,
            "Errors",
            [[sm, "Invocation4XXErrors", *variant], [sm, "Invocation5XXErrors", *variant]],
            6,
            0,
        ),
    ]
    if args.drift is not None:
        widgets.append(_drift_widget(args, args.drift, variant))
    widgets.append(
        {
            "type": "alarm",
            "x": 0,
            "y": 12,
            "width": 24,
            "height": 4,
            "properties": {"title": "Alarm states", "alarms": list(args.alarm_arns)},
        }
    )
    return {"widgets": widgets}


class Dashboard(pulumi.ComponentResource):
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:dashboard:Dashboard", name, None, opts)
        dashboard = aws.cloudwatch.Dashboard(
            name,
            aws.cloudwatch.DashboardArgs(
                dashboard_name=args.base_name,
                dashboard_body=pulumi.Output.json_dumps(dashboard_body(args), sort_keys=True),
            ),
            opts=child_options(self, "monitoring-dashboard"),
        )
        self.dashboard_name = dashboard.dashboard_name
        self.register_outputs({"dashboard_name": self.dashboard_name})

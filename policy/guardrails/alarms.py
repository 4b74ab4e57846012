"""Endpoints and the alarms that guard them: a drift alarm per capturing endpoint, rollback on bad deploys."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .adapters import UNRESOLVED, StackResource, of_type, referenced
from .resource_types import ENDPOINT, ENDPOINT_CONFIGURATION, ENDPOINT_ROLLOUT, METRIC_ALARM
from .sagemaker import is_serverless_config
from .values import Unknown, get, is_unknown, items

# The drift engine's own namespace (monitoring/metrics.py publishes there).
DRIFT_METRIC_NAMESPACES = ("Sagestack/ModelMonitoring",)
ENDPOINT_DIMENSIONS = ("EndpointName",)


def _alarm_metrics(alarm: StackResource) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(namespace, dimensions) of an alarm's metric, or of each metric in its metric math."""
    if get(alarm.props, "metricName") is not None:
        yield get(alarm.props, "namespace"), get(alarm.props, "dimensions") or {}
    for query in items(alarm.props, "metricQueries"):
        metric = get(query, "metric")
        if metric is not None:
            yield get(metric, "namespace"), get(metric, "dimensions") or {}


def _watches(alarms: list[StackResource], namespaces: set[str], names: set[str]) -> tuple[bool, bool]:
    """(some alarm watches a drift metric of an endpoint called one of `names`, some alarm is undecided)."""
    watched = undecided = False
    for alarm in alarms:
        try:
            for namespace, dimensions in _alarm_metrics(alarm):
                if namespace not in namespaces:
                    continue
                values = {dimensions.get(d) for d in ENDPOINT_DIMENSIONS} - {None}
                if any(is_unknown(v) for v in values):
                    undecided = True
                if values & names:
                    watched = True
        except Unknown:
            undecided = True
    return watched, undecided


def check_drift_alarms(
    resources: list[StackResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    namespaces = set(config["driftMetricNamespaces"])
    configs = of_type(resources, ENDPOINT_CONFIGURATION)
    alarms = of_type(resources, METRIC_ALARM)
    for endpoint in of_type(resources, ENDPOINT):
        try:
            endpoint_config = referenced(endpoint, "endpointConfigName", configs)
            if endpoint_config is UNRESOLVED:
                continue
            if isinstance(endpoint_config, StackResource) and is_serverless_config(endpoint_config.props):
                continue  # serverless endpoints cannot capture traffic, so there is nothing to measure drift on
            names = endpoint.identities
            watched, undecided = _watches(alarms, namespaces, names)
            if not watched and not undecided and names:
                yield (
                    (
                        f"endpoint {endpoint.name}: no CloudWatch alarm watches a drift metric "
                        f"({' or '.join(sorted(namespaces))}) with its name as dimension"
                    ),
                    endpoint.urn,
                )
        except Unknown:
            continue


def check_auto_rollback(
    resources: list[StackResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    """Every endpoint is deployed by an EndpointRollout whose UpdateEndpoint DeploymentConfig rolls back."""
    if not config["requireAutoRollback"]:
        return
    alarm_names = set()
    for alarm in of_type(resources, METRIC_ALARM):
        alarm_names |= {alarm.props.get("name"), alarm.props.get("alarmName")} - {None}
    rollouts = of_type(resources, ENDPOINT_ROLLOUT)
    for endpoint in of_type(resources, ENDPOINT):
        try:
            names = endpoint.identities
            rollout = next((r for r in rollouts if get(r.props, "endpoint_name") in names), None)
            if rollout is None:
                yield (
                    f"endpoint {endpoint.name}: no EndpointRollout deploys it (this stack requires auto-rollback)",
                    endpoint.urn,
                )
                continue
            yield from _rollback_problems(endpoint.name, rollout, alarm_names)
        except Unknown:
            continue


def _rollback_problems(
    endpoint: str, rollout: StackResource, alarm_names: set[Any]
) -> Iterable[tuple[str, str | None]]:
    deployment = get(rollout.props, "deployment_config")
    if deployment is None:
        yield f"endpoint {endpoint}: its rollout has no deployment_config", rollout.urn
        return
    if get(deployment, "BlueGreenUpdatePolicy") is None and get(deployment, "RollingUpdatePolicy") is None:
        yield (
            f"endpoint {endpoint}: deployment_config has neither BlueGreenUpdatePolicy nor RollingUpdatePolicy",
            rollout.urn,
        )
    rollback_alarms = items(deployment, "AutoRollbackConfiguration", "Alarms")
    if not rollback_alarms:
        yield (
            f"endpoint {endpoint}: deployment_config.AutoRollbackConfiguration.Alarms is empty: "
            "a bad deployment would not roll back",
            rollout.urn,
        )
    for alarm in rollback_alarms:
        name = get(alarm, "AlarmName")
        if isinstance(name, str) and alarm_names and name not in alarm_names:
            yield f"endpoint {endpoint}: rollback alarm {name!r} is not an alarm of this stack", rollout.urn

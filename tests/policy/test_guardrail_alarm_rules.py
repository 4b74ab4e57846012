"""policy/guardrails/alarms.py as a unit: the drift-alarm and auto-rollback stack rules on small hand-built
resources (no program run, no pack run)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from policy.guardrails import alarms
from policy.guardrails import resource_types as t
from policy.guardrails.adapters import StackResource
from tests.policy.resources import res

NS = "Sagestack/ModelMonitoring"
DRIFT = {"driftMetricNamespaces": [NS]}
ROLLBACK = {"requireAutoRollback": True}
NO_DRIFT_ALARM = "endpoint ep: no CloudWatch alarm watches a drift metric (Sagestack/ModelMonitoring) with its name as dimension"


def endpoint(name: Any = "churn-ep", config: Any = "churn-cfg") -> StackResource:
    return res(t.ENDPOINT, "ep", {"name": name, "endpointConfigName": config})


def config(serverless: bool = False) -> StackResource:
    variant = (
        {"serverlessConfig": {"memorySizeInMb": 2048}} if serverless else {"instanceType": "ml.m5.large"}
    )
    return res(t.ENDPOINT_CONFIGURATION, "cfg", {"name": "churn-cfg", "productionVariants": [variant]})


def alarm(name: str = "drift", namespace: Any = NS, dimensions: Any = None, **props: Any) -> StackResource:
    base = {"name": name, "metricName": "psi", "namespace": namespace}
    base["dimensions"] = {"EndpointName": "churn-ep"} if dimensions is None else dimensions
    return res(t.METRIC_ALARM, name, {**base, **props})


def drift(*resources: StackResource, cfg: dict[str, Any] = DRIFT) -> list[tuple[str, str | None]]:
    return list(alarms.check_drift_alarms(list(resources), cfg))


# --- drift alarms ---------------------------------------------------------------------------------------


def test_an_endpoint_with_a_drift_alarm_on_its_name_passes() -> None:
    assert drift(endpoint(), config(), alarm()) == []


def test_an_endpoint_without_one_is_reported_naming_the_namespaces() -> None:
    assert drift(endpoint(), config()) == [(NO_DRIFT_ALARM, "urn:ep")]
    two = {"driftMetricNamespaces": ["B/Drift", "A/Drift"]}
    assert drift(endpoint(), config(), cfg=two) == [
        (
            "endpoint ep: no CloudWatch alarm watches a drift metric (A/Drift or B/Drift) with its name as dimension",
            "urn:ep",
        )
    ]


@pytest.mark.parametrize(
    "other",
    [
        alarm(namespace="AWS/SageMaker"),
        alarm(dimensions={"EndpointName": "another-ep"}),
        alarm(dimensions={"Endpoint": "churn-ep"}),
        alarm(dimensions={}),
        res(t.METRIC_ALARM, "no-metric", {"namespace": NS, "dimensions": {"EndpointName": "churn-ep"}}),
        res(t.BUCKET, "not-an-alarm", alarm().props),
    ],
)
def test_alarms_on_other_namespaces_dimensions_or_endpoints_do_not_count(other: StackResource) -> None:
    assert drift(endpoint(), config(), other) == [(NO_DRIFT_ALARM, "urn:ep")]


def test_a_metric_math_alarm_counts_through_its_metric_queries() -> None:
    queries = [
        {"id": "e", "expression": "m1 * 2"},
        {
            "id": "m1",
            "metric": {"metricName": "psi", "namespace": NS, "dimensions": {"EndpointName": "churn-ep"}},
        },
    ]
    math = res(t.METRIC_ALARM, "math", {"name": "math", "metricQueries": queries})
    assert drift(endpoint(), config(), math) == []
    no_dims = [{"id": "m1", "metric": {"metricName": "psi", "namespace": NS}}]
    assert drift(endpoint(), config(), res(t.METRIC_ALARM, "m", {"metricQueries": no_dims})) == [
        (NO_DRIFT_ALARM, "urn:ep")
    ]


def test_an_alarm_without_dimensions_does_not_count() -> None:
    bare = res(t.METRIC_ALARM, "bare", {"metricName": "psi", "namespace": NS, "dimensions": None})
    assert drift(endpoint(), config(), bare) == [(NO_DRIFT_ALARM, "urn:ep")]


def test_the_alarm_may_name_the_endpoint_by_its_arn() -> None:
    ep = res(t.ENDPOINT, "ep", {"arn": "arn:aws:sagemaker:eu-west-1:1:endpoint/churn-ep"})
    by_arn = alarm(dimensions={"EndpointName": "arn:aws:sagemaker:eu-west-1:1:endpoint/churn-ep"})
    assert drift(ep, by_arn) == []


@pytest.mark.parametrize(
    "undecided",
    [
        alarm(dimensions={"EndpointName": UNKNOWN_STRING_VALUE}),
        alarm(dimensions=UNKNOWN_OBJECT_VALUE),
        alarm(namespace=UNKNOWN_STRING_VALUE),
        res(t.METRIC_ALARM, "q", {"metricQueries": UNKNOWN_OBJECT_VALUE}),
    ],
)
def test_no_report_while_an_alarm_is_not_known_yet(undecided: StackResource) -> None:
    assert drift(endpoint(), config(), undecided) == []


def test_serverless_unresolved_and_nameless_endpoints_are_not_reported() -> None:
    assert drift(endpoint(), config(serverless=True)) == []
    assert drift(endpoint(config=UNKNOWN_STRING_VALUE), config()) == []
    assert drift(res(t.ENDPOINT, "ep", {"endpointConfigName": "churn-cfg"}), config()) == []
    assert drift(endpoint(config="elsewhere"), config()) == [(NO_DRIFT_ALARM, "urn:ep")]


def test_a_config_referenced_by_dependency_decides_serverless() -> None:
    ep = res(
        t.ENDPOINT, "ep", {"name": "churn-ep", "endpointConfigName": "x"}, {"endpointConfigName": {"urn:cfg"}}
    )
    assert drift(ep, config(serverless=True)) == []
    assert drift(ep, config()) == [(NO_DRIFT_ALARM, "urn:ep")]


def test_an_endpoint_config_whose_variants_are_not_known_yet_is_no_violation() -> None:
    pending = res(
        t.ENDPOINT_CONFIGURATION, "cfg", {"name": "churn-cfg", "productionVariants": UNKNOWN_OBJECT_VALUE}
    )
    assert drift(endpoint(), pending) == []


def test_the_drift_namespace_is_the_drift_engines() -> None:
    # monitoring/metrics.py publishes drift metrics to Sagestack/ModelMonitoring.
    assert alarms.DRIFT_METRIC_NAMESPACES == (NS,)
    assert alarms.ENDPOINT_DIMENSIONS == ("EndpointName",)


# --- auto-rollback --------------------------------------------------------------------------------------


def rollout(deployment: Any, endpoint_name: Any = "churn-ep") -> StackResource:
    props: dict[str, Any] = {"endpoint_name": endpoint_name}
    if deployment is not ...:
        props["deployment_config"] = deployment
    return res(t.ENDPOINT_ROLLOUT, "roll", props)


def blue_green(*alarm_names: Any) -> dict[str, Any]:
    # UpdateEndpoint DeploymentConfig: BlueGreenUpdatePolicy or RollingUpdatePolicy plus
    # AutoRollbackConfiguration.Alarms[].AlarmName (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeploymentConfig.html).
    return {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": n} for n in alarm_names]},
    }


def rollback(*resources: StackResource, cfg: dict[str, Any] = ROLLBACK) -> list[tuple[str, str | None]]:
    return list(alarms.check_auto_rollback(list(resources), cfg))


def test_auto_rollback_is_checked_only_when_the_stack_asks() -> None:
    assert rollback(endpoint(), cfg={"requireAutoRollback": False}) == []
    assert rollback(endpoint()) == [
        ("endpoint ep: no EndpointRollout deploys it (this stack requires auto-rollback)", "urn:ep")
    ]


def test_a_blue_green_or_rolling_rollout_with_the_stacks_alarms_passes() -> None:
    assert rollback(endpoint(), alarm("lat"), rollout(blue_green("lat"))) == []
    rolling = {"RollingUpdatePolicy": {}, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "lat"}]}}
    named = res(t.METRIC_ALARM, "a", {"alarmName": "lat"})
    assert rollback(endpoint(), named, rollout(rolling)) == []


def test_a_rollout_of_another_endpoint_does_not_count() -> None:
    assert rollback(endpoint(), alarm("lat"), rollout(blue_green("lat"), endpoint_name="other")) == [
        ("endpoint ep: no EndpointRollout deploys it (this stack requires auto-rollback)", "urn:ep")
    ]


def test_rollout_problems_are_each_named() -> None:
    assert rollback(endpoint(), rollout(...)) == [
        ("endpoint ep: its rollout has no deployment_config", "urn:roll")
    ]
    assert rollback(endpoint(), alarm("lat"), rollout({"AutoRollbackConfiguration": {}})) == [
        (
            "endpoint ep: deployment_config has neither BlueGreenUpdatePolicy nor RollingUpdatePolicy",
            "urn:roll",
        ),
        (
            "endpoint ep: deployment_config.AutoRollbackConfiguration.Alarms is empty: a bad deployment would not "
            "roll back",
            "urn:roll",
        ),
    ]
    assert rollback(endpoint(), alarm("lat"), rollout(blue_green("lat", "gone"))) == [
        ("endpoint ep: rollback alarm 'gone' is not an alarm of this stack", "urn:roll")
    ]


def test_alarm_names_are_only_checked_when_known_and_the_stack_has_alarms() -> None:
    assert rollback(endpoint(), rollout(blue_green("external"))) == []
    assert rollback(endpoint(), alarm("lat"), rollout(blue_green(UNKNOWN_STRING_VALUE))) == []
    assert rollback(endpoint(), alarm("lat"), rollout(blue_green(None))) == []


def test_no_report_while_a_rollout_is_not_known_yet() -> None:
    assert rollback(endpoint(), rollout(UNKNOWN_OBJECT_VALUE)) == []
    assert rollback(endpoint(), rollout(blue_green("x"), endpoint_name=UNKNOWN_STRING_VALUE)) == []
    second = res(t.ENDPOINT, "ep2", {"name": "b-ep"})
    assert rollback(endpoint(), rollout(UNKNOWN_OBJECT_VALUE), second) == [
        ("endpoint ep2: no EndpointRollout deploys it (this stack requires auto-rollback)", "urn:ep2")
    ]


# --- every endpoint and metric is judged, whatever came before -------------------------------------------


def test_a_drift_metric_after_another_namespace_in_one_alarm_counts() -> None:
    queries = [
        {"id": "a", "metric": {"namespace": "AWS/SageMaker", "dimensions": {"EndpointName": "churn-ep"}}},
        {"id": "b", "metric": {"namespace": NS, "dimensions": {"EndpointName": "churn-ep"}}},
    ]
    mixed = res(t.METRIC_ALARM, "mixed", {"metricName": "x", "namespace": "Other", "metricQueries": queries})
    assert drift(endpoint(), config(), mixed) == []


def test_every_endpoint_is_judged_after_skipped_ones() -> None:
    later = res(t.ENDPOINT, "later", {"name": "later-ep", "endpointConfigName": "churn-cfg"})
    missing = (
        "endpoint later: no CloudWatch alarm watches a drift metric (Sagestack/ModelMonitoring) with its name as "
        "dimension"
    )
    serverless = res(
        t.ENDPOINT_CONFIGURATION, "sl", {"name": "sl-cfg", "productionVariants": [{"serverlessConfig": {}}]}
    )
    pending = res(
        t.ENDPOINT_CONFIGURATION, "pc", {"name": "pending-cfg", "productionVariants": UNKNOWN_OBJECT_VALUE}
    )
    for first_config in (UNKNOWN_STRING_VALUE, "sl-cfg", "pending-cfg"):
        first = endpoint(name="first-ep", config=first_config)
        assert drift(first, later, config(), serverless, pending) == [(missing, "urn:later")], first_config


def test_every_endpoint_is_checked_for_a_rollout_after_one_without() -> None:
    second = res(t.ENDPOINT, "ep2", {"name": "b-ep"})
    assert rollback(endpoint(), second, alarm("lat"), rollout(blue_green("lat"), endpoint_name="b-ep")) == [
        ("endpoint ep: no EndpointRollout deploys it (this stack requires auto-rollback)", "urn:ep")
    ]
    assert rollback(endpoint(), second) == [
        ("endpoint ep: no EndpointRollout deploys it (this stack requires auto-rollback)", "urn:ep"),
        ("endpoint ep2: no EndpointRollout deploys it (this stack requires auto-rollback)", "urn:ep2"),
    ]


def test_rollback_alarms_may_be_any_stack_alarm_by_name_or_alarm_name() -> None:
    by_alarm_name = res(t.METRIC_ALARM, "a", {"alarmName": "lat"})
    assert rollback(endpoint(), by_alarm_name, alarm("other"), rollout(blue_green("lat"))) == []
    assert rollback(endpoint(), alarm("other"), by_alarm_name, rollout(blue_green("lat", "other"))) == []

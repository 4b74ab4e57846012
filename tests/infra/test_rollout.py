"""EndpointRollout against SageMaker's and Application Auto Scaling's real API models.

botocore's Stubber checks every request against AWS's service model and fails on any call the test did
not script, so these tests pin what we send, in which order, and what we do with each documented status.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra import rollout, rollout_cleanup
from infra.rollout import Clients, RolledBack, RolloutError, RolloutSpec
from tests.infra.aws_models import enum

ENDPOINT = "sagestack-prod"
OLD, NEW = "sagestack-prod-20260101", "sagestack-prod-20260202"
RESOURCE_ID = f"endpoint/{ENDPOINT}/variant/primary"
DEPLOYMENT = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "LINEAR",
            "WaitIntervalInSeconds": 600,
            "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
        },
        "TerminationWaitInSeconds": 600,
        "MaximumExecutionTimeoutInSeconds": 5400,
    },
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "sagestack-prod-errors-5xx"}]},
}


def spec(**overrides: Any) -> RolloutSpec:
    values: dict[str, Any] = {
        "endpoint_name": ENDPOINT,
        "endpoint_config_name": NEW,
        "variant_name": "primary",
        "region": "eu-west-1",
        "deployment_config": DEPLOYMENT,
        "instance_count": 4,
        "timeout_seconds": 5400,
    }
    values.update(overrides)
    return RolloutSpec(**values)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def aws() -> Any:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1")
    sagemaker, autoscaling = session.client("sagemaker"), session.client("application-autoscaling")
    clock = FakeClock()
    with Stubber(sagemaker) as sm, Stubber(autoscaling) as aas:
        clients = Clients(sagemaker, autoscaling, sleep=clock.sleep, clock=clock, log=lambda _: None)
        yield clients, sm, aas, clock
        sm.assert_no_pending_responses()
        aas.assert_no_pending_responses()


def described(status: str, config: str, reason: str | None = None) -> dict[str, Any]:
    response = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "LastModifiedTime": datetime(2026, 1, 1, tzinfo=UTC),
    }
    if reason:
        response["FailureReason"] = reason
    return response


def expect_describe(sm: Stubber, status: str, config: str, reason: str | None = None, times: int = 1) -> None:
    for _ in range(times):
        sm.add_response("describe_endpoint", described(status, config, reason), {"EndpointName": ENDPOINT})


def expect_configs(sm: Stubber, old_type: str = "ml.m5.large", new_type: str = "ml.m5.large") -> None:
    for name, instance_type in ((OLD, old_type), (NEW, new_type)):
        sm.add_response(
            "describe_endpoint_config",
            {
                "EndpointConfigName": name,
                "EndpointConfigArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/{name}",
                "ProductionVariants": [
                    {"VariantName": "primary", "ModelName": f"{name}-model", "InstanceType": instance_type}
                ],
                "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
            },
            {"EndpointConfigName": name},
        )


def expect_update(sm: Stubber, excluded: tuple[str, ...] = ("DataCaptureConfig",)) -> None:
    sm.add_response(
        "update_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}"},
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": NEW,
            "DeploymentConfig": DEPLOYMENT,
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [{"VariantPropertyType": p} for p in excluded],
        },
    )


def expect_update_started(sm: Stubber) -> None:
    """The endpoint serves OLD, both configurations use one instance type, UpdateEndpoint is called."""
    expect_describe(sm, "InService", OLD)
    expect_configs(sm)
    expect_update(sm)


def test_a_deployment_ends_serving_the_new_configuration(aws: Any) -> None:
    clients, sm, _, _ = aws
    expect_update_started(sm)
    expect_describe(sm, "Updating", OLD)
    expect_describe(sm, "Updating", OLD)
    expect_describe(sm, "InService", NEW)
    assert rollout.roll_out(clients, spec()) == NEW


# terraform-provider-aws internal/service/sagemaker/endpoint.go: waitEndpointInService times out after a
# fixed 60 minutes. prod's linear deployment may take its whole MaximumExecutionTimeoutInSeconds (5,400 s).
def test_a_deployment_may_outlast_the_providers_sixty_minutes(aws: Any) -> None:
    clients, sm, _, clock = aws
    expect_update_started(sm)
    polls = 90 * 60 // rollout.POLL_SECONDS
    expect_describe(sm, "Updating", OLD, times=polls + 1)
    expect_describe(sm, "InService", NEW)
    assert rollout.roll_out(clients, spec()) == NEW
    assert clock.now >= 90 * 60


# API_DescribeEndpoint: EndpointStatus RollingBack, then InService on the previous configuration, with
# FailureReason; pulumi-aws issues #48997/#46663 (RollingBack is not a pending state of the provider).
def test_a_rollback_ends_the_update_with_an_error_that_names_it(aws: Any) -> None:
    clients, sm, _, _ = aws
    expect_update_started(sm)
    expect_describe(sm, "Updating", OLD)
    expect_describe(sm, "RollingBack", OLD)
    expect_describe(sm, "InService", OLD, reason="Alarm sagestack-prod-errors-5xx was in ALARM")
    with pytest.raises(RolledBack) as raised:
        rollout.roll_out(clients, spec())
    message = str(raised.value)
    assert "rolled back" in message and OLD in message and NEW in message
    assert "sagestack-prod-errors-5xx" in message and "Nothing was deleted" in message


# docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html: an update that changes the
# instance type of an autoscaling target fails; deregister first, register and attach the policy after.
def test_an_instance_type_change_moves_autoscaling_out_of_the_way_and_back(aws: Any) -> None:
    clients, sm, aas, _ = aws
    expect_instance_type_change_started(sm, aas)
    expect_describe(sm, "Updating", OLD)
    expect_describe(sm, "InService", NEW)
    expect_autoscaling_restored(aas)
    assert rollout.roll_out(clients, spec()) == NEW


def expect_instance_type_change_started(sm: Stubber, aas: Stubber) -> None:
    expect_describe(sm, "InService", OLD)
    expect_configs(sm, new_type="ml.c5.xlarge")
    expect_autoscaling_detached(aas)
    expect_update(sm)


def test_autoscaling_comes_back_after_a_rolled_back_instance_type_change(aws: Any) -> None:
    clients, sm, aas, _ = aws
    expect_instance_type_change_started(sm, aas)
    expect_describe(sm, "RollingBack", OLD)
    expect_describe(sm, "InService", OLD)
    expect_autoscaling_restored(aas)
    with pytest.raises(RolledBack):
        rollout.roll_out(clients, spec())


TRACKING = {
    "TargetValue": 200.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    "ScaleInCooldown": 300,
    "ScaleOutCooldown": 60,
}
SCOPE = {"ServiceNamespace": "sagemaker", "ScalableDimension": rollout.SCALABLE_DIMENSION}
TARGET_ARN = "arn:aws:application-autoscaling:eu-west-1:123456789012:scalable-target/0123"


def expect_autoscaling_detached(aas: Stubber) -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    aas.add_response(
        "describe_scalable_targets",
        {
            "ScalableTargets": [
                {
                    "ResourceId": RESOURCE_ID,
                    "MinCapacity": 2,
                    "MaxCapacity": 10,
                    "RoleARN": "arn:aws:iam::123456789012:role/aws-service-role/x",
                    "CreationTime": created,
                    "ScalableTargetARN": TARGET_ARN,
                    **SCOPE,
                }
            ]
        },
        {"ResourceIds": [RESOURCE_ID], **SCOPE},
    )
    aas.add_response(
        "describe_scaling_policies",
        {
            "ScalingPolicies": [
                {
                    "PolicyARN": "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:1",
                    "PolicyName": "sagestack-prod-invocations-per-instance",
                    "ResourceId": RESOURCE_ID,
                    "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingScalingPolicyConfiguration": TRACKING,
                    "CreationTime": created,
                    **SCOPE,
                }
            ]
        },
        {"ResourceId": RESOURCE_ID, **SCOPE},
    )
    aas.add_response("list_tags_for_resource", {"Tags": {"stack": "prod"}}, {"ResourceARN": TARGET_ARN})
    aas.add_response("deregister_scalable_target", {}, {"ResourceId": RESOURCE_ID, **SCOPE})


def expect_autoscaling_restored(aas: Stubber) -> None:
    aas.add_response(
        "register_scalable_target",
        {"ScalableTargetARN": TARGET_ARN},
        {"ResourceId": RESOURCE_ID, "MinCapacity": 2, "MaxCapacity": 10, "Tags": {"stack": "prod"}, **SCOPE},
    )
    aas.add_response(
        "put_scaling_policy",
        {"PolicyARN": "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:2"},
        {
            "PolicyName": "sagestack-prod-invocations-per-instance",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": TRACKING,
            "ResourceId": RESOURCE_ID,
            **SCOPE,
        },
    )


# API_UpdateEndpoint: RetainAllVariantProperties keeps the live DesiredInstanceCount (scaled by autoscaling)
# instead of the new configuration's InitialInstanceCount; ExcludeRetainedVariantProperties overrides some.
def test_the_live_instance_count_is_kept_and_capture_follows_the_new_configuration() -> None:
    request = rollout.update_request(spec(), previous=spec(endpoint_config_name=OLD))
    assert request["RetainAllVariantProperties"] is True
    assert request["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]


def test_a_count_the_operator_changed_is_applied() -> None:
    request = rollout.update_request(spec(instance_count=6), previous=spec(instance_count=4))
    assert {"VariantPropertyType": "DesiredInstanceCount"} in request["ExcludeRetainedVariantProperties"]


def test_serverless_endpoints_have_no_instance_count_to_keep() -> None:
    request = rollout.update_request(spec(instance_count=None), previous=None)
    assert "RetainAllVariantProperties" not in request


# botocore's sagemaker model lists every EndpointStatus; each must be handled on purpose.
def test_every_endpoint_status_aws_documents_is_classified() -> None:
    documented = set(enum("sagemaker", "EndpointStatus"))
    classified = rollout.SETTLING | rollout.BROKEN | {rollout.IN_SERVICE}
    assert documented == classified
    assert not rollout.SETTLING & rollout.BROKEN


# VariantPropertyType in botocore's sagemaker model: the values ExcludeRetainedVariantProperties accepts.
def test_excluded_properties_are_ones_aws_knows() -> None:
    allowed = set(enum("sagemaker", "VariantPropertyType"))
    request = rollout.update_request(spec(instance_count=6), previous=spec(instance_count=4))
    assert {p["VariantPropertyType"] for p in request["ExcludeRetainedVariantProperties"]} <= allowed


def test_an_update_left_running_by_an_earlier_up_is_waited_for_first(aws: Any) -> None:
    clients, sm, _, _ = aws
    expect_describe(sm, "Updating", OLD, times=3)
    expect_update_started(sm)
    expect_describe(sm, "InService", NEW)
    assert rollout.roll_out(clients, spec()) == NEW


def test_nothing_is_deployed_when_the_endpoint_already_serves_the_configuration(aws: Any) -> None:
    clients, sm, _, _ = aws
    expect_describe(sm, "InService", NEW)  # e.g. only the rollback alarms changed: nothing to redeploy
    assert rollout.roll_out(clients, spec()) == NEW


def test_a_failed_endpoint_fails_the_update_with_its_reason(aws: Any) -> None:
    clients, sm, _, _ = aws
    expect_update_started(sm)
    expect_describe(sm, "Failed", OLD, reason="The primary container failed the ping health check")
    with pytest.raises(RolloutError, match="Failed: The primary container failed the ping health check"):
        rollout.roll_out(clients, spec())


def test_waiting_is_bounded_by_the_deployment_settings(aws: Any) -> None:
    clients, sm, _, clock = aws
    polls = (5400 + rollout.ROLLBACK_MARGIN_SECONDS) // rollout.POLL_SECONDS
    expect_describe(sm, "Updating", OLD, times=polls + 1)
    with pytest.raises(RolloutError, match="still Updating after 7200 s"):
        rollout.roll_out(clients, spec())
    assert clock.now == 5400 + rollout.ROLLBACK_MARGIN_SECONDS


def test_an_update_sagemaker_never_starts_is_an_error(aws: Any) -> None:
    clients, sm, _, _ = aws
    expect_update_started(sm)
    expect_describe(sm, "InService", OLD, times=rollout.START_GRACE_SECONDS // rollout.POLL_SECONDS + 1)
    with pytest.raises(RolloutError, match="never started updating"):
        rollout.roll_out(clients, spec())


def test_numbers_pulumi_passed_as_floats_reach_the_api_as_integers() -> None:
    props = {
        "endpoint_name": ENDPOINT,
        "endpoint_config_name": NEW,
        "variant_name": "primary",
        "region": "eu-west-1",
        "deployment_config": {"BlueGreenUpdatePolicy": {"TerminationWaitInSeconds": 600.0}},
        "instance_count": 4.0,
        "timeout_seconds": 5400.0,
    }
    parsed = RolloutSpec.from_props(props)
    assert parsed.deployment_config["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] == 600
    assert isinstance(parsed.deployment_config["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"], int)
    assert parsed.instance_count == 4 and parsed.timeout_seconds == 5400


def props(**overrides: Any) -> dict[str, Any]:
    """The rollout's state as Pulumi hands it to the provider: the spec's fields plus what the engine adds."""
    values = {**dataclasses.asdict(spec()), "__provider": "ignored", "served_endpoint_config_name": OLD}
    values.update(overrides)
    return values


def test_a_changed_alarm_set_updates_the_rollout_and_never_replaces_anything() -> None:
    changed = {**DEPLOYMENT, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "other"}]}}
    diff = rollout._RolloutProvider().diff(ENDPOINT, props(), props(deployment_config=changed))
    assert diff.changes is True and diff.replaces == []


def test_an_unchanged_rollout_has_no_diff() -> None:
    diff = rollout._RolloutProvider().diff(ENDPOINT, props(), props(served_endpoint_config_name=NEW))
    assert diff.changes is False


def test_the_worst_case_covers_a_settling_wait_a_deployment_and_a_rollback() -> None:
    assert rollout.worst_case_rollout_seconds(5400) >= 2 * 5400 + rollout.ROLLBACK_MARGIN_SECONDS


# --- clean-up, on moto's SageMaker (create/list/tag/delete of models and configurations) -----------------

STACK_TAGS = {"project": "sagestack", "stack": "prod"}


@pytest.fixture
def sagemaker() -> Any:
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("sagemaker", region_name="eu-west-1")


def make_config(sm: Any, name: str, model: str, tags: dict[str, str] = STACK_TAGS) -> None:
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagestack-prod-sagemaker-execution",
        PrimaryContainer={
            "Image": "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0"
        },
        Tags=tag_list,
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        Tags=tag_list,
    )


def names(sm: Any) -> set[str]:
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]}
    return configs | {m["ModelName"] for m in sm.list_models()["Models"]}


def test_clean_up_keeps_the_served_the_previous_and_the_newer_configurations(sagemaker: Any) -> None:
    sm = sagemaker
    for i in range(4):
        make_config(sm, f"sagestack-prod-c{i}", f"sagestack-prod-model-m{i}")
    sm.create_endpoint(EndpointName="sagestack-prod", EndpointConfigName="sagestack-prod-c2")
    # another stack whose name starts the same way, told apart by its tags
    make_config(
        sm, "sagestack-prod-eu-c0", "sagestack-prod-eu-model-m0", {"project": "sagestack", "stack": "prod-eu"}
    )
    deleted = rollout_cleanup.clean_up(
        sm, endpoint_name="sagestack-prod", base_name="sagestack-prod", tags=STACK_TAGS, log=lambda _: None
    )
    assert sorted(deleted) == ["sagestack-prod-c0", "sagestack-prod-model-m0"]
    assert "sagestack-prod-eu-c0" in names(sm) and "sagestack-prod-c3" in names(sm)


def test_clean_up_after_a_rollback_keeps_what_the_endpoint_still_serves(sagemaker: Any) -> None:
    sm = sagemaker
    for i in range(3):
        make_config(sm, f"sagestack-prod-c{i}", f"sagestack-prod-model-m{i}")
    sm.create_endpoint(EndpointName="sagestack-prod", EndpointConfigName="sagestack-prod-c0")  # rolled back
    assert (
        rollout_cleanup.clean_up(
            sm, endpoint_name="sagestack-prod", base_name="sagestack-prod", tags=STACK_TAGS
        )
        == []
    )


def test_clean_up_after_destroy_removes_every_leftover_of_the_stack(sagemaker: Any) -> None:
    sm = sagemaker
    make_config(sm, "sagestack-prod-c0", "sagestack-prod-model-m0")
    make_config(sm, "sagestack-dev-c0", "sagestack-dev-model-m0", {"project": "sagestack", "stack": "dev"})
    deleted = rollout_cleanup.clean_up(
        sm, endpoint_name="sagestack-prod", base_name="sagestack-prod", tags=STACK_TAGS
    )
    assert sorted(deleted) == ["sagestack-prod-c0", "sagestack-prod-model-m0"]
    assert names(sm) == {"sagestack-dev-c0", "sagestack-dev-model-m0"}


def test_clean_up_refuses_to_run_during_a_deployment(aws: Any) -> None:
    clients, sm, _, _ = aws
    expect_describe(sm, "Updating", NEW)
    with pytest.raises(RolloutError, match="clean up after it settles"):
        rollout_cleanup.clean_up(
            clients.sagemaker, endpoint_name=ENDPOINT, base_name=ENDPOINT, tags=STACK_TAGS
        )


def test_the_clean_up_command_needs_the_stack_tags() -> None:
    with pytest.raises(SystemExit):
        rollout.main(["--endpoint-name", "e", "--base-name", "b", "--region", "eu-west-1"])
    with pytest.raises(SystemExit):
        rollout.main(["--endpoint-name", "e", "--base-name", "b", "--region", "eu-west-1", "--tag", "stack"])


# Pulumi's dynamic-provider process unpickles the provider (dill) with the project as working directory, as
# pulumi/examples aws-py-dynamicresource relies on: the provider must be pickled by reference to its module.
def test_the_provider_is_pickled_by_name_and_loads_in_a_fresh_interpreter() -> None:
    import base64
    import subprocess
    import sys
    from pathlib import Path

    from pulumi.dynamic.dynamic import serialize_provider

    payload = serialize_provider(rollout._RolloutProvider())
    raw = base64.b64decode(payload)
    assert b"infra.rollout" in raw and len(raw) < 200  # a reference, not the code
    root = Path(__file__).resolve().parents[2]
    script = f"import base64, dill; p = dill.loads(base64.b64decode({payload!r})); print(type(p).__name__)"
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "_RolloutProvider"

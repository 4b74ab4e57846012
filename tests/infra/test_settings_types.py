"""The typed settings' derived values (infra/settings_types.py): deployment time, names and tags."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest

from infra.settings import settings_from_values
from infra.settings_types import (
    MAX_DEPLOYMENT_SECONDS,
    MIN_DEPLOYMENT_SECONDS,
    PROVISIONING_SECONDS,
    DeploymentSettings,
    PackageArtifacts,
    Settings,
    deployment_seconds_needed,
)
from tests.infra.aws_models import service_model
from tests.infra.test_settings import dev_values


def deployment(strategy: str, *, step: int = 1, wait: int = 300, termination: int = 0) -> DeploymentSettings:
    return DeploymentSettings(
        strategy=strategy,  # type: ignore[arg-type]
        canary_instances=1,
        linear_step_instances=step,
        traffic_wait_seconds=wait,
        termination_wait_seconds=termination,
    )


def dev() -> Settings:
    return settings_from_values("dev", "us-east-1", dev_values())


def test_sagemaker_bounds_on_a_blue_green_deployment() -> None:
    # BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds: 600 to 28,800 (botocore 1.x sagemaker service-2.json,
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html); the stack caps it at
    # 14,400 s so a rollout, its rollback wait and training fit GitHub's 6-hour deploy job (test_workflows checks each stack).
    assert (MIN_DEPLOYMENT_SECONDS, MAX_DEPLOYMENT_SECONDS) == (600, 14_400)
    bounds = service_model("sagemaker").shape_for("MaximumExecutionTimeoutInSeconds").metadata
    assert bounds["min"] == MIN_DEPLOYMENT_SECONDS and bounds["max"] == 28_800 >= MAX_DEPLOYMENT_SECONDS
    assert PROVISIONING_SECONDS == 900


@pytest.mark.parametrize(
    ("strategy", "step", "instances", "expected"),
    [
        ("all-at-once", 1, 4, 900 + 1 * 300 + 60),
        ("canary", 1, 4, 900 + 2 * 300 + 60),
        ("linear", 1, 4, 900 + 4 * 300 + 60),
        ("linear", 2, 4, 900 + 2 * 300 + 60),
        ("linear", 3, 4, 900 + 2 * 300 + 60),  # a partial last step is a step: ceil(4 / 3) = 2
        ("linear", 3, 10, 900 + 4 * 300 + 60),
        ("linear", 5, 5, 900 + 1 * 300 + 60),
    ],
)
def test_deployment_time_is_provisioning_each_traffic_step_and_the_termination_wait(
    strategy: str, step: int, instances: int, expected: int
) -> None:
    assert deployment_seconds_needed(deployment(strategy, step=step, termination=60), instances) == expected


def test_the_deployment_timeout_is_what_the_rollout_needs_but_never_below_sagemakers_600() -> None:
    serving = dev().serving
    short = replace(serving, deployment=deployment("all-at-once", wait=0), instance_count=1)
    assert short.deployment_timeout_seconds == 900  # provisioning alone exceeds the minimum
    long = replace(
        serving, deployment=deployment("linear", step=1, wait=600, termination=120), instance_count=3
    )
    assert long.deployment_timeout_seconds == 900 + 3 * 600 + 120


def test_capturing_means_a_sampling_percentage_above_zero() -> None:
    serving = dev().serving
    assert replace(serving, capture_sampling_percent=1).captures is True
    assert replace(serving, capture_sampling_percent=0).captures is False


def test_names_and_tags_carry_prefix_stack_and_the_required_tags() -> None:
    settings = settings_from_values(
        "dev", "us-east-1", dev_values(namePrefix="acme", owner="o", costCentre="c")
    )
    assert settings.base_name == "acme-dev"
    assert settings.default_tags == {"project": "sagestack", "stack": "dev", "owner": "o", "cost-centre": "c"}
    training = replace(settings.training, data_prefix="datasets/churn", data_version="v3")
    assert training.data_key_prefix == "datasets/churn/v3"


def test_optional_parts_default_to_nothing() -> None:
    settings = dev()
    bare = Settings(
        **{
            k: getattr(settings, k)
            for k in Settings.__dataclass_fields__
            if k not in {"model_consumer_accounts", "allowed_account_ids"}
        }
    )
    assert bare.model_consumer_accounts == () and bare.allowed_account_ids == ()
    serving = settings.serving
    fields = {k: getattr(serving, k) for k in type(serving).__dataclass_fields__ if k != "package_artifacts"}
    assert type(serving)(**fields).package_artifacts is None


def test_a_linear_step_below_one_is_reported_not_a_crash() -> None:
    # linearStepInstances = 0 used to raise ZeroDivisionError here: the time check ran on the reported value.
    assert deployment_seconds_needed(deployment("linear", step=0), 3) == 900 + 3 * 300
    assert deployment_seconds_needed(deployment("all-at-once", step=0), 3) == 900 + 300


def test_every_part_of_the_settings_is_frozen() -> None:
    s = settings_from_values("dev", "us-east-1", dev_values(serverless="true", captureSamplingPercent="0"))
    provisioned = dev()
    parts = [
        s,
        s.storage,
        s.training,
        s.training.hyperparameters,
        s.serving,
        s.serving.serverless,
        s.serving.deployment,
        provisioned.serving.autoscaling,
        s.monitoring,
        s.monitoring.thresholds,
        PackageArtifacts(bucket="b", key_arn="k"),
    ]
    for part in parts:
        with pytest.raises(FrozenInstanceError):
            part.__setattr__("x", 1)

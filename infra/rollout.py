"""Endpoint rollouts driven by this stack instead of the provider's endpoint waiter.

pulumi-aws creates and deletes the endpoint; every later change of the configuration it serves goes
through `EndpointRollout`, a dynamic resource whose update calls UpdateEndpoint itself. It waits as long
as the stack's deployment settings allow (the provider waits a fixed 60 minutes), keeps the live instance
count, moves autoscaling out of the way of an instance-type change, and ends `pulumi up` with an error
that names a SageMaker rollback. Models and configurations are never deleted by Pulumi (they are
retained); `rollout_cleanup.clean_up` (this module's command line) deletes the ones no longer served, after
the deployment was verified.

This module imports boto3 and pulumi.dynamic only: Pulumi's dynamic-provider process imports it by name.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.dynamic

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


SETTLING = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})


BROKEN = frozenset({"OutOfService", "Deleting", "Failed", "UpdateRollbackFailed"})


IN_SERVICE = "InService"


# Rolling back shifts traffic back to the blue fleet, which is still up until the deployment ends.
ROLLBACK_MARGIN_SECONDS = 1800


# DescribeEndpoint is eventually consistent: right after UpdateEndpoint it may still show the old state.
START_GRACE_SECONDS = 300


POLL_SECONDS = 30


INPUT_KEYS = (
    "endpoint_name",
    "endpoint_config_name",
    "variant_name",
    "region",
    "deployment_config",
    "instance_count",
    "timeout_seconds",
)


class RolloutError(RuntimeError):
    """A deployment that did not end with the endpoint serving the requested configuration."""


class RolledBack(RolloutError):
    pass


@dataclass(frozen=True)
class RolloutSpec:
    endpoint_name: str
    endpoint_config_name: str
    variant_name: str
    region: str
    deployment_config: Mapping[str, Any]  # UpdateEndpoint's DeploymentConfig, as the API spells it
    instance_count: int | None  # None for serverless endpoints: no instances to keep
    timeout_seconds: int  # the deployment's MaximumExecutionTimeoutInSeconds

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> RolloutSpec:
        count = props.get("instance_count")
        return cls(
            endpoint_name=str(props["endpoint_name"]),
            endpoint_config_name=str(props["endpoint_config_name"]),
            variant_name=str(props["variant_name"]),
            region=str(props["region"]),
            deployment_config=_integral(props["deployment_config"]),
            instance_count=None if count is None else int(count),
            timeout_seconds=int(props["timeout_seconds"]),
        )

    @property
    def wait_seconds(self) -> int:
        """How long one wait for the endpoint to settle may take: the whole deployment, then a rollback."""
        return self.timeout_seconds + ROLLBACK_MARGIN_SECONDS


def _integral(value: Any) -> Any:
    """Pulumi passes every number as a float (protobuf Struct); the SageMaker API wants its integers back."""
    if isinstance(value, Mapping):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_integral(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def worst_case_rollout_seconds(deployment_timeout_seconds: int) -> int:
    """An update that first waits for an earlier deployment to settle, then deploys and rolls back."""
    return 2 * (deployment_timeout_seconds + ROLLBACK_MARGIN_SECONDS) + START_GRACE_SECONDS


@dataclass
class Clients:
    sagemaker: Any
    autoscaling: Any
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr))

    @classmethod
    def for_region(cls, region: str) -> Clients:
        import boto3  # the credentials are the ones `pulumi up` runs with: the default chain

        session = boto3.Session(region_name=region)
        return cls(session.client("sagemaker"), session.client("application-autoscaling"))


def _describe(clients: Clients, endpoint_name: str) -> dict[str, Any]:
    return dict(clients.sagemaker.describe_endpoint(EndpointName=endpoint_name))


def wait_until_settled(clients: Clients, endpoint_name: str, seconds: int) -> dict[str, Any]:
    """Poll until the endpoint leaves Creating/Updating/SystemUpdating/RollingBack; fail when it breaks."""
    deadline = clients.clock() + seconds
    while True:
        endpoint = _describe(clients, endpoint_name)
        if _settled(endpoint, clients.clock() >= deadline, seconds):
            return endpoint
        clients.sleep(POLL_SECONDS)


def _settled(endpoint: Mapping[str, Any], out_of_time: bool, seconds: int) -> bool:
    name, status = endpoint["EndpointName"], endpoint["EndpointStatus"]
    if status == IN_SERVICE:
        return True
    if status in BROKEN:
        raise RolloutError(
            f"endpoint {name} is {status}: {endpoint.get('FailureReason') or 'no reason given'}"
        )
    if out_of_time:
        raise RolloutError(
            f"endpoint {name} is still {status} after {seconds} s; SageMaker goes on with it, "
            "and the next `pulumi up` waits for it to settle before deploying"
        )
    return False


@dataclass(frozen=True)
class AutoscalingSnapshot:
    """A variant's scalable target and policies, to register again after an instance-type change."""

    target: Mapping[str, Any]
    policies: tuple[Mapping[str, Any], ...]
    tags: Mapping[str, str]


def _resource_id(spec: RolloutSpec) -> str:
    return f"endpoint/{spec.endpoint_name}/variant/{spec.variant_name}"


def _instance_types(clients: Clients, config_name: str) -> dict[str, str | None]:
    config = clients.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    return {v["VariantName"]: v.get("InstanceType") for v in config["ProductionVariants"]}


def detach_autoscaling(clients: Clients, spec: RolloutSpec) -> AutoscalingSnapshot | None:
    """Deregister the variant's scalable target (which deletes its policies); return what to restore."""
    aas, resource_id = clients.autoscaling, _resource_id(spec)
    scope = {"ServiceNamespace": "sagemaker", "ScalableDimension": SCALABLE_DIMENSION}
    targets = aas.describe_scalable_targets(ResourceIds=[resource_id], **scope)["ScalableTargets"]
    if not targets:
        return None
    target = targets[0]
    policies = aas.describe_scaling_policies(ResourceId=resource_id, **scope)["ScalingPolicies"]
    tags = aas.list_tags_for_resource(ResourceARN=target["ScalableTargetARN"])["Tags"]
    aas.deregister_scalable_target(ResourceId=resource_id, **scope)
    clients.log(f"deregistered {resource_id} from autoscaling for the instance-type change")
    return AutoscalingSnapshot(target=target, policies=tuple(policies), tags=tags)


def reattach_autoscaling(clients: Clients, snapshot: AutoscalingSnapshot) -> None:
    aas, target = clients.autoscaling, snapshot.target
    scope = {
        "ServiceNamespace": target["ServiceNamespace"],
        "ResourceId": target["ResourceId"],
        "ScalableDimension": target["ScalableDimension"],
    }
    extra = {"SuspendedState": target["SuspendedState"]} if target.get("SuspendedState") else {}
    aas.register_scalable_target(
        MinCapacity=target["MinCapacity"],
        MaxCapacity=target["MaxCapacity"],
        **({"Tags": dict(snapshot.tags)} if snapshot.tags else {}),
        **extra,
        **scope,
    )
    for policy in snapshot.policies:
        configuration = {
            key: policy[key]
            for key in (
                "StepScalingPolicyConfiguration",
                "TargetTrackingScalingPolicyConfiguration",
                "PredictiveScalingPolicyConfiguration",
            )
            if key in policy
        }
        aas.put_scaling_policy(
            PolicyName=policy["PolicyName"], PolicyType=policy["PolicyType"], **configuration, **scope
        )
    clients.log(f"registered {target['ResourceId']} for autoscaling again")


def update_request(spec: RolloutSpec, previous: RolloutSpec | None) -> dict[str, Any]:
    """UpdateEndpoint's arguments: keep the live instance count unless the stack's own count changed."""
    request: dict[str, Any] = {
        "EndpointName": spec.endpoint_name,
        "EndpointConfigName": spec.endpoint_config_name,
        "DeploymentConfig": dict(spec.deployment_config),
    }
    if spec.instance_count is None:
        return request
    # Capture settings always come from the new configuration; so does a count the operator changed.
    excluded = ["DataCaptureConfig"]
    if previous is not None and previous.instance_count != spec.instance_count:
        excluded.append("DesiredInstanceCount")
    request["RetainAllVariantProperties"] = True
    request["ExcludeRetainedVariantProperties"] = [{"VariantPropertyType": p} for p in excluded]
    return request


def roll_out(clients: Clients, spec: RolloutSpec, previous: RolloutSpec | None = None) -> str:
    """Make the endpoint serve spec's configuration; return the configuration it serves at the end."""
    current = wait_until_settled(clients, spec.endpoint_name, spec.wait_seconds)
    if current["EndpointConfigName"] == spec.endpoint_config_name:
        return spec.endpoint_config_name
    old_config = current["EndpointConfigName"]
    snapshot = None
    if spec.instance_count is not None:
        before, after = (
            _instance_types(clients, old_config),
            _instance_types(clients, spec.endpoint_config_name),
        )
        if before.get(spec.variant_name) != after.get(spec.variant_name):
            snapshot = detach_autoscaling(clients, spec)
    try:
        clients.sagemaker.update_endpoint(**update_request(spec, previous))
        clients.log(f"deploying {spec.endpoint_config_name} to {spec.endpoint_name} (was {old_config})")
        final = _wait_for_deployment(clients, spec, old_config)
    finally:
        if snapshot is not None:
            reattach_autoscaling(clients, snapshot)
    served: str = final["EndpointConfigName"]
    if served != spec.endpoint_config_name:
        raise RolledBack(
            f"SageMaker rolled back the deployment of {spec.endpoint_config_name} to endpoint "
            f"{spec.endpoint_name}, which still serves {served}: "
            f"{final.get('FailureReason') or 'an auto-rollback alarm fired during the deployment'}. "
            "Nothing was deleted. Fix the cause (see the rollback alarms), then run `pulumi up` again."
        )
    return served


def _wait_for_deployment(clients: Clients, spec: RolloutSpec, old_config: str) -> dict[str, Any]:
    """Wait for the update to start (the old state may linger a moment), then for it to settle."""
    started = clients.clock()
    deadline, updating = started + spec.wait_seconds, False
    while True:
        endpoint = _describe(clients, spec.endpoint_name)
        moved = endpoint["EndpointStatus"] != IN_SERVICE or endpoint["EndpointConfigName"] != old_config
        updating = updating or moved
        if not updating and clients.clock() - started >= START_GRACE_SECONDS:
            raise RolloutError(
                f"endpoint {spec.endpoint_name} still serves {old_config} and never started updating to "
                f"{spec.endpoint_config_name} within {START_GRACE_SECONDS} s"
            )
        if updating and _settled(endpoint, clients.clock() >= deadline, spec.wait_seconds):
            return endpoint
        clients.sleep(POLL_SECONDS)


class _RolloutProvider(pulumi.dynamic.ResourceProvider):
    """Create and update deploy; delete does nothing: the endpoint resource owns the endpoint's life."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        spec = RolloutSpec.from_props(props)
        served = roll_out(Clients.for_region(spec.region), spec)
        return pulumi.dynamic.CreateResult(
            spec.endpoint_name, {**props, "served_endpoint_config_name": served}
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in INPUT_KEYS if olds.get(key) != news.get(key)]
        replaces: list[str] = [key for key in ("endpoint_name", "region") if key in changed]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=replaces, delete_before_replace=False
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        spec = RolloutSpec.from_props(news)
        served = roll_out(Clients.for_region(spec.region), spec, previous=RolloutSpec.from_props(olds))
        return pulumi.dynamic.UpdateResult({**news, "served_endpoint_config_name": served})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class RolloutArgs:
    endpoint_name: pulumi.Input[str]
    endpoint_config_name: pulumi.Input[str]
    variant_name: str
    region: str
    deployment_config: pulumi.Input[Mapping[str, Any]]
    instance_count: int | None
    timeout_seconds: int


class EndpointRollout(pulumi.dynamic.Resource, module="sagestack", name="EndpointRollout"):
    served_endpoint_config_name: pulumi.Output[str]

    def __init__(self, name: str, args: RolloutArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "endpoint_name": args.endpoint_name,
            "endpoint_config_name": args.endpoint_config_name,
            "variant_name": args.variant_name,
            "region": args.region,
            "deployment_config": args.deployment_config,
            "instance_count": args.instance_count,
            "timeout_seconds": args.timeout_seconds,
            "served_endpoint_config_name": None,
        }
        super().__init__(_RolloutProvider(), name, props, opts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.rollout",
        description="Delete the stack's endpoint configurations and models its endpoint no longer needs. "
        "Run after the deployment was verified.",
    )
    parser.add_argument("--endpoint-name", required=True)
    parser.add_argument("--base-name", required=True, help="the stack's physical-name prefix")
    parser.add_argument("--region", required=True)
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="the stack's tags")
    parser.add_argument("--keep-previous", type=int, default=1)
    args = parser.parse_args(argv)
    tags = {}
    for pair in args.tag:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--tag {pair!r}: expected KEY=VALUE")
        tags[key] = value
    if not tags:
        parser.error("--tag is required at least once: only resources tagged as the stack's are deleted")
    import boto3

    from infra.rollout_cleanup import clean_up  # here: rollout_cleanup imports this module

    clean_up(
        boto3.client("sagemaker", region_name=args.region),
        endpoint_name=args.endpoint_name,
        base_name=args.base_name,
        tags=tags,
        keep_previous=args.keep_previous,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

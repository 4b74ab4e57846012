"""A Lambda function of the `monitoring` package run by an EventBridge rule, failures dead-lettered.

Shared by the drift engine and the retraining gate: each gets its own role, log group, rule and
retry policy; a delivery EventBridge gives up on, or a run that fails after Lambda's retries, lands in
the stack's dead-letter queue, which has an alarm: a failed drift or gate run never vanishes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam, role_policies
from infra.alarms import child_options, moved_from_monitoring
from infra.packaging import LAMBDA_ARCHITECTURE, LAMBDA_PYTHON_VERSION

# The zip carries compiled wheels for exactly this Python and architecture (infra/packaging.py).
LAMBDA_RUNTIME = f"python{LAMBDA_PYTHON_VERSION}"
# Async invocations and EventBridge deliveries are retried twice within the hour, then dead-lettered.
ASYNC_RETRIES = 2
MAX_EVENT_AGE_SECONDS = 3600


@dataclass(frozen=True)
class FunctionCode:
    """The uploaded `monitoring` archive: one object for every function of the package."""

    bucket: pulumi.Input[str]
    key: pulumi.Input[str]
    sha256: str


@dataclass(frozen=True)
class PackagedCode:
    """What every function of the `monitoring` package shares: the code, the region, the key, log retention."""

    region: str
    code: FunctionCode
    key_arn: pulumi.Input[str]
    log_retention_days: int
    permissions_boundary_arn: str | None


@dataclass(frozen=True)
class FunctionSetting(PackagedCode):
    """What the stack gives every event-driven monitoring function alike: failures go to this queue."""

    dead_letter_queue_arn: pulumi.Input[str]


@dataclass(frozen=True)
class EventFunction:
    """One function: its physical name, what it does and the EventBridge rule that runs it."""

    function_name: str
    description: str
    handler: str
    policy: dict[str, Any]
    environment: dict[str, pulumi.Input[str]]
    timeout: int
    memory_size: int
    rule_suffix: str
    rule: aws.cloudwatch.EventRuleArgs
    former_key: str  # its resources' names inside the former Monitoring component
    former_rule_key: str


def packaged_function(
    resource_name: str,
    *,
    function_name: str,
    description: str,
    handler: str,
    policy: dict[str, Any],
    environment: Mapping[str, pulumi.Input[str]] | None,
    timeout: int,
    memory_size: int,
    setting: PackagedCode,
    parent: pulumi.Resource,
    function_resource_name: str | None = None,
    former: str | None = None,
) -> aws.lambda_.Function:
    """A function of the `monitoring` package: its own role, an encrypted log group with retention, the code.

    `former` names its resources inside the former Monitoring component (aliases; None: never moved).
    """
    role = iam.role(
        f"{resource_name}-role",
        role_name=function_name,
        description=description,
        trust_policy=iam.lambda_trust_policy(iam.service_principal("lambda", setting.region, parent=parent)),
        inline_policy=policy,
        permissions_boundary=setting.permissions_boundary_arn,
        parent=parent,
        aliases=[moved_from_monitoring(f"{former}-role")] if former else (),
    )
    logs = aws.cloudwatch.LogGroup(
        f"{resource_name}-logs",
        aws.cloudwatch.LogGroupArgs(
            name=f"/aws/lambda/{function_name}",
            retention_in_days=setting.log_retention_days,
            kms_key_id=setting.key_arn,
        ),
        opts=child_options(parent, f"{former}-logs" if former else None),
    )
    return aws.lambda_.Function(
        function_resource_name or f"{resource_name}-function",
        aws.lambda_.FunctionArgs(
            name=function_name,
            description=description,
            runtime=LAMBDA_RUNTIME,
            handler=handler,
            architectures=[LAMBDA_ARCHITECTURE],
            role=role.arn,
            s3_bucket=setting.code.bucket,
            s3_key=setting.code.key,
            source_code_hash=base64.b64encode(bytes.fromhex(setting.code.sha256)).decode(),
            timeout=timeout,
            memory_size=memory_size,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(environment))
            if environment
            else None,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=logs.name),
        ),
        opts=child_options(parent, former),
    )


def event_driven_function(
    name: str, spec: EventFunction, setting: FunctionSetting, *, parent: pulumi.Resource
) -> aws.lambda_.Function:
    former = f"monitoring-{spec.former_key}"
    function = packaged_function(
        name,
        function_name=spec.function_name,
        description=spec.description,
        handler=spec.handler,
        policy=iam.with_statements(
            spec.policy,
            role_policies.dead_letter_statements(
                queue_arn=setting.dead_letter_queue_arn, key_arn=setting.key_arn
            ),
        ),
        environment=spec.environment,
        timeout=spec.timeout,
        memory_size=spec.memory_size,
        setting=setting,
        parent=parent,
        former=former,
    )
    trigger = aws.cloudwatch.EventRule(
        f"{name}-{spec.rule_suffix}",
        spec.rule,
        opts=child_options(parent, f"monitoring-{spec.former_rule_key}"),
    )
    _wire_trigger(name, former, function, trigger, setting, parent)
    return function


def _wire_trigger(
    name: str,
    former: str,
    function: aws.lambda_.Function,
    trigger: aws.cloudwatch.EventRule,
    setting: FunctionSetting,
    parent: pulumi.Resource,
) -> None:
    aws.lambda_.Permission(
        f"{name}-invoke",
        aws.lambda_.PermissionArgs(
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=trigger.arn,
        ),
        opts=child_options(parent, f"{former}-invoke"),
    )
    aws.lambda_.FunctionEventInvokeConfig(
        f"{name}-async",
        aws.lambda_.FunctionEventInvokeConfigArgs(
            function_name=function.name,
            maximum_retry_attempts=ASYNC_RETRIES,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=setting.dead_letter_queue_arn
                )
            ),
        ),
        opts=child_options(parent, f"{former}-async"),
    )
    aws.cloudwatch.EventTarget(
        f"{name}-target",
        aws.cloudwatch.EventTargetArgs(
            rule=trigger.name,
            arn=function.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=ASYNC_RETRIES, maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                arn=setting.dead_letter_queue_arn
            ),
        ),
        opts=child_options(parent, f"{former}-target"),
    )

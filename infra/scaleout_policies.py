"""The drift scale-out's IAM as data: the worker, publisher and state machine roles, and what the planner (the
scheduled drift engine) may do to start runs. Each is scoped to the stack's run prefix, table and key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from infra import iam
from infra.scaleout_definition import state_machine_name
from monitoring import metrics, scaleout

# The vended-logs delivery actions the state machine role needs; AWS offers no resource to scope them to
# (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html, "IAM policies for logging").
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)


@dataclass(frozen=True)
class ScaleoutScope:
    """What the scale-out's roles may touch: the stack's capture, the baseline, the run prefix, the key."""

    partition: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    base_name: str
    capture_bucket_arn: pulumi.Input[str]
    capture_prefix: str
    artifacts_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]

    def arn(self, service: str, resource: str) -> pulumi.Output[str]:
        return pulumi.Output.format(
            "arn:{0}:{1}:{2}:{3}:{4}", self.partition, service, self.region, self.account_id, resource
        )

    @property
    def state_machine_arn(self) -> pulumi.Output[str]:
        # Built from the name: the role must name the state machine before the state machine exists.
        return self.arn("states", f"stateMachine:{state_machine_name(self.base_name)}")

    def run_objects(self) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.artifacts_bucket_arn, "/", scaleout.RUN_PREFIX, "/*")

    def logs(self, function_name: str) -> iam.Statement:
        group = self.arn("logs", f"log-group:/aws/lambda/{function_name}")
        return iam.allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [pulumi.Output.concat(group, ":log-stream:*")],
        )


def _list_runs(scope: ScaleoutScope) -> iam.Statement:
    # Without ListBucket, S3 answers a missing key with 403 instead of 404 (GetObject API reference), and a
    # missing partial must read as missing.
    return iam.allow(
        "ListRunObjects",
        ["s3:ListBucket"],
        [scope.artifacts_bucket_arn],
        {"StringLike": {"s3:prefix": [scaleout.RUN_PREFIX, f"{scaleout.RUN_PREFIX}/*"]}},
    )


def worker_policy(scope: ScaleoutScope, function_name: str) -> dict[str, Any]:
    """One Distributed Map item: read its capture objects and the baseline, write its partial."""
    return iam.document(
        iam.allow(
            "ReadCapturedTraffic",
            ["s3:GetObject"],
            [pulumi.Output.concat(scope.capture_bucket_arn, "/", scope.capture_prefix, "/*")],
        ),
        iam.allow(
            "ReadModelBaseline",
            ["s3:GetObject"],
            [pulumi.Output.concat(scope.artifacts_bucket_arn, "/", iam.MODELS_PREFIX, "/*")],
        ),
        iam.allow("WritePartials", ["s3:PutObject"], [scope.run_objects()]),
        # Both buckets are SSE-KMS with the stack key: reads decrypt, writes generate a data key.
        iam.allow("UseStackKeyForObjects", ["kms:Decrypt", "kms:GenerateDataKey"], [scope.key_arn]),
        scope.logs(function_name),
    )


def publisher_policy(
    scope: ScaleoutScope, function_name: str, publications_table_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """The reduce step: read the manifest and partials, claim the window, publish its metrics."""
    return iam.document(
        _list_runs(scope),
        iam.allow(
            "ReadRunAndBaseline",
            ["s3:GetObject"],
            [
                scope.run_objects(),
                pulumi.Output.concat(scope.artifacts_bucket_arn, "/", iam.MODELS_PREFIX, "/*"),
            ],
        ),
        iam.allow("DecryptStackObjects", ["kms:Decrypt"], [scope.key_arn]),
        iam.allow(
            "ClaimWindowPublication",
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
            [publications_table_arn],
        ),
        # PutMetricData has no resource to scope to; the namespace condition is the scope.
        iam.allow(
            "PublishDriftMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}},
        ),
        # GetMetricData (the endpoint's Invocations, for capture coverage) supports no resource or condition.
        iam.allow("ReadEndpointInvocations", ["cloudwatch:GetMetricData"], ["*"]),
        scope.logs(function_name),
    )


def state_machine_policy(scope: ScaleoutScope, function_arns: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """The Distributed Map's own needs (https://docs.aws.amazon.com/step-functions/latest/dg/
    iam-policies-eg-dist-map.html): child workflows of itself, the manifest, the two functions."""
    machine = state_machine_name(scope.base_name)
    return iam.document(
        iam.allow("RunChildWorkflows", ["states:StartExecution"], [scope.state_machine_arn]),
        iam.allow(
            "ManageChildWorkflows",
            ["states:DescribeExecution", "states:StopExecution"],
            # Child executions are execution:<machine>/<map run label>:<id>; the docs grant "<machine>/*",
            # written here with the ":" that the execution ARN format (and parliament) requires. The
            # Service Authorization Reference lists DescribeExecution on express executions too: this
            # machine's only.
            [
                scope.arn("states", f"execution:{machine}/*:*"),
                scope.arn("states", f"express:{machine}:*:*"),
            ],
        ),
        iam.allow("ReadManifest", ["s3:GetObject"], [scope.run_objects()]),
        iam.allow(
            "InvokeScaleoutFunctions",
            ["lambda:InvokeFunction"],
            [arn for function in function_arns for arn in (function, pulumi.Output.concat(function, ":*"))],
        ),
        # The manifest is SSE-KMS with the stack key: reading it decrypts.
        iam.allow("DecryptManifest", ["kms:Decrypt"], [scope.key_arn]),
        # The state machine's definition and history are encrypted with the stack key, in its own context.
        iam.allow(
            "EncryptOwnExecutions",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [scope.key_arn],
            {"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": scope.state_machine_arn}},
        ),
        iam.allow("DeliverExecutionLogs", list(LOG_DELIVERY_ACTIONS), ["*"]),
        # With an encrypted state machine, its role makes the data keys the log delivery uses, in the logs'
        # context (https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html, step 3;
        # the page writes the "arn:...:logs:<region>:<account>:*" value under StringEquals, which would only
        # match that literal string: StringLike matches it and every log ARN of the account and region).
        iam.allow(
            "EncryptExecutionLogs",
            ["kms:GenerateDataKey"],
            [scope.key_arn],
            {"StringLike": {"kms:EncryptionContext:SourceArn": scope.arn("logs", "*")}},
        ),
    )


def planner_statements(scope: ScaleoutScope) -> list[iam.Statement]:
    """What the scheduled engine's role needs to start a distributed run (for the lead to add to it)."""
    return [
        iam.allow("StartDistributedRuns", ["states:StartExecution"], [scope.state_machine_arn]),
        iam.allow("WriteRunManifests", ["s3:PutObject"], [scope.run_objects()]),
        iam.allow("EncryptRunManifests", ["kms:GenerateDataKey"], [scope.key_arn]),
        # The execution input is encrypted with the state machine's key, in the state machine's context.
        iam.allow(
            "EncryptDistributedRunInput",
            ["kms:GenerateDataKey"],
            [scope.key_arn],
            {"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": scope.state_machine_arn}},
        ),
    ]

"""The inline policies of the stack's roles, as data: SageMaker execution, pipeline, drift engine, retraining
gate, and the dead-letter queues' resource policies. Each grants exactly the stack's own prefixes and key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.iam import CODE_PREFIX, MODELS_PREFIX, Statement, allow, document, prefix_objects
from infra.iam_sharing import PackageArtifactsScope, package_artifact_statements


@dataclass(frozen=True)
class ExecutionRoleScope:
    """What the SageMaker execution role may touch: exactly the stack's own prefixes and key."""

    partition: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    base_name: str
    key_arn: pulumi.Input[str]
    data_bucket_arn: pulumi.Input[str]
    data_prefix: str
    artifacts_bucket_arn: pulumi.Input[str]
    capture_bucket_arn: pulumi.Input[str]
    capture_prefix: str
    image_repository_arn: pulumi.Input[str]
    package_artifacts: PackageArtifactsScope | None = None  # a pinned package from another stack


def _list_prefix(sid: str, bucket_arn: pulumi.Input[str], prefixes: Sequence[str]) -> Statement:
    return allow(
        sid,
        ["s3:ListBucket"],
        [bucket_arn],
        {"StringLike": {"s3:prefix": [p for prefix in prefixes for p in (prefix, f"{prefix}/*")]}},
    )


def _kms_use(key_arn: pulumi.Input[str]) -> list[Statement]:
    return [
        allow(
            "UseStackKey", ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], [key_arn]
        ),
        # SageMaker attaches the key to training and endpoint volumes through grants for its own resources.
        allow(
            "GrantStackKeyToSageMakerVolumes",
            ["kms:CreateGrant"],
            [key_arn],
            {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
    ]


def _logs(
    partition: pulumi.Input[str], region: str, account_id: pulumi.Input[str], group_pattern: str
) -> Statement:
    group = pulumi.Output.format(
        "arn:{0}:logs:{1}:{2}:log-group:{3}", partition, region, account_id, group_pattern
    )
    return allow(
        "WriteOwnLogs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
        [group, pulumi.Output.concat(group, ":log-stream:*")],
    )


def sagemaker_execution_policy(scope: ExecutionRoleScope) -> dict[str, Any]:
    statements = [
        _list_prefix("ListTrainingData", scope.data_bucket_arn, [scope.data_prefix]),
        allow(
            "ReadTrainingData", ["s3:GetObject"], [prefix_objects(scope.data_bucket_arn, scope.data_prefix)]
        ),
        _list_prefix("ListArtifacts", scope.artifacts_bucket_arn, [CODE_PREFIX, MODELS_PREFIX]),
        allow(
            "ReadCodeAndModels",
            ["s3:GetObject"],
            [
                prefix_objects(scope.artifacts_bucket_arn, CODE_PREFIX),
                prefix_objects(scope.artifacts_bucket_arn, MODELS_PREFIX),
            ],
        ),
        allow(
            "WriteModels",
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            [prefix_objects(scope.artifacts_bucket_arn, MODELS_PREFIX)],
        ),
        allow(
            "WriteCapturedTraffic",
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            [prefix_objects(scope.capture_bucket_arn, scope.capture_prefix)],
        ),
        *_kms_use(scope.key_arn),
        _logs(scope.partition, scope.region, scope.account_id, "/aws/sagemaker/*"),
        # PutMetricData has no resource to scope to; the namespace condition is the scope.
        allow(
            "PublishSageMakerMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
        ),
        # Deployment guardrails read the auto-rollback alarms with the execution role's permissions.
        allow(
            "ReadRollbackAlarms",
            ["cloudwatch:DescribeAlarms"],
            [
                pulumi.Output.format(
                    "arn:{0}:cloudwatch:{1}:{2}:alarm:{3}-*",
                    scope.partition,
                    scope.region,
                    scope.account_id,
                    scope.base_name,
                )
            ],
        ),
        # ECR authorisation tokens are account-wide: GetAuthorizationToken has no resource to scope to.
        allow("AuthenticateToEcr", ["ecr:GetAuthorizationToken"], ["*"]),
        allow(
            "PullPrebuiltImage",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [scope.image_repository_arn],
        ),
    ]
    if scope.package_artifacts is not None:  # SageMaker downloads the model with the execution role
        statements += package_artifact_statements(scope.package_artifacts)
    return document(*statements)


def pipeline_policy(
    *,
    partition: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    base_name: str,
    model_package_group_name: str,
    execution_role_arn: pulumi.Input[str],
    sagemaker_principal: pulumi.Input[str],
) -> dict[str, Any]:
    def arn(resource: str) -> pulumi.Output[str]:
        return pulumi.Output.format("arn:{0}:sagemaker:{1}:{2}:{3}", partition, region, account_id, resource)

    return document(
        allow(
            "RunRetrainingJobs",
            [
                "sagemaker:AddTags",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
            ],
            [arn("training-job/pipelines-*"), arn(f"training-job/{base_name}-*")],
        ),
        allow(
            "RegisterCandidateModels",
            ["sagemaker:AddTags", "sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage"],
            [
                arn(f"model-package/{model_package_group_name}/*"),
                arn(f"model-package-group/{model_package_group_name}"),
            ],
        ),
        allow(
            "PassExecutionRoleToSageMaker",
            ["iam:PassRole"],
            [execution_role_arn],
            {"StringEquals": {"iam:PassedToService": sagemaker_principal}},
        ),
    )


def drift_engine_policy(
    *,
    partition: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    function_name: str,
    capture_bucket_arn: pulumi.Input[str],
    capture_prefix: str,
    artifacts_bucket_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    metric_namespace: str,
    base_name: str,
    endpoint_name: str,
    model_package_arns: Sequence[pulumi.Input[str]],
    package_artifacts: PackageArtifactsScope | None = None,
) -> dict[str, Any]:
    def sagemaker_arn(resource: str) -> pulumi.Output[str]:
        return pulumi.Output.format("arn:{0}:sagemaker:{1}:{2}:{3}", partition, region, account_id, resource)

    return document(
        # Each run follows endpoint -> configuration -> model (-> package) to the model it serves now.
        allow(
            "ReadServedEndpoint", ["sagemaker:DescribeEndpoint"], [sagemaker_arn(f"endpoint/{endpoint_name}")]
        ),
        allow(
            "ReadServedConfiguration",
            ["sagemaker:DescribeEndpointConfig"],
            [sagemaker_arn(f"endpoint-config/{base_name}-*")],
        ),
        allow("ReadServedModel", ["sagemaker:DescribeModel"], [sagemaker_arn(f"model/{base_name}-*")]),
        allow("ReadServedModelPackage", ["sagemaker:DescribeModelPackage"], list(model_package_arns)),
        _list_prefix("ListCapturedTraffic", capture_bucket_arn, [capture_prefix]),
        allow("ReadCapturedTraffic", ["s3:GetObject"], [prefix_objects(capture_bucket_arn, capture_prefix)]),
        allow("ReadModelBaseline", ["s3:GetObject"], [prefix_objects(artifacts_bucket_arn, MODELS_PREFIX)]),
        allow("DecryptStackObjects", ["kms:Decrypt"], [key_arn]),
        _logs(partition, region, account_id, f"/aws/lambda/{function_name}"),
        # PutMetricData has no resource to scope to; the namespace condition is the scope.
        allow(
            "PublishDriftMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringEquals": {"cloudwatch:namespace": metric_namespace}},
        ),
        # GetMetricData (the endpoint's Invocations, for capture coverage) supports no resource or condition.
        allow("ReadEndpointInvocations", ["cloudwatch:GetMetricData"], ["*"]),
        # The baseline of a pinned package from another stack is inside that stack's model artifact.
        *(package_artifact_statements(package_artifacts) if package_artifacts else []),
    )


def retrain_gate_policy(
    *,
    partition: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    function_name: str,
    pipeline_arn: pulumi.Input[str],
    claim_table_arn: pulumi.Input[str],
) -> dict[str, Any]:
    return document(
        allow(
            "StartRetrainingPipeline",
            ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"],
            [pipeline_arn],
        ),
        allow("ClaimRetraining", ["dynamodb:DeleteItem", "dynamodb:UpdateItem"], [claim_table_arn]),
        _logs(partition, region, account_id, f"/aws/lambda/{function_name}"),
    )


def dead_letter_statements(*, queue_arn: pulumi.Input[str], key_arn: pulumi.Input[str]) -> list[Statement]:
    """A monitoring function's on-failure destination: Lambda sends with the function's own role.

    Producers to an SSE-KMS queue need GenerateDataKey and Decrypt on its key (SQS developer guide,
    "Key management": https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
    """
    return [
        allow("SendFailedRunsToDeadLetterQueue", ["sqs:SendMessage"], [queue_arn]),
        allow("EncryptDeadLetters", ["kms:Decrypt", "kms:GenerateDataKey"], [key_arn]),
    ]


def dead_letter_queue_policy(
    *, queue_arn: pulumi.Input[str], rule_arns: Sequence[pulumi.Input[str]]
) -> dict[str, Any]:
    """EventBridge delivers undeliverable events to a rule target's DLQ as events.amazonaws.com, scoped
    to the rule by aws:SourceArn (https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html)."""
    return document(
        {
            "Sid": "EventBridgeRulesDeadLetter",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": list(rule_arns)}},
        }
    )

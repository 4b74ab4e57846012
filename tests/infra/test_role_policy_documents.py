"""The roles' inline policies and the dead-letter queues' policies (infra.role_policies), built directly from stated
inputs and compared with documents written out here: every statement's actions, resources and conditions (issue 15).
Every input differs from every other, so a swapped argument shows."""

from __future__ import annotations

from typing import Any

import pytest

from infra.iam_sharing import PackageArtifactsScope
from infra.role_policies import (
    ExecutionRoleScope,
    dead_letter_queue_policy,
    dead_letter_statements,
    drift_engine_policy,
    pipeline_policy,
    retrain_gate_policy,
    sagemaker_execution_policy,
)
from tests.infra.iam_resolve import resolved

ACCOUNT = "111122223333"
KEY = "arn:aws-cn:kms:cn-north-1:111122223333:key/stack"
PRODUCER_KEY = "arn:aws-cn:kms:cn-north-1:999988887777:key/producer"
PACKAGE = PackageArtifactsScope(
    partition="aws-cn",
    region="cn-north-1",
    dns_suffix="amazonaws.com.cn",
    bucket="producer-art",
    key_arn=PRODUCER_KEY,
)
# The consumer half of cross-account model sharing, as infra.iam_sharing writes it.
PACKAGE_STATEMENTS = [
    {
        "Sid": "ReadPinnedPackageModel",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws-cn:s3:::producer-art/models/*"],
    },
    {
        "Sid": "DecryptPinnedPackageModel",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [PRODUCER_KEY],
        "Condition": {"StringEquals": {"kms:ViaService": "s3.cn-north-1.amazonaws.com.cn"}},
    },
]


def execution_scope(package: PackageArtifactsScope | None = None) -> ExecutionRoleScope:
    return ExecutionRoleScope(
        partition="aws-cn",
        region="cn-north-1",
        account_id=ACCOUNT,
        base_name="churn-dev",
        key_arn=KEY,
        data_bucket_arn="arn:aws-cn:s3:::data",
        data_prefix="datasets/churn",
        artifacts_bucket_arn="arn:aws-cn:s3:::art",
        capture_bucket_arn="arn:aws-cn:s3:::cap",
        capture_prefix="capture/churn",
        image_repository_arn="arn:aws-cn:ecr:cn-north-1:111122223333:repository/churn",
        package_artifacts=package,
    )


def logs_statement(group: str) -> dict[str, Any]:
    arn = f"arn:aws-cn:logs:cn-north-1:{ACCOUNT}:log-group:{group}"
    return {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:DescribeLogStreams",
            "logs:PutLogEvents",
        ],
        "Resource": [arn, f"{arn}:log-stream:*"],
    }


EXECUTION_STATEMENTS = [
    # ListBucket is scoped by the s3:prefix condition key
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html, ListBucket).
    {
        "Sid": "ListTrainingData",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": ["arn:aws-cn:s3:::data"],
        "Condition": {"StringLike": {"s3:prefix": ["datasets/churn", "datasets/churn/*"]}},
    },
    {
        "Sid": "ReadTrainingData",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws-cn:s3:::data/datasets/churn/*"],
    },
    {
        "Sid": "ListArtifacts",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": ["arn:aws-cn:s3:::art"],
        "Condition": {"StringLike": {"s3:prefix": ["code", "code/*", "models", "models/*"]}},
    },
    {
        "Sid": "ReadCodeAndModels",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws-cn:s3:::art/code/*", "arn:aws-cn:s3:::art/models/*"],
    },
    {
        "Sid": "WriteModels",
        "Effect": "Allow",
        "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
        "Resource": ["arn:aws-cn:s3:::art/models/*"],
    },
    {
        "Sid": "WriteCapturedTraffic",
        "Effect": "Allow",
        "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
        "Resource": ["arn:aws-cn:s3:::cap/capture/churn/*"],
    },
    {
        "Sid": "UseStackKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
        "Resource": [KEY],
    },
    # kms:GrantIsForAWSResource is true only when an integrated AWS service creates the grant
    # (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource).
    {
        "Sid": "GrantStackKeyToSageMakerVolumes",
        "Effect": "Allow",
        "Action": ["kms:CreateGrant"],
        "Resource": [KEY],
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    },
    logs_statement("/aws/sagemaker/*"),
    # PutMetricData supports no resource type, only the cloudwatch:namespace condition key
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html); SageMaker
    # publishes under /aws/sagemaker/... (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-cloudwatch.html).
    {
        "Sid": "PublishSageMakerMetrics",
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricData"],
        "Resource": ["*"],
        "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
    },
    {
        "Sid": "ReadRollbackAlarms",
        "Effect": "Allow",
        "Action": ["cloudwatch:DescribeAlarms"],
        "Resource": [f"arn:aws-cn:cloudwatch:cn-north-1:{ACCOUNT}:alarm:churn-dev-*"],
    },
    # GetAuthorizationToken supports no resource type (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html).
    {
        "Sid": "AuthenticateToEcr",
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken"],
        "Resource": ["*"],
    },
    {
        "Sid": "PullPrebuiltImage",
        "Effect": "Allow",
        "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Resource": ["arn:aws-cn:ecr:cn-north-1:111122223333:repository/churn"],
    },
]


def test_the_execution_policy_grants_exactly_the_stack_prefixes_key_logs_metrics_alarms_and_image() -> None:
    assert resolved(sagemaker_execution_policy(execution_scope())) == {
        "Version": "2012-10-17",
        "Statement": EXECUTION_STATEMENTS,
    }


def test_a_pinned_package_adds_the_consumer_half_to_the_execution_policy() -> None:
    statements = resolved(sagemaker_execution_policy(execution_scope(PACKAGE)))["Statement"]

    assert statements == [*EXECUTION_STATEMENTS, *PACKAGE_STATEMENTS]


def test_the_package_scope_defaults_to_none() -> None:
    scope = ExecutionRoleScope("aws", "r", ACCOUNT, "b", KEY, "d", "p", "a", "c", "cp", "i")

    assert scope.package_artifacts is None


PIPELINE_ROLE = "arn:aws-cn:iam::111122223333:role/churn-dev-sagemaker"


def test_the_pipeline_policy_scopes_training_jobs_packages_and_pass_role() -> None:
    policy = pipeline_policy(
        partition="aws-cn",
        region="cn-north-1",
        account_id=ACCOUNT,
        base_name="churn-dev",
        model_package_group_name="churn-group",
        execution_role_arn=PIPELINE_ROLE,
        sagemaker_principal="sagemaker.amazonaws.com",
    )
    sagemaker = f"arn:aws-cn:sagemaker:cn-north-1:{ACCOUNT}"

    assert resolved(policy) == {
        "Version": "2012-10-17",
        "Statement": [
            # Pipelines name their training jobs pipelines-<execution>-<step>-<hash>; the stack's own are
            # <base>-...: the training-job ARN is the resource of CreateTrainingJob
            # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
            {
                "Sid": "RunRetrainingJobs",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:AddTags",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                ],
                "Resource": [
                    f"{sagemaker}:training-job/pipelines-*",
                    f"{sagemaker}:training-job/churn-dev-*",
                ],
            },
            {
                "Sid": "RegisterCandidateModels",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:AddTags",
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                ],
                "Resource": [
                    f"{sagemaker}:model-package/churn-group/*",
                    f"{sagemaker}:model-package-group/churn-group",
                ],
            },
            # iam:PassedToService limits the role to being passed to the named service
            # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService).
            {
                "Sid": "PassExecutionRoleToSageMaker",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [PIPELINE_ROLE],
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
        ],
    }


def drift_policy(package: PackageArtifactsScope | None = None) -> dict[str, Any]:
    return drift_engine_policy(
        partition="aws-cn",
        region="cn-north-1",
        account_id=ACCOUNT,
        function_name="churn-dev-drift",
        capture_bucket_arn="arn:aws-cn:s3:::cap",
        capture_prefix="capture/churn",
        artifacts_bucket_arn="arn:aws-cn:s3:::art",
        key_arn=KEY,
        metric_namespace="Sagestack/Drift",
        base_name="churn-dev",
        endpoint_name="churn-dev-endpoint",
        model_package_arns=["arn:pkg/1", "arn:pkg/2"],
        package_artifacts=package,
    )


SAGEMAKER = f"arn:aws-cn:sagemaker:cn-north-1:{ACCOUNT}"
DRIFT_STATEMENTS = [
    {
        "Sid": "ReadServedEndpoint",
        "Effect": "Allow",
        "Action": ["sagemaker:DescribeEndpoint"],
        "Resource": [f"{SAGEMAKER}:endpoint/churn-dev-endpoint"],
    },
    {
        "Sid": "ReadServedConfiguration",
        "Effect": "Allow",
        "Action": ["sagemaker:DescribeEndpointConfig"],
        "Resource": [f"{SAGEMAKER}:endpoint-config/churn-dev-*"],
    },
    {
        "Sid": "ReadServedModel",
        "Effect": "Allow",
        "Action": ["sagemaker:DescribeModel"],
        "Resource": [f"{SAGEMAKER}:model/churn-dev-*"],
    },
    {
        "Sid": "ReadServedModelPackage",
        "Effect": "Allow",
        "Action": ["sagemaker:DescribeModelPackage"],
        "Resource": ["arn:pkg/1", "arn:pkg/2"],
    },
    {
        "Sid": "ListCapturedTraffic",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": ["arn:aws-cn:s3:::cap"],
        "Condition": {"StringLike": {"s3:prefix": ["capture/churn", "capture/churn/*"]}},
    },
    {
        "Sid": "ReadCapturedTraffic",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws-cn:s3:::cap/capture/churn/*"],
    },
    {
        "Sid": "ReadModelBaseline",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws-cn:s3:::art/models/*"],
    },
    {"Sid": "DecryptStackObjects", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY]},
    logs_statement("/aws/lambda/churn-dev-drift"),
    # The namespace condition is the only scope PutMetricData offers (service authorization reference, CloudWatch).
    {
        "Sid": "PublishDriftMetrics",
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricData"],
        "Resource": ["*"],
        "Condition": {"StringEquals": {"cloudwatch:namespace": "Sagestack/Drift"}},
    },
    # GetMetricData supports neither resource types nor condition keys (service authorization reference, CloudWatch).
    {
        "Sid": "ReadEndpointInvocations",
        "Effect": "Allow",
        "Action": ["cloudwatch:GetMetricData"],
        "Resource": ["*"],
    },
]


def test_the_drift_engine_policy_follows_the_endpoint_to_its_model_and_reads_only_its_capture() -> None:
    assert resolved(drift_policy()) == {"Version": "2012-10-17", "Statement": DRIFT_STATEMENTS}


def test_a_pinned_package_adds_the_consumer_half_to_the_drift_engine_policy() -> None:
    assert resolved(drift_policy(PACKAGE))["Statement"] == [*DRIFT_STATEMENTS, *PACKAGE_STATEMENTS]


def test_the_retrain_gate_policy_starts_only_its_pipeline_and_claims_only_its_table() -> None:
    policy = retrain_gate_policy(
        partition="aws-cn",
        region="cn-north-1",
        account_id=ACCOUNT,
        function_name="churn-dev-gate",
        pipeline_arn="arn:pipeline",
        claim_table_arn="arn:table",
    )

    assert resolved(policy) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartRetrainingPipeline",
                "Effect": "Allow",
                "Action": ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"],
                "Resource": ["arn:pipeline"],
            },
            {
                "Sid": "ClaimRetraining",
                "Effect": "Allow",
                "Action": ["dynamodb:DeleteItem", "dynamodb:UpdateItem"],
                "Resource": ["arn:table"],
            },
            logs_statement("/aws/lambda/churn-dev-gate"),
        ],
    }


# Producers to an SSE-KMS queue need GenerateDataKey and Decrypt on its key
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
def test_a_function_sends_failed_runs_to_its_queue_and_encrypts_with_the_queue_key() -> None:
    assert resolved(dead_letter_statements(queue_arn="arn:queue", key_arn=KEY)) == [
        {
            "Sid": "SendFailedRunsToDeadLetterQueue",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": ["arn:queue"],
        },
        {
            "Sid": "EncryptDeadLetters",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [KEY],
        },
    ]


# EventBridge sends to a target's DLQ as events.amazonaws.com, scoped to the rule by aws:SourceArn
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html).
@pytest.mark.parametrize("rules", [["arn:rule/a"], ["arn:rule/a", "arn:rule/b"]])
def test_the_dead_letter_queue_accepts_only_the_named_rules(rules: list[str]) -> None:
    assert resolved(dead_letter_queue_policy(queue_arn="arn:queue", rule_arns=tuple(rules))) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeRulesDeadLetter",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": "arn:queue",
                "Condition": {"ArnEquals": {"aws:SourceArn": rules}},
            }
        ],
    }

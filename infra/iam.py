"""IAM as data: every policy document the stack attaches is built here, as a dict, and serialised once.

Leaves may be `pulumi.Output`s (bucket and key ARNs); `document_json` resolves them into JSON.
No `"Action": "*"`, no managed `*FullAccess` policy; `"Resource": "*"` only where AWS offers nothing to
scope to, with the reason beside it and a condition where AWS offers one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

Statement = dict[str, Any]

_VERSION = "2012-10-17"


def document(*statements: Statement) -> dict[str, Any]:
    return {"Version": _VERSION, "Statement": list(statements)}


def with_statements(policy: Mapping[str, Any], statements: Sequence[Statement]) -> dict[str, Any]:
    """`policy` with `statements` appended after its own."""
    return {**policy, "Statement": [*policy["Statement"], *statements]}


def document_json(policy: Mapping[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(policy, sort_keys=True)


def allow(
    sid: str, actions: Sequence[str], resources: Sequence[Any], condition: Mapping[str, Any] | None = None
) -> Statement:
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": list(resources),
    }
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def service_principal(service: str, region: str, *, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The principal of an AWS service in `region`'s partition, e.g. sagemaker.amazonaws.com.

    From the provider's aws_service_principal data source, never a template: some partitions name
    some services differently (logs.amazonaws.com.cn in China). The invoke uses the parent's provider.
    """
    return aws.get_service_principal_output(
        service_name=service, region=region, opts=pulumi.InvokeOutputOptions(parent=parent)
    ).name


def regional_service_principal(service: str, region: str, *, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The region-qualified principal, e.g. logs.eu-west-1.amazonaws.com (the data source's id)."""
    return aws.get_service_principal_output(
        service_name=service, region=region, opts=pulumi.InvokeOutputOptions(parent=parent)
    ).id


def service_trust_policy(principal: pulumi.Input[str], account_id: pulumi.Input[str]) -> dict[str, Any]:
    """Trust the service `principal`, but only on behalf of this account (confused-deputy protection)."""
    return document(
        {
            "Sid": "TrustedService",
            "Effect": "Allow",
            "Principal": {"Service": principal},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


def lambda_trust_policy(principal: pulumi.Input[str]) -> dict[str, Any]:
    # Lambda assumes its role without a source account in the request context, so no condition fits here.
    return document(
        {
            "Sid": "TrustedService",
            "Effect": "Allow",
            "Principal": {"Service": principal},
            "Action": "sts:AssumeRole",
        }
    )


def tls_only_bucket_policy(bucket_arn: pulumi.Input[str]) -> dict[str, Any]:
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def account_root(partition: pulumi.Input[str], account: str) -> pulumi.Output[str]:
    """An account as a principal: the account's IAM policies then decide which of its roles may act."""
    return pulumi.Output.format("arn:{0}:iam::{1}:root", partition, account)


def s3_via_service(region: str, dns_suffix: pulumi.Input[str]) -> pulumi.Output[str]:
    """kms:ViaService of S3 in `region`, e.g. s3.eu-west-1.amazonaws.com
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)."""
    return pulumi.Output.format("s3.{0}.{1}", region, dns_suffix)


@dataclass(frozen=True)
class ModelConsumers:
    """Other accounts allowed to serve this stack's registered models, and what scopes their grants."""

    accounts: tuple[str, ...]
    partition: pulumi.Input[str]
    region: str
    dns_suffix: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]

    def principal(self) -> dict[str, Any]:
        return accounts_principal(self.partition, self.accounts)


def accounts_principal(partition: pulumi.Input[str], accounts: Sequence[str]) -> dict[str, Any]:
    return {"AWS": [account_root(partition, account) for account in accounts]}


# What a consumer account does with a producer's package: create its model from the package (the
# deployer), describe it (deployer, drift engine, infra.promote) and list the group (promote's
# --latest-approved-in). The set and the resource are those of the SageMaker guide's cross-account
# deployment example, without UpdateModelPackage: approving stays with the producer.
CONSUMER_REGISTRY_ACTIONS = (
    "sagemaker:CreateModel",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
)


def model_package_group_policy(
    accounts: Sequence[str],
    *,
    partition: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    group_name: str,
) -> dict[str, Any]:
    """The registry's resource policy: consumer accounts may use its packages, nothing else of the group."""
    packages = pulumi.Output.format(
        "arn:{0}:sagemaker:{1}:{2}:model-package/{3}/*", partition, region, account_id, group_name
    )
    return document(
        {
            "Sid": "ConsumerAccountsUsePackages",
            "Effect": "Allow",
            "Principal": accounts_principal(partition, accounts),
            "Action": sorted(CONSUMER_REGISTRY_ACTIONS),
            "Resource": packages,
        }
    )


def consumer_model_read_statements(
    consumers: ModelConsumers, bucket_arn: pulumi.Input[str]
) -> list[Statement]:
    """Artifacts bucket policy: consumer accounts may read model objects (GetObject, which HeadObject needs
    too), nothing else; no ListBucket, since a model is read by its full key."""
    return [
        {
            "Sid": "ConsumerAccountsReadModels",
            "Effect": "Allow",
            "Principal": consumers.principal(),
            "Action": "s3:GetObject",
            "Resource": _objects(bucket_arn, MODELS_PREFIX),
        }
    ]


def consumer_key_statements(consumers: ModelConsumers) -> list[Statement]:
    """Key policy: consumer accounts may decrypt, only as S3 on their own behalf, only the artifacts bucket's
    objects (its ARN is the encryption context with S3 Bucket Keys, the object's ARN without)."""
    return [
        {
            "Sid": "ConsumerAccountsDecryptModelsThroughS3",
            "Effect": "Allow",
            "Principal": consumers.principal(),
            "Action": "kms:Decrypt",
            "Resource": "*",  # in a key policy "*" means this key
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": s3_via_service(consumers.region, consumers.dns_suffix),
                    "kms:CallerAccount": list(consumers.accounts),
                },
                "StringLike": {
                    "kms:EncryptionContext:aws:s3:arn": [
                        consumers.artifacts_bucket_arn,
                        _objects(consumers.artifacts_bucket_arn, MODELS_PREFIX),
                    ]
                },
            },
        }
    ]


@dataclass(frozen=True)
class PackageArtifactsScope:
    """The consumer side: the producer's bucket and key that hold the pinned package's model."""

    partition: pulumi.Input[str]
    region: str
    dns_suffix: pulumi.Input[str]
    bucket: str
    key_arn: str


def package_artifact_statements(scope: PackageArtifactsScope) -> list[Statement]:
    """What a role that loads the pinned package's model needs in the producer's account: the matching half of
    consumer_model_read_statements and consumer_key_statements (cross-account access needs both halves)."""
    bucket_arn = pulumi.Output.format("arn:{0}:s3:::{1}", scope.partition, scope.bucket)
    return [
        allow("ReadPinnedPackageModel", ["s3:GetObject"], [_objects(bucket_arn, MODELS_PREFIX)]),
        allow(
            "DecryptPinnedPackageModel",
            ["kms:Decrypt"],
            [scope.key_arn],
            {"StringEquals": {"kms:ViaService": s3_via_service(scope.region, scope.dns_suffix)}},
        ),
    ]


@dataclass(frozen=True)
class KeyPolicyPrincipals:
    cloudwatch: pulumi.Input[str]  # cloudwatch.<suffix>
    logs_regional: pulumi.Input[str]  # logs.<region>.<suffix>: CloudWatch Logs uses the regional principal
    # delivery.logs.<suffix>, when an encrypted state machine logs to CloudWatch Logs (drift scale-out).
    log_delivery: pulumi.Input[str] | None = None


def key_policy(
    *,
    account_id: pulumi.Input[str],
    partition: pulumi.Input[str],
    region: str,
    principals: KeyPolicyPrincipals,
    consumers: ModelConsumers | None = None,
) -> dict[str, Any]:
    root = pulumi.Output.format("arn:{0}:iam::{1}:root", partition, account_id)
    return document(
        {
            # Without this statement the key is unmanageable: IAM policies in the account grant access to it.
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",  # in a key policy "*" means this key
        },
        {
            # CloudWatch alarms publish to the encrypted alarm topic as the CloudWatch service.
            "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
            "Effect": "Allow",
            "Principal": {"Service": principals.cloudwatch},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
        {
            # EventBridge writes undeliverable events to the encrypted dead-letter queue as its service
            # (https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html, encrypted queues).
            "Sid": "EventBridgeDeadLettersToEncryptedQueue",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
        {
            "Sid": "CloudWatchLogsEncryptStackLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": principals.logs_regional},
            "Action": [
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": pulumi.Output.format(
                        "arn:{0}:logs:{1}:{2}:log-group:*", partition, region, account_id
                    )
                }
            },
        },
        *([log_delivery_statement(principals.log_delivery)] if principals.log_delivery is not None else []),
        *(consumer_key_statements(consumers) if consumers else []),
    )


def log_delivery_statement(principal: pulumi.Input[str]) -> Statement:
    """A state machine encrypted with this key logs to CloudWatch Logs through the log delivery service, which
    must decrypt (https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html, step 3)."""
    return {
        "Sid": "LogDeliveryForEncryptedStateMachines",
        "Effect": "Allow",
        "Principal": {"Service": principal},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }


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


CODE_PREFIX = "code"
MODELS_PREFIX = "models"


def _objects(bucket_arn: pulumi.Input[str], prefix: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(bucket_arn, "/", prefix, "/*")


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
        allow("ReadTrainingData", ["s3:GetObject"], [_objects(scope.data_bucket_arn, scope.data_prefix)]),
        _list_prefix("ListArtifacts", scope.artifacts_bucket_arn, [CODE_PREFIX, MODELS_PREFIX]),
        allow(
            "ReadCodeAndModels",
            ["s3:GetObject"],
            [
                _objects(scope.artifacts_bucket_arn, CODE_PREFIX),
                _objects(scope.artifacts_bucket_arn, MODELS_PREFIX),
            ],
        ),
        allow(
            "WriteModels",
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            [_objects(scope.artifacts_bucket_arn, MODELS_PREFIX)],
        ),
        allow(
            "WriteCapturedTraffic",
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            [_objects(scope.capture_bucket_arn, scope.capture_prefix)],
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
        allow("ReadCapturedTraffic", ["s3:GetObject"], [_objects(capture_bucket_arn, capture_prefix)]),
        allow("ReadModelBaseline", ["s3:GetObject"], [_objects(artifacts_bucket_arn, MODELS_PREFIX)]),
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


def role(
    name: str,
    *,
    role_name: str,
    trust_policy: Mapping[str, Any],
    inline_policy: Mapping[str, Any],
    description: str,
    permissions_boundary: str | None,
    parent: pulumi.Resource,
    aliases: Sequence[pulumi.Alias] = (),
) -> aws.iam.Role:
    """A role with exactly one inline policy and the stack's permissions boundary, if any.

    The policy is part of the role resource, so anything using the role's ARN waits for its permissions.
    """
    return aws.iam.Role(
        name,
        aws.iam.RoleArgs(
            name=role_name,
            description=description,
            assume_role_policy=document_json(trust_policy),
            inline_policies=[
                aws.iam.RoleInlinePolicyArgs(name="least-privilege", policy=document_json(inline_policy))
            ],
            permissions_boundary=permissions_boundary,
            max_session_duration=3600,
        ),
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases)),
    )

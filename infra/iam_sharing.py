"""Cross-account model sharing as IAM data: what a producer grants the accounts that serve its registered models,
and what a consumer stack needs to read a package artifact from another account (issue 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.iam import MODELS_PREFIX, Statement, account_root, allow, document, prefix_objects, s3_via_service


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
            "Resource": prefix_objects(bucket_arn, MODELS_PREFIX),
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
                        prefix_objects(consumers.artifacts_bucket_arn, MODELS_PREFIX),
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
        allow("ReadPinnedPackageModel", ["s3:GetObject"], [prefix_objects(bucket_arn, MODELS_PREFIX)]),
        allow(
            "DecryptPinnedPackageModel",
            ["kms:Decrypt"],
            [scope.key_arn],
            {"StringEquals": {"kms:ViaService": s3_via_service(scope.region, scope.dns_suffix)}},
        ),
    ]

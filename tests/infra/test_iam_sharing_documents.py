"""Cross-account model sharing as IAM data (infra.iam_sharing), built directly from stated inputs and compared with
documents written out here: both halves of the grant, the producer's and the consumer's (issue 12, issue 15)."""

from __future__ import annotations

from infra.iam_sharing import (
    CONSUMER_REGISTRY_ACTIONS,
    ModelConsumers,
    PackageArtifactsScope,
    accounts_principal,
    consumer_key_statements,
    consumer_model_read_statements,
    model_package_group_policy,
    package_artifact_statements,
)
from tests.infra.iam_resolve import resolved

CONSUMERS = ModelConsumers(
    accounts=("444455556666", "777788889999"),
    partition="aws-cn",
    region="cn-north-1",
    dns_suffix="amazonaws.com.cn",
    artifacts_bucket_arn="arn:aws-cn:s3:::producer-artifacts",
)
ROOTS = ["arn:aws-cn:iam::444455556666:root", "arn:aws-cn:iam::777788889999:root"]


def test_accounts_become_their_root_principals_in_order() -> None:
    assert resolved(accounts_principal("aws", ["222233334444", "111122223333"])) == {
        "AWS": ["arn:aws:iam::222233334444:root", "arn:aws:iam::111122223333:root"]
    }
    assert resolved(CONSUMERS.principal()) == {"AWS": ROOTS}


# The SageMaker guide's cross-account model registry example grants CreateModel, DescribeModelPackage and
# ListModelPackages on model-package/<group>/* (https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-ram.html);
# UpdateModelPackage (approval) stays with the producer.
def test_the_model_package_group_policy_lets_consumers_use_only_the_group_packages() -> None:
    policy = model_package_group_policy(
        ["444455556666"], partition="aws", region="eu-west-1", account_id="111122223333", group_name="churn"
    )

    assert resolved(policy) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConsumerAccountsUsePackages",
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]},
                "Action": [
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:ListModelPackages",
                ],
                "Resource": "arn:aws:sagemaker:eu-west-1:111122223333:model-package/churn/*",
            }
        ],
    }
    assert "sagemaker:UpdateModelPackage" not in CONSUMER_REGISTRY_ACTIONS


def test_the_group_policy_sorts_its_actions() -> None:
    [statement] = model_package_group_policy(
        ["444455556666"], partition="aws", region="eu-west-1", account_id="111122223333", group_name="g"
    )["Statement"]

    assert statement["Action"] == sorted(CONSUMER_REGISTRY_ACTIONS)


# GetObject covers HeadObject too (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html, Permissions);
# a model is read by its full key, so no ListBucket is granted.
def test_consumers_read_only_model_objects_of_the_bucket_they_are_given() -> None:
    statements = consumer_model_read_statements(CONSUMERS, "arn:aws-cn:s3:::other-bucket")

    assert resolved(statements) == [
        {
            "Sid": "ConsumerAccountsReadModels",
            "Effect": "Allow",
            "Principal": {"AWS": ROOTS},
            "Action": "s3:GetObject",
            "Resource": "arn:aws-cn:s3:::other-bucket/models/*",
        }
    ]


# kms:ViaService is the regional service endpoint name, kms:CallerAccount the calling account
# (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html); S3's encryption context is the
# bucket ARN with S3 Bucket Keys and the object ARN without (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context).
def test_consumers_decrypt_only_through_s3_in_the_region_for_their_accounts_and_this_bucket() -> None:
    assert resolved(consumer_key_statements(CONSUMERS)) == [
        {
            "Sid": "ConsumerAccountsDecryptModelsThroughS3",
            "Effect": "Allow",
            "Principal": {"AWS": ROOTS},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": "s3.cn-north-1.amazonaws.com.cn",
                    "kms:CallerAccount": ["444455556666", "777788889999"],
                },
                "StringLike": {
                    "kms:EncryptionContext:aws:s3:arn": [
                        "arn:aws-cn:s3:::producer-artifacts",
                        "arn:aws-cn:s3:::producer-artifacts/models/*",
                    ]
                },
            },
        }
    ]


# Cross-account access needs the grant on both sides: the resource's policy and the caller's identity policy
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
def test_the_consumer_half_reads_the_producer_models_and_decrypts_through_s3_only() -> None:
    scope = PackageArtifactsScope(
        partition="aws-cn",
        region="cn-north-1",
        dns_suffix="amazonaws.com.cn",
        bucket="producer-artifacts",
        key_arn="arn:aws-cn:kms:cn-north-1:111122223333:key/k",
    )

    assert resolved(package_artifact_statements(scope)) == [
        {
            "Sid": "ReadPinnedPackageModel",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws-cn:s3:::producer-artifacts/models/*"],
        },
        {
            "Sid": "DecryptPinnedPackageModel",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": ["arn:aws-cn:kms:cn-north-1:111122223333:key/k"],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.cn-north-1.amazonaws.com.cn"}},
        },
    ]

"""The stack key's policy (infra.key_policy), built directly from stated inputs and compared statement by statement
with documents written out here: principals, actions, resources and conditions (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.iam_sharing import ModelConsumers
from infra.key_policy import KeyPolicyPrincipals, key_policy, log_delivery_statement
from tests.infra.iam_resolve import resolved

ACCOUNT = "111122223333"
PRINCIPALS = KeyPolicyPrincipals(
    cloudwatch="cloudwatch.amazonaws.com", logs_regional="logs.eu-west-1.amazonaws.com"
)

# In a key policy the account root principal delegates to IAM, and "*" as Resource means this key
# (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam).
ACCOUNT_ADMINISTERS = {
    "Sid": "AccountAdministersKeyThroughIam",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
# CloudWatch needs Decrypt and GenerateDataKey* to publish to an SSE-KMS topic
# (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services);
# aws:SourceAccount keeps the service acting for this account only (confused deputy,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
CLOUDWATCH_PUBLISHES = {
    "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
    "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
}
# EventBridge sends to an SSE-KMS dead-letter queue as events.amazonaws.com with Decrypt and GenerateDataKey
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html, "Granting permissions to the DLQ").
EVENTBRIDGE_DEAD_LETTERS = {
    "Sid": "EventBridgeDeadLettersToEncryptedQueue",
    "Effect": "Allow",
    "Principal": {"Service": "events.amazonaws.com"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
    "Resource": "*",
    "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
}


# CloudWatch Logs uses the regional principal logs.<region>.amazonaws.com and the encryption context key
# kms:EncryptionContext:aws:logs:arn, a log-group ARN (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
def logs_statement(partition: str, region: str, principal: str) -> dict[str, Any]:
    return {
        "Sid": "CloudWatchLogsEncryptStackLogGroups",
        "Effect": "Allow",
        "Principal": {"Service": principal},
        "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{ACCOUNT}:log-group:*"
            }
        },
    }


def test_the_key_policy_without_log_delivery_or_consumers_holds_exactly_the_four_stack_statements() -> None:
    policy = key_policy(account_id=ACCOUNT, partition="aws", region="eu-west-1", principals=PRINCIPALS)

    assert resolved(policy) == {
        "Version": "2012-10-17",
        "Statement": [
            ACCOUNT_ADMINISTERS,
            CLOUDWATCH_PUBLISHES,
            EVENTBRIDGE_DEAD_LETTERS,
            logs_statement("aws", "eu-west-1", "logs.eu-west-1.amazonaws.com"),
        ],
    }


def test_the_key_policy_names_the_partition_region_and_principals_it_is_given() -> None:
    principals = KeyPolicyPrincipals(
        cloudwatch="cloudwatch.amazonaws.com.cn", logs_regional="logs.cn-north-1.amazonaws.com.cn"
    )

    statements = resolved(
        key_policy(account_id=ACCOUNT, partition="aws-cn", region="cn-north-1", principals=principals)
    )["Statement"]

    assert statements[0]["Principal"] == {"AWS": f"arn:aws-cn:iam::{ACCOUNT}:root"}
    assert statements[1]["Principal"] == {"Service": "cloudwatch.amazonaws.com.cn"}
    assert statements[3] == logs_statement("aws-cn", "cn-north-1", "logs.cn-north-1.amazonaws.com.cn")


# An encrypted state machine's logs are delivered by delivery.logs.amazonaws.com, which must decrypt
# (https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html).
def test_a_log_delivery_principal_adds_its_decrypt_statement_after_the_stack_statements() -> None:
    principals = KeyPolicyPrincipals(
        cloudwatch="cloudwatch.amazonaws.com",
        logs_regional="logs.eu-west-1.amazonaws.com",
        log_delivery="delivery.logs.amazonaws.com",
    )

    statements = resolved(
        key_policy(account_id=ACCOUNT, partition="aws", region="eu-west-1", principals=principals)
    )["Statement"]

    assert len(statements) == 5
    assert statements[4] == {
        "Sid": "LogDeliveryForEncryptedStateMachines",
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    assert log_delivery_statement("delivery.logs.amazonaws.com") == statements[4]


def test_log_delivery_defaults_to_absent() -> None:
    assert KeyPolicyPrincipals(cloudwatch="c", logs_regional="l").log_delivery is None


@pytest.mark.parametrize("with_log_delivery", [False, True])
def test_consumer_accounts_add_their_decrypt_statement_last(with_log_delivery: bool) -> None:
    consumers = ModelConsumers(
        accounts=("444455556666",),
        partition="aws",
        region="eu-west-1",
        dns_suffix="amazonaws.com",
        artifacts_bucket_arn="arn:aws:s3:::stack-artifacts",
    )
    principals = KeyPolicyPrincipals(
        cloudwatch="cloudwatch.amazonaws.com",
        logs_regional="logs.eu-west-1.amazonaws.com",
        log_delivery="delivery.logs.amazonaws.com" if with_log_delivery else None,
    )

    statements = resolved(
        key_policy(
            account_id=ACCOUNT,
            partition="aws",
            region="eu-west-1",
            principals=principals,
            consumers=consumers,
        )
    )["Statement"]

    assert [s["Sid"] for s in statements] == [
        "AccountAdministersKeyThroughIam",
        "CloudWatchAlarmsPublishToEncryptedTopic",
        "EventBridgeDeadLettersToEncryptedQueue",
        "CloudWatchLogsEncryptStackLogGroups",
        *(["LogDeliveryForEncryptedStateMachines"] if with_log_delivery else []),
        "ConsumerAccountsDecryptModelsThroughS3",
    ]
    assert statements[-1]["Principal"] == {"AWS": ["arn:aws:iam::444455556666:root"]}

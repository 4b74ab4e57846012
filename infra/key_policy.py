"""The stack key's policy: the account, the services that encrypt with it, and the accounts that may decrypt
shared model artifacts through S3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from infra.iam import Statement, document
from infra.iam_sharing import ModelConsumers, consumer_key_statements


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

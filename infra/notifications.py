"""Notifications: the encrypted SNS topic every alarm of the stack notifies, and its email subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.alarms import child_options


@dataclass(frozen=True)
class NotificationsArgs:
    base_name: str
    account_id: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    emails: tuple[str, ...]


class Notifications(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:notifications:Notifications", name, None, opts)
        topic = aws.sns.Topic(
            f"{name}-topic",
            aws.sns.TopicArgs(name=f"{args.base_name}-alarms", kms_master_key_id=args.key_arn),
            opts=child_options(self, "monitoring-alarms"),
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            aws.sns.TopicPolicyArgs(
                arn=topic.arn,
                policy=iam.document_json(
                    iam.document(
                        {
                            "Sid": "CloudWatchAlarmsPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": topic.arn,
                            "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
                        }
                    )
                ),
            ),
            opts=child_options(self, "monitoring-alarms-policy"),
        )
        for index, email in enumerate(args.emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}",
                aws.sns.TopicSubscriptionArgs(topic=topic.arn, protocol="email", endpoint=email),
                opts=child_options(self, f"monitoring-alarm-email-{index}"),
            )
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})

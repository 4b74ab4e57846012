"""The dead-letter queue of the monitoring functions: failed runs and deliveries, with a depth alarm."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import alarm_specs, engine_alarm_specs, iam, role_policies
from infra.alarms import child_options, metric_alarm

# SQS keeps a message at most 14 days: the longest an operator has to look at a failed run.
DEAD_LETTER_RETENTION_SECONDS = 1_209_600


def rule_arn(
    partition: pulumi.Input[str], region: str, account_id: pulumi.Input[str], rule_name: str
) -> pulumi.Output[str]:
    """A default-bus EventBridge rule's ARN, arn:<partition>:events:<region>:<account>:rule/<name>
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html)."""
    return pulumi.Output.format("arn:{0}:events:{1}:{2}:rule/{3}", partition, region, account_id, rule_name)


@dataclass(frozen=True)
class DeadLetterQueueArgs:
    base_name: str
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    source_rule_names: tuple[str, ...]  # the rules whose undeliverable events may land here


class DeadLetterQueue(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    alarm_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeadLetterQueueArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:dead_letters:DeadLetterQueue", name, None, opts)
        queue = aws.sqs.Queue(
            f"{name}-queue",
            aws.sqs.QueueArgs(
                name=engine_alarm_specs.dead_letter_queue_name(args.base_name),
                kms_master_key_id=args.key_arn,
                kms_data_key_reuse_period_seconds=3600,
                message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            ),
            opts=child_options(self, "monitoring-dead-letters"),
        )
        alarm = metric_alarm(
            f"{name}-depth",
            engine_alarm_specs.dead_letter_alarm_spec(args.base_name),
            actions={alarm_specs.NOTIFY: args.topic_arn},
            opts=child_options(self, "monitoring-monitoring-dead-letters"),
        )
        # EventBridge may send to the queue only for this stack's own rules.
        rules = [rule_arn(args.partition, args.region, args.account_id, r) for r in args.source_rule_names]
        aws.sqs.QueuePolicy(
            f"{name}-policy",
            aws.sqs.QueuePolicyArgs(
                queue_url=queue.url,
                policy=iam.document_json(
                    role_policies.dead_letter_queue_policy(queue_arn=queue.arn, rule_arns=rules)
                ),
            ),
            opts=child_options(self, "monitoring-dead-letters-policy"),
        )
        self.arn = queue.arn
        self.alarm_arn = alarm.arn
        self.register_outputs({"arn": self.arn})

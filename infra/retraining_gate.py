"""The retraining gate: a drift alarm -> EventBridge -> gate Lambda -> pipeline, at most once per cooldown."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import role_policies
from infra.alarm_specs import drift_alarm_prefix
from infra.alarms import child_options
from infra.event_function import EventFunction, FunctionSetting, event_driven_function


def rule_name(base_name: str) -> str:
    return f"{base_name}-drift-to-retraining"


def drift_event_pattern(base_name: str) -> dict[str, object]:
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [{"prefix": drift_alarm_prefix(base_name)}],
            "state": {"value": ["ALARM"]},
        },
    }


@dataclass(frozen=True)
class RetrainingGateArgs:
    base_name: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    pipeline_name: pulumi.Input[str]
    pipeline_arn: pulumi.Input[str]
    cooldown_minutes: int
    function: FunctionSetting


class RetrainingGate(pulumi.ComponentResource):
    def __init__(self, name: str, args: RetrainingGateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:retraining_gate:RetrainingGate", name, None, opts)
        a = args
        function_name = f"{a.base_name}-retrain-gate"
        # One item per pipeline; it holds a time and an event id, so the AWS owned key encrypts it.
        claims = aws.dynamodb.Table(
            f"{name}-claims",
            aws.dynamodb.TableArgs(
                name=f"{a.base_name}-retrain-claims",
                billing_mode="PAY_PER_REQUEST",
                hash_key="pipeline",
                attributes=[aws.dynamodb.TableAttributeArgs(name="pipeline", type="S")],
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=False),
            ),
            opts=child_options(self, "monitoring-retrain-claims"),
        )
        event_driven_function(
            name,
            EventFunction(
                function_name=function_name,
                description="Starts the retraining pipeline on drift, at most once per cooldown",
                handler="monitoring.retrain.handler",
                policy=role_policies.retrain_gate_policy(
                    partition=a.partition,
                    region=a.function.region,
                    account_id=a.account_id,
                    function_name=function_name,
                    pipeline_arn=a.pipeline_arn,
                    claim_table_arn=claims.arn,
                ),
                environment={
                    "PIPELINE_NAME": a.pipeline_name,
                    "COOLDOWN_MINUTES": str(a.cooldown_minutes),
                    "CLAIM_TABLE_NAME": claims.name,
                },
                timeout=60,
                memory_size=128,
                rule_suffix="rule",
                rule=aws.cloudwatch.EventRuleArgs(
                    name=rule_name(a.base_name),
                    description="A drift alarm entering ALARM asks the gate to start retraining",
                    event_pattern=pulumi.Output.json_dumps(drift_event_pattern(a.base_name), sort_keys=True),
                ),
                former_key="gate",
                former_rule_key="drift-rule",
            ),
            a.function,
            parent=self,
        )
        self.register_outputs({})

"""Drift scale-out: a Step Functions state machine whose Distributed Map measures a big window on many
workers, and whose reduce step merges their partial counts and publishes the window once.

The definition is in `scaleout_definition.py`, the roles' policies in `scaleout_policies.py`; this module is
the component. The runtime is `monitoring/scaleout.py`; docs/decisions.md, "Drift at scale: splitting a window", says why.
The scheduled drift engine (infra/drift_engine.py) is the planner: its handler is `monitoring.scaleout.handler`,
with `planner_environment` and `planner_statements` on its function and role; it starts the state machine for
windows over the single-invocation budget and measures smaller ones itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import alarm_specs, engine_alarm_specs, iam
from infra.alarms import metric_alarm
from infra.event_function import FunctionCode, PackagedCode, packaged_function
from infra.packaging import LAMBDA_PYTHON_VERSION
from infra.scaleout_definition import (
    MAX_CONCURRENCY,
    PUBLISHER_TIMEOUT_SECONDS,
    WORKER_TIMEOUT_SECONDS,
    state_machine_definition,
    state_machine_name,
)
from infra.scaleout_policies import ScaleoutScope, publisher_policy, state_machine_policy, worker_policy
from monitoring import scaleout

LAMBDA_RUNTIME = f"python{LAMBDA_PYTHON_VERSION}"


# Lambda allocates CPU in proportion to memory: 1,769 MB is one full vCPU (the engine is single-threaded).
WORKER_MEMORY_MB = 1769


PUBLISHER_MEMORY_MB = 1024


# Step Functions: data key reuse period of a customer managed key, 60-900 seconds.
KMS_DATA_KEY_REUSE_SECONDS = 300


# Single-invocation and per-part budgets (bytes of capture), sized by benchmarks/drift_scaleout.py.
SINGLE_MAX_BYTES = scaleout.DEFAULT_SINGLE_MAX_BYTES


PART_BYTES = scaleout.DEFAULT_PART_BYTES


PART_OBJECTS = scaleout.DEFAULT_PART_OBJECTS


@dataclass(frozen=True)
class DriftScaleoutArgs:
    base_name: str
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    log_retention_days: int
    permissions_boundary_arn: str | None
    code: FunctionCode  # the uploaded `monitoring` archive the drift engine runs too
    artifacts_bucket: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    capture_bucket_arn: pulumi.Input[str]
    capture_prefix: str
    key_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    max_concurrency: int = MAX_CONCURRENCY


class DriftScaleout(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    publications_table_name: pulumi.Output[str]
    planner_environment: dict[str, pulumi.Input[str]]
    failed_runs_alarm_arn: pulumi.Output[str]
    scope: ScaleoutScope

    def __init__(self, name: str, args: DriftScaleoutArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:drift_scaleout:DriftScaleout", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        self.scope = ScaleoutScope(
            partition=args.partition,
            region=args.region,
            account_id=args.account_id,
            base_name=args.base_name,
            capture_bucket_arn=args.capture_bucket_arn,
            capture_prefix=args.capture_prefix,
            artifacts_bucket_arn=args.artifacts_bucket_arn,
            key_arn=args.key_arn,
        )
        # One item per published window; it holds a window id, a state and times: the AWS owned key fits.
        publications = aws.dynamodb.Table(
            f"{name}-publications",
            aws.dynamodb.TableArgs(
                name=f"{args.base_name}-drift-publications",
                billing_mode="PAY_PER_REQUEST",
                hash_key=scaleout.PUBLICATION_KEY,
                attributes=[aws.dynamodb.TableAttributeArgs(name=scaleout.PUBLICATION_KEY, type="S")],
                ttl=aws.dynamodb.TableTtlArgs(
                    attribute_name=scaleout.PUBLICATION_TTL_ATTRIBUTE, enabled=True
                ),
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=False),
            ),
            opts=child,
        )
        packaged = PackagedCode(
            region=args.region,
            code=args.code,
            key_arn=args.key_arn,
            log_retention_days=args.log_retention_days,
            permissions_boundary_arn=args.permissions_boundary_arn,
        )
        worker_name = f"{args.base_name}-drift-worker"
        worker = packaged_function(
            f"{name}-worker",
            function_resource_name=f"{name}-worker",
            setting=packaged,
            parent=self,
            function_name=worker_name,
            description="Measures one part of a big drift window (Distributed Map item)",
            handler="monitoring.scaleout.measure_part_handler",
            policy=worker_policy(self.scope, worker_name),
            environment=None,
            timeout=WORKER_TIMEOUT_SECONDS,
            memory_size=WORKER_MEMORY_MB,
        )
        publisher_name = f"{args.base_name}-drift-publisher"
        publisher = packaged_function(
            f"{name}-publisher",
            function_resource_name=f"{name}-publisher",
            setting=packaged,
            parent=self,
            function_name=publisher_name,
            description="Merges a big drift window's parts and publishes its metrics once",
            handler="monitoring.scaleout.publish_handler",
            policy=publisher_policy(self.scope, publisher_name, publications.arn),
            environment={"PUBLICATIONS_TABLE_NAME": publications.name},
            timeout=PUBLISHER_TIMEOUT_SECONDS,
            memory_size=PUBLISHER_MEMORY_MB,
        )
        machine = self._state_machine(worker.arn, publisher.arn)
        self.failed_runs_alarm_arn = metric_alarm(
            f"{name}-failed-runs",
            engine_alarm_specs.scaleout_failed_spec(args.base_name, args.region),
            actions={alarm_specs.NOTIFY: args.alarm_topic_arn},
            opts=child,
            placeholders={"partition": args.partition, "account_id": args.account_id},
        ).arn
        self.state_machine_arn = machine.arn
        self.publications_table_name = publications.name
        self.planner_environment = {
            "SCALEOUT_STATE_MACHINE_ARN": machine.arn,
            "SCALEOUT_BUCKET": args.artifacts_bucket,
            "SCALEOUT_SINGLE_MAX_BYTES": str(SINGLE_MAX_BYTES),
            "SCALEOUT_PART_BYTES": str(PART_BYTES),
            "SCALEOUT_PART_OBJECTS": str(PART_OBJECTS),
        }
        self.register_outputs(
            {
                "state_machine_arn": self.state_machine_arn,
                "publications_table_name": self.publications_table_name,
            }
        )

    def _state_machine(
        self, worker_arn: pulumi.Output[str], publisher_arn: pulumi.Output[str]
    ) -> aws.sfn.StateMachine:
        a = self._args
        child = pulumi.ResourceOptions(parent=self)
        name = state_machine_name(a.base_name)
        role = iam.role(
            f"{self._name}-state-machine-role",
            role_name=name,
            description="The drift scale-out state machine: child workflows, the run manifest, its functions",
            trust_policy=iam.service_trust_policy(
                iam.service_principal("states", a.region, parent=self), a.account_id
            ),
            inline_policy=state_machine_policy(self.scope, [worker_arn, publisher_arn]),
            permissions_boundary=a.permissions_boundary_arn,
            parent=self,
        )
        # The /aws/vendedlogs/ prefix keeps CloudWatch Logs' resource policy small (Step Functions docs).
        logs = aws.cloudwatch.LogGroup(
            f"{self._name}-state-machine-logs",
            aws.cloudwatch.LogGroupArgs(
                name=f"/aws/vendedlogs/states/{name}",
                retention_in_days=a.log_retention_days,
                kms_key_id=a.key_arn,
            ),
            opts=child,
        )
        return aws.sfn.StateMachine(
            f"{self._name}-state-machine",
            aws.sfn.StateMachineArgs(
                name=name,
                type="STANDARD",
                role_arn=role.arn,
                definition=pulumi.Output.json_dumps(
                    state_machine_definition(
                        worker_arn=worker_arn, publisher_arn=publisher_arn, max_concurrency=a.max_concurrency
                    ),
                    sort_keys=True,
                ),
                logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                    level="ERROR",
                    include_execution_data=False,
                    log_destination=pulumi.Output.concat(logs.arn, ":*"),
                ),
                encryption_configuration=aws.sfn.StateMachineEncryptionConfigurationArgs(
                    type="CUSTOMER_MANAGED_KMS_KEY",
                    kms_key_id=a.key_arn,
                    kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
                ),
                publish=False,
            ),
            opts=child,
        )

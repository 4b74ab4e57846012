"""Drift scale-out: a Step Functions state machine whose Distributed Map measures a big window on many
workers, and whose reduce step merges their partial counts and publishes the window once.

The runtime is `monitoring/scaleout.py`; docs/decisions.md, "Drift at scale: splitting a window", says why.
The scheduled drift engine (infra/drift_engine.py) is the planner: its handler is `monitoring.scaleout.handler`,
with `planner_environment` and `planner_statements` on its function and role; it starts the state machine for
windows over the single-invocation budget and measures smaller ones itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import alarm_specs, iam
from infra.alarms import metric_alarm
from infra.event_function import FunctionCode, PackagedCode, packaged_function
from infra.packaging import LAMBDA_PYTHON_VERSION
from monitoring import metrics, scaleout

LAMBDA_RUNTIME = f"python{LAMBDA_PYTHON_VERSION}"
# Lambda allocates CPU in proportion to memory: 1,769 MB is one full vCPU (the engine is single-threaded).
WORKER_MEMORY_MB = 1769
# A part is sized for about four minutes of work (benchmarks/drift_scaleout.py); this leaves room for a
# slow container. Child workflows are STANDARD, so no five-minute Express limit applies.
WORKER_TIMEOUT_SECONDS = 600
# Shorter than the publication lease (monitoring.scaleout.PUBLISH_LEASE_SECONDS), so a dead holder's claim
# is only taken over once its invocation is certainly gone.
PUBLISHER_TIMEOUT_SECONDS = 300
PUBLISHER_MEMORY_MB = 1024
# Parallel workers: far below Lambda's default account concurrency (1,000) and the Map's 10,000.
MAX_CONCURRENCY = 100
# A whole run (map and reduce) gives up after this long, which counts as ExecutionsTimedOut.
EXECUTION_TIMEOUT_SECONDS = 3600
# STANDARD children: exactly-once item runs with a history to debug; a run has at most MAX_PARTS items.
CHILD_EXECUTION_TYPE = "STANDARD"
# The transient errors of the Lambda service the Step Functions docs recommend retrying on every invoke.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
# Step Functions: data key reuse period of a customer managed key, 60-900 seconds.
KMS_DATA_KEY_REUSE_SECONDS = 300
# The vended-logs delivery actions the state machine role needs; AWS offers no resource to scope them to
# (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html, "IAM policies for logging").
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)
# Single-invocation and per-part budgets (bytes of capture), sized by benchmarks/drift_scaleout.py.
SINGLE_MAX_BYTES = scaleout.DEFAULT_SINGLE_MAX_BYTES
PART_BYTES = scaleout.DEFAULT_PART_BYTES
PART_OBJECTS = scaleout.DEFAULT_PART_OBJECTS


def state_machine_name(base_name: str) -> str:
    return alarm_specs.scaleout_state_machine_name(base_name)


def _retry(errors: Sequence[str], interval: int, attempts: int, backoff: float) -> dict[str, Any]:
    return {
        "ErrorEquals": list(errors),
        "IntervalSeconds": interval,
        "MaxAttempts": attempts,
        "BackoffRate": backoff,
    }


def _invoke(function_arn: pulumi.Input[str], timeout: int) -> dict[str, Any]:
    """A Lambda task (optimised integration) whose payload is the state input."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        "TimeoutSeconds": timeout,
    }


def state_machine_definition(
    *,
    worker_arn: pulumi.Input[str],
    publisher_arn: pulumi.Input[str],
    max_concurrency: int = MAX_CONCURRENCY,
) -> dict[str, Any]:
    """The ASL document: a Distributed Map over the run's manifest, then one publishing step.

    The execution input is `monitoring.scaleout.RunSpec.to_json()`; every part's result goes to S3, so the
    map keeps only each part's number and passes its input on (ResultPath null) to the publishing step.
    """
    measure = {
        **_invoke(worker_arn, WORKER_TIMEOUT_SECONDS + 30),
        "ResultSelector": {"part.$": "$.Payload.part"},
        "Retry": [_retry(LAMBDA_SERVICE_ERRORS, 2, 6, 2.0)],
        "End": True,
    }
    publish = {
        **_invoke(publisher_arn, PUBLISHER_TIMEOUT_SECONDS + 30),
        "ResultSelector": {
            "status.$": "$.Payload.status",
            "records_analyzed.$": "$.Payload.records_analyzed",
        },
        "Retry": [
            _retry(LAMBDA_SERVICE_ERRORS, 2, 6, 2.0),
            # Another attempt holds the window's claim: wait out its lease, never publish alongside it.
            _retry(["PublicationInProgress"], 60, 8, 1.5),
        ],
        "End": True,
    }
    return {
        "Comment": "Drift of one capture window measured by parallel workers, merged and published once",
        "TimeoutSeconds": EXECUTION_TIMEOUT_SECONDS,
        "StartAt": "MeasureParts",
        "States": {
            "MeasureParts": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.manifest_key"},
                },
                "ItemSelector": {"run.$": "$", "part.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": CHILD_EXECUTION_TYPE},
                    "StartAt": "MeasurePart",
                    "States": {"MeasurePart": measure},
                },
                "MaxConcurrency": max_concurrency,
                # One lost part would make the merge inexact: any failed part fails the run (and alarms).
                # A number (0-100); written as 0.0, which the ASL grammar types as a percentage.
                "ToleratedFailurePercentage": 0.0,
                "ResultPath": None,
                "Next": "Publish",
            },
            "Publish": publish,
        },
    }


@dataclass(frozen=True)
class ScaleoutScope:
    """What the scale-out's roles may touch: the stack's capture, the baseline, the run prefix, the key."""

    partition: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    base_name: str
    capture_bucket_arn: pulumi.Input[str]
    capture_prefix: str
    artifacts_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]

    def arn(self, service: str, resource: str) -> pulumi.Output[str]:
        return pulumi.Output.format(
            "arn:{0}:{1}:{2}:{3}:{4}", self.partition, service, self.region, self.account_id, resource
        )

    @property
    def state_machine_arn(self) -> pulumi.Output[str]:
        # Built from the name: the role must name the state machine before the state machine exists.
        return self.arn("states", f"stateMachine:{state_machine_name(self.base_name)}")

    def run_objects(self) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.artifacts_bucket_arn, "/", scaleout.RUN_PREFIX, "/*")

    def logs(self, function_name: str) -> iam.Statement:
        group = self.arn("logs", f"log-group:/aws/lambda/{function_name}")
        return iam.allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [pulumi.Output.concat(group, ":log-stream:*")],
        )


def _list_runs(scope: ScaleoutScope) -> iam.Statement:
    # Without ListBucket, S3 answers a missing key with 403 instead of 404 (GetObject API reference), and a
    # missing partial must read as missing.
    return iam.allow(
        "ListRunObjects",
        ["s3:ListBucket"],
        [scope.artifacts_bucket_arn],
        {"StringLike": {"s3:prefix": [scaleout.RUN_PREFIX, f"{scaleout.RUN_PREFIX}/*"]}},
    )


def worker_policy(scope: ScaleoutScope, function_name: str) -> dict[str, Any]:
    """One Distributed Map item: read its capture objects and the baseline, write its partial."""
    return iam.document(
        iam.allow(
            "ReadCapturedTraffic",
            ["s3:GetObject"],
            [pulumi.Output.concat(scope.capture_bucket_arn, "/", scope.capture_prefix, "/*")],
        ),
        iam.allow(
            "ReadModelBaseline",
            ["s3:GetObject"],
            [pulumi.Output.concat(scope.artifacts_bucket_arn, "/", iam.MODELS_PREFIX, "/*")],
        ),
        iam.allow("WritePartials", ["s3:PutObject"], [scope.run_objects()]),
        # Both buckets are SSE-KMS with the stack key: reads decrypt, writes generate a data key.
        iam.allow("UseStackKeyForObjects", ["kms:Decrypt", "kms:GenerateDataKey"], [scope.key_arn]),
        scope.logs(function_name),
    )


def publisher_policy(
    scope: ScaleoutScope, function_name: str, publications_table_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """The reduce step: read the manifest and partials, claim the window, publish its metrics."""
    return iam.document(
        _list_runs(scope),
        iam.allow(
            "ReadRunAndBaseline",
            ["s3:GetObject"],
            [
                scope.run_objects(),
                pulumi.Output.concat(scope.artifacts_bucket_arn, "/", iam.MODELS_PREFIX, "/*"),
            ],
        ),
        iam.allow("DecryptStackObjects", ["kms:Decrypt"], [scope.key_arn]),
        iam.allow(
            "ClaimWindowPublication",
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
            [publications_table_arn],
        ),
        # PutMetricData has no resource to scope to; the namespace condition is the scope.
        iam.allow(
            "PublishDriftMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}},
        ),
        # GetMetricData (the endpoint's Invocations, for capture coverage) supports no resource or condition.
        iam.allow("ReadEndpointInvocations", ["cloudwatch:GetMetricData"], ["*"]),
        scope.logs(function_name),
    )


def state_machine_policy(scope: ScaleoutScope, function_arns: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """The Distributed Map's own needs (https://docs.aws.amazon.com/step-functions/latest/dg/
    iam-policies-eg-dist-map.html): child workflows of itself, the manifest, the two functions."""
    machine = state_machine_name(scope.base_name)
    return iam.document(
        iam.allow("RunChildWorkflows", ["states:StartExecution"], [scope.state_machine_arn]),
        iam.allow(
            "ManageChildWorkflows",
            ["states:DescribeExecution", "states:StopExecution"],
            # Child executions are execution:<machine>/<map run label>:<id>; the docs grant "<machine>/*",
            # written here with the ":" that the execution ARN format (and parliament) requires. The
            # Service Authorization Reference lists DescribeExecution on express executions too: this
            # machine's only.
            [
                scope.arn("states", f"execution:{machine}/*:*"),
                scope.arn("states", f"express:{machine}:*:*"),
            ],
        ),
        iam.allow("ReadManifest", ["s3:GetObject"], [scope.run_objects()]),
        iam.allow(
            "InvokeScaleoutFunctions",
            ["lambda:InvokeFunction"],
            [arn for function in function_arns for arn in (function, pulumi.Output.concat(function, ":*"))],
        ),
        # The manifest is SSE-KMS with the stack key: reading it decrypts.
        iam.allow("DecryptManifest", ["kms:Decrypt"], [scope.key_arn]),
        # The state machine's definition and history are encrypted with the stack key, in its own context.
        iam.allow(
            "EncryptOwnExecutions",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [scope.key_arn],
            {"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": scope.state_machine_arn}},
        ),
        iam.allow("DeliverExecutionLogs", list(LOG_DELIVERY_ACTIONS), ["*"]),
        # With an encrypted state machine, its role makes the data keys the log delivery uses, in the logs'
        # context (https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html, step 3;
        # the page writes the "arn:...:logs:<region>:<account>:*" value under StringEquals, which would only
        # match that literal string: StringLike matches it and every log ARN of the account and region).
        iam.allow(
            "EncryptExecutionLogs",
            ["kms:GenerateDataKey"],
            [scope.key_arn],
            {"StringLike": {"kms:EncryptionContext:SourceArn": scope.arn("logs", "*")}},
        ),
    )


def planner_statements(scope: ScaleoutScope) -> list[iam.Statement]:
    """What the scheduled engine's role needs to start a distributed run (for the lead to add to it)."""
    return [
        iam.allow("StartDistributedRuns", ["states:StartExecution"], [scope.state_machine_arn]),
        iam.allow("WriteRunManifests", ["s3:PutObject"], [scope.run_objects()]),
        iam.allow("EncryptRunManifests", ["kms:GenerateDataKey"], [scope.key_arn]),
        # The execution input is encrypted with the state machine's key, in the state machine's context.
        iam.allow(
            "EncryptDistributedRunInput",
            ["kms:GenerateDataKey"],
            [scope.key_arn],
            {"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": scope.state_machine_arn}},
        ),
    ]


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
            alarm_specs.scaleout_failed_spec(args.base_name, args.region),
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

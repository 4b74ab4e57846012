"""The drift scale-out's state machine, its roles, log groups and alarm, against AWS's docs and models."""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from infra import drift_scaleout, scaleout_definition
from infra.alarm_specs import drift_alarm_prefix
from infra.scaleout_definition import state_machine_definition, state_machine_name
from infra.scaleout_policies import LOG_DELIVERY_ACTIONS
from monitoring import scaleout
from tests.infra.aws_models import assert_valid_request, enum, parliament_definition, service_model
from tests.infra.conftest import recording_of
from tests.infra.harness import ACCOUNT_ID, Recording, stack_names

STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
WORKER = "arn:aws:lambda:eu-west-1:123456789012:function:sagestack-dev-drift-worker"
PUBLISHER = "arn:aws:lambda:eu-west-1:123456789012:function:sagestack-dev-drift-publisher"


def definition() -> dict[str, Any]:
    return state_machine_definition(worker_arn=WORKER, publisher_arn=PUBLISHER)


def map_state() -> dict[str, Any]:
    return dict(definition()["States"]["MeasureParts"])


# ---- the ASL document, per https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html ----


def test_the_map_runs_in_distributed_mode_with_a_documented_child_execution_type() -> None:
    # state-map-distributed.html: ItemProcessor.ProcessorConfig {Mode: DISTRIBUTED, ExecutionType: STANDARD|EXPRESS}
    config = map_state()["ItemProcessor"]["ProcessorConfig"]
    assert config["Mode"] == "DISTRIBUTED"
    assert config["ExecutionType"] in enum("stepfunctions", "StateMachineType")


def test_the_map_reads_its_parts_from_the_json_manifest_the_planner_writes() -> None:
    # input-output-itemreader.html: a JSON array in S3 is read with arn:aws:states:::s3:getObject, InputType JSON
    reader = map_state()["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "JSON"}
    # ...from the run's execution input, whose fields RunSpec.to_json writes.
    assert reader["Parameters"] == {"Bucket.$": "$.bucket", "Key.$": "$.manifest_key"}
    spec = scaleout.RunSpec.from_json(
        {
            "endpoint": "e",
            "variant": "v",
            "window": {"start": "2026-11-28T02:00:00+00:00", "end": "2026-11-28T03:00:00+00:00"},
            "scheduled": "2026-11-28T03:20:00+00:00",
            "capture_bucket": "c",
            "bucket": "b",
            "parts": 3,
            "model": {"url": "s3://b/models/m.tar.gz", "etag": "x"},
            "sampling_percent": 100,
        }
    ).to_json()
    assert {"bucket", "manifest_key"} <= set(spec)
    # Each worker gets {run, part}: the shape monitoring.scaleout.measure_part reads (itemselector.html).
    assert map_state()["ItemSelector"] == {"run.$": "$", "part.$": "$$.Map.Item.Value"}


def test_concurrency_and_failure_tolerance_are_within_the_documented_ranges() -> None:
    state = map_state()
    # state-map-distributed.html: up to 10,000 parallel child workflow executions.
    assert 1 <= state["MaxConcurrency"] <= 10_000
    # ToleratedFailurePercentage: 0-100; one failed part must fail the run (the merge would be inexact).
    assert state["ToleratedFailurePercentage"] == 0
    # Parts store their results in S3; the Map passes its own input on to the publishing step.
    assert state["ResultPath"] is None and state["Next"] == "Publish"


def test_every_lambda_task_retries_the_lambda_service_errors_aws_recommends() -> None:
    # bp-lambda-serviceexception.html: retry Lambda.ServiceException, AWSLambdaException, SdkClientException.
    documented = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"}
    tasks = [map_state()["ItemProcessor"]["States"]["MeasurePart"], definition()["States"]["Publish"]]
    for task in tasks:
        assert task["Resource"] == "arn:aws:states:::lambda:invoke"
        retried = {error for rule in task["Retry"] for error in rule["ErrorEquals"]}
        assert documented <= retried
        assert "States.ALL" not in retried, "a corrupt or missing partial must fail the run, not loop"


def test_the_publish_step_waits_out_a_live_claim_instead_of_publishing_alongside_it() -> None:
    # A Python Lambda's error name is its exception's class name (Lambda developer guide, python-exceptions).
    rule = next(
        r for r in definition()["States"]["Publish"]["Retry"] if r["ErrorEquals"] == ["PublicationInProgress"]
    )
    assert scaleout.PublicationInProgress.__name__ == "PublicationInProgress"
    waited = sum(rule["IntervalSeconds"] * rule["BackoffRate"] ** n for n in range(rule["MaxAttempts"]))
    assert waited > scaleout.PUBLISH_LEASE_SECONDS
    # The lease outlives any invocation of the publisher, so a claim is only taken over from a dead one.
    assert scaleout_definition.PUBLISHER_TIMEOUT_SECONDS < scaleout.PUBLISH_LEASE_SECONDS


def test_an_independent_asl_parser_accepts_the_document_and_rejects_a_broken_twin() -> None:
    # moto's Step Functions parser (LocalStack's ANTLR grammar of the Amazon States Language).
    AmazonStateLanguageParser.parse(json.dumps(definition()))
    broken = definition()
    broken["States"]["MeasureParts"]["ItemProcessor"]["ProcessorConfig"]["Mode"] = "DISTRIBUTD"
    with pytest.raises(Exception, match=r"DISTRIBUTED"):
        AmazonStateLanguageParser.parse(json.dumps(broken))


def test_the_task_handlers_name_functions_of_the_runtime_module() -> None:
    for handler in ("monitoring.scaleout.measure_part_handler", "monitoring.scaleout.publish_handler"):
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


# ---- the recorded resources of every stack that runs the Lambda engine ----


def scaleout_resources(recording: Recording) -> list[Any]:
    found = [r for r in recording.resources if r.name.startswith("drift-scaleout")]
    if not found:
        pytest.skip(f"{recording.stack}: no Lambda drift engine, so no scale-out")
    return found


def named(recording: Recording, name: str) -> Any:
    return next(r for r in scaleout_resources(recording) if r.name == name)


def state_machine_arn(recording: Recording, name: str) -> str:
    region = named(recording, "drift-scaleout-state-machine").state["arn"].split(":")[3]
    return f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"


def test_the_state_machine_request_is_valid_for_the_step_functions_api(recording: Recording) -> None:
    machine = named(recording, "drift-scaleout-state-machine")
    inputs = machine.inputs
    logging, encryption = inputs["loggingConfiguration"], inputs["encryptionConfiguration"]
    request = {
        "name": inputs["name"],
        "definition": inputs["definition"],
        "roleArn": named(recording, "drift-scaleout-state-machine-role").state["arn"],
        "type": inputs["type"],
        "loggingConfiguration": {
            "level": logging["level"],
            "includeExecutionData": logging["includeExecutionData"],
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": logging["logDestination"]}}],
        },
        "encryptionConfiguration": {
            "type": encryption["type"],
            "kmsKeyId": encryption["kmsKeyId"],
            "kmsDataKeyReusePeriodSeconds": int(encryption["kmsDataKeyReusePeriodSeconds"]),
        },
        "publish": inputs["publish"],
    }
    assert_valid_request("stepfunctions", "CreateStateMachine", request)
    # botocore's model: KmsDataKeyReusePeriodSeconds is 60-900 (so is the provider's IntBetween(60, 900)).
    assert 60 <= request["encryptionConfiguration"]["kmsDataKeyReusePeriodSeconds"] <= 900
    assert encryption["type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert encryption["kmsKeyId"] == recording.one("aws:kms/key:Key").state["arn"]


def test_the_state_machine_arguments_pass_the_providers_validation(recording: Recording) -> None:
    inputs = named(recording, "drift-scaleout-state-machine").inputs
    # terraform-provider-aws internal/service/sfn/state_machine.go: name 1-80 of [0-9A-Za-z_-],
    # definition at most 1,048,576 characters, publish defaults to false (no versions).
    assert re.fullmatch(r"[0-9A-Za-z_-]{1,80}", inputs["name"])
    assert inputs["name"] == state_machine_name(recording.outputs["base_name"])
    assert len(inputs["definition"]) <= 1024 * 1024
    assert inputs["publish"] is False
    # The planner's retry relies on StartExecution being idempotent, which botocore documents only for
    # STANDARD workflows ("StartExecution isn't idempotent for EXPRESS workflows").
    docs = service_model("stepfunctions").operation_model("StartExecution").documentation
    assert "is idempotent for <code>STANDARD</code> workflows" in docs
    assert inputs["type"] == "STANDARD"


def test_the_state_machine_logs_to_its_own_encrypted_log_group_with_retention(recording: Recording) -> None:
    inputs = named(recording, "drift-scaleout-state-machine").inputs
    group = named(recording, "drift-scaleout-state-machine-logs")
    # botocore CloudWatchLogsLogGroup.logGroupArn: "The ARN must end with :*".
    assert inputs["loggingConfiguration"]["logDestination"] == f"{group.state['arn']}:*"
    assert inputs["loggingConfiguration"]["level"] in enum("stepfunctions", "LogLevel")
    assert group.inputs["name"].startswith("/aws/vendedlogs/states/")
    for name in (
        "drift-scaleout-state-machine-logs",
        "drift-scaleout-worker-logs",
        "drift-scaleout-publisher-logs",
    ):
        logs = named(recording, name).inputs
        assert (
            logs["retentionInDays"] >= 1 and logs["kmsKeyId"] == recording.one("aws:kms/key:Key").state["arn"]
        )


def role_statements(recording: Recording, role: str) -> dict[str, dict[str, Any]]:
    document = json.loads(named(recording, role).inputs["inlinePolicies"][0]["policy"])
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_the_state_machine_role_grants_what_a_distributed_map_needs_and_no_more(recording: Recording) -> None:
    statements = role_statements(recording, "drift-scaleout-state-machine-role")
    name = named(recording, "drift-scaleout-state-machine").inputs["name"]
    own = state_machine_arn(recording, name)
    # iam-policies-eg-dist-map.html: StartExecution on the state machine itself for its child workflows,
    # DescribeExecution/StopExecution on its executions.
    assert statements["RunChildWorkflows"]["Action"] == ["states:StartExecution"]
    assert statements["RunChildWorkflows"]["Resource"] == [own]
    assert statements["ManageChildWorkflows"]["Resource"] == [
        own.replace(":stateMachine:", ":execution:") + "/*:*",
        own.replace(":stateMachine:", ":express:") + ":*:*",
    ]
    functions = [named(recording, f"drift-scaleout-{key}").state["arn"] for key in ("worker", "publisher")]
    assert set(statements["InvokeScaleoutFunctions"]["Resource"]) == {
        arn for function in functions for arn in (function, f"{function}:*")
    }
    artifacts = next(r for r in recording.of_type("aws:s3/bucket:Bucket") if r.name == "storage-artifacts")
    assert statements["ReadManifest"]["Resource"] == [f"{artifacts.state['arn']}/{scaleout.RUN_PREFIX}/*"]
    context = statements["EncryptOwnExecutions"]["Condition"]["StringEquals"]
    assert context == {"kms:EncryptionContext:aws:states:stateMachineArn": own}


def test_log_delivery_is_granted_on_every_resource_only_because_aws_offers_none(recording: Recording) -> None:
    # cw-logs.html "IAM policies for logging": these eight actions, on "*".
    assert set(LOG_DELIVERY_ACTIONS) == {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
    statement = role_statements(recording, "drift-scaleout-state-machine-role")["DeliverExecutionLogs"]
    assert statement["Resource"] == ["*"]
    for action in LOG_DELIVERY_ACTIONS:
        # The Service Authorization Reference (parliament's copy) lists no resource type for any of them.
        privilege = parliament_definition("logs", action.split(":")[1])
        assert all(not r["resource_type"] for r in privilege["resource_types"]), action


def key_statements(recording: Recording) -> dict[str, dict[str, Any]]:
    document = json.loads(recording.one("aws:kms/key:Key").inputs["policy"])
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_an_encrypted_state_machine_can_deliver_its_logs(recording: Recording) -> None:
    # https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html, step 3: a state machine
    # encrypted with a customer managed key that logs to CloudWatch Logs needs (a) kms:Decrypt for
    # delivery.logs.amazonaws.com in the key policy and (b) kms:GenerateDataKey for its role in the
    # "arn:aws:logs:<region>:<account>:*" SourceArn context.
    scaleout_resources(recording)
    delivery = key_statements(recording)["LogDeliveryForEncryptedStateMachines"]
    assert delivery["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert delivery["Action"] == "kms:Decrypt"
    region = named(recording, "drift-scaleout-state-machine").state["arn"].split(":")[3]
    role = role_statements(recording, "drift-scaleout-state-machine-role")["EncryptExecutionLogs"]
    assert role["Action"] == ["kms:GenerateDataKey"]
    assert role["Resource"] == [recording.one("aws:kms/key:Key").state["arn"]]
    pattern = role["Condition"]["StringLike"]["kms:EncryptionContext:SourceArn"]
    assert pattern == f"arn:aws:logs:{region}:{ACCOUNT_ID}:*"
    # StringLike matches the literal value the page shows and the account's log ARNs, nothing elsewhere.
    assert fnmatch.fnmatchcase(f"arn:aws:logs:{region}:{ACCOUNT_ID}:*", pattern)
    assert not fnmatch.fnmatchcase(f"arn:aws:logs:{region}:999999999999:log-group:x", pattern)


@pytest.mark.parametrize("stack", stack_names())
def test_only_stacks_with_a_state_machine_let_the_log_delivery_service_use_the_key(stack: str) -> None:
    recording = recording_of(stack)
    has_machine = any(r.type == STATE_MACHINE for r in recording.resources)
    assert ("LogDeliveryForEncryptedStateMachines" in key_statements(recording)) == has_machine


def test_workers_read_capture_and_write_only_partials_and_the_publisher_claims_before_it_publishes(
    recording: Recording,
) -> None:
    worker = role_statements(recording, "drift-scaleout-worker-role")
    artifacts = next(r for r in recording.of_type("aws:s3/bucket:Bucket") if r.name == "storage-artifacts")
    assert worker["WritePartials"]["Resource"] == [f"{artifacts.state['arn']}/{scaleout.RUN_PREFIX}/*"]
    assert not any(
        "dynamodb" in str(s["Action"]) or "cloudwatch" in str(s["Action"]) for s in worker.values()
    )
    publisher = role_statements(recording, "drift-scaleout-publisher-role")
    table = named(recording, "drift-scaleout-publications")
    assert publisher["ClaimWindowPublication"]["Resource"] == [table.state["arn"]]
    assert set(publisher["ClaimWindowPublication"]["Action"]) == {
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    }
    # S3 answers a missing key with 403 unless the caller may list (GetObject API reference): a missing
    # partial must read as NoSuchKey, so the publisher may list the run prefix.
    assert publisher["ListRunObjects"]["Condition"]["StringLike"]["s3:prefix"][0] == scaleout.RUN_PREFIX
    function = named(recording, "drift-scaleout-publisher").inputs
    assert function["environment"]["variables"] == {"PUBLICATIONS_TABLE_NAME": table.state["name"]}
    assert table.inputs["hashKey"] == scaleout.PUBLICATION_KEY
    assert table.inputs["ttl"] == {"attributeName": scaleout.PUBLICATION_TTL_ATTRIBUTE, "enabled": True}


def test_the_functions_run_the_packaged_monitoring_code_for_the_lambda_runtime(recording: Recording) -> None:
    scaleout_resources(recording)
    code = next(
        r for r in recording.resources if r.name == "monitoring-code"
    )  # the drift engine's upload too
    for key, handler in (("worker", "measure_part_handler"), ("publisher", "publish_handler")):
        function = named(recording, f"drift-scaleout-{key}").inputs
        assert function["handler"] == f"monitoring.scaleout.{handler}"
        assert (
            function["s3Key"] == code.inputs["key"] and function["runtime"] == drift_scaleout.LAMBDA_RUNTIME
        )
    # Lambda: 1,769 MB of memory is the equivalent of one vCPU (Lambda developer guide, memory settings).
    assert named(recording, "drift-scaleout-worker").inputs["memorySize"] == 1769


def test_failed_timed_out_or_aborted_runs_alarm_on_the_stacks_topic(recording: Recording) -> None:
    alarm = named(recording, "drift-scaleout-failed-runs").inputs
    name = scaleout_definition.state_machine_name(recording.outputs["base_name"])
    # service authorization reference, AWS Step Functions: arn:${Partition}:states:${Region}:${Account}:stateMachine:${Name}
    machine_arn = state_machine_arn(recording, name)
    # procedure-cw-metrics.html: AWS/States ExecutionsFailed, ExecutionsTimedOut, ExecutionsAborted by StateMachineArn.
    watched = {q["metric"]["metricName"]: q["metric"] for q in alarm["metricQueries"] if q.get("metric")}
    assert set(watched) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for metric in watched.values():
        assert metric["namespace"] == "AWS/States" and metric["dimensions"] == {
            "StateMachineArn": machine_arn
        }
    topic = recording.outputs["alarm_topic_arn"]
    assert alarm["alarmActions"] == [topic] and alarm["threshold"] == 1
    assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # A failed run is not drift: the alarm stays outside the prefix the retraining rule matches.
    assert not alarm["name"].startswith(drift_alarm_prefix(recording.outputs["base_name"]))

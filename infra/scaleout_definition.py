"""The drift scale-out state machine's definition as data (Amazon States Language): a Distributed Map of
worker invocations over a window's parts, then one publisher invocation that merges and publishes once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from infra import engine_alarm_specs

# A part is sized for about four minutes of work (benchmarks/drift_scaleout.py); this leaves room for a
# slow container. Child workflows are STANDARD, so no five-minute Express limit applies.
WORKER_TIMEOUT_SECONDS = 600


# Shorter than the publication lease (monitoring.scaleout.PUBLISH_LEASE_SECONDS), so a dead holder's claim
# is only taken over once its invocation is certainly gone.
PUBLISHER_TIMEOUT_SECONDS = 300


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


def state_machine_name(base_name: str) -> str:
    return engine_alarm_specs.scaleout_state_machine_name(base_name)


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

"""Lambda entry point of the retraining gate (EventBridge: drift alarm enters ALARM -> handler).

Starts the retraining pipeline at most once per alarm event, never while a run is active, and never
twice within the cooldown. Each feature's drift alarm fires separately, often in the same minute, so
several gates run at once: an atomic claim (a DynamoDB conditional write on one item per pipeline)
lets exactly one of them start an execution (docs/decisions.md, "Retraining gate concurrency").
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from monitoring.config import ConfigError, required, whole_number

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

ACTIVE_STATUSES = frozenset({"Executing", "Stopping"})
ALARM_EVENT_SOURCE = "aws.cloudwatch"
ALARM_EVENT_DETAIL_TYPE = "CloudWatch Alarm State Change"
MAX_COOLDOWN_MINUTES = 60 * 24 * 30
# SageMaker caps PipelineExecutionDescription at 3072 characters.
MAX_DESCRIPTION_LENGTH = 3072
# A claim blocks other alarms at least this long, even with no cooldown: long enough for a just-started
# execution to show up in ListPipelineExecutions, which the next gate checks.
MIN_CLAIM_MINUTES = 10

__all__ = ["ConfigError", "RetrainConfig", "gate", "handler"]


@dataclass(frozen=True)
class RetrainConfig:
    pipeline_name: str
    cooldown_minutes: int
    claim_table: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RetrainConfig:
        return cls(
            pipeline_name=required(environ, "PIPELINE_NAME"),
            cooldown_minutes=whole_number(environ, "COOLDOWN_MINUTES", 0, MAX_COOLDOWN_MINUTES),
            claim_table=required(environ, "CLAIM_TABLE_NAME"),
        )


def claim(dynamodb: Any, table: str, pipeline_name: str, event_id: str, now: datetime, minutes: int) -> bool:
    """Atomically take the pipeline's retraining slot for `event_id`; False if another event holds it.

    The same event may claim again (EventBridge and Lambda retry), so its retry still reaches the
    idempotent StartPipelineExecution.
    """
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"pipeline": {"S": pipeline_name}},
            UpdateExpression="SET claimed_at = :now, event_id = :event",
            ConditionExpression="attribute_not_exists(claimed_at) OR claimed_at < :free_before OR event_id = :event",
            ExpressionAttributeValues={
                ":now": {"N": str(now.timestamp())},
                ":free_before": {"N": str((now - timedelta(minutes=minutes)).timestamp())},
                ":event": {"S": event_id},
            },
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def release(dynamodb: Any, table: str, pipeline_name: str, event_id: str) -> None:
    """Give the slot back after a failed start, unless another event has taken it since."""
    with contextlib.suppress(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.delete_item(
            TableName=table,
            Key={"pipeline": {"S": pipeline_name}},
            ConditionExpression="event_id = :event",
            ExpressionAttributeValues={":event": {"S": event_id}},
        )


def client_request_token(event_id: str) -> str:
    """StartPipelineExecution idempotency token: one per EventBridge event, 64 characters (32-128 allowed)."""
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()


def execution_display_name(event_id: str) -> str:
    """Display name tying an execution to the alarm event that started it (lets retries find it)."""
    return f"drift-{client_request_token(event_id)[:32]}"


def _ignored(reason: str) -> dict[str, Any]:
    return {"action": "ignored", "reason": reason}


def _alarm_transition(event: object) -> tuple[dict[str, Any] | None, str]:
    """(detail, "") for a CloudWatch alarm entering ALARM, else (None, why it is not one)."""
    if not isinstance(event, Mapping):
        return None, f"event: expected an EventBridge event object, got {type(event).__name__}"
    if event.get("source") != ALARM_EVENT_SOURCE or event.get("detail-type") != ALARM_EVENT_DETAIL_TYPE:
        return None, (
            f"not a CloudWatch alarm state change (source={event.get('source')!r}, "
            f"detail-type={event.get('detail-type')!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return None, f"event.detail: expected an object, got {detail!r}"
    state = detail.get("state")
    value = state.get("value") if isinstance(state, Mapping) else None
    if value != "ALARM":
        return None, f"alarm state is {value!r}, not 'ALARM'"
    return dict(detail), ""


def _executions(sagemaker: Any, pipeline_name: str) -> list[dict[str, Any]]:
    paginator = sagemaker.get_paginator("list_pipeline_executions")
    summaries: list[dict[str, Any]] = []
    for page in paginator.paginate(PipelineName=pipeline_name, SortBy="CreationTime", SortOrder="Descending"):
        summaries.extend(page.get("PipelineExecutionSummaries", ()))
    return summaries


def gate(
    config: RetrainConfig, event: Mapping[str, Any], *, sagemaker: Any, now: datetime, dynamodb: Any = None
) -> dict[str, Any]:
    """Decide and act on one EventBridge event; returns what was done and why."""
    detail, why_not = _alarm_transition(event)
    if detail is None:
        return _ignored(why_not)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(
            f"event.id: expected the EventBridge event id (a non-empty string), got {event_id!r}"
        )
    alarm_name = str(detail.get("alarmName", "unknown alarm"))
    display_name = execution_display_name(event_id)
    executions = _executions(sagemaker, config.pipeline_name)
    decision: dict[str, Any] = {
        "alarm_name": alarm_name,
        "event_id": event_id,
        "pipeline_name": config.pipeline_name,
    }

    for execution in executions:
        if execution.get("PipelineExecutionDisplayName") == display_name:
            return {
                "action": "skipped",
                "reason": "this alarm event already started an execution",
                "pipeline_execution_arn": execution.get("PipelineExecutionArn"),
                **decision,
            }
    active = [e for e in executions if e.get("PipelineExecutionStatus") in ACTIVE_STATUSES]
    if active:
        return {
            "action": "skipped",
            "reason": f"an execution is {active[0]['PipelineExecutionStatus']}",
            "pipeline_execution_arn": active[0].get("PipelineExecutionArn"),
            **decision,
        }
    start_times = [e["StartTime"] for e in executions if isinstance(e.get("StartTime"), datetime)]
    if start_times:
        newest = max(start_times)
        cooldown_ends = newest + timedelta(minutes=config.cooldown_minutes)
        if now < cooldown_ends:
            return {
                "action": "skipped",
                "reason": f"cooldown: the newest execution started at {newest.isoformat()}, "
                f"retraining is allowed again from {cooldown_ends.isoformat()}",
                **decision,
            }

    state = detail.get("state", {})
    description = (
        f"Retraining started by CloudWatch alarm {alarm_name} entering ALARM "
        f"at {state.get('timestamp', '?')}: {state.get('reason', '')}"
    )[:MAX_DESCRIPTION_LENGTH]
    table = config.claim_table
    if table is not None:
        minutes = max(config.cooldown_minutes, MIN_CLAIM_MINUTES)
        if not claim(dynamodb, table, config.pipeline_name, event_id, now, minutes):
            return {"action": "skipped", "reason": "another alarm event claimed this retraining", **decision}
    try:
        response = sagemaker.start_pipeline_execution(
            PipelineName=config.pipeline_name,
            PipelineExecutionDisplayName=display_name,
            PipelineExecutionDescription=description,
            ClientRequestToken=client_request_token(event_id),
        )
    except Exception:
        if table is not None:
            release(dynamodb, table, config.pipeline_name, event_id)
        raise
    logger.info("started %s for alarm %s (event %s)", response["PipelineExecutionArn"], alarm_name, event_id)
    return {"action": "started", "pipeline_execution_arn": response["PipelineExecutionArn"], **decision}


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    config = RetrainConfig.from_env(os.environ)
    return gate(
        config,
        event,
        sagemaker=boto3.client("sagemaker"),
        now=datetime.now(UTC),
        dynamodb=boto3.client("dynamodb"),
    )

"""The retraining gate: moto's SageMaker for start/list, botocore Stubber for states moto never reports."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from monitoring.config import ConfigError
from monitoring.retrain import RetrainConfig, client_request_token, execution_display_name, gate, handler

PIPELINE = "sagestack-dev-retrain"
ALARM = "sagestack-dev-feature-drift"


def alarm_event(
    event_id: str = "6a7e8f1c-1111-4222-8333-444455556666", state: str = "ALARM", **overrides
) -> dict:
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-11-28T03:31:00Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{ALARM}"],
        "detail": {
            "alarmName": ALARM,
            "state": {
                "value": state,
                "reason": "Threshold Crossed: 1 datapoint [0.41] was greater than the threshold (0.2).",
                "timestamp": "2026-11-28T03:30:59.123+0000",
            },
            "previousState": {"value": "OK"},
        },
    }
    event.update(overrides)
    return event


@pytest.fixture
def sagemaker(aws: str):
    client = boto3.client("sagemaker")
    client.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn="arn:aws:iam::123456789012:role/sagestack-pipeline",
    )
    return client


def executions(client) -> list[dict]:
    return client.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]


def config(cooldown_minutes: int = 120) -> RetrainConfig:
    return RetrainConfig(pipeline_name=PIPELINE, cooldown_minutes=cooldown_minutes)


@pytest.mark.slow
def test_an_alarm_starts_one_execution_named_after_the_alarm(
    sagemaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("COOLDOWN_MINUTES", "120")
    monkeypatch.setenv("CLAIM_TABLE_NAME", CLAIMS)
    _claims_table()
    outcome = handler(alarm_event(), None)
    assert outcome["action"] == "started" and outcome["alarm_name"] == ALARM
    json.dumps(outcome)
    [execution] = executions(sagemaker)
    assert execution["PipelineExecutionArn"] == outcome["pipeline_execution_arn"]
    assert ALARM in execution["PipelineExecutionDescription"]
    assert execution["PipelineExecutionDisplayName"] == execution_display_name(alarm_event()["id"])


@pytest.mark.slow
def test_the_same_event_delivered_twice_starts_one_execution(sagemaker) -> None:
    now = datetime.now(UTC)
    assert gate(config(0), alarm_event(), sagemaker=sagemaker, now=now)["action"] == "started"
    again = gate(config(0), alarm_event(), sagemaker=sagemaker, now=now + timedelta(minutes=5))
    assert again["action"] == "skipped" and "already started" in again["reason"]
    assert len(executions(sagemaker)) == 1


@pytest.mark.slow
def test_a_new_alarm_within_the_cooldown_is_skipped_and_allowed_after_it(sagemaker) -> None:
    now = datetime.now(UTC)
    assert gate(config(120), alarm_event("event-1"), sagemaker=sagemaker, now=now)["action"] == "started"
    skipped = gate(config(120), alarm_event("event-2"), sagemaker=sagemaker, now=now + timedelta(minutes=30))
    assert skipped["action"] == "skipped" and skipped["reason"].startswith("cooldown")
    assert len(executions(sagemaker)) == 1
    later = gate(config(120), alarm_event("event-3"), sagemaker=sagemaker, now=now + timedelta(minutes=121))
    assert later["action"] == "started"
    assert len(executions(sagemaker)) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "event",
    [
        alarm_event(state="OK"),
        alarm_event(state="INSUFFICIENT_DATA"),
        alarm_event(source="aws.events", **{"detail-type": "Scheduled Event"}),
        {"detail": {"state": {"value": "ALARM"}}},
    ],
)
def test_events_that_are_not_an_alarm_entering_alarm_are_ignored(sagemaker, event: dict) -> None:
    outcome = gate(config(), event, sagemaker=sagemaker, now=datetime.now(UTC))
    assert outcome["action"] == "ignored" and outcome["reason"]
    assert executions(sagemaker) == []


def test_an_alarm_event_without_an_id_is_an_error() -> None:
    client = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with pytest.raises(ValueError, match=re.escape("event.id: expected the EventBridge event id")):
        gate(config(), alarm_event(event_id=""), sagemaker=client, now=datetime.now(UTC))


def _stubbed(summaries: list[dict]):
    client = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    stubber.add_response(
        "list_pipeline_executions",
        {"PipelineExecutionSummaries": summaries},
        {"PipelineName": PIPELINE, "SortBy": "CreationTime", "SortOrder": "Descending"},
    )
    return client, stubber


@pytest.mark.parametrize("status", ["Executing", "Stopping"])
def test_an_alarm_while_an_execution_is_active_is_skipped(status: str) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    client, stubber = _stubbed(
        [
            {
                "PipelineExecutionArn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p/execution/a1",
                "StartTime": old,
                "PipelineExecutionStatus": status,
            }
        ]
    )
    with stubber:
        outcome = gate(config(0), alarm_event(), sagemaker=client, now=datetime.now(UTC))
        stubber.assert_no_pending_responses()
    assert outcome["action"] == "skipped" and outcome["reason"] == f"an execution is {status}"


def test_the_start_request_carries_a_token_derived_from_the_event_id() -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    client, stubber = _stubbed(
        [
            {
                "PipelineExecutionArn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p/execution/a1",
                "StartTime": old,
                "PipelineExecutionStatus": "Failed",
            }
        ]
    )
    event = alarm_event("evt-42")
    token = hashlib.sha256(b"evt-42").hexdigest()
    stubber.add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p/execution/b2"},
        {
            "PipelineName": PIPELINE,
            "PipelineExecutionDisplayName": f"drift-{token[:32]}",
            "PipelineExecutionDescription": (
                f"Retraining started by CloudWatch alarm {ALARM} entering ALARM at 2026-11-28T03:30:59.123+0000: "
                "Threshold Crossed: 1 datapoint [0.41] was greater than the threshold (0.2)."
            ),
            "ClientRequestToken": token,
        },
    )
    with stubber:
        outcome = gate(config(60), event, sagemaker=client, now=datetime.now(UTC))
        stubber.assert_no_pending_responses()
    assert outcome["action"] == "started"
    assert client_request_token("evt-42") == token and 32 <= len(token) <= 128


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COOLDOWN_MINUTES": "60"}, "PIPELINE_NAME: required environment variable is missing"),
        (
            {"PIPELINE_NAME": PIPELINE, "COOLDOWN_MINUTES": "60"},
            "CLAIM_TABLE_NAME: required environment variable is missing",
        ),
        ({"PIPELINE_NAME": PIPELINE}, "COOLDOWN_MINUTES: required environment variable is missing"),
        (
            {"PIPELINE_NAME": PIPELINE, "COOLDOWN_MINUTES": "soon"},
            "COOLDOWN_MINUTES: expected a whole number from 0",
        ),
        (
            {"PIPELINE_NAME": PIPELINE, "COOLDOWN_MINUTES": "-5"},
            "COOLDOWN_MINUTES: expected a whole number from 0",
        ),
    ],
)
def test_bad_configuration_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        RetrainConfig.from_env(env)


CLAIMS = "sagestack-dev-retrain-claims"


def _claims_table():
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=CLAIMS,
        KeySchema=[{"AttributeName": "pipeline", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pipeline", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


class SlowListing:
    """A SageMaker client whose listing never shows a just-started execution (eventual consistency),
    and whose gates all list before any of them starts: the race of issue 10 item 9, made certain."""

    def __init__(self, gates: int) -> None:
        self.barrier = threading.Barrier(gates)
        self.started: list[str] = []
        self.lock = threading.Lock()

    def get_paginator(self, name: str):
        outer = self

        class Paginator:
            def paginate(self, **kwargs):
                outer.barrier.wait(timeout=30)
                return [{"PipelineExecutionSummaries": []}]

        return Paginator()

    def start_pipeline_execution(self, **kwargs) -> dict:
        with self.lock:
            self.started.append(kwargs["ClientRequestToken"])
        return {
            "PipelineExecutionArn": f"arn:aws:sagemaker:eu-west-1:1:pipeline/p/execution/{len(self.started)}"
        }


class AtomicWrites:
    """moto's DynamoDB evaluates condition expressions but does not apply each write atomically under
    concurrent requests; DynamoDB does ("conditional writes ... are atomic": docs.aws.amazon.com/amazondynamodb/
    latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate). One write at a time
    restores that guarantee and leaves the condition itself to moto."""

    def __init__(self, client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.exceptions = client.exceptions

    def update_item(self, **kwargs):
        with self._lock:
            return self._client.update_item(**kwargs)

    def delete_item(self, **kwargs):
        with self._lock:
            return self._client.delete_item(**kwargs)


def _race(gates: int, claim_table: str | None) -> tuple[SlowListing, list[dict]]:
    sagemaker = SlowListing(gates)
    dynamodb = AtomicWrites(boto3.client("dynamodb"))
    settings = RetrainConfig(pipeline_name=PIPELINE, cooldown_minutes=0, claim_table=claim_table)
    outcomes: list[dict] = []
    now = datetime.now(UTC)

    def run(number: int) -> None:
        outcome = gate(
            settings, alarm_event(f"event-{number}"), sagemaker=sagemaker, now=now, dynamodb=dynamodb
        )
        outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(gates)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sagemaker, outcomes


@pytest.mark.slow
def test_drift_alarms_firing_together_start_exactly_one_execution(aws: str) -> None:
    _claims_table()
    sagemaker, outcomes = _race(6, CLAIMS)
    assert len(sagemaker.started) == 1
    assert sorted(o["action"] for o in outcomes) == ["skipped"] * 5 + ["started"]
    assert {o["reason"] for o in outcomes if o["action"] == "skipped"} == {
        "another alarm event claimed this retraining"
    }


@pytest.mark.slow
def test_without_the_claim_the_same_race_starts_several_executions(aws: str) -> None:
    sagemaker, _ = _race(6, None)
    assert len(sagemaker.started) == 6


@pytest.mark.slow
def test_a_retried_event_may_claim_again_and_a_new_one_after_the_claim_expires(aws: str) -> None:
    from monitoring.retrain import MIN_CLAIM_MINUTES, claim

    dynamodb = _claims_table()
    now = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert claim(dynamodb, CLAIMS, PIPELINE, "a", now, 60)
    assert claim(dynamodb, CLAIMS, PIPELINE, "a", now + timedelta(minutes=1), 60), "the same event's retry"
    assert not claim(dynamodb, CLAIMS, PIPELINE, "b", now + timedelta(minutes=59), 60)
    assert claim(dynamodb, CLAIMS, PIPELINE, "b", now + timedelta(minutes=62), 60)
    assert MIN_CLAIM_MINUTES >= 1


@pytest.mark.slow
def test_a_failed_start_gives_the_claim_back(aws: str) -> None:
    dynamodb = _claims_table()

    class Failing(SlowListing):
        def start_pipeline_execution(self, **kwargs) -> dict:
            raise RuntimeError("ThrottlingException")

    settings = RetrainConfig(pipeline_name=PIPELINE, cooldown_minutes=60, claim_table=CLAIMS)
    with pytest.raises(RuntimeError):
        gate(settings, alarm_event("first"), sagemaker=Failing(1), now=datetime.now(UTC), dynamodb=dynamodb)
    outcome = gate(
        settings, alarm_event("second"), sagemaker=SlowListing(1), now=datetime.now(UTC), dynamodb=dynamodb
    )
    assert outcome["action"] == "started"

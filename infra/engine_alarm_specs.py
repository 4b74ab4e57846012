"""The alarms on the drift engine's plumbing, as data: its dead-letter queue (a run that failed after its
retries) and its distributed runs (a window split across workers that published nothing).
"""

from __future__ import annotations

from infra.alarm_model import AlarmSpec, MetricMath, Threshold, alarm_name
from monitoring import metrics

SQS_NAMESPACE = "AWS/SQS"
STATES_NAMESPACE = "AWS/States"


def dead_letter_queue_name(base_name: str) -> str:
    return f"{base_name}-monitoring-dead-letters"


def dead_letter_alarm_spec(base_name: str) -> AlarmSpec:
    ref = metrics.MetricRef(
        SQS_NAMESPACE,
        "ApproximateNumberOfMessagesVisible",
        (("QueueName", dead_letter_queue_name(base_name)),),
        "Count",
        "Maximum",
    )
    return AlarmSpec(
        key="monitoring-dead-letters",
        name=alarm_name(base_name, "monitoring-dead-letters"),
        description="A drift engine or retraining gate run failed after its retries (see the queue)",
        metric=ref,
        statistic="Maximum",
        comparison="GreaterThanOrEqualToThreshold",
        threshold=Threshold(1, "messages"),
        period=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data="notBreaching",
    )


def scaleout_state_machine_name(base_name: str) -> str:
    return f"{base_name}-drift-scaleout"


def scaleout_failed_spec(base_name: str, region: str) -> AlarmSpec:
    """A distributed drift run that failed, timed out or was aborted published nothing for its window.

    The dimension is the state machine's ARN; the account and partition are known only at deployment, so
    the value keeps `{partition}` and `{account_id}` placeholders the adapter fills in.
    """
    arn = f"arn:{{partition}}:states:{region}:{{account_id}}:stateMachine:{scaleout_state_machine_name(base_name)}"

    def runs(name: str) -> metrics.MetricRef:
        return metrics.MetricRef(STATES_NAMESPACE, name, (("StateMachineArn", arn),), "Count", "Sum")

    return AlarmSpec(
        # Not "<base>-drift-": that prefix asks the retraining gate to retrain.
        key="monitor-scaleout-failed",
        name=alarm_name(base_name, "monitor-scaleout-failed"),
        description="A distributed drift run failed, timed out or was aborted: its window published nothing",
        math=MetricMath(
            queries=(
                ("failed", runs("ExecutionsFailed")),
                ("timedout", runs("ExecutionsTimedOut")),
                ("aborted", runs("ExecutionsAborted")),
            ),
            expression="FILL(failed, 0) + FILL(timedout, 0) + FILL(aborted, 0)",
        ),
        comparison="GreaterThanOrEqualToThreshold",
        threshold=Threshold(1, "runs"),
        period=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data="notBreaching",  # no run, no failure: a small window never starts one
    )

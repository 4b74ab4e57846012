"""The stack's drift monitoring, wired: the scheduled drift engine, its scale-out for big windows, the retraining
gate, and the dead-letter queue their failed runs land in. Built by `infra.stack` for stacks that capture.
"""

from __future__ import annotations

import pulumi

from infra import drift_engine, iam_sharing, packaging, retraining_gate, scaleout_policies
from infra.alarms import moved_from_monitoring
from infra.dead_letters import DeadLetterQueue, DeadLetterQueueArgs
from infra.drift_engine import DriftEngine, DriftEngineArgs
from infra.drift_scaleout import DriftScaleout, DriftScaleoutArgs
from infra.event_function import FunctionCode, FunctionSetting
from infra.retraining_gate import RetrainingGate, RetrainingGateArgs
from infra.serving import CAPTURE_PREFIX, VARIANT_NAME, endpoint_name
from infra.settings_types import Settings
from infra.storage import Storage, upload_code
from infra.training import Training


def drift_monitoring(
    settings: Settings,
    *,
    parent: pulumi.Resource,
    account_id: pulumi.Output[str],
    partition: pulumi.Output[str],
    storage: Storage,
    training: Training,
    topic_arn: pulumi.Output[str],
    model_package_arns: tuple[pulumi.Input[str], ...],
    package_artifacts: iam_sharing.PackageArtifactsScope | None,
) -> list[pulumi.Output[str]]:
    """Dead-letter queue, drift engine and retraining gate; returns the ARNs of the alarms they add."""
    base, region, m = settings.base_name, settings.region, settings.monitoring
    opts = pulumi.ResourceOptions(parent=parent)
    archive = packaging.build_monitoring_archive()
    code = upload_code(
        "monitoring-code",
        archive=archive,
        unit="monitoring",
        bucket=storage.artifacts.name,
        parent=parent,
        aliases=[moved_from_monitoring("monitoring-lambda-code")],
    )
    dead_letters = DeadLetterQueue(
        "dead-letters",
        DeadLetterQueueArgs(
            base_name=base,
            region=region,
            account_id=account_id,
            partition=partition,
            key_arn=storage.key_arn,
            topic_arn=topic_arn,
            source_rule_names=(drift_engine.schedule_rule_name(base), retraining_gate.rule_name(base)),
        ),
        opts=opts,
    )
    function = FunctionSetting(
        region=region,
        code=FunctionCode(bucket=code.bucket, key=code.key, sha256=archive.sha256),
        key_arn=storage.key_arn,
        dead_letter_queue_arn=dead_letters.arn,
        log_retention_days=settings.log_retention_days,
        permissions_boundary_arn=settings.permissions_boundary_arn,
    )
    scaleout = DriftScaleout(
        "drift-scaleout",
        DriftScaleoutArgs(
            base_name=base,
            region=region,
            account_id=account_id,
            partition=partition,
            log_retention_days=settings.log_retention_days,
            permissions_boundary_arn=settings.permissions_boundary_arn,
            code=function.code,
            artifacts_bucket=storage.artifacts.name,
            artifacts_bucket_arn=storage.artifacts.arn,
            capture_bucket_arn=storage.capture.arn,
            capture_prefix=CAPTURE_PREFIX,
            key_arn=storage.key_arn,
            alarm_topic_arn=topic_arn,
        ),
        opts=opts,
    )
    engine = DriftEngine(
        "drift-engine",
        DriftEngineArgs(
            base_name=base,
            account_id=account_id,
            partition=partition,
            endpoint_name=endpoint_name(base),
            variant_name=VARIANT_NAME,
            schedule_minutes=m.schedule_minutes,
            thresholds=m.thresholds,
            capture_bucket=storage.capture.name,
            capture_bucket_arn=storage.capture.arn,
            capture_prefix=CAPTURE_PREFIX,
            capture_sampling_percent=settings.serving.capture_sampling_percent,
            artifacts_bucket_arn=storage.artifacts.arn,
            model_package_arns=model_package_arns,
            package_artifacts=package_artifacts,
            function=function,
            topic_arn=topic_arn,
            scaleout_environment=scaleout.planner_environment,
            scaleout_statements=scaleout_policies.planner_statements(scaleout.scope),
        ),
        opts=opts,
    )
    RetrainingGate(
        "retraining-gate",
        RetrainingGateArgs(
            base_name=base,
            account_id=account_id,
            partition=partition,
            pipeline_name=training.pipeline_name,
            pipeline_arn=training.pipeline_arn,
            cooldown_minutes=m.retrain_cooldown_minutes,
            function=function,
        ),
        opts=opts,
    )
    return [dead_letters.alarm_arn, *engine.alarm_arns, scaleout.failed_runs_alarm_arn]

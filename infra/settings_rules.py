"""The validation rules per area (training, serving, monitoring, cross-account access).

Each function reads its area's keys through a `ConfigReader`, records every problem it finds and returns
the area's typed settings; `infra/settings.py` calls them in order and raises once with every problem.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from infra.arn_patterns import ACCOUNT_ID, KMS_KEY_ARN, MODEL_PACKAGE_ARN
from infra.config_reader import ConfigReader
from infra.config_schema import PROJECT_NAME
from infra.settings_types import (
    MAX_DEPLOYMENT_SECONDS,
    AlarmThresholds,
    AutoscalingSettings,
    DeploymentSettings,
    Hyperparameters,
    MonitoringSettings,
    PackageArtifacts,
    ServerlessSettings,
    ServingSettings,
    TrainingSettings,
    deployment_seconds_needed,
)

DEPLOYMENT_STRATEGIES = ("all-at-once", "canary", "linear")
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
_S3_PREFIX = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9!_.*'()/-]*[A-Za-z0-9])?$")
_FRAMEWORK_VERSION = re.compile(r"[0-9]+\.[0-9]+-[0-9]+")  # ASCII: "\d" also takes other scripts' digits
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets)
_BUCKET_NAME = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ALLOWED_ACCOUNT_IDS_KEY = "aws:allowedAccountIds"


@cache
def _sagemaker_model() -> dict[str, Any]:
    # botocore's service model is the authority on valid instance types; its loader skips building a session.
    from botocore.loaders import Loader

    model: dict[str, Any] = Loader().load_service_model("sagemaker", "service-2")
    return model


def _sagemaker_enum(shape: str) -> frozenset[str]:
    return frozenset(_sagemaker_model()["shapes"][shape]["enum"])


def training_settings(r: ConfigReader) -> TrainingSettings:
    hyperparameters = Hyperparameters(
        estimator=str(r.hyperparameter("estimator")),
        n_estimators=int(r.hyperparameter("nEstimators")),
        max_depth=int(r.hyperparameter("maxDepth")),
        learning_rate=float(r.hyperparameter("learningRate")),
        regularization_c=float(r.hyperparameter("regularizationC")),
        min_samples_leaf=int(r.hyperparameter("minSamplesLeaf")),
        random_seed=int(r.hyperparameter("randomSeed")),
    )
    max_runtime = r.integer("trainingMaxRuntimeSeconds", 60, 432_000)
    spot = r.boolean("spotTraining")
    spot_wait = r.integer("spotMaxWaitSeconds", 60, 432_000)
    if spot and spot_wait < max_runtime:
        r.fail(
            "spotMaxWaitSeconds",
            spot_wait,
            f"at least trainingMaxRuntimeSeconds ({max_runtime}): SageMaker rejects a shorter wait",
        )
    return TrainingSettings(
        framework_version=r.string("frameworkVersion", _FRAMEWORK_VERSION, "an image version such as 1.9-0"),
        data_prefix=r.string("dataPrefix", _S3_PREFIX, "an S3 key prefix without leading or trailing '/'"),
        data_version=r.string(
            "dataVersion",
            re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"),
            "letters, digits, '.', '_' or '-' (up to 63)",
        ),
        instance_type=r.member(
            "trainingInstanceType",
            _sagemaker_enum("TrainingInstanceType"),
            "a SageMaker training instance type",
        ),
        volume_size_gb=r.integer("trainingVolumeSizeGb", 1, 16_384),
        max_runtime_seconds=max_runtime,
        spot=spot,
        spot_max_wait_seconds=spot_wait,
        network_isolation=r.boolean("trainingNetworkIsolation"),
        hyperparameters=hyperparameters,
        min_roc_auc=r.number("minRocAuc", 0.5, 1.0),
        run=r.integer("trainingRun", 1, 1_000_000),
    )


def serving_settings(r: ConfigReader) -> ServingSettings:
    serverless = r.boolean("serverless")
    instance_type = r.member(
        "endpointInstanceType",
        _sagemaker_enum("ProductionVariantInstanceType"),
        "a SageMaker endpoint instance type",
    )
    instance_count = r.integer("endpointInstanceCount", 1, 100)
    memory = r.integer("serverlessMemoryMb", 1024, 6144)
    if memory % 1024:
        r.fail("serverlessMemoryMb", memory, "a multiple of 1024 from 1024 to 6144")
    concurrency = r.integer("serverlessMaxConcurrency", 1, 200)
    isolation = r.boolean("servingNetworkIsolation")
    package = r.string(
        "approvedModelPackageArn",
        MODEL_PACKAGE_ARN,
        "a versioned model package ARN (arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>) "
        'or ""',
        optional=True,
    )
    sampling = r.integer("captureSamplingPercent", 0, 100)
    strategy = r.choice("deploymentStrategy", DEPLOYMENT_STRATEGIES)
    canary = r.integer("canaryInstances", 1, 100)
    linear = r.integer("linearStepInstances", 1, 100)
    deployment = DeploymentSettings(
        strategy=strategy,  # type: ignore[arg-type]  # checked by choice()
        canary_instances=canary,
        linear_step_instances=linear,
        traffic_wait_seconds=r.integer("trafficWaitSeconds", 0, 3600),
        termination_wait_seconds=r.integer("terminationWaitSeconds", 0, 3600),
    )
    min_instances = r.integer("autoscalingMinInstances", 1, 100)
    max_instances = r.integer("autoscalingMaxInstances", 1, 100)
    target = r.integer("autoscalingTargetInvocations", 1, 100_000)

    # AWS constraints that only surface mid-deployment on a real account; caught here instead.
    if serverless:
        if sampling:
            r.fail(
                "captureSamplingPercent",
                sampling,
                "0 for a serverless endpoint (serverless endpoints cannot capture data)",
            )
        if isolation:
            r.fail("servingNetworkIsolation", "true", "false for a serverless endpoint (not supported there)")
        if strategy != "all-at-once":
            r.fail(
                "deploymentStrategy",
                strategy,
                "all-at-once for a serverless endpoint (traffic shifting needs instances)",
            )
    else:
        if strategy == "canary" and canary * 2 > instance_count:
            r.fail(
                "canaryInstances",
                canary,
                f"at most half of endpointInstanceCount ({instance_count}): a canary may take at most 50% of "
                "the fleet, so canary deployments need at least 2 instances",
            )
        if strategy == "linear" and not (instance_count * 0.1 <= linear <= instance_count * 0.5):
            r.fail(
                "linearStepInstances",
                linear,
                f"10-50% of endpointInstanceCount ({instance_count}) instances per step, so linear "
                "deployments need at least 2 instances",
            )
        needed = deployment_seconds_needed(deployment, instance_count)
        if needed > MAX_DEPLOYMENT_SECONDS:
            r.fail(
                "trafficWaitSeconds",
                deployment.traffic_wait_seconds,
                f"a baking time that fits a deployment in the stack's {MAX_DEPLOYMENT_SECONDS} s: this "
                f"{strategy} deployment would need {needed} s (provisioning, each step's wait, termination wait)",
            )
        if not min_instances <= instance_count <= max_instances:
            r.fail(
                "endpointInstanceCount",
                instance_count,
                f"between autoscalingMinInstances ({min_instances}) and autoscalingMaxInstances ({max_instances})",
            )

    return ServingSettings(
        instance_type=instance_type,
        instance_count=instance_count,
        serverless=ServerlessSettings(memory_mb=memory, max_concurrency=concurrency) if serverless else None,
        network_isolation=isolation,
        approved_model_package_arn=package or None,
        capture_sampling_percent=sampling,
        deployment=deployment,
        autoscaling=None if serverless else AutoscalingSettings(min_instances, max_instances, target),
    )


def monitoring_settings(r: ConfigReader, serving: ServingSettings) -> MonitoringSettings:
    schedule = r.integer("driftScheduleMinutes", 5, 1440)
    if 60 % schedule and schedule % 60:
        r.fail(
            "driftScheduleMinutes",
            schedule,
            "a divisor or a multiple of 60, so runs line up with capture hours",
        )
    thresholds = AlarmThresholds(
        drift_psi=r.number("driftThreshold", 0.0, 10.0, low_open=True),
        prediction_drift_psi=r.number("predictionDriftThreshold", 0.0, 10.0, low_open=True),
        latency_p99_ms=r.integer("latencyP99ThresholdMs", 1, 600_000),
        errors_5xx_per_minute=r.integer("errors5xxThreshold", 1, 1_000_000),
        errors_4xx_per_5_minutes=r.integer("errors4xxThreshold", 1, 1_000_000),
        no_invocations_minutes=r.integer("noInvocationsMinutes", 0, 1440),
    )
    return MonitoringSettings(
        engine="lambda" if serving.captures else None,
        schedule_minutes=schedule,
        thresholds=thresholds,
        alarm_emails=r.string_list("alarmEmails", _EMAIL, "email addresses"),
        retrain_cooldown_minutes=r.integer("retrainCooldownMinutes", 0, 10_080),
    )


def package_artifacts(
    r: ConfigReader, package: str | None, *, region: str, own_registry: str
) -> PackageArtifacts | None:
    """Where a pinned package from another stack keeps its model; required unless the pin is the stack's own."""
    bucket = r.string(
        "modelArtifactsBucket",
        _BUCKET_NAME,
        'an S3 bucket name (3-63 lowercase letters, digits, "." or "-") or ""',
        optional=True,
    )
    key_arn = r.string(
        "modelArtifactsKeyArn",
        KMS_KEY_ARN,
        'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>) or ""',
        optional=True,
    )
    pin = MODEL_PACKAGE_ARN.fullmatch(package or "")
    if package is None:
        for key, value in (("modelArtifactsBucket", bucket), ("modelArtifactsKeyArn", key_arn)):
            if value:
                r.fail(
                    key, value, '"" without approvedModelPackageArn (it says where a pinned package lives)'
                )
        return None
    if pin is None:
        return None  # the pin itself is reported
    if not bucket and not key_arn:
        if pin["group"] != own_registry:
            r.fail(
                "approvedModelPackageArn",
                package,
                f"a package of {own_registry}, or modelArtifactsBucket and modelArtifactsKeyArn set beside it: "
                f"its model lives in the bucket of the stack that registered it in {pin['group']} "
                "(python -m infra.promote writes both)",
            )
        return None
    if not bucket or not key_arn:
        missing, other = (
            ("modelArtifactsBucket", "modelArtifactsKeyArn")
            if not bucket
            else ("modelArtifactsKeyArn", "modelArtifactsBucket")
        )
        r.fail(
            missing,
            "",
            f"set together with {other}: the model is read from the bucket and decrypted with the key",
        )
        return None
    key_parts = KMS_KEY_ARN.fullmatch(key_arn)
    if key_parts is not None and (key_parts["region"], key_parts["account"]) != (region, pin["account"]):
        r.fail(
            "modelArtifactsKeyArn",
            key_arn,
            f"a key in {region} (SageMaker reads model data from its own region) and in the package's "
            f"account {pin['account']}",
        )
    return PackageArtifacts(bucket=bucket, key_arn=key_arn)


def allowed_accounts_of(r: ConfigReader, raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(i, str) and ACCOUNT_ID.fullmatch(i) for i in items):
        r.problems.append(
            f"{ALLOWED_ACCOUNT_IDS_KEY} = {raw!r}: expected a list of quoted 12-digit account IDs"
        )
        return ()
    return tuple(items)


def consumer_accounts(r: ConfigReader, allowed_accounts: tuple[str, ...]) -> tuple[str, ...]:
    """The accounts granted read on this stack's models; never the stack's own, so it must be known."""
    key = "modelConsumerAccounts"
    accounts = r.string_list(key, ACCOUNT_ID, "12-digit AWS account IDs (quoted)")
    repeated = sorted({a for a in accounts if accounts.count(a) > 1})
    if repeated:
        r.fail(key, repeated, "each account once")
    if accounts and not allowed_accounts:
        r.problems.append(
            f"{ALLOWED_ACCOUNT_IDS_KEY} is not set: expected this stack's own account when "
            f"{PROJECT_NAME}:{key} is set, so the consumers are checked against it and the provider refuses "
            "to deploy the grants from any other account"
        )
    own = sorted(set(accounts) & set(allowed_accounts))
    if own:
        r.fail(
            key,
            own,
            f"accounts other than the stack's own ({ALLOWED_ACCOUNT_IDS_KEY}): its roles already reach its "
            "registry, bucket and key",
        )
    return accounts

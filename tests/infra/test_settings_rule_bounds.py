"""The rules per area (infra/settings_rules.py): every bound on both sides, every message word for word.

Each case starts from the dev stack's values (spot training off and room for 100 instances, so one key's
bound never trips a rule between keys) and changes only what it tests.
"""

from __future__ import annotations

import pytest

from infra.config_reader import ConfigReader
from infra.settings import SettingsError, settings_from_values
from infra.settings_rules import (
    ALLOWED_ACCOUNT_IDS_KEY,
    DEPLOYMENT_STRATEGIES,
    LOG_RETENTION_DAYS,
    allowed_accounts_of,
    consumer_accounts,
)
from infra.settings_types import AutoscalingSettings, PackageArtifacts, ServerlessSettings, Settings
from tests.infra.test_settings import dev_values

BASE = dev_values(spotTraining="false", autoscalingMaxInstances="100")
PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/sagestack-dev-models/3"
FOREIGN = "arn:aws:sagemaker:us-east-1:444455556666:model-package/sagestack-prod-models/7"
KEY = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def settings(**overrides: str) -> Settings:
    return settings_from_values("dev", "us-east-1", {**BASE, **overrides})


def problems(**overrides: str) -> list[str]:
    try:
        settings(**overrides)
    except SettingsError as error:
        return error.problems
    return []


def problems_of(key: str, **overrides: str) -> list[str]:
    return [p for p in problems(**overrides) if p.startswith(f"sagestack:{key} = ")]


def test_the_base_values_are_valid() -> None:
    assert problems() == []


# --- whole-number bounds, inclusive on both sides ------------------------------------------------------

INTEGER_BOUNDS = [
    # StoppingCondition.MaxRuntimeInSeconds: "The maximum value is 28 days" (botocore sagemaker service-2.json,
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html); the project caps
    # a run at 5 days (432,000 s) and at least a minute.
    ("trainingMaxRuntimeSeconds", 60, 432_000),
    ("spotMaxWaitSeconds", 60, 432_000),
    # ResourceConfig.VolumeSizeInGB: 1 to 16,384 GB of EBS storage per training instance
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html).
    ("trainingVolumeSizeGb", 1, 16_384),
    ("trainingRun", 1, 1_000_000),
    # The project's fleet ceiling; autoscalingMaxInstances is 100 in BASE so the count never exceeds it.
    ("endpointInstanceCount", 1, 100),
    # ProductionVariantServerlessConfig: MemorySizeInMB 1024-6144, MaxConcurrency 1-200 (botocore
    # service-2.json; https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html).
    ("serverlessMaxConcurrency", 1, 200),
    # DataCaptureConfig.InitialSamplingPercentage: 0-100 (botocore service-2.json, SamplingPercentage;
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html).
    ("captureSamplingPercent", 0, 100),
    ("canaryInstances", 1, 100),
    ("linearStepInstances", 1, 100),
    # TrafficRoutingConfig.WaitIntervalInSeconds and BlueGreenUpdatePolicy.TerminationWaitInSeconds: 0-3600
    # (botocore service-2.json; https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html).
    ("trafficWaitSeconds", 0, 3600),
    ("terminationWaitSeconds", 0, 3600),
    ("autoscalingMaxInstances", 1, 100),
    ("autoscalingTargetInvocations", 1, 100_000),
    ("latencyP99ThresholdMs", 1, 600_000),
    ("errors5xxThreshold", 1, 1_000_000),
    ("errors4xxThreshold", 1, 1_000_000),
    ("noInvocationsMinutes", 0, 1440),
    ("retrainCooldownMinutes", 0, 10_080),
    # KMS ScheduleKeyDeletion PendingWindowInDays: 7 to 30 (https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html).
    ("kmsDeletionWindowDays", 7, 30),
    ("noncurrentVersionRetentionDays", 1, 3650),
    ("captureRetentionDays", 1, 3650),
]


@pytest.mark.parametrize(("key", "low", "high"), INTEGER_BOUNDS)
def test_both_bounds_of_a_whole_number_are_allowed(key: str, low: int, high: int) -> None:
    assert problems_of(key, **{key: str(low)}) == []
    assert problems_of(key, **{key: str(high)}) == []


@pytest.mark.parametrize(("key", "low", "high"), INTEGER_BOUNDS)
def test_one_past_either_bound_names_the_key_and_both_bounds(key: str, low: int, high: int) -> None:
    for value in (low - 1, high + 1):
        found = problems_of(key, **{key: str(value)})
        assert found[0] == f"sagestack:{key} = {value}: expected a whole number from {low} to {high}"
        # Outside 1-100 the count is also outside the autoscaling range (1-100 in BASE), a second problem.
        assert len(found) == (2 if key == "endpointInstanceCount" else 1), found


def test_both_bounds_of_the_minimum_instance_count_are_allowed_when_the_count_is_inside() -> None:
    assert problems(autoscalingMinInstances="1") == []
    assert problems(autoscalingMinInstances="100", endpointInstanceCount="100") == []
    assert problems_of("autoscalingMinInstances", autoscalingMinInstances="0") == [
        "sagestack:autoscalingMinInstances = 0: expected a whole number from 1 to 100"
    ]
    assert problems_of("autoscalingMinInstances", autoscalingMinInstances="101") == [
        "sagestack:autoscalingMinInstances = 101: expected a whole number from 1 to 100"
    ]


# --- decimal bounds ------------------------------------------------------------------------------------


def test_min_roc_auc_is_between_chance_and_perfect_inclusive() -> None:
    assert problems_of("minRocAuc", minRocAuc="0.5") == []
    assert problems_of("minRocAuc", minRocAuc="1.0") == []
    assert problems_of("minRocAuc", minRocAuc="0.49") == [
        "sagestack:minRocAuc = 0.49: expected a decimal number in [0.5, 1.0]"
    ]
    assert problems_of("minRocAuc", minRocAuc="1.01") == [
        "sagestack:minRocAuc = 1.01: expected a decimal number in [0.5, 1.0]"
    ]
    assert settings(minRocAuc="0.8").training.min_roc_auc == 0.8


@pytest.mark.parametrize("key", ["driftThreshold", "predictionDriftThreshold"])
def test_a_psi_threshold_is_above_zero_and_at_most_ten(key: str) -> None:
    assert problems_of(key, **{key: "0.001"}) == []
    assert problems_of(key, **{key: "10"}) == []
    for raw, shown in (("0", "0.0"), ("10.5", "10.5"), ("-1", "-1.0")):
        assert problems_of(key, **{key: raw}) == [
            f"sagestack:{key} = {shown}: expected a decimal number in (0.0, 10.0]"
        ]


# --- membership rules ----------------------------------------------------------------------------------


def test_log_retention_is_one_of_cloudwatch_logs_periods() -> None:
    # PutRetentionPolicy retentionInDays: "Possible values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365,
    # 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, and 3653" (botocore logs service-2.json;
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
    periods = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922)
    assert (*periods, 3288, 3653) == LOG_RETENTION_DAYS
    listing = ", ".join(map(str, LOG_RETENTION_DAYS))
    for days in LOG_RETENTION_DAYS:
        assert settings(logRetentionDays=str(days)).log_retention_days == days
    assert problems(logRetentionDays="2") == [f"sagestack:logRetentionDays = 2: expected one of {listing}"]
    assert problems(logRetentionDays="3654") == [
        "sagestack:logRetentionDays = 3654: expected a whole number from 1 to 3653",
        f"sagestack:logRetentionDays = 3654: expected one of {listing}",
    ]


def test_every_deployment_strategy_is_accepted_and_nothing_else() -> None:
    assert DEPLOYMENT_STRATEGIES == ("all-at-once", "canary", "linear")
    fleet = {"endpointInstanceCount": "4", "canaryInstances": "2", "linearStepInstances": "2"}
    for strategy in DEPLOYMENT_STRATEGIES:
        assert settings(deploymentStrategy=strategy, **fleet).serving.deployment.strategy == strategy
    assert problems(deploymentStrategy="blue-green") == [
        "sagestack:deploymentStrategy = 'blue-green': expected one of all-at-once, canary, linear"
    ]


def test_instance_types_come_from_botocores_sagemaker_enums() -> None:
    # TrainingInstanceType and ProductionVariantInstanceType in botocore's sagemaker service-2.json:
    # ml.t2.medium serves but never trains; ml.c5n.xlarge trains but never serves.
    s = settings(trainingInstanceType="ml.c5n.xlarge", endpointInstanceType="ml.t2.medium")
    assert (s.training.instance_type, s.serving.instance_type) == ("ml.c5n.xlarge", "ml.t2.medium")
    bad = problems(trainingInstanceType="ml.t2.medium", endpointInstanceType="ml.c5n.xlarge")
    assert [p.split(" (e.g.")[0] for p in bad] == [
        "sagestack:trainingInstanceType = 'ml.t2.medium': expected a SageMaker training instance type",
        "sagestack:endpointInstanceType = 'ml.c5n.xlarge': expected a SageMaker endpoint instance type",
    ]


# --- training ------------------------------------------------------------------------------------------


def test_training_settings_carry_every_value_read() -> None:
    t = settings(
        frameworkVersion="1.2-1",
        dataPrefix="raw/churn",
        dataVersion="2024.01_a-b",
        trainingVolumeSizeGb="50",
        trainingMaxRuntimeSeconds="1800",
        spotTraining="true",
        spotMaxWaitSeconds="3600",
        trainingNetworkIsolation="false",
        trainingRun="7",
        estimator="random_forest",
        nEstimators="150",
        maxDepth="5",
        learningRate="0.05",
        regularizationC="2.5",
        minSamplesLeaf="3",
        randomSeed="9",
    ).training
    assert (t.framework_version, t.data_prefix, t.data_version, t.volume_size_gb) == (
        "1.2-1",
        "raw/churn",
        "2024.01_a-b",
        50,
    )
    assert (t.max_runtime_seconds, t.spot, t.spot_max_wait_seconds, t.network_isolation, t.run) == (
        1800,
        True,
        3600,
        False,
        7,
    )
    h = t.hyperparameters
    assert (h.estimator, h.n_estimators, h.max_depth, h.learning_rate) == ("random_forest", 150, 5, 0.05)
    assert (h.regularization_c, h.min_samples_leaf, h.random_seed) == (2.5, 3, 9)
    assert [type(v) for v in (h.n_estimators, h.max_depth, h.min_samples_leaf, h.random_seed)] == [int] * 4
    assert [type(v) for v in (h.learning_rate, h.regularization_c)] == [float, float]


def test_every_hyperparameter_is_checked_by_its_own_key() -> None:
    bad = problems(
        estimator="svm",
        nEstimators="0",
        maxDepth="101",
        learningRate="2",
        regularizationC="0",
        minSamplesLeaf="0",
        randomSeed="-1",
    )
    assert [p.split(" = ")[0] for p in bad] == [
        f"sagestack:{k}"
        for k in (
            "estimator",
            "nEstimators",
            "maxDepth",
            "learningRate",
            "regularizationC",
            "minSamplesLeaf",
            "randomSeed",
        )
    ]


def test_a_spot_wait_shorter_than_the_runtime_is_refused_only_for_spot_training() -> None:
    assert problems(spotTraining="true", trainingMaxRuntimeSeconds="3600", spotMaxWaitSeconds="3600") == []
    # MaxWaitTimeInSeconds "must be equal to or greater than MaxRuntimeInSeconds" (botocore sagemaker
    # service-2.json, StoppingCondition).
    assert problems(spotTraining="true", trainingMaxRuntimeSeconds="3600", spotMaxWaitSeconds="3599") == [
        "sagestack:spotMaxWaitSeconds = 3599: expected at least trainingMaxRuntimeSeconds (3600): "
        "SageMaker rejects a shorter wait"
    ]
    assert problems(spotTraining="false", trainingMaxRuntimeSeconds="3600", spotMaxWaitSeconds="60") == []


@pytest.mark.parametrize(
    ("key", "good", "bad", "expected"),
    [
        ("frameworkVersion", "1.2-1", "1.2", "an image version such as 1.9-0"),
        ("dataPrefix", "a/b", "a/", "an S3 key prefix without leading or trailing '/'"),
        (
            "dataPrefix",
            "a",
            "/",
            "an S3 key prefix without leading or trailing '/'",
        ),  # one character is a prefix
        ("dataVersion", "v" * 63, "v" * 64, "letters, digits, '.', '_' or '-' (up to 63)"),
        ("dataVersion", "1", "-v1", "letters, digits, '.', '_' or '-' (up to 63)"),
        ("dataVersion", "Release.2024_A-b", "v1/2", "letters, digits, '.', '_' or '-' (up to 63)"),
    ],
)
def test_training_names_follow_their_pattern(key: str, good: str, bad: str, expected: str) -> None:
    assert problems(**{key: good}) == []
    assert problems(**{key: bad}) == [f"sagestack:{key} = {bad!r}: expected {expected}"]


# --- serving -------------------------------------------------------------------------------------------


def test_serving_settings_carry_every_value_read() -> None:
    s = settings(
        endpointInstanceType="ml.m5.xlarge",
        endpointInstanceCount="4",
        servingNetworkIsolation="true",
        approvedModelPackageArn=PACKAGE,
        captureSamplingPercent="25",
        deploymentStrategy="canary",
        canaryInstances="2",
        linearStepInstances="3",
        trafficWaitSeconds="120",
        terminationWaitSeconds="60",
        autoscalingMinInstances="2",
        autoscalingMaxInstances="8",
        autoscalingTargetInvocations="300",
    ).serving
    assert (s.instance_type, s.instance_count, s.network_isolation) == ("ml.m5.xlarge", 4, True)
    assert (s.approved_model_package_arn, s.capture_sampling_percent, s.serverless) == (PACKAGE, 25, None)
    d = s.deployment
    assert (d.strategy, d.canary_instances, d.linear_step_instances) == ("canary", 2, 3)
    assert (d.traffic_wait_seconds, d.termination_wait_seconds) == (120, 60)
    assert s.autoscaling == AutoscalingSettings(
        min_instances=2, max_instances=8, target_invocations_per_instance=300
    )
    assert s.package_artifacts is None  # the stack's own registry


def test_a_serverless_endpoint_has_memory_and_concurrency_and_no_autoscaling() -> None:
    s = settings(
        serverless="true", captureSamplingPercent="0", serverlessMemoryMb="3072", serverlessMaxConcurrency="7"
    ).serving
    assert s.serverless == ServerlessSettings(memory_mb=3072, max_concurrency=7)
    assert s.autoscaling is None
    assert s.approved_model_package_arn is None


@pytest.mark.parametrize("memory", [1024, 2048, 5120, 6144])
def test_serverless_memory_is_a_multiple_of_1024_within_1024_to_6144(memory: int) -> None:
    # ProductionVariantServerlessConfig.MemorySizeInMB: 1024, 2048, 3072, 4096, 5120 or 6144 MB
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html).
    assert problems(serverlessMemoryMb=str(memory)) == []


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        (1023, ["a whole number from 1024 to 6144", "a multiple of 1024 from 1024 to 6144"]),
        (1536, ["a multiple of 1024 from 1024 to 6144"]),
        (6145, ["a whole number from 1024 to 6144", "a multiple of 1024 from 1024 to 6144"]),
        (7168, ["a whole number from 1024 to 6144"]),
    ],
)
def test_other_serverless_memory_sizes_are_refused(memory: int, expected: list[str]) -> None:
    assert problems(serverlessMemoryMb=str(memory)) == [
        f"sagestack:serverlessMemoryMb = {memory}: expected {e}" for e in expected
    ]


def test_a_serverless_endpoint_refuses_capture_isolation_and_traffic_shifting_at_once() -> None:
    assert problems(serverless="true", captureSamplingPercent="0") == []
    assert problems(
        serverless="true",
        captureSamplingPercent="1",
        servingNetworkIsolation="true",
        deploymentStrategy="linear",
    ) == [
        "sagestack:captureSamplingPercent = 1: expected 0 for a serverless endpoint (serverless endpoints "
        "cannot capture data)",
        "sagestack:servingNetworkIsolation = 'true': expected false for a serverless endpoint (not supported there)",
        "sagestack:deploymentStrategy = 'linear': expected all-at-once for a serverless endpoint (traffic "
        "shifting needs instances)",
    ]


def test_a_serverless_endpoint_skips_the_fleet_rules() -> None:
    # None of these apply without instances: canary share, linear step, baking time or autoscaling range.
    assert (
        problems(
            serverless="true",
            captureSamplingPercent="0",
            canaryInstances="50",
            linearStepInstances="100",
            trafficWaitSeconds="3600",
            autoscalingMinInstances="5",
            autoscalingMaxInstances="6",
        )
        == []
    )


CANARY_TOO_BIG = (
    "sagestack:canaryInstances = {canary}: expected at most half of endpointInstanceCount ({count}): a canary may "
    "take at most 50% of the fleet, so canary deployments need at least 2 instances"
)


def test_a_canary_takes_at_most_half_the_fleet() -> None:
    # CapacitySize for a canary: at most 50% of the fleet
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-canary.html).
    assert problems(deploymentStrategy="canary", endpointInstanceCount="4", canaryInstances="2") == []
    assert problems(deploymentStrategy="canary", endpointInstanceCount="4", canaryInstances="3") == [
        CANARY_TOO_BIG.format(canary=3, count=4)
    ]
    assert problems(deploymentStrategy="canary", endpointInstanceCount="1", canaryInstances="1") == [
        CANARY_TOO_BIG.format(canary=1, count=1)
    ]
    assert (
        problems(
            deploymentStrategy="linear",
            endpointInstanceCount="4",
            canaryInstances="3",
            linearStepInstances="2",
        )
        == []
    )


LINEAR_OUT_OF_RANGE = (
    "sagestack:linearStepInstances = {step}: expected 10-50% of endpointInstanceCount ({count}) instances per "
    "step, so linear deployments need at least 2 instances"
)


@pytest.mark.parametrize(("count", "step"), [(10, 1), (10, 5), (20, 2), (20, 10), (2, 1)])
def test_a_linear_step_of_10_to_50_percent_of_the_fleet_is_allowed(count: int, step: int) -> None:
    # Linear traffic shifting moves 10-50% of the fleet per step
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-linear.html).
    overrides = {"endpointInstanceCount": str(count), "linearStepInstances": str(step)}
    assert problems(deploymentStrategy="linear", **overrides) == []


@pytest.mark.parametrize(("count", "step"), [(10, 6), (20, 1), (20, 11), (1, 1)])
def test_a_linear_step_outside_10_to_50_percent_is_refused(count: int, step: int) -> None:
    overrides = {"endpointInstanceCount": str(count), "linearStepInstances": str(step)}
    assert problems(deploymentStrategy="linear", **overrides) == [
        LINEAR_OUT_OF_RANGE.format(step=step, count=count)
    ]
    if count > 1:  # the same fleet takes a one-instance canary
        assert problems(deploymentStrategy="canary", canaryInstances="1", **overrides) == []


def test_a_deployment_fits_sagemakers_execution_timeout_exactly() -> None:
    # 10 linear steps of 1 instance: 900 s provisioning + 10 x wait + termination wait <= 14,400 s.
    fleet = {"deploymentStrategy": "linear", "endpointInstanceCount": "10", "linearStepInstances": "1"}
    assert problems(trafficWaitSeconds="1300", terminationWaitSeconds="500", **fleet) == []
    assert problems(trafficWaitSeconds="1300", terminationWaitSeconds="501", **fleet) == [
        "sagestack:trafficWaitSeconds = 1300: expected a baking time that fits a deployment in the stack's 14400 s: "
        "this linear deployment would need 14401 s (provisioning, each step's wait, termination wait)"
    ]


@pytest.mark.parametrize(("low", "count", "high"), [(2, 2, 5), (2, 5, 5), (3, 3, 3)])
def test_the_instance_count_may_sit_on_either_autoscaling_bound(low: int, count: int, high: int) -> None:
    bounds = {"autoscalingMinInstances": str(low), "autoscalingMaxInstances": str(high)}
    assert problems(endpointInstanceCount=str(count), **bounds) == []


@pytest.mark.parametrize(("low", "count", "high"), [(2, 1, 5), (2, 6, 5), (4, 3, 2)])
def test_an_instance_count_outside_the_autoscaling_range_is_refused(low: int, count: int, high: int) -> None:
    bounds = {"autoscalingMinInstances": str(low), "autoscalingMaxInstances": str(high)}
    assert problems(endpointInstanceCount=str(count), **bounds) == [
        f"sagestack:endpointInstanceCount = {count}: expected between autoscalingMinInstances ({low}) and "
        f"autoscalingMaxInstances ({high})"
    ]


def test_a_model_package_pin_must_be_versioned() -> None:
    unversioned = PACKAGE.rsplit("/", 1)[0]
    assert problems(approvedModelPackageArn=unversioned) == [
        f"sagestack:approvedModelPackageArn = {unversioned!r}: expected a versioned model package ARN "
        '(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>) or ""'
    ]


# --- monitoring ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [5, 6, 10, 15, 20, 30, 60, 120, 180, 720, 1440])
def test_a_drift_schedule_divides_or_is_a_multiple_of_an_hour(minutes: int) -> None:
    assert problems(driftScheduleMinutes=str(minutes)) == []
    assert settings(driftScheduleMinutes=str(minutes)).monitoring.schedule_minutes == minutes


@pytest.mark.parametrize("minutes", [7, 45, 90, 100])
def test_any_other_drift_schedule_is_refused(minutes: int) -> None:
    assert problems(driftScheduleMinutes=str(minutes)) == [
        f"sagestack:driftScheduleMinutes = {minutes}: expected a divisor or a multiple of 60, so runs line up "
        "with capture hours"
    ]


def test_drift_schedule_bounds_are_reported_beside_the_divisor_rule() -> None:
    assert problems(driftScheduleMinutes="4") == [
        "sagestack:driftScheduleMinutes = 4: expected a whole number from 5 to 1440"
    ]
    assert problems(driftScheduleMinutes="1500") == [
        "sagestack:driftScheduleMinutes = 1500: expected a whole number from 5 to 1440"
    ]
    assert problems(driftScheduleMinutes="1441") == [
        "sagestack:driftScheduleMinutes = 1441: expected a whole number from 5 to 1440",
        "sagestack:driftScheduleMinutes = 1441: expected a divisor or a multiple of 60, so runs line up with "
        "capture hours",
    ]


def test_monitoring_settings_carry_every_value_read() -> None:
    m = settings(
        driftThreshold="0.3",
        predictionDriftThreshold="0.4",
        latencyP99ThresholdMs="800",
        errors5xxThreshold="2",
        errors4xxThreshold="60",
        noInvocationsMinutes="30",
        alarmEmails='["ops@example.com", "a.b@c.io"]',
        retrainCooldownMinutes="120",
    ).monitoring
    t = m.thresholds
    assert (t.drift_psi, t.prediction_drift_psi, t.latency_p99_ms) == (0.3, 0.4, 800)
    assert (t.errors_5xx_per_minute, t.errors_4xx_per_5_minutes, t.no_invocations_minutes) == (2, 60, 30)
    assert (m.alarm_emails, m.retrain_cooldown_minutes, m.engine) == (
        ("ops@example.com", "a.b@c.io"),
        120,
        "lambda",
    )


def test_nothing_is_watched_when_nothing_is_captured() -> None:
    assert settings(captureSamplingPercent="0").monitoring.engine is None
    assert settings(captureSamplingPercent="1").monitoring.engine == "lambda"


@pytest.mark.parametrize(
    "email", ["ops", "ops@example", "a b@example.com", "a@b@example.com", "@example.com"]
)
def test_an_alarm_email_needs_a_user_a_domain_and_a_dot(email: str) -> None:
    assert problems(alarmEmails=f'["{email}"]') == [
        f"sagestack:alarmEmails = {email!r}: expected email addresses"
    ]


# --- a package pinned from another stack ---------------------------------------------------------------


def test_a_package_of_the_stacks_own_registry_needs_no_bucket_or_key() -> None:
    assert settings(approvedModelPackageArn=PACKAGE).serving.package_artifacts is None


def test_a_foreign_package_needs_the_bucket_and_key_it_lives_in() -> None:
    assert problems(approvedModelPackageArn=FOREIGN) == [
        f"sagestack:approvedModelPackageArn = {FOREIGN!r}: expected a package of sagestack-dev-models, or "
        "modelArtifactsBucket and modelArtifactsKeyArn set beside it: its model lives in the bucket of the stack "
        "that registered it in sagestack-prod-models (python -m infra.promote writes both)"
    ]
    s = settings(
        approvedModelPackageArn=FOREIGN, modelArtifactsBucket="prod-artifacts", modelArtifactsKeyArn=KEY
    )
    assert s.serving.package_artifacts == PackageArtifacts(bucket="prod-artifacts", key_arn=KEY)


def test_the_registry_a_package_belongs_to_follows_the_name_prefix() -> None:
    own = PACKAGE.replace("sagestack-dev-models", "acme-dev-models")
    assert problems(namePrefix="acme", approvedModelPackageArn=own) == []
    assert len(problems(namePrefix="acme", approvedModelPackageArn=PACKAGE)) == 1


@pytest.mark.parametrize(
    ("bucket", "key", "missing", "other"),
    [
        ("prod-artifacts", "", "modelArtifactsKeyArn", "modelArtifactsBucket"),
        ("", KEY, "modelArtifactsBucket", "modelArtifactsKeyArn"),
    ],
)
def test_bucket_and_key_come_together(bucket: str, key: str, missing: str, other: str) -> None:
    overrides = {"modelArtifactsBucket": bucket, "modelArtifactsKeyArn": key}
    for package in (FOREIGN, PACKAGE):
        assert problems(approvedModelPackageArn=package, **overrides) == [
            f"sagestack:{missing} = '': expected set together with {other}: the model is read from the bucket and "
            "decrypted with the key"
        ]


def test_bucket_and_key_without_a_pin_are_each_refused() -> None:
    assert problems(modelArtifactsBucket="prod-artifacts", modelArtifactsKeyArn=KEY) == [
        "sagestack:modelArtifactsBucket = 'prod-artifacts': expected \"\" without approvedModelPackageArn (it says "
        "where a pinned package lives)",
        f'sagestack:modelArtifactsKeyArn = {KEY!r}: expected "" without approvedModelPackageArn (it says where a '
        "pinned package lives)",
    ]
    assert len(problems(modelArtifactsKeyArn=KEY)) == 1


def test_a_bad_pin_is_reported_once_whatever_bucket_and_key_say() -> None:
    assert [
        p.split(" = ")[0] for p in problems(approvedModelPackageArn="arn:x", modelArtifactsBucket="b-b-b")
    ] == ["sagestack:approvedModelPackageArn"]


@pytest.mark.parametrize(
    "key",
    [
        KEY.replace("us-east-1", "us-west-2"),  # SageMaker reads model data only from its own region
        KEY.replace("444455556666", "111122223333"),  # the package's account holds the key
    ],
)
def test_the_key_is_in_the_stacks_region_and_the_packages_account(key: str) -> None:
    assert problems(
        approvedModelPackageArn=FOREIGN, modelArtifactsBucket="prod-artifacts", modelArtifactsKeyArn=key
    ) == [
        f"sagestack:modelArtifactsKeyArn = {key!r}: expected a key in us-east-1 (SageMaker reads model data from its "
        "own region) and in the package's account 444455556666"
    ]


def test_a_multi_region_key_in_the_right_place_is_accepted() -> None:
    mrk = "arn:aws:kms:us-east-1:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab"
    s = settings(
        approvedModelPackageArn=FOREIGN, modelArtifactsBucket="prod.artifacts-1", modelArtifactsKeyArn=mrk
    )
    assert s.serving.package_artifacts == PackageArtifacts(bucket="prod.artifacts-1", key_arn=mrk)


# S3 general purpose bucket names: 3-63 characters; lowercase letters, digits, dots and hyphens; a letter or
# digit first and last; no two adjacent periods; not an IP address
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
@pytest.mark.parametrize("bucket", ["abc", "a" * 63, "a.b-c.1", "1ab"])
def test_a_valid_bucket_name_is_accepted(bucket: str) -> None:
    assert (
        problems(approvedModelPackageArn=FOREIGN, modelArtifactsBucket=bucket, modelArtifactsKeyArn=KEY) == []
    )


@pytest.mark.parametrize("bucket", ["ab", "a" * 64, "Abc", "-ab", "ab-", "a..b", "192.168.5.4", "a_b"])
def test_an_invalid_bucket_name_is_refused(bucket: str) -> None:
    overrides = {"modelArtifactsBucket": bucket, "modelArtifactsKeyArn": KEY}
    assert problems_of("modelArtifactsBucket", approvedModelPackageArn=FOREIGN, **overrides) == [
        f"sagestack:modelArtifactsBucket = {bucket!r}: expected an S3 bucket name (3-63 lowercase letters, digits, "
        '"." or "-") or ""'
    ]


def test_a_key_that_is_not_a_kms_key_arn_is_refused() -> None:
    alias = "arn:aws:kms:us-east-1:444455556666:alias/models"
    overrides = {"modelArtifactsBucket": "prod-artifacts", "modelArtifactsKeyArn": alias}
    assert problems(approvedModelPackageArn=FOREIGN, **overrides) == [
        f"sagestack:modelArtifactsKeyArn = {alias!r}: expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key "
        'id>) or ""'
    ]


# --- accounts ------------------------------------------------------------------------------------------


def test_allowed_accounts_are_a_json_list_of_12_digit_strings() -> None:
    r = ConfigReader({})
    assert allowed_accounts_of(r, None) == ()
    assert allowed_accounts_of(r, "") == ()
    assert allowed_accounts_of(r, '["111122223333", "444455556666"]') == ("111122223333", "444455556666")
    assert r.problems == []
    assert ALLOWED_ACCOUNT_IDS_KEY == "aws:allowedAccountIds"


@pytest.mark.parametrize(
    "raw",
    ["111122223333", '"111122223333"', "[111122223333]", '["11112222333"]', '["111122223333", 4]', "[1"],
)
def test_anything_else_as_allowed_accounts_is_refused(raw: str) -> None:
    r = ConfigReader({})
    assert allowed_accounts_of(r, raw) == ()
    assert r.problems == [f"aws:allowedAccountIds = {raw!r}: expected a list of quoted 12-digit account IDs"]


def test_consumer_accounts_are_other_accounts_each_named_once() -> None:
    r = ConfigReader({"modelConsumerAccounts": '["444455556666", "777788889999"]'})
    assert consumer_accounts(r, ("111122223333",)) == ("444455556666", "777788889999")
    assert r.problems == []
    r = ConfigReader({"modelConsumerAccounts": "[]"})
    assert consumer_accounts(r, ()) == ()
    assert r.problems == []


def test_every_consumer_account_problem_is_reported_at_once() -> None:
    raw = '["444455556666", "111122223333", "444455556666", "777788889999", "777788889999", "12"]'
    r = ConfigReader({"modelConsumerAccounts": raw})
    consumer_accounts(r, ("111122223333",))
    assert r.problems == [
        "sagestack:modelConsumerAccounts = '12': expected 12-digit AWS account IDs (quoted)",
        "sagestack:modelConsumerAccounts = ['444455556666', '777788889999']: expected each account once",
        "sagestack:modelConsumerAccounts = ['111122223333']: expected accounts other than the stack's own "
        "(aws:allowedAccountIds): its roles already reach its registry, bucket and key",
    ]


def test_consumers_need_the_stacks_own_account_to_be_known() -> None:
    r = ConfigReader({"modelConsumerAccounts": '["444455556666"]'})
    assert consumer_accounts(r, ()) == ("444455556666",)
    assert r.problems == [
        "aws:allowedAccountIds is not set: expected this stack's own account when sagestack:modelConsumerAccounts is "
        "set, so the consumers are checked against it and the provider refuses to deploy the grants from any other "
        "account"
    ]


def test_accounts_reach_the_settings() -> None:
    s = settings_from_values(
        "dev",
        "us-east-1",
        {**BASE, "modelConsumerAccounts": '["444455556666"]'},
        allowed_account_ids='["111122223333"]',
    )
    assert (s.model_consumer_accounts, s.allowed_account_ids) == (("444455556666",), ("111122223333",))

"""The one place that reads config: every value the stack needs, validated into frozen dataclasses.

A bad value raises `SettingsError` before any resource is registered; it names each offending key,
the value it has and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Literal, TypeVar

from infra import images
from infra.config_schema import PROJECT_NAME, project_config_schema, to_config_string
from training import contract

T = TypeVar("T")

ESTIMATORS = contract.ESTIMATORS
# Config key -> the training contract's hyperparameter it sets; the contract's table holds the bounds.
HYPERPARAMETER_KEYS = {
    "estimator": "estimator",
    "nEstimators": "n_estimators",
    "maxDepth": "max_depth",
    "learningRate": "learning_rate",
    "regularizationC": "C",
    "minSamplesLeaf": "min_samples_leaf",
    "randomSeed": "random_state",
}
# Namespaces a stack may configure besides the project's own: the aws provider and Pulumi itself.
OTHER_NAMESPACES = ("aws", "pulumi")
DEPLOYMENT_STRATEGIES = ("all-at-once", "canary", "linear")
# Keys a stack file may still carry from an older release: each is an error that says what to do instead.
REMOVED_KEYS = {
    "driftEngine": "the key removed (delete it from the stack file): the stack's own drift engine is the only "
    "one; SageMaker Model Monitor was dropped (docs/decisions.md, 'Model Monitor: removed')",
}
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
_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_S3_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!_.*'()/-]*[A-Za-z0-9]$")
_FRAMEWORK_VERSION = re.compile(r"^\d+\.\d+-\d+$")
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]+$")
_MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):model-package/(?P<group>[\w-]+)/\d+$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets)
_BUCKET_NAME = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?:mrk-)?[0-9a-zA-Z-]+$"
)
ALLOWED_ACCOUNT_IDS_KEY = "aws:allowedAccountIds"
S3_BUCKET_NAME_MAX = 63  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
LONGEST_PURPOSE = "artifacts"  # the longest of infra.storage.BUCKET_PURPOSES


@cache
def longest_region() -> str:
    """The longest region name botocore knows in any partition (us-isof-south-1 today, 15 characters)."""
    from botocore.loaders import Loader

    endpoints = Loader().load_data("endpoints")
    regions: list[str] = [r for p in endpoints["partitions"] for r in p["regions"]]
    return max(regions, key=lambda r: (len(r), r))


def max_base_name() -> int:
    """Characters left for '<namePrefix>-<stack>' in <base>-<purpose>-<12-digit account>-<region>."""
    return S3_BUCKET_NAME_MAX - len(f"-{LONGEST_PURPOSE}-123456789012-{longest_region()}")


# SageMaker's bounds on a blue/green deployment's MaximumExecutionTimeoutInSeconds.
MIN_DEPLOYMENT_SECONDS, MAX_DEPLOYMENT_SECONDS = 600, 14_400
PROVISIONING_SECONDS = 900  # a new fleet's instances take minutes to come up before traffic moves


class SettingsError(ValueError):
    """One or more config values are invalid; the message lists every problem."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in self.problems))


@cache
def _sagemaker_model() -> dict[str, Any]:
    # botocore's service model is the authority on valid instance types; its loader skips building a session.
    from botocore.loaders import Loader

    model: dict[str, Any] = Loader().load_service_model("sagemaker", "service-2")
    return model


def _sagemaker_enum(shape: str) -> frozenset[str]:
    return frozenset(_sagemaker_model()["shapes"][shape]["enum"])


@cache
def _sagemaker_regions() -> frozenset[str]:
    from botocore.loaders import Loader

    endpoints = Loader().load_data("endpoints")
    return frozenset(
        region
        for partition in endpoints["partitions"]
        for region in partition["services"].get("api.sagemaker", {}).get("endpoints", {})
        if region in partition["regions"]
    )


@dataclass(frozen=True)
class StorageSettings:
    protect: bool
    force_destroy: bool
    kms_deletion_window_days: int
    noncurrent_version_retention_days: int
    capture_retention_days: int


@dataclass(frozen=True)
class Hyperparameters:
    estimator: str
    n_estimators: int
    max_depth: int
    learning_rate: float
    regularization_c: float
    min_samples_leaf: int
    random_seed: int


@dataclass(frozen=True)
class TrainingSettings:
    framework_version: str
    data_prefix: str
    data_version: str
    instance_type: str
    volume_size_gb: int
    max_runtime_seconds: int
    spot: bool
    spot_max_wait_seconds: int
    network_isolation: bool
    hyperparameters: Hyperparameters
    min_roc_auc: float
    run: int

    @property
    def data_key_prefix(self) -> str:
        return f"{self.data_prefix}/{self.data_version}"


@dataclass(frozen=True)
class ServerlessSettings:
    memory_mb: int
    max_concurrency: int


@dataclass(frozen=True)
class DeploymentSettings:
    strategy: Literal["all-at-once", "canary", "linear"]
    canary_instances: int
    linear_step_instances: int
    traffic_wait_seconds: int
    termination_wait_seconds: int


def deployment_seconds_needed(d: DeploymentSettings, instance_count: int) -> int:
    steps = {"all-at-once": 1, "canary": 2, "linear": -(-instance_count // d.linear_step_instances)}[
        d.strategy
    ]
    return PROVISIONING_SECONDS + steps * d.traffic_wait_seconds + d.termination_wait_seconds


@dataclass(frozen=True)
class AutoscalingSettings:
    min_instances: int
    max_instances: int
    target_invocations_per_instance: int


@dataclass(frozen=True)
class PackageArtifacts:
    """Where a pinned package from another stack keeps its model: that stack's artifacts bucket and key.

    The roles that load the model get read on the bucket's `models/` prefix and decrypt on the key via S3.
    """

    bucket: str
    key_arn: str


@dataclass(frozen=True)
class ServingSettings:
    framework_version: str
    instance_type: str
    instance_count: int
    serverless: ServerlessSettings | None
    network_isolation: bool
    approved_model_package_arn: str | None
    capture_sampling_percent: int
    deployment: DeploymentSettings
    autoscaling: AutoscalingSettings | None
    package_artifacts: PackageArtifacts | None = None  # set when the pin comes from another stack

    @property
    def captures(self) -> bool:
        return self.capture_sampling_percent > 0

    @property
    def deployment_timeout_seconds(self) -> int:
        """Room for provisioning, every traffic step's baking time and the final wait (at least SageMaker's 600)."""
        return max(MIN_DEPLOYMENT_SECONDS, deployment_seconds_needed(self.deployment, self.instance_count))


@dataclass(frozen=True)
class AlarmThresholds:
    drift_psi: float
    prediction_drift_psi: float
    latency_p99_ms: int
    errors_5xx_per_minute: int
    errors_4xx_per_5_minutes: int
    no_invocations_minutes: int


@dataclass(frozen=True)
class MonitoringSettings:
    engine: Literal["lambda"] | None  # None: nothing is captured, so nothing to watch
    schedule_minutes: int
    thresholds: AlarmThresholds
    alarm_emails: tuple[str, ...]
    retrain_cooldown_minutes: int


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    region: str
    name_prefix: str
    owner: str
    cost_centre: str
    permissions_boundary_arn: str | None
    log_retention_days: int
    deploy_model: bool
    storage: StorageSettings
    training: TrainingSettings
    serving: ServingSettings
    monitoring: MonitoringSettings
    # Accounts whose stacks may serve this stack's registered models (read-only grants; infra/iam.py).
    model_consumer_accounts: tuple[str, ...] = ()
    allowed_account_ids: tuple[str, ...] = ()  # aws:allowedAccountIds: the provider refuses other accounts

    @property
    def base_name(self) -> str:
        """Start of every physical name: carries the stack, so two stacks in one account never collide."""
        return f"{self.name_prefix}-{self.stack}"

    @property
    def default_tags(self) -> dict[str, str]:
        return {
            "project": self.project,
            "stack": self.stack,
            "owner": self.owner,
            "cost-centre": self.cost_centre,
        }


class _Reader:
    """Reads raw config strings, records every key read and collects every problem."""

    def __init__(self, values: Mapping[str, str]):
        self._values = values
        self.keys_read: list[str] = []
        self.problems: list[str] = []

    def _raw(self, key: str) -> str:
        self.keys_read.append(key)
        if key not in self._values:
            raise KeyError(f"config key {key!r} is read by infra/settings.py but not declared in Pulumi.yaml")
        return self._values[key]

    def fail(self, key: str, value: object, expected: str) -> None:
        self.problems.append(f"{PROJECT_NAME}:{key} = {value!r}: expected {expected}")

    def _parsed(self, key: str, parse: Callable[[str], T], expected: str, fallback: T) -> T:
        raw = self._raw(key)
        try:
            return parse(raw)
        except ValueError:
            self.fail(key, raw, expected)
            return fallback

    def string(
        self, key: str, pattern: re.Pattern[str] | None = None, expected: str = "", *, optional: bool = False
    ) -> str:
        value = self._raw(key)
        if optional and value == "":
            return value
        if pattern is not None and not pattern.match(value):
            self.fail(key, value, expected)
        return value

    def boolean(self, key: str) -> bool:
        def parse(raw: str) -> bool:
            if raw not in ("true", "false"):
                raise ValueError(raw)
            return raw == "true"

        return self._parsed(key, parse, "true or false", False)

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._parsed(key, int, f"a whole number from {low} to {high}", low)
        if not low <= value <= high:
            self.fail(key, value, f"a whole number from {low} to {high}")
        return value

    def number(self, key: str, low: float, high: float, *, low_open: bool = False) -> float:
        bounds = f"{'(' if low_open else '['}{low}, {high}]"
        value = self._parsed(key, float, f"a decimal number in {bounds}", high)
        if math.isnan(value) or value > high or value < low or (low_open and value == low):
            self.fail(key, value, f"a decimal number in {bounds}")
        return value

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self._raw(key)
        if value not in allowed:
            self.fail(key, value, f"one of {', '.join(allowed)}")
            return allowed[0]
        return value

    def hyperparameter(self, key: str) -> str | int | float:
        """A training hyperparameter, checked by the training contract's own table (one source of bounds)."""
        spec = contract.HYPERPARAMETERS_BY_NAME[HYPERPARAMETER_KEYS[key]]
        raw = self._raw(key)
        try:
            return spec.parse(raw)
        except ValueError:
            self.fail(key, raw, f"{spec.expectation()} (training/contract.py, hyperparameter {spec.name!r})")
            return spec.default

    _TAG = re.compile(r"^[\w .:/=+@-]{1,256}$")

    def required_tag(self, key: str, tag: str) -> str:
        value = self._raw(key)
        if value == "":
            self.fail(
                key,
                value,
                f"the stack's {tag!r} tag, set per stack (`pulumi config set {PROJECT_NAME}:{key} <value>`); "
                "it has no default, so no stack is tagged with a placeholder",
            )
        elif not self._TAG.match(value):
            self.fail(key, value, "a tag value (1-256 letters, digits, spaces or _.:/=+@-)")
        return value

    def member(self, key: str, allowed: frozenset[str], what: str) -> str:
        value = self._raw(key)
        if value not in allowed:
            near = sorted(a for a in allowed if a.split(".")[:2] == value.split(".")[:2])[:8]
            hint = f" (e.g. {', '.join(near)})" if near else ""
            self.fail(key, value, f"{what}{hint}")
        return value

    def string_list(self, key: str, pattern: re.Pattern[str], expected: str) -> tuple[str, ...]:
        raw = self._raw(key)
        try:
            items = json.loads(raw)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            self.fail(key, raw, f"a list of {expected}")
            return ()
        for item in items:
            if not pattern.match(item):
                self.fail(key, item, expected)
        return tuple(items)


_NAME_BUDGET_REASON = (
    "bucket names are <prefix>-<stack>-artifacts-<12-digit account>-<region>, S3 allows 63 characters, "
    "and the longest region name is {region} with {length}"
)


def name_budget_reason() -> str:
    return _NAME_BUDGET_REASON.format(region=longest_region(), length=len(longest_region()))


def stack_name_problems(stack: str) -> list[str]:
    """The fork rules for a stack name: the alphabet physical names accept, and the length budget."""
    problems = []
    if not _NAME.match(stack):
        problems.append(
            f"stack name {stack!r}: expected lowercase letters, digits and hyphens, starting with a letter "
            "and not ending with a hyphen (it is part of every bucket, role and endpoint name)"
        )
    budget = max_base_name()
    if len(stack) + 2 > budget:  # even a one-letter namePrefix would not fit
        problems.append(
            f"stack name {stack!r} has {len(stack)} characters: expected at most {budget - 2}, because "
            f"'<namePrefix>-<stack>' may have at most {budget} and namePrefix needs at least one "
            f"({name_budget_reason()}); "
            "choose a shorter stack name, no namePrefix can fix this"
        )
    return problems


@cache
def aws_provider_config_keys() -> tuple[str, ...]:
    """The config keys of the aws provider, as its Python SDK reads them (pulumi_aws/config/vars.py)."""
    import inspect

    from pulumi_aws.config import vars as aws_config

    return tuple(sorted(set(re.findall(r"__config__\.get\w*\('(\w+)'\)", inspect.getsource(aws_config)))))


def unknown_key_problems(configured_keys: Iterable[str]) -> list[str]:
    """Every configured key the program does not declare, with the closest declared key or namespace."""
    declared = list(project_config_schema())
    problems = []
    for qualified in sorted(set(configured_keys)):
        namespace, colon, key = qualified.partition(":")
        if not colon:
            problems.append(f"config key {qualified!r} has no namespace: expected {PROJECT_NAME}:<key>")
        elif namespace == PROJECT_NAME:
            if key not in declared and key not in REMOVED_KEYS:
                near = difflib.get_close_matches(key, declared, n=1, cutoff=0.6)
                hint = f"; did you mean {PROJECT_NAME}:{near[0]}?" if near else ""
                problems.append(f"unknown config key {qualified!r}: Pulumi.yaml declares no {key!r}{hint}")
        elif namespace == "aws" and key not in aws_provider_config_keys():
            near = difflib.get_close_matches(key, aws_provider_config_keys(), n=1, cutoff=0.6)
            hint = f"; did you mean aws:{near[0]}?" if near else ""
            problems.append(f"unknown config key {qualified!r}: the aws provider has no {key!r}{hint}")
        elif namespace not in OTHER_NAMESPACES:
            known = [PROJECT_NAME, *OTHER_NAMESPACES]
            near = difflib.get_close_matches(namespace, known, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}:{key}?" if near else ""
            problems.append(
                f"unknown config namespace {namespace!r} in {qualified!r}: expected one of "
                f"{', '.join(known)}{hint}"
            )
    return problems


def settings_from_values(
    stack: str,
    region: str,
    values: Mapping[str, str],
    configured_keys: Iterable[str] = (),
    *,
    allowed_account_ids: str | None = None,
) -> Settings:
    """Validate raw config strings (keys without namespace) into Settings, or raise SettingsError.

    `configured_keys` are the fully qualified keys the stack sets; any the project does not declare is
    an error too. `allowed_account_ids` is the aws provider's `allowedAccountIds` as config holds it (JSON).
    """
    settings, reader = _read(stack, region, values, configured_keys, allowed_account_ids)
    if reader.problems:
        raise SettingsError(reader.problems)
    return settings


def settings_of_stack_file(stack: str) -> Settings:
    """Settings of Pulumi.<stack>.yaml as a `pulumi up` would read them (unknown keys included)."""
    from infra.config_schema import load_stack_config

    config = load_stack_config(stack)
    return settings_from_values(
        stack,
        config.region,
        config.values,
        config.pulumi_config(),
        allowed_account_ids=config.other_values.get(ALLOWED_ACCOUNT_IDS_KEY),
    )


def keys_read_by_settings(stack: str, region: str, values: Mapping[str, str]) -> set[str]:
    """The config keys `settings_from_values` reads (to check them against Pulumi.yaml)."""
    return set(_read(stack, region, values)[1].keys_read)


def _read(
    stack: str,
    region: str,
    values: Mapping[str, str],
    configured_keys: Iterable[str] = (),
    allowed_account_ids: str | None = None,
) -> tuple[Settings, _Reader]:
    r = _Reader(values)
    r.problems.extend(unknown_key_problems(configured_keys))
    for key, instead in REMOVED_KEYS.items():
        if key in values:
            r.fail(key, values[key], instead)
    r.problems.extend(stack_name_problems(stack))
    if region not in _sagemaker_regions():
        r.problems.append(f"aws:region = {region!r}: expected a region where SageMaker is available")
    elif images.registry_account(images.SKLEARN_REPOSITORY, region) is None:
        r.problems.append(
            f"aws:region = {region!r}: the prebuilt {images.SKLEARN_REPOSITORY} image that trains and serves "
            "the model has no registry there (the provider's get_prebuilt_ecr_image table); expected one of "
            + ", ".join(sorted(images.REGISTRY_ACCOUNTS[images.SKLEARN_REPOSITORY]))
        )

    name_prefix = r.string(
        "namePrefix", _NAME, "lowercase letters, digits and hyphens, starting with a letter"
    )
    budget = max_base_name()
    if len(f"{name_prefix}-{stack}") > budget and len(stack) + 2 <= budget:
        r.fail(
            "namePrefix",
            name_prefix,
            f"at most {budget - len(stack) - 1} characters for stack {stack!r}: '<prefix>-<stack>' may have "
            f"{budget} ({name_budget_reason()})",
        )

    storage = StorageSettings(
        protect=r.boolean("protectResources"),
        force_destroy=r.boolean("forceDestroyBuckets"),
        kms_deletion_window_days=r.integer("kmsDeletionWindowDays", 7, 30),
        noncurrent_version_retention_days=r.integer("noncurrentVersionRetentionDays", 1, 3650),
        capture_retention_days=r.integer("captureRetentionDays", 1, 3650),
    )
    if storage.protect and storage.force_destroy:
        r.fail(
            "forceDestroyBuckets",
            "true",
            "false when protectResources is true (protected data is never emptied)",
        )

    training = _training(r)
    serving = _serving(r, training.framework_version)
    serving = replace(
        serving,
        package_artifacts=_package_artifacts(
            r, serving.approved_model_package_arn, region=region, own_registry=f"{name_prefix}-{stack}-models"
        ),
    )
    allowed_accounts = _allowed_accounts(r, allowed_account_ids)
    consumers = _consumer_accounts(r, allowed_accounts)
    monitoring = _monitoring(r, serving)

    log_retention = r.integer("logRetentionDays", 1, 3653)
    if log_retention not in LOG_RETENTION_DAYS:
        r.fail("logRetentionDays", log_retention, f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    boundary = r.string("permissionsBoundaryArn", _POLICY_ARN, 'an IAM policy ARN or ""', optional=True)

    settings = Settings(
        project=PROJECT_NAME,
        stack=stack,
        region=region,
        name_prefix=name_prefix,
        owner=r.required_tag("owner", "owner"),
        cost_centre=r.required_tag("costCentre", "cost-centre"),
        permissions_boundary_arn=boundary or None,
        log_retention_days=log_retention,
        deploy_model=r.boolean("deployModel"),
        storage=storage,
        training=training,
        serving=serving,
        monitoring=monitoring,
        model_consumer_accounts=consumers,
        allowed_account_ids=allowed_accounts,
    )
    return settings, r


def _training(r: _Reader) -> TrainingSettings:
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


def _serving(r: _Reader, framework_version: str) -> ServingSettings:
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
        _MODEL_PACKAGE_ARN,
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
                f"a baking time that fits a deployment in SageMaker's {MAX_DEPLOYMENT_SECONDS} s: this "
                f"{strategy} deployment would need {needed} s (provisioning, each step's wait, termination wait)",
            )
        if not min_instances <= instance_count <= max_instances:
            r.fail(
                "endpointInstanceCount",
                instance_count,
                f"between autoscalingMinInstances ({min_instances}) and autoscalingMaxInstances ({max_instances})",
            )

    return ServingSettings(
        framework_version=framework_version,
        instance_type=instance_type,
        instance_count=instance_count,
        serverless=ServerlessSettings(memory_mb=memory, max_concurrency=concurrency) if serverless else None,
        network_isolation=isolation,
        approved_model_package_arn=package or None,
        capture_sampling_percent=sampling,
        deployment=deployment,
        autoscaling=None if serverless else AutoscalingSettings(min_instances, max_instances, target),
    )


def _monitoring(r: _Reader, serving: ServingSettings) -> MonitoringSettings:
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


def _package_artifacts(
    r: _Reader, package: str | None, *, region: str, own_registry: str
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
        _KMS_KEY_ARN,
        'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>) or ""',
        optional=True,
    )
    pin = _MODEL_PACKAGE_ARN.match(package or "")
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
    key_parts = _KMS_KEY_ARN.match(key_arn)
    if key_parts is not None and (key_parts["region"], key_parts["account"]) != (region, pin["account"]):
        r.fail(
            "modelArtifactsKeyArn",
            key_arn,
            f"a key in {region} (SageMaker reads model data from its own region) and in the package's "
            f"account {pin['account']}",
        )
    return PackageArtifacts(bucket=bucket, key_arn=key_arn)


def _allowed_accounts(r: _Reader, raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(i, str) and _ACCOUNT_ID.match(i) for i in items):
        r.problems.append(
            f"{ALLOWED_ACCOUNT_IDS_KEY} = {raw!r}: expected a list of quoted 12-digit account IDs"
        )
        return ()
    return tuple(items)


def _consumer_accounts(r: _Reader, allowed_accounts: tuple[str, ...]) -> tuple[str, ...]:
    """The accounts granted read on this stack's models; never the stack's own, so it must be known."""
    key = "modelConsumerAccounts"
    accounts = r.string_list(key, _ACCOUNT_ID, "12-digit AWS account IDs (quoted)")
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


def update_seconds_upper_bound(settings: Settings) -> int:
    """The longest a `pulumi up` of this stack may wait on AWS: a training job, then the endpoint rollout
    (which may first wait for an earlier deployment, then deploy and roll back: infra/rollout.py)."""
    if not settings.deploy_model:
        return 0
    from infra.rollout import worst_case_rollout_seconds

    t = settings.training
    training = t.spot_max_wait_seconds if t.spot else t.max_runtime_seconds
    return training + worst_case_rollout_seconds(settings.serving.deployment_timeout_seconds)


def runtime_config_keys() -> set[str]:
    """Every key the stack configures, as the Pulumi runtime holds them.

    On `pulumi preview/up` the language host hands the program the stack's whole config as JSON in the
    PULUMI_CONFIG environment variable (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go);
    pulumi.runtime.config reads it from there, or from set_all_config (mocks, automation API).
    """
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.get_config_env()) | set(runtime_config.CONFIG.get())


def load_settings() -> Settings:
    """Settings of the stack Pulumi is running, with Pulumi.yaml's defaults for unset keys.

    Every configured key is checked, not only the declared ones: Pulumi itself accepts any key, so a
    misspelt one would otherwise be silently ignored.
    """
    import pulumi

    config = pulumi.Config(PROJECT_NAME)
    values = {}
    for name, key in project_config_schema().items():
        raw = config.get(name)
        values[name] = raw if raw is not None else to_config_string(key.default)
    aws_config = pulumi.Config("aws")
    return settings_from_values(
        pulumi.get_stack(),
        aws_config.get("region") or "",
        values,
        runtime_config_keys(),
        allowed_account_ids=aws_config.get("allowedAccountIds"),
    )

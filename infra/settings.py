"""The one place that reads config: every value the stack needs, validated into frozen dataclasses.

A bad value raises `SettingsError` before any resource is registered; it names each offending key,
the value it has and what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import cache

from infra import images
from infra.arn_patterns import POLICY_ARN
from infra.config_keys import REMOVED_KEYS, unknown_key_problems
from infra.config_reader import ConfigReader
from infra.config_schema import PROJECT_NAME, project_config_schema, to_config_string
from infra.settings_rules import (
    ALLOWED_ACCOUNT_IDS_KEY,
    LOG_RETENTION_DAYS,
    allowed_accounts_of,
    consumer_accounts,
    monitoring_settings,
    package_artifacts,
    serving_settings,
    training_settings,
)
from infra.settings_types import Settings, StorageSettings
from infra.stack_names import NAME, max_base_name, name_budget_reason, stack_name_problems


class SettingsError(ValueError):
    """One or more config values are invalid; the message lists every problem."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in self.problems))


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
) -> tuple[Settings, ConfigReader]:
    r = ConfigReader(values)
    r.problems.extend(unknown_key_problems(configured_keys))
    for key, instead in REMOVED_KEYS.items():
        if key in values:
            r.fail(key, values[key], instead)
    r.problems.extend(stack_name_problems(stack))
    r.problems.extend(_region_problems(region))
    name_prefix = _name_prefix(r, stack)
    storage = _storage(r)

    training = training_settings(r)
    serving = serving_settings(r)
    serving = replace(
        serving,
        package_artifacts=package_artifacts(
            r, serving.approved_model_package_arn, region=region, own_registry=f"{name_prefix}-{stack}-models"
        ),
    )
    allowed_accounts = allowed_accounts_of(r, allowed_account_ids)
    consumers = consumer_accounts(r, allowed_accounts)
    monitoring = monitoring_settings(r, serving)

    log_retention = r.integer("logRetentionDays", 1, 3653)
    if log_retention not in LOG_RETENTION_DAYS:
        r.fail("logRetentionDays", log_retention, f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    boundary = r.string("permissionsBoundaryArn", POLICY_ARN, 'an IAM policy ARN or ""', optional=True)

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


def _region_problems(region: str) -> list[str]:
    if region not in _sagemaker_regions():
        return [f"aws:region = {region!r}: expected a region where SageMaker is available"]
    if images.registry_account(images.SKLEARN_REPOSITORY, region) is None:
        return [
            f"aws:region = {region!r}: the prebuilt {images.SKLEARN_REPOSITORY} image that trains and serves "
            "the model has no registry there (the provider's get_prebuilt_ecr_image table); expected one of "
            + ", ".join(sorted(images.REGISTRY_ACCOUNTS[images.SKLEARN_REPOSITORY]))
        ]
    return []


def _name_prefix(r: ConfigReader, stack: str) -> str:
    name_prefix = r.string(
        "namePrefix", NAME, "lowercase letters, digits and hyphens, starting with a letter"
    )
    budget = max_base_name()
    if len(f"{name_prefix}-{stack}") > budget and len(stack) + 2 <= budget:
        r.fail(
            "namePrefix",
            name_prefix,
            f"at most {budget - len(stack) - 1} characters for stack {stack!r}: '<prefix>-<stack>' may have "
            f"{budget} ({name_budget_reason()})",
        )
    return name_prefix


def _storage(r: ConfigReader) -> StorageSettings:
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
    return storage


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

"""Reading a stack's settings (infra/settings.py): storage, names, regions, the error, and what the program reads.

In-process: `load_settings` runs on Pulumi's own config map (pulumi.runtime.set_all_config), no program run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import config as runtime_config

from infra import config_schema
from infra.config_schema import PROJECT_ROOT, load_stack_config
from infra.settings import (
    SettingsError,
    _sagemaker_regions,
    keys_read_by_settings,
    load_settings,
    runtime_config_keys,
    settings_from_values,
    settings_of_stack_file,
    update_seconds_upper_bound,
)
from infra.settings_types import StorageSettings
from tests.infra.test_settings import dev_values


def problems(stack: str = "dev", region: str = "us-east-1", **overrides: str) -> list[str]:
    try:
        settings_from_values(stack, region, dev_values(**overrides))
    except SettingsError as error:
        return error.problems
    return []


def test_the_error_lists_every_problem_one_per_line() -> None:
    error = SettingsError(["a = 1: expected 2", "b = 3: expected 4"])
    assert error.problems == ["a = 1: expected 2", "b = 3: expected 4"]
    assert str(error) == "invalid stack config:\n  - a = 1: expected 2\n  - b = 3: expected 4"
    assert isinstance(error, ValueError)


def test_problems_of_every_area_are_raised_together_in_reading_order() -> None:
    found = problems(
        stack="Dev",
        region="mars-1",
        namePrefix="X",
        kmsDeletionWindowDays="6",
        trainingRun="0",
        endpointInstanceCount="0",
        driftScheduleMinutes="7",
        logRetentionDays="2",
        permissionsBoundaryArn="b",
        owner="",
        costCentre="",
        deployModel="maybe",
    )
    assert [p.split(":")[0] if p.startswith("stack name") else p.split(" = ")[0] for p in found] == [
        "stack name 'Dev'",
        "aws:region",
        "sagestack:namePrefix",
        "sagestack:kmsDeletionWindowDays",
        "sagestack:trainingRun",
        "sagestack:endpointInstanceCount",
        "sagestack:endpointInstanceCount",  # also outside the autoscaling range
        "sagestack:driftScheduleMinutes",
        "sagestack:logRetentionDays",
        "sagestack:permissionsBoundaryArn",
        "sagestack:owner",
        "sagestack:costCentre",
        "sagestack:deployModel",
    ]


# --- region -------------------------------------------------------------------------------------------


def test_sagemaker_regions_are_the_real_regions_of_every_partition() -> None:
    # botocore endpoints.json lists api.sagemaker in every partition; its FIPS endpoints are not regions.
    regions = _sagemaker_regions()
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-isof-south-1"} <= regions
    assert not {"us-east-1-fips", "us-gov-west-1-secondary", "aws-global"} & regions
    assert len(regions) == 44


def test_a_region_without_sagemaker_is_named() -> None:
    assert problems(region="mars-1") == [
        "aws:region = 'mars-1': expected a region where SageMaker is available"
    ]
    assert problems(region="") == ["aws:region = '': expected a region where SageMaker is available"]


def test_a_region_without_the_sklearn_image_lists_the_regions_that_have_it() -> None:
    # terraform-provider-aws internal/service/sagemaker/prebuilt_ecr_image_data_source.go has no
    # sagemaker-scikit-learn account for mx-central-1.
    (problem,) = problems(region="mx-central-1")
    head = (
        "aws:region = 'mx-central-1': the prebuilt sagemaker-scikit-learn image that trains and serves the model "
        "has no registry there (the provider's get_prebuilt_ecr_image table); expected one of "
    )
    assert problem.startswith(head)
    listed = problem.removeprefix(head).split(", ")
    assert listed == sorted(listed) and "us-east-1" in listed and "mx-central-1" not in listed


# --- name prefix and the name budget ------------------------------------------------------------------


def test_a_prefix_that_fills_the_24_character_budget_exactly_is_allowed() -> None:
    # 'aaaaaaaaaaaaaaaaaaaa-dev' is 24 characters: the bucket-name budget (tests/infra/test_stack_names.py).
    assert (
        settings_from_values("dev", "us-east-1", dev_values(namePrefix="a" * 20)).base_name
        == "a" * 20 + "-dev"
    )
    assert problems(namePrefix="a" * 21) == [
        f"sagestack:namePrefix = {'a' * 21!r}: expected at most 20 characters for stack 'dev': '<prefix>-<stack>' "
        "may have 24 (bucket names are <prefix>-<stack>-artifacts-<12-digit account>-<region>, S3 allows 63 "
        "characters, and the longest region name is us-isof-south-1 with 15)"
    ]


def test_the_prefix_is_blamed_while_a_one_letter_prefix_would_still_fit() -> None:
    assert problems(stack="s" * 21, namePrefix="ab") == []  # 'ab-' + 21 = 24
    assert "expected at most 2 characters for stack" in problems(stack="s" * 21, namePrefix="abc")[0]
    # 22 + 2 = 24: a one-letter prefix would fit, so the prefix is blamed
    assert [p.split(" = ")[0] for p in problems(stack="s" * 22, namePrefix="ab")] == ["sagestack:namePrefix"]
    assert "expected at most 1 characters" in problems(stack="s" * 22, namePrefix="ab")[0]
    longer = "s" * 23  # no prefix fits: the stack name alone is blamed
    assert [p.split(":")[0] for p in problems(stack=longer, namePrefix="ab")] == [
        f"stack name {longer!r} has 23 characters"
    ]


def test_a_name_prefix_must_be_lowercase_letters_digits_and_hyphens() -> None:
    assert problems(namePrefix="Acme") == [
        "sagestack:namePrefix = 'Acme': expected lowercase letters, digits and hyphens, starting with a letter"
    ]


# --- storage ------------------------------------------------------------------------------------------


def test_storage_settings_carry_every_value_read() -> None:
    s = settings_from_values(
        "dev",
        "us-east-1",
        dev_values(
            protectResources="true",
            forceDestroyBuckets="false",
            kmsDeletionWindowDays="10",
            noncurrentVersionRetentionDays="40",
            captureRetentionDays="50",
        ),
    )
    assert s.storage == StorageSettings(
        protect=True,
        force_destroy=False,
        kms_deletion_window_days=10,
        noncurrent_version_retention_days=40,
        capture_retention_days=50,
    )


def test_protected_data_is_never_force_destroyed() -> None:
    assert problems(protectResources="true", forceDestroyBuckets="true") == [
        "sagestack:forceDestroyBuckets = 'true': expected false when protectResources is true (protected data is "
        "never emptied)"
    ]
    assert problems(protectResources="false", forceDestroyBuckets="true") == []
    assert problems(protectResources="true", forceDestroyBuckets="false") == []


# --- the rest of Settings ------------------------------------------------------------------------------


def test_settings_carry_identity_tags_boundary_and_logs() -> None:
    boundary = "arn:aws:iam::111122223333:policy/team/boundary-1"
    s = settings_from_values(
        "dev",
        "eu-west-1",
        dev_values(
            owner="me",
            costCentre="cc-1",
            permissionsBoundaryArn=boundary,
            logRetentionDays="30",
            deployModel="false",
        ),
    )
    assert (s.project, s.stack, s.region, s.name_prefix) == ("sagestack", "dev", "eu-west-1", "sagestack")
    assert (s.owner, s.cost_centre, s.permissions_boundary_arn) == ("me", "cc-1", boundary)
    assert (s.log_retention_days, s.deploy_model) == (30, False)
    assert settings_from_values("dev", "us-east-1", dev_values()).permissions_boundary_arn is None


@pytest.mark.parametrize(
    "arn", ["arn:aws:iam::aws:policy/PowerUserAccess", "arn:aws-us-gov:iam::111122223333:policy/b"]
)
def test_a_boundary_is_any_iam_policy_arn(arn: str) -> None:
    assert problems(permissionsBoundaryArn=arn) == []


def test_a_removed_key_is_told_to_go_with_its_value() -> None:
    (problem,) = problems(driftEngine="lambda")
    assert problem.startswith(
        "sagestack:driftEngine = 'lambda': expected the key removed (delete it from the stack file)"
    )


def test_keys_read_are_exactly_the_declared_ones_whatever_the_values() -> None:
    good = keys_read_by_settings("dev", "us-east-1", dev_values())
    bad = keys_read_by_settings("Dev", "mars-1", dev_values(serverless="true", endpointInstanceCount="x"))
    assert good == bad and "owner" in good and "approvedModelPackageArn" in good


def test_a_stack_file_is_read_as_settings_from_its_values() -> None:
    prod = settings_of_stack_file("prod")
    assert (prod.stack, prod.region, prod.storage.protect, prod.serving.instance_count) == (
        "prod",
        "eu-west-1",
        True,
        4,
    )
    config = load_stack_config("prod")
    assert prod == settings_from_values("prod", config.region, config.values, config.pulumi_config())


# --- how long an update may wait ------------------------------------------------------------------------


def test_an_update_waits_for_training_then_the_worst_rollout() -> None:
    # dev: spot training waits up to 7,200 s; the deployment timeout is 900 s (provisioning only), and the
    # worst rollout is 2 x (900 + 1,800 rollback margin) + 300 start grace = 5,700 s (infra/rollout.py).
    dev = settings_from_values("dev", "us-east-1", dev_values())
    assert update_seconds_upper_bound(dev) == 7_200 + 5_700
    on_demand = settings_from_values("dev", "us-east-1", dev_values(spotTraining="false"))
    assert update_seconds_upper_bound(on_demand) == 3_600 + 5_700
    assert (
        update_seconds_upper_bound(settings_from_values("dev", "us-east-1", dev_values(deployModel="false")))
        == 0
    )


# --- what the program reads ---------------------------------------------------------------------------


@pytest.fixture
def pulumi_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Pulumi's config map for one test (what `pulumi up` hands the program), restored afterwards."""
    config: dict[str, str] = {}
    token = runtime_config.CONFIG.set(config)
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.setattr(pulumi, "get_stack", lambda: "dev")
    try:
        yield config
    finally:
        runtime_config.CONFIG.reset(token)


def test_the_program_reads_set_keys_and_pulumi_yamls_defaults(pulumi_config: dict[str, str]) -> None:
    pulumi_config.update(
        {
            "aws:region": "eu-west-1",
            "aws:allowedAccountIds": '["111122223333"]',
            "sagestack:owner": "me",
            "sagestack:costCentre": "cc",
            "sagestack:endpointInstanceCount": "1",
            "sagestack:modelConsumerAccounts": '["444455556666"]',
        }
    )
    s = load_settings()
    assert (s.stack, s.region, s.owner, s.cost_centre) == ("dev", "eu-west-1", "me", "cc")
    assert (s.allowed_account_ids, s.model_consumer_accounts) == (("111122223333",), ("444455556666",))
    assert s.serving.instance_type == "ml.m5.large" and s.log_retention_days == 30  # Pulumi.yaml's defaults


def test_the_program_refuses_a_missing_region_and_unknown_keys(pulumi_config: dict[str, str]) -> None:
    pulumi_config.update({"sagestack:owner": "me", "sagestack:costCentre": "cc", "sagestack:ownr": "x"})
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert error.value.problems == [
        "unknown config key 'sagestack:ownr': Pulumi.yaml declares no 'ownr'; did you mean sagestack:owner?",
        "aws:region = '': expected a region where SageMaker is available",
    ]


def test_runtime_config_keys_join_the_engines_environment_and_the_config_map(
    pulumi_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # pulumi-language-python hands the stack's config as JSON in PULUMI_CONFIG (pulumi/pulumi
    # sdk/python/cmd/pulumi-language-python/main.go); mocks and the automation API fill the map instead.
    pulumi_config.update({"sagestack:owner": "me"})
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"aws:region": "eu-west-1", "sagestack:owner": "me"}))
    assert runtime_config_keys() == {"aws:region", "sagestack:owner"}


def test_a_name_prefix_is_checked_whole_not_by_its_first_letters() -> None:
    # It starts every bucket name; S3 allows lowercase letters, digits, dots and hyphens only
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
    assert problems(namePrefix="ab_C!") == [
        "sagestack:namePrefix = 'ab_C!': expected lowercase letters, digits and hyphens, starting with a letter"
    ]


def test_a_stack_file_hands_over_its_allowed_accounts_and_every_key_it_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.shared.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  aws:allowedAccountIds: ['111122223333']\n  sagestack:owner: me\n"
        "  sagestack:costCentre: cc\n  sagestack:modelConsumerAccounts: ['444455556666']\n"
    )
    (tmp_path / "Pulumi.typo.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  sagestack:owner: me\n  sagestack:costCentre: cc\n  sagestack:ownr: x\n"
    )
    monkeypatch.setattr(config_schema, "load_stack_config", lambda stack: load_stack_config(stack, tmp_path))
    shared = settings_of_stack_file("shared")
    assert (shared.allowed_account_ids, shared.model_consumer_accounts) == (
        ("111122223333",),
        ("444455556666",),
    )
    with pytest.raises(SettingsError) as error:
        settings_of_stack_file("typo")
    assert error.value.problems == [
        "unknown config key 'sagestack:ownr': Pulumi.yaml declares no 'ownr'; did you mean sagestack:owner?"
    ]


def test_bad_allowed_accounts_are_one_of_the_problems() -> None:
    with pytest.raises(SettingsError) as error:
        settings_from_values("dev", "us-east-1", dev_values(), allowed_account_ids='["1111"]')
    assert error.value.problems == [
        "aws:allowedAccountIds = '[\"1111\"]': expected a list of quoted 12-digit account IDs"
    ]


def test_a_boundary_that_is_not_a_policy_arn_is_named_with_what_is_allowed() -> None:
    assert problems(permissionsBoundaryArn="arn:aws:iam::111122223333:role/b") == [
        "sagestack:permissionsBoundaryArn = 'arn:aws:iam::111122223333:role/b': expected an IAM policy ARN or \"\""
    ]

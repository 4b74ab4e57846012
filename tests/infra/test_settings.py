"""Config validation: every bad value is named, with what is allowed, before any resource is registered."""

from __future__ import annotations

import pytest

from infra.config_schema import (
    PROJECT_ROOT,
    StackFileError,
    load_stack_config,
    project_config_schema,
    stack_names,
)
from infra.settings import SettingsError, keys_read_by_settings, settings_from_values
from tests.infra.harness import RecordingMocks, run_program


def dev_values(**overrides: str) -> dict[str, str]:
    return {**load_stack_config("dev").values, **overrides}


def test_pulumi_yaml_declares_exactly_the_keys_the_code_reads() -> None:
    declared = set(project_config_schema())
    assert keys_read_by_settings("dev", "us-east-1", dev_values()) == declared


def test_every_declared_key_has_a_type_default_and_description() -> None:
    for key in project_config_schema().values():
        assert key.type in {"string", "integer", "boolean", "array"}
        assert key.default is not None, key.name
        assert len(key.description) > 20, key.name


@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_file_is_valid(stack: str) -> None:
    config = load_stack_config(stack)
    assert settings_from_values(stack, config.region, config.values).stack == stack


BAD_VALUES = [
    ("trainingInstanceType", "ml.m5.huge", "SageMaker training instance type"),
    ("trainingInstanceType", "ml.t2.medium", "SageMaker training instance type"),  # endpoint-only type
    ("endpointInstanceType", "ml.p3.2xlarge-typo", "SageMaker endpoint instance type"),
    ("endpointInstanceCount", "0", "whole number from 1 to 100"),
    ("endpointInstanceCount", "two", "whole number from 1 to 100"),
    ("captureSamplingPercent", "101", "whole number from 0 to 100"),
    ("learningRate", "0", "decimal number in (0.0, 1.0]"),
    ("learningRate", "fast", "decimal number in (0.0, 1.0]"),
    ("estimator", "xgboost", "one of gradient_boosting, random_forest, logistic_regression"),
    ("deploymentStrategy", "rolling", "one of all-at-once, canary, linear"),
    ("driftEngine", "clarify", "one of lambda, model-monitor"),
    ("spotTraining", "yes", "true or false"),
    ("logRetentionDays", "10", "one of 1, 3, 5, 7, 14, 30"),
    ("kmsDeletionWindowDays", "3", "whole number from 7 to 30"),
    ("namePrefix", "Sage_Stack", "lowercase letters"),
    ("namePrefix", "a-very-long-prefix-for-buckets", "at most"),
    ("permissionsBoundaryArn", "boundary", "IAM policy ARN"),
    ("approvedModelPackageArn", "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn", "versioned"),
    ("alarmEmails", '["ops@example.com", "not-an-email"]', "email addresses"),
    ("alarmEmails", '"ops@example.com"', "a list of email addresses"),
    ("serverlessMemoryMb", "1500", "multiple of 1024"),
    ("driftScheduleMinutes", "45", "divisor or a multiple of 60"),
    ("dataPrefix", "/datasets/", "S3 key prefix"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES)
def test_a_bad_value_names_the_key_the_value_and_what_is_allowed(key: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings_from_values("dev", "us-east-1", dev_values(**{key: value}))
    message = str(error.value)
    assert f"sagestack:{key} = " in message
    assert value.strip('"[]').split('", "')[-1] in message
    assert expected in message


AWS_CONSTRAINTS = [
    ({"deploymentStrategy": "canary"}, "canaryInstances", "at most half"),
    ({"deploymentStrategy": "linear", "endpointInstanceCount": "1"}, "linearStepInstances", "10-50%"),
    (
        {
            "deploymentStrategy": "linear",
            "endpointInstanceCount": "20",
            "autoscalingMaxInstances": "20",
            "linearStepInstances": "1",
        },
        "linearStepInstances",
        "10-50%",
    ),
    ({"serverless": "true"}, "captureSamplingPercent", "serverless endpoints cannot capture"),
    (
        {"serverless": "true", "captureSamplingPercent": "0", "deploymentStrategy": "canary"},
        "deploymentStrategy",
        "all-at-once for a serverless endpoint",
    ),
    (
        {"serverless": "true", "captureSamplingPercent": "0", "servingNetworkIsolation": "true"},
        "servingNetworkIsolation",
        "false for a serverless endpoint",
    ),
    (
        {"spotTraining": "true", "spotMaxWaitSeconds": "600", "trainingMaxRuntimeSeconds": "3600"},
        "spotMaxWaitSeconds",
        "at least trainingMaxRuntimeSeconds",
    ),
    ({"endpointInstanceCount": "3", "autoscalingMaxInstances": "2"}, "endpointInstanceCount", "between"),
    ({"protectResources": "true", "forceDestroyBuckets": "true"}, "forceDestroyBuckets", "never emptied"),
    ({"driftEngine": "model-monitor", "driftScheduleMinutes": "30"}, "driftScheduleMinutes", "hourly"),
    (
        {
            "deploymentStrategy": "linear",
            "endpointInstanceCount": "10",
            "autoscalingMaxInstances": "10",
            "linearStepInstances": "1",
            "trafficWaitSeconds": "3600",
        },
        "trafficWaitSeconds",
        "would need",
    ),
]


@pytest.mark.parametrize(("overrides", "key", "expected"), AWS_CONSTRAINTS)
def test_aws_constraints_the_mocks_cannot_see_are_enforced(
    overrides: dict[str, str], key: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as error:
        settings_from_values("dev", "us-east-1", dev_values(**overrides))
    assert any(p.startswith(f"sagestack:{key} = ") and expected in p for p in error.value.problems), (
        error.value
    )


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(SettingsError) as error:
        settings_from_values("dev", "us-east-1", dev_values(estimator="svm", maxDepth="0", owner=""))
    assert len(error.value.problems) == 3


def test_unknown_region_and_bad_stack_name_are_rejected() -> None:
    with pytest.raises(SettingsError, match="aws:region = 'mars-north-1'"):
        settings_from_values("dev", "mars-north-1", dev_values())
    with pytest.raises(SettingsError, match="stack name 'Dev_1'"):
        settings_from_values("Dev_1", "us-east-1", dev_values())


def test_a_misspelt_key_in_a_stack_file_is_an_error(tmp_path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.typo.yaml").write_text(
        "config:\n  aws:region: us-east-1\n  sagestack:endpointInstanceTyp: x\n"
    )
    with pytest.raises(StackFileError, match="unknown config key 'sagestack:endpointInstanceTyp'"):
        load_stack_config("typo", tmp_path)
    (tmp_path / "Pulumi.noregion.yaml").write_text("config:\n  sagestack:owner: me\n")
    with pytest.raises(StackFileError, match="aws:region"):
        load_stack_config("noregion", tmp_path)


def test_config_errors_surface_before_any_resource_is_registered() -> None:
    mocks = RecordingMocks("us-east-1")
    with pytest.raises(SettingsError, match="sagestack:endpointInstanceCount"):
        run_program("dev", {"endpointInstanceCount": "0"}, mocks=mocks)
    assert mocks.resources == []


def test_readme_config_reference_is_generated_from_pulumi_yaml() -> None:
    from infra.config_schema import config_reference_markdown

    assert config_reference_markdown() in (PROJECT_ROOT / "README.md").read_text(), "run `make docs`"


def test_readme_reference_check_fails_when_pulumi_yaml_changes(tmp_path) -> None:
    from infra.config_schema import config_reference_markdown

    changed = (PROJECT_ROOT / "Pulumi.yaml").read_text().replace("default: 200", "default: 300", 1)
    (tmp_path / "Pulumi.yaml").write_text(changed)
    project_config_schema.cache_clear()
    try:
        assert config_reference_markdown(tmp_path) not in (PROJECT_ROOT / "README.md").read_text()
    finally:
        project_config_schema.cache_clear()

"""Config validation: every bad value is named, with what is allowed, before any resource is registered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra import images
from infra.config_reader import HYPERPARAMETER_KEYS
from infra.config_schema import (
    PROJECT_ROOT,
    StackFileError,
    load_stack_config,
    project_config_schema,
    stack_names,
)
from infra.settings import SettingsError, keys_read_by_settings, settings_from_values
from infra.stack_names import longest_region, max_base_name, name_budget_reason
from infra.storage import BUCKET_PURPOSES, bucket_name
from tests.infra.conftest import recording_of
from tests.infra.harness import RecordingMocks, run_program
from training import contract


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
    assert settings_from_values(stack, config.region, config.values, config.pulumi_config()).stack == stack


BAD_VALUES = [
    ("trainingInstanceType", "ml.m5.huge", "SageMaker training instance type"),
    ("trainingInstanceType", "ml.t2.medium", "SageMaker training instance type"),  # endpoint-only type
    ("endpointInstanceType", "ml.p3.2xlarge-typo", "SageMaker endpoint instance type"),
    ("endpointInstanceCount", "0", "whole number from 1 to 100"),
    ("endpointInstanceCount", "two", "whole number from 1 to 100"),
    ("captureSamplingPercent", "101", "whole number from 0 to 100"),
    ("learningRate", "0", "a number in [1e-06, 1.0] (training/contract.py"),
    ("learningRate", "fast", "a number in [1e-06, 1.0] (training/contract.py"),
    ("regularizationC", "1e-10", "a number in [1e-09, 1000000000.0] (training/contract.py"),
    ("maxDepth", "101", "an integer in [0, 100] (training/contract.py"),
    ("estimator", "xgboost", "one of ['gradient_boosting', 'random_forest', 'logistic_regression']"),
    ("owner", "", "the stack's 'owner' tag, set per stack"),
    ("costCentre", "", "the stack's 'cost-centre' tag, set per stack"),
    ("deploymentStrategy", "rolling", "one of all-at-once, canary, linear"),
    ("spotTraining", "yes", "true or false"),
    ("logRetentionDays", "10", "one of 1, 3, 5, 7, 14, 30"),
    ("kmsDeletionWindowDays", "3", "whole number from 7 to 30"),
    ("namePrefix", "Sage_Stack", "lowercase letters"),
    ("namePrefix", "a-very-long-prefix-for-buckets", "at most 20 characters for stack 'dev'"),
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
        settings_from_values("dev", "us-east-1", dev_values(estimator="svm", maxDepth="-1", owner=""))
    assert len(error.value.problems) == 3


def test_unknown_region_and_bad_stack_name_are_rejected() -> None:
    with pytest.raises(SettingsError, match="aws:region = 'mars-north-1'"):
        settings_from_values("dev", "mars-north-1", dev_values())
    with pytest.raises(SettingsError, match="stack name 'Dev_1'"):
        settings_from_values("Dev_1", "us-east-1", dev_values())


# --- unknown keys, read from the whole config the engine hands the program ----------------------------


def test_every_unknown_key_and_namespace_is_named_with_the_closest_declared_one() -> None:
    configured = {
        "aws:region",
        "pulumi:tags",
        "sagestack:owner",
        "sagestack:endpointInstanceCont",
        "sagestak:costCentre",
        "sagestack:zzz",
    }
    with pytest.raises(SettingsError) as error:
        settings_from_values("dev", "us-east-1", dev_values(), configured)
    problems = error.value.problems
    assert len(problems) == 3, problems
    assert (
        "unknown config key 'sagestack:endpointInstanceCont': Pulumi.yaml declares no "
        "'endpointInstanceCont'; did you mean sagestack:endpointInstanceCount?"
    ) in problems
    assert any(
        p.startswith("unknown config namespace 'sagestak' in 'sagestak:costCentre'")
        and "did you mean sagestack:costCentre?" in p
        for p in problems
    )
    assert "unknown config key 'sagestack:zzz': Pulumi.yaml declares no 'zzz'" in problems


def test_a_misspelt_aws_provider_key_is_named() -> None:
    # pulumi_aws/config/vars.py reads aws:region, aws:profile, aws:defaultTags, ... and nothing called regoin.
    with pytest.raises(SettingsError) as error:
        settings_from_values("dev", "us-east-1", dev_values(), {"aws:region", "aws:regoin", "aws:profile"})
    assert error.value.problems == [
        "unknown config key 'aws:regoin': the aws provider has no 'regoin'; did you mean aws:region?"
    ]


def test_declared_keys_and_the_aws_and_pulumi_namespaces_are_accepted() -> None:
    config = load_stack_config("prod")
    assert settings_from_values("prod", config.region, config.values, config.pulumi_config()).stack == "prod"


def _project_with(tmp_path: Path, stack: str, config: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_ROOT / "Pulumi.yaml").read_text())
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(config)
    return tmp_path


def test_a_misspelt_key_in_a_stack_file_fails_the_program_before_any_resource(tmp_path: Path) -> None:
    root = _project_with(
        tmp_path,
        "typo",
        "config:\n  aws:region: us-east-1\n  sagestack:owner: a\n  sagestack:costCentre: b\n"
        "  sagestack:endpointInstanceCont: 3\n  sagestak:costCentre: c\n  endpointInstanceTyp: x\n",
    )
    mocks = RecordingMocks("us-east-1")
    with pytest.raises(SettingsError) as error:
        run_program("typo", mocks=mocks, root=root)
    message = str(error.value)
    assert "did you mean sagestack:endpointInstanceCount?" in message
    assert "unknown config namespace 'sagestak'" in message
    # A key without namespace is the project's, as for `pulumi config set` (Pulumi config docs).
    assert "unknown config key 'sagestack:endpointInstanceTyp'" in message
    assert "did you mean sagestack:endpointInstanceType?" in message
    assert mocks.resources == []


def test_keys_the_engine_passes_in_pulumi_config_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # pulumi-language-python starts the program with the stack's config as JSON in PULUMI_CONFIG
    # (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go; pulumi/runtime/config.py reads it).
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"sagestack:deployModle": "false"}))
    mocks = RecordingMocks("us-east-1")
    with pytest.raises(SettingsError, match="did you mean sagestack:deployModel"):
        run_program("dev", mocks=mocks)
    assert mocks.resources == []


def test_a_stack_file_without_region_is_a_settings_error(tmp_path: Path) -> None:
    root = _project_with(tmp_path, "noregion", "config:\n  sagestack:owner: me\n")
    config = load_stack_config("noregion", root)
    with pytest.raises(SettingsError, match="aws:region = ''"):
        settings_from_values("noregion", config.region, config.values)
    (tmp_path / "Pulumi.broken.yaml").write_text("config: [1, 2]\n")
    with pytest.raises(StackFileError, match="must be a mapping"):
        load_stack_config("broken", root)


def test_a_stack_file_is_read_safely_and_bad_yaml_names_the_file(tmp_path: Path) -> None:
    root = _project_with(tmp_path, "ok", "config:\n  sagestack:owner: me\n")
    # A python tag is refused by every safe loader (PyYAML docs, "Loading YAML": safe_load constructs only
    # standard YAML tags), so a stack file can never run code when the program reads it.
    (tmp_path / "Pulumi.tagged.yaml").write_text("config: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(StackFileError, match=r"Pulumi\.tagged\.yaml is not valid YAML"):
        load_stack_config("tagged", root)
    (tmp_path / "Pulumi.unclosed.yaml").write_text("config: [1, 2\n")
    with pytest.raises(StackFileError, match=r"Pulumi\.unclosed\.yaml is not valid YAML"):
        load_stack_config("unclosed", root)
    assert load_stack_config("ok", root).values["owner"] == "me"


# --- required tags ------------------------------------------------------------------------------------


def test_owner_and_cost_centre_have_no_default_and_every_stack_sets_them() -> None:
    schema = project_config_schema()
    assert schema["owner"].default == "" and schema["costCentre"].default == ""
    for stack in stack_names():
        overrides = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert overrides.get("sagestack:owner") and overrides.get("sagestack:costCentre"), stack
    values = {**dev_values(), "owner": "", "costCentre": ""}
    with pytest.raises(SettingsError) as error:
        settings_from_values("dev", "us-east-1", values)
    assert [p.split(" = ")[0] for p in error.value.problems] == ["sagestack:owner", "sagestack:costCentre"]


# --- hyperparameters: one table, the training contract's ------------------------------------------------


def test_regularization_c_the_contract_rejects_fails_before_any_resource() -> None:
    mocks = RecordingMocks("us-east-1")
    with pytest.raises(SettingsError, match="sagestack:regularizationC = '1e-10'"):
        run_program("dev", {"estimator": "logistic_regression", "regularizationC": "1e-10"}, mocks=mocks)
    assert mocks.resources == []


@pytest.mark.parametrize(("key", "name"), sorted(HYPERPARAMETER_KEYS.items()))
def test_settings_accept_exactly_what_the_training_contract_accepts(key: str, name: str) -> None:
    spec = contract.HYPERPARAMETERS_BY_NAME[name]
    if spec.choices:
        for choice in spec.choices:
            settings_from_values("dev", "us-east-1", dev_values(**{key: choice}))
        with pytest.raises(SettingsError, match=f"sagestack:{key} = "):
            settings_from_values("dev", "us-east-1", dev_values(**{key: "svm"}))
        return
    step = 1 if spec.type is int else spec.minimum * 1e-3 if spec.minimum else 1e-9
    for edge in (spec.minimum, spec.maximum):
        if edge is not None:
            settings_from_values("dev", "us-east-1", dev_values(**{key: str(spec.type(edge))}))
    if spec.minimum is not None:
        with pytest.raises(SettingsError, match=f"sagestack:{key} = "):
            settings_from_values("dev", "us-east-1", dev_values(**{key: str(spec.type(spec.minimum - step))}))
    if spec.maximum is not None:
        with pytest.raises(SettingsError, match=f"sagestack:{key} = "):
            above = spec.maximum + 1 if spec.type is int else spec.maximum * 1.001
            settings_from_values("dev", "us-east-1", dev_values(**{key: str(above)}))


def test_every_hyperparameter_of_the_contract_is_a_config_key() -> None:
    assert sorted(HYPERPARAMETER_KEYS.values()) == sorted(contract.HYPERPARAMETERS_BY_NAME)
    assert set(HYPERPARAMETER_KEYS) <= set(project_config_schema())


# --- regions where the stack's images exist -----------------------------------------------------------


# terraform-provider-aws internal/service/sagemaker/prebuilt_ecr_image_data_source.go: the table behind
# sagemaker-scikit-learn (prebuiltECRImageIDByRegion_XGBoost) has no entry for these SageMaker regions.
@pytest.mark.parametrize("region", ["ap-east-2", "ap-southeast-5", "ap-southeast-7", "mx-central-1"])
def test_a_region_without_the_sklearn_image_is_rejected_with_the_reason(region: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings_from_values("dev", region, dev_values())
    assert f"aws:region = '{region}': the prebuilt sagemaker-scikit-learn image" in str(error.value)


# Model Monitor was dropped (docs/decisions.md): a stack file that still chooses an engine fails in settings,
# before any resource, and says what to do.
@pytest.mark.parametrize("value", ["model-monitor", "lambda"])
def test_a_stack_file_that_still_sets_drift_engine_is_told_to_delete_the_key(value: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings_from_values(
            "dev", "us-east-1", {**dev_values(), "driftEngine": value}, ["sagestack:driftEngine"]
        )
    message = str(error.value)
    assert (
        f"sagestack:driftEngine = '{value}': expected the key removed (delete it from the stack file)"
        in message
    )
    assert "Model Monitor: removed" in message
    assert "unknown config key" not in message  # one clear error, not a second generic one


def test_the_drift_engine_key_is_not_declared_any_more() -> None:
    assert "driftEngine" not in project_config_schema()
    assert settings_from_values("dev", "us-east-1", dev_values()).monitoring.engine == "lambda"


def test_registry_accounts_match_the_provider_table() -> None:
    # prebuilt_ecr_image_data_source.go: us-east-1 sklearn 683313688378, eu-west-1 141502667606,
    # cn-north-1 450853457545.
    assert images.registry_account(images.SKLEARN_REPOSITORY, "us-east-1") == "683313688378"
    assert images.registry_account(images.SKLEARN_REPOSITORY, "eu-west-1") == "141502667606"
    assert images.registry_account(images.SKLEARN_REPOSITORY, "cn-north-1") == "450853457545"
    assert set(images.REGISTRY_ACCOUNTS) == {images.SKLEARN_REPOSITORY}
    assert images.registry_account(images.SKLEARN_REPOSITORY, "mx-central-1") is None


def test_the_harness_answers_the_image_data_source_as_the_provider_does() -> None:
    recording = recording_of("staging")
    paths = {c[1]["repositoryName"]: c for c in recording.calls if c[0].endswith("getPrebuiltEcrImage")}
    assert "sagemaker-scikit-learn" in paths
    training = recording.one("aws:sagemaker/trainingJob:TrainingJob")
    image = training.inputs["algorithmSpecification"]["trainingImage"]
    assert image.startswith("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:")


# --- the physical-name budget -------------------------------------------------------------------------


def test_the_name_budget_holds_for_the_longest_region() -> None:
    # us-isof-south-1 (botocore endpoints.json, aws-iso-f) has 15 characters; S3 bucket names at most 63.
    assert len("us-isof-south-1") == 15 and len(longest_region()) >= 15
    budget = max_base_name()
    assert budget == 24  # 63 - len("-artifacts-123456789012-us-isof-south-1")
    base = "a" * budget
    longest = max(
        (bucket_name(base, purpose, "123456789012", longest_region()) for purpose in BUCKET_PURPOSES), key=len
    )
    assert len(longest) == 63


def test_a_stack_name_no_prefix_can_fit_blames_the_stack_name_and_says_why() -> None:
    stack = "a-very-long-team-stack-name"
    with pytest.raises(SettingsError) as error:
        settings_from_values(stack, "us-east-1", dev_values())
    message = str(error.value)
    assert (
        f"stack name {stack!r} has {len(stack)} characters: expected at most {max_base_name() - 2}" in message
    )
    assert "us-isof-south-1" in message and "S3 allows 63" in message
    assert "namePrefix = " not in message  # no prefix could fix it


def test_a_stack_name_a_shorter_prefix_would_fit_blames_the_prefix() -> None:
    stack = "team-analytics1"  # 'sagestack-team-analytics1' has 25 > 24 characters; a short prefix fits
    with pytest.raises(SettingsError) as error:
        settings_from_values(stack, "us-east-1", dev_values())
    assert error.value.problems == [
        f"sagestack:namePrefix = 'sagestack': expected at most {max_base_name() - len(stack) - 1} characters "
        f"for stack {stack!r}: '<prefix>-<stack>' may have {max_base_name()} ({name_budget_reason()})"
    ]
    assert settings_from_values(stack, "us-east-1", dev_values(namePrefix="ss")).base_name == f"ss-{stack}"


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

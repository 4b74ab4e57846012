"""policy/guardrails/sagemaker.py as units: the endpoint, training and instance-type rules on small hand-built
props (no program run, no pack run; test_policy_pack_offline.py runs the pack over every stack)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.guardrails import sagemaker
from policy.guardrails.instance_storage import has_instance_storage
from policy.guardrails.resource_types import (
    DATA_QUALITY_JOB_DEFINITION,
    ENDPOINT,
    ENDPOINT_CONFIGURATION,
    PIPELINE,
    TRAINING_JOB,
)

NVME = "ml.g4dn.xlarge"  # g4dn carries local NVMe storage (the "d" families; instance_storage.py)
KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"


# --- variants -------------------------------------------------------------------------------------------


def test_variants_are_the_production_variant_objects() -> None:
    assert sagemaker.variants({"productionVariants": [{"a": 1}, "x", {"b": 2}]}) == [{"a": 1}, {"b": 2}]
    assert sagemaker.variants({}) == []


@pytest.mark.parametrize(
    ("given", "serverless"),
    [
        ([], False),
        ([{"serverlessConfig": {"maxConcurrency": 1}}], True),
        ([{"serverlessConfig": {}}, {"serverlessConfig": {"memorySizeInMb": 2048}}], True),
        ([{"serverlessConfig": {}}, {"instanceType": "ml.m5.large"}], False),
        ([{"instanceType": "ml.m5.large"}], False),
    ],
)
def test_a_config_is_serverless_only_when_every_variant_is(given: list[Any], serverless: bool) -> None:
    assert sagemaker.is_serverless_config({"productionVariants": given}) is serverless


# --- data capture ---------------------------------------------------------------------------------------

INSTANCE_VARIANT = [{"instanceType": "ml.m5.large"}]


def capture(props_changes: dict[str, Any] | None = None, **changes: Any) -> list[str]:
    config: dict[str, Any] = {
        "enableCapture": True,
        "initialSamplingPercentage": 100,
        "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
        "destinationS3Uri": "s3://capture/endpoint",
    }
    for key, value in changes.items():
        if value is None:
            del config[key]
        else:
            config[key] = value
    props = {"productionVariants": INSTANCE_VARIANT, "dataCaptureConfig": config, **(props_changes or {})}
    return list(sagemaker.check_endpoint_capture(ENDPOINT_CONFIGURATION, props, {}))


def test_full_capture_passes() -> None:
    assert capture() == []
    assert capture(enableCapture="true", initialSamplingPercentage=1) == []
    assert capture(initialSamplingPercentage=0.5) == []


def test_missing_capture_is_one_problem() -> None:
    found = sagemaker.check_endpoint_capture(
        ENDPOINT_CONFIGURATION, {"productionVariants": INSTANCE_VARIANT}, {}
    )
    assert list(found) == [
        "dataCaptureConfig is missing: the drift engine needs captured requests and responses"
    ]


def test_capture_is_not_asked_of_serverless_configs_or_other_resources() -> None:
    # SageMaker has no data capture on serverless endpoints (serverless endpoints' unsupported features, SageMaker docs).
    serverless = {"productionVariants": [{"serverlessConfig": {"maxConcurrency": 1}}]}
    assert list(sagemaker.check_endpoint_capture(ENDPOINT_CONFIGURATION, serverless, {})) == []
    assert list(sagemaker.check_endpoint_capture(ENDPOINT, {}, {})) == []


def test_every_capture_problem_is_named() -> None:
    found = capture(
        enableCapture=False, initialSamplingPercentage=0, captureOptions=None, destinationS3Uri=None
    )
    assert found == [
        "dataCaptureConfig.enableCapture must be true",
        "dataCaptureConfig.initialSamplingPercentage = 0: expected 1-100",
        "dataCaptureConfig.captureOptions must capture Input and Output (missing Input, Output)",
        "dataCaptureConfig.destinationS3Uri is missing",
    ]


@pytest.mark.parametrize(("sampling", "shown"), [(None, "None"), ("50", "'50'"), (-5, "-5")])
def test_sampling_must_be_a_positive_number(sampling: Any, shown: str) -> None:
    changes = {"initialSamplingPercentage": sampling}
    assert capture(**changes) == [f"dataCaptureConfig.initialSamplingPercentage = {shown}: expected 1-100"]


def test_capture_must_cover_requests_and_responses() -> None:
    missing = "dataCaptureConfig.captureOptions must capture Input and Output (missing {})"
    assert capture(captureOptions=[{"captureMode": "Input"}]) == [missing.format("Output")]
    assert capture(captureOptions={"captureMode": "Output"}) == [missing.format("Input")]
    assert capture(enableCapture=None) == ["dataCaptureConfig.enableCapture must be true"]


# --- endpoint volume encryption -------------------------------------------------------------------------

NO_VOLUME_KEY = (
    "kmsKeyArn is missing: the endpoint's ML storage volumes must be encrypted with the stack's key"
)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"productionVariants": INSTANCE_VARIANT}, [NO_VOLUME_KEY]),
        ({"productionVariants": INSTANCE_VARIANT, "kmsKeyArn": KEY}, []),
        ({"productionVariants": [{"instanceType": None}]}, [NO_VOLUME_KEY]),
        ({}, [NO_VOLUME_KEY]),
        # SageMaker rejects a KmsKeyId for instance types with local NVMe storage (CreateEndpointConfig, KmsKeyId).
        ({"productionVariants": [{"instanceType": "ml.m5.large"}, {"instanceType": NVME}]}, []),
        ({"productionVariants": [{"serverlessConfig": {}}]}, []),
    ],
)
def test_an_endpoint_volume_is_encrypted_with_the_stack_key(
    props: dict[str, Any], expected: list[str]
) -> None:
    assert list(sagemaker.check_endpoint_volume_encryption(ENDPOINT_CONFIGURATION, props, {})) == expected


def test_volume_encryption_is_asked_only_of_endpoint_configs() -> None:
    assert list(sagemaker.check_endpoint_volume_encryption(TRAINING_JOB, {}, {})) == []


# --- training encryption and stopping condition ---------------------------------------------------------

NO_OUTPUT_KEY = "outputDataConfig.kmsKeyId is missing: model artifacts must be encrypted with the stack's key"
NO_TRAINING_VOLUME_KEY = (
    "resourceConfig.volumeKmsKeyId is missing: the training volume must be encrypted with the stack's key"
)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({}, [NO_OUTPUT_KEY, NO_TRAINING_VOLUME_KEY]),
        (
            {"outputDataConfig": {"s3OutputPath": "s3://out"}, "resourceConfig": {"volumeKmsKeyId": KEY}},
            [NO_OUTPUT_KEY],
        ),
        (
            {
                "outputDataConfig": {"kmsKeyId": KEY},
                "resourceConfig": {"instanceType": "ml.m5.large", "volumeKmsKeyId": KEY},
            },
            [],
        ),
        (
            {"outputDataConfig": {"kmsKeyId": KEY}, "resourceConfig": {"instanceType": "ml.m5.large"}},
            [NO_TRAINING_VOLUME_KEY],
        ),
        # SageMaker rejects a VolumeKmsKeyId for instance types with local NVMe storage (ResourceConfig, VolumeKmsKeyId).
        ({"resourceConfig": {"instanceType": NVME}}, [NO_OUTPUT_KEY]),
    ],
)
def test_training_output_and_volume_are_encrypted(props: dict[str, Any], expected: list[str]) -> None:
    assert list(sagemaker.check_training_encryption(TRAINING_JOB, props, {})) == expected


def test_training_rules_are_asked_only_of_training_jobs() -> None:
    assert list(sagemaker.check_training_encryption(ENDPOINT_CONFIGURATION, {}, {})) == []
    assert list(sagemaker.check_training_stopping_condition(ENDPOINT_CONFIGURATION, {}, {})) == []


NO_RUNTIME = (
    "stoppingCondition.maxRuntimeInSeconds is missing: a runaway job would bill until someone stops it"
)


def stopping(**condition: Any) -> list[str]:
    spot = condition.pop("spot", None)
    props: dict[str, Any] = {"stoppingCondition": condition}
    if spot is not None:
        props["enableManagedSpotTraining"] = spot
    return list(sagemaker.check_training_stopping_condition(TRAINING_JOB, props, {}))


@pytest.mark.parametrize("runtime", [None, 0, -1, "3600"])
def test_training_needs_a_positive_max_runtime(runtime: Any) -> None:
    assert stopping(maxRuntimeInSeconds=runtime) == [NO_RUNTIME]
    assert stopping(maxRuntimeInSeconds=runtime, spot=True) == [NO_RUNTIME]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"maxRuntimeInSeconds": 1}, []),
        ({"maxRuntimeInSeconds": 3600, "spot": False}, []),
        ({"maxRuntimeInSeconds": 3600, "spot": True, "maxWaitTimeInSeconds": 3600}, []),
        ({"maxRuntimeInSeconds": 3600, "spot": "true", "maxWaitTimeInSeconds": 7200.0}, []),
        # Spot training requires MaxWaitTimeInSeconds >= MaxRuntimeInSeconds (StoppingCondition, SageMaker API reference).
        (
            {"maxRuntimeInSeconds": 3600, "spot": True, "maxWaitTimeInSeconds": 3599},
            [
                "stoppingCondition.maxWaitTimeInSeconds = 3599: spot training needs it, at least "
                "maxRuntimeInSeconds (3600)"
            ],
        ),
        (
            {"maxRuntimeInSeconds": 60, "spot": "true"},
            [
                "stoppingCondition.maxWaitTimeInSeconds = None: spot training needs it, at least maxRuntimeInSeconds (60)"
            ],
        ),
        (
            {"maxRuntimeInSeconds": 60, "spot": True, "maxWaitTimeInSeconds": "120"},
            [
                "stoppingCondition.maxWaitTimeInSeconds = '120': spot training needs it, at least maxRuntimeInSeconds (60)"
            ],
        ),
    ],
)
def test_spot_training_needs_a_wait_at_least_the_runtime(
    condition: dict[str, Any], expected: list[str]
) -> None:
    assert stopping(**condition) == expected


# --- instance types -------------------------------------------------------------------------------------

ALLOWED = {"allowedInstanceTypes": ["ml.t2.medium", "ml.m5.large"]}
LISTED = "not in this stack's allow-list (ml.m5.large, ml.t2.medium)"


def instance_types(resource_type: str, props: dict[str, Any]) -> list[str]:
    return list(sagemaker.check_instance_types(resource_type, props, ALLOWED))


def test_the_default_allow_list_holds_real_instance_types_without_nvme() -> None:
    # SageMaker instance type names are ml.<family>.<size> (ProductionVariant InstanceType, SageMaker API reference).
    assert sagemaker.DEFAULT_ALLOWED_INSTANCE_TYPES
    for name in sagemaker.DEFAULT_ALLOWED_INSTANCE_TYPES:
        assert re.fullmatch(r"ml\.[a-z0-9]+\.[0-9]*x?(large|medium|small)", name), name
        assert not has_instance_storage(name)


def test_training_instance_types_are_checked_with_their_group_index() -> None:
    props = {
        "resourceConfig": {
            "instanceType": "ml.p3.2xlarge",
            "instanceGroups": [{"instanceType": "ml.m5.large"}, {"instanceType": "ml.c5.xlarge"}],
        }
    }
    assert instance_types(TRAINING_JOB, props) == [
        f"resourceConfig.instanceType = ml.p3.2xlarge: {LISTED}",
        f"resourceConfig.instanceGroups[1].instanceType = ml.c5.xlarge: {LISTED}",
    ]


def test_endpoint_variants_and_shadow_variants_are_checked() -> None:
    props = {
        "productionVariants": [{"instanceType": "ml.t2.medium"}, {"instanceType": "ml.g5.xlarge"}],
        "shadowProductionVariants": [{"instanceType": "ml.c5.large"}],
    }
    assert instance_types(ENDPOINT_CONFIGURATION, props) == [
        f"productionVariants[1].instanceType = ml.g5.xlarge: {LISTED}",
        f"shadowProductionVariants[0].instanceType = ml.c5.large: {LISTED}",
    ]


def test_absent_unknown_and_allowed_instance_types_pass() -> None:
    props = {
        "productionVariants": [{"serverlessConfig": {}}],
        "shadowProductionVariants": [{"instanceType": "ml.m5.large"}],
    }
    assert instance_types(ENDPOINT_CONFIGURATION, props) == []
    assert instance_types(TRAINING_JOB, {"resourceConfig": {"instanceType": "ml.t2.medium"}}) == []
    # Inside a pipeline definition an instance type not known yet arrives as the engine's sentinel string.
    step = {
        "Name": "T",
        "Type": "Training",
        "Arguments": {"ResourceConfig": {"InstanceType": UNKNOWN_STRING_VALUE}},
    }
    assert instance_types(PIPELINE, {"pipelineDefinition": {"Steps": [step]}}) == []


def test_the_data_quality_job_instance_type_is_checked() -> None:
    props = {"jobResources": {"clusterConfig": {"instanceType": "ml.m5.4xlarge"}}}
    assert instance_types(DATA_QUALITY_JOB_DEFINITION, props) == [
        f"jobResources.clusterConfig.instanceType = ml.m5.4xlarge: {LISTED}"
    ]


def test_other_resources_have_no_instance_types() -> None:
    assert instance_types(ENDPOINT, {"instanceType": "ml.p3.2xlarge"}) == []


def pipeline_definition() -> dict[str, Any]:
    def training(name: str, instance_type: Any) -> dict[str, Any]:
        return {
            "Name": name,
            "Type": "Training",
            "Arguments": {"ResourceConfig": {"InstanceType": instance_type}},
        }

    def processing(name: str, instance_type: Any) -> dict[str, Any]:
        cluster = {"ClusterConfig": {"InstanceType": instance_type}}
        return {"Name": name, "Type": "Processing", "Arguments": {"ProcessingResources": cluster}}

    return {
        "Steps": [
            training("Train", "ml.p3.2xlarge"),
            {
                "Name": "Gate",
                "Type": "Condition",
                "Arguments": {
                    "IfSteps": [processing("Evaluate", "ml.c5.xlarge")],
                    "ElseSteps": [
                        {
                            "Type": "Training",
                            "Arguments": {"ResourceConfig": {"InstanceType": "ml.g4dn.xlarge"}},
                        }
                    ],
                },
            },
            processing("Baseline", "ml.r5.large"),
            training("Param", {"Get": "Parameters.TrainingInstanceType"}),
            processing("Allowed", "ml.m5.large"),
            {"Name": "Register", "Type": "RegisterModel", "Arguments": {"InstanceType": "ml.p4d.24xlarge"}},
            {"Name": "Bare", "Type": "Training"},
            {"Name": "BareProcessing", "Type": "Processing"},
            {"Name": "BareCondition", "Type": "Condition"},
            {
                "Type": "Processing",
                "Arguments": {"ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.c5.2xlarge"}}},
            },
        ]
    }


EXPECTED_PIPELINE = [
    f"pipelineDefinition step Train = ml.p3.2xlarge: {LISTED}",
    f"pipelineDefinition step Baseline = ml.r5.large: {LISTED}",
    f"pipelineDefinition step ? = ml.c5.2xlarge: {LISTED}",
    f"pipelineDefinition step Evaluate = ml.c5.xlarge: {LISTED}",
    f"pipelineDefinition step ? = ml.g4dn.xlarge: {LISTED}",
]


def test_pipeline_steps_are_checked_in_order_with_condition_branches_after() -> None:
    assert instance_types(PIPELINE, {"pipelineDefinition": pipeline_definition()}) == EXPECTED_PIPELINE


def test_a_pipeline_definition_in_json_is_parsed() -> None:
    assert (
        instance_types(PIPELINE, {"pipelineDefinition": json.dumps(pipeline_definition())})
        == EXPECTED_PIPELINE
    )


@pytest.mark.parametrize("definition", [None, "", {}, {"Steps": []}, {"Other": 1}])
def test_an_empty_pipeline_has_nothing_to_check(definition: Any) -> None:
    assert instance_types(PIPELINE, {"pipelineDefinition": definition}) == []

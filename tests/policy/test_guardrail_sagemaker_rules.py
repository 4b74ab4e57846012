"""policy/guardrails/sagemaker.py as a unit: the endpoint, training and instance-type rules on small hand-built
props (no program run, no pack run)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.guardrails import resource_types as t
from policy.guardrails import sagemaker, values

ALLOWED = {"allowedInstanceTypes": ["ml.m5.large", "ml.t2.medium"]}
ALLOW_LIST = "(ml.m5.large, ml.t2.medium)"


def capture(**changes: Any) -> dict[str, Any]:
    config = {
        "enableCapture": True,
        "initialSamplingPercentage": 100,
        "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
        "destinationS3Uri": "s3://capture/endpoint",
    }
    config.update(changes)
    return {"productionVariants": [{"instanceType": "ml.m5.large"}], "dataCaptureConfig": config}


def check_capture(props: dict[str, Any], type_: str = t.ENDPOINT_CONFIGURATION) -> list[str]:
    return list(sagemaker.check_endpoint_capture(type_, props, {}))


# --- endpoint capture -----------------------------------------------------------------------------------


def test_serverless_configs_are_every_variant_serverless() -> None:
    assert sagemaker.is_serverless_config(
        {"productionVariants": [{"serverlessConfig": {"memorySizeInMb": 2048}}]}
    )
    assert not sagemaker.is_serverless_config(
        {"productionVariants": [{"serverlessConfig": {}}, {"instanceType": "ml.m5.large"}]}
    )
    assert not sagemaker.is_serverless_config({"productionVariants": []})
    assert not sagemaker.is_serverless_config({})
    assert sagemaker.variants({"productionVariants": [{"a": 1}, "junk", 3]}) == [{"a": 1}]


def test_a_full_capture_passes() -> None:
    assert check_capture(capture()) == []
    assert check_capture(capture(enableCapture="true", initialSamplingPercentage=0.5)) == []


def test_missing_capture_is_refused_but_not_for_serverless_or_other_types() -> None:
    assert check_capture({"productionVariants": [{"instanceType": "ml.m5.large"}]}) == [
        "dataCaptureConfig is missing: the drift engine needs captured requests and responses"
    ]
    # SageMaker does not support data capture on serverless endpoints
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html, "Feature exclusions").
    assert check_capture({"productionVariants": [{"serverlessConfig": {"maxConcurrency": 1}}]}) == []
    assert check_capture({}, t.ENDPOINT) == []


def test_each_capture_problem_is_named() -> None:
    bad = capture(
        enableCapture=False,
        initialSamplingPercentage=0,
        captureOptions=[{"captureMode": "Input"}],
        destinationS3Uri="",
    )
    assert check_capture(bad) == [
        "dataCaptureConfig.enableCapture must be true",
        "dataCaptureConfig.initialSamplingPercentage = 0: expected 1-100",
        "dataCaptureConfig.captureOptions must capture Input and Output (missing Output)",
        "dataCaptureConfig.destinationS3Uri is missing",
    ]
    empty = {"productionVariants": [{"instanceType": "ml.m5.large"}], "dataCaptureConfig": {}}
    assert check_capture(empty) == [
        "dataCaptureConfig.enableCapture must be true",
        "dataCaptureConfig.initialSamplingPercentage = None: expected 1-100",
        "dataCaptureConfig.captureOptions must capture Input and Output (missing Input, Output)",
        "dataCaptureConfig.destinationS3Uri is missing",
    ]
    assert check_capture(capture(initialSamplingPercentage="50"))[0].endswith("= '50': expected 1-100")
    assert check_capture(capture(initialSamplingPercentage=-1)) == [
        "dataCaptureConfig.initialSamplingPercentage = -1: expected 1-100"
    ]


# --- endpoint volume ------------------------------------------------------------------------------------


def check_volume(props: dict[str, Any], type_: str = t.ENDPOINT_CONFIGURATION) -> list[str]:
    return list(sagemaker.check_endpoint_volume_encryption(type_, props, {}))


def test_an_endpoint_volume_needs_the_stacks_key() -> None:
    message = "kmsKeyArn is missing: the endpoint's ML storage volumes must be encrypted with the stack's key"
    assert check_volume({"productionVariants": [{"instanceType": "ml.m5.large"}]}) == [message]
    assert check_volume({"productionVariants": [{"instanceType": "ml.m5.large"}], "kmsKeyArn": ""}) == [
        message
    ]
    assert check_volume({"productionVariants": [{"instanceType": "ml.m5.large"}], "kmsKeyArn": "arn:k"}) == []


def test_no_volume_key_for_serverless_nvme_or_other_types() -> None:
    assert check_volume({"productionVariants": [{"serverlessConfig": {}}]}) == []
    # KmsKeyId is not supported for instance types with local storage (CreateEndpointConfig API reference,
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html).
    nvme = {"productionVariants": [{"instanceType": "ml.m5.large"}, {"instanceType": "ml.m5d.large"}]}
    assert check_volume(nvme) == []
    assert check_volume({"productionVariants": [{"instanceType": {"Get": "Parameters.Type"}}]}) != []
    assert check_volume({}, t.TRAINING_JOB) == []


# --- training -------------------------------------------------------------------------------------------


def training(**resource: Any) -> dict[str, Any]:
    config = {"instanceType": "ml.m5.large", "volumeKmsKeyId": "arn:k", **resource}
    return {"outputDataConfig": {"kmsKeyId": "arn:k"}, "resourceConfig": config}


def test_training_output_and_volume_need_the_stacks_key() -> None:
    check = sagemaker.check_training_encryption
    assert list(check(t.TRAINING_JOB, training(), {})) == []
    assert list(check(t.TRAINING_JOB, {"resourceConfig": {"instanceType": "ml.m5.large"}}, {})) == [
        "outputDataConfig.kmsKeyId is missing: model artifacts must be encrypted with the stack's key",
        "resourceConfig.volumeKmsKeyId is missing: the training volume must be encrypted with the stack's key",
    ]
    nvme = training(instanceType="ml.p4d.24xlarge", volumeKmsKeyId=None)
    assert list(check(t.TRAINING_JOB, nvme, {})) == []
    assert list(check(t.TRAINING_JOB, training(instanceType=None, volumeKmsKeyId=None), {})) == [
        "resourceConfig.volumeKmsKeyId is missing: the training volume must be encrypted with the stack's key"
    ]
    assert list(check(t.ENDPOINT_CONFIGURATION, {}, {})) == []


def stopping(runtime: Any = 3600, wait: Any = None, spot: Any = None) -> dict[str, Any]:
    props: dict[str, Any] = {"stoppingCondition": {"maxRuntimeInSeconds": runtime}}
    if wait is not None:
        props["stoppingCondition"]["maxWaitTimeInSeconds"] = wait
    if spot is not None:
        props["enableManagedSpotTraining"] = spot
    return props


def check_stop(props: dict[str, Any], type_: str = t.TRAINING_JOB) -> list[str]:
    return list(sagemaker.check_training_stopping_condition(type_, props, {}))


RUNAWAY = "stoppingCondition.maxRuntimeInSeconds is missing: a runaway job would bill until someone stops it"


@pytest.mark.parametrize("runtime", [None, 0, -5, "3600"])
def test_a_job_without_a_positive_max_runtime_is_refused(runtime: Any) -> None:
    assert check_stop(stopping(runtime, spot=True)) == [RUNAWAY]


def test_a_bounded_job_passes_and_other_types_are_ignored() -> None:
    assert check_stop(stopping(1)) == []
    assert check_stop(stopping(0.5)) == []
    assert check_stop({}, t.ENDPOINT_CONFIGURATION) == []


def test_spot_training_needs_a_wait_of_at_least_the_runtime() -> None:
    # MaxWaitTimeInSeconds must be equal to or greater than MaxRuntimeInSeconds (StoppingCondition API reference,
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html).
    assert check_stop(stopping(3600, 3600, True)) == []
    assert check_stop(stopping(3600, 7200, "true")) == []
    assert check_stop(stopping(3600, 3599, True)) == [
        "stoppingCondition.maxWaitTimeInSeconds = 3599: spot training needs it, at least maxRuntimeInSeconds (3600)"
    ]
    assert check_stop(stopping(3600, spot=True)) == [
        "stoppingCondition.maxWaitTimeInSeconds = None: spot training needs it, at least maxRuntimeInSeconds (3600)"
    ]
    assert check_stop(stopping(3600, "7200", True))[0].startswith(
        "stoppingCondition.maxWaitTimeInSeconds = '7200'"
    )
    assert check_stop(stopping(3600, 10, False)) == []
    assert check_stop(stopping(3600, 10)) == []


# --- instance types -------------------------------------------------------------------------------------


def check_types(type_: str, props: dict[str, Any]) -> list[str]:
    return list(sagemaker.check_instance_types(type_, props, ALLOWED))


def test_training_instance_types_and_groups_are_checked() -> None:
    props = {
        "resourceConfig": {
            "instanceType": "ml.p3.2xlarge",
            "instanceGroups": [{"instanceType": "ml.m5.large"}, {"instanceType": "ml.c5.xlarge"}],
        }
    }
    assert check_types(t.TRAINING_JOB, props) == [
        f"resourceConfig.instanceType = ml.p3.2xlarge: not in this stack's allow-list {ALLOW_LIST}",
        f"resourceConfig.instanceGroups[1].instanceType = ml.c5.xlarge: not in this stack's allow-list {ALLOW_LIST}",
    ]


def test_endpoint_variants_and_shadow_variants_are_checked() -> None:
    props = {
        "productionVariants": [{"instanceType": "ml.m5.large"}, {"instanceType": "ml.g5.xlarge"}],
        "shadowProductionVariants": [{"instanceType": "ml.c5.large"}],
    }
    assert check_types(t.ENDPOINT_CONFIGURATION, props) == [
        f"productionVariants[1].instanceType = ml.g5.xlarge: not in this stack's allow-list {ALLOW_LIST}",
        f"shadowProductionVariants[0].instanceType = ml.c5.large: not in this stack's allow-list {ALLOW_LIST}",
    ]


def test_data_quality_job_cluster_is_checked() -> None:
    props = {"jobResources": {"clusterConfig": {"instanceType": "ml.m5.4xlarge"}}}
    assert check_types(t.DATA_QUALITY_JOB_DEFINITION, props) == [
        f"jobResources.clusterConfig.instanceType = ml.m5.4xlarge: not in this stack's allow-list {ALLOW_LIST}"
    ]


def pipeline(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Steps": list(steps)}


def train_step(name: str, instance_type: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "Training",
        "Arguments": {"ResourceConfig": {"InstanceType": instance_type}},
    }


def process_step(name: str, instance_type: Any) -> dict[str, Any]:
    cluster = {"ClusterConfig": {"InstanceType": instance_type}}
    return {"Name": name, "Type": "Processing", "Arguments": {"ProcessingResources": cluster}}


def test_pipeline_training_and_processing_steps_are_checked_inside_conditions_too() -> None:
    definition = pipeline(
        train_step("Train", "ml.c5.xlarge"),
        {
            "Name": "Gate",
            "Type": "Condition",
            "Arguments": {
                "IfSteps": [process_step("Eval", "ml.r5.large")],
                "ElseSteps": [train_step("Retry", "ml.m5.large"), {"Type": "Training", "Arguments": {}}],
            },
        },
        process_step("Pre", {"Get": "Parameters.ProcessingInstanceType"}),
        {"Name": "Fail", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}},
    )
    expected = [
        f"pipelineDefinition step Train = ml.c5.xlarge: not in this stack's allow-list {ALLOW_LIST}",
        f"pipelineDefinition step Eval = ml.r5.large: not in this stack's allow-list {ALLOW_LIST}",
    ]
    assert check_types(t.PIPELINE, {"pipelineDefinition": json.dumps(definition)}) == expected
    assert check_types(t.PIPELINE, {"pipelineDefinition": definition}) == expected


def test_pipeline_steps_without_a_name_are_named_by_a_question_mark() -> None:
    definition = pipeline(
        {"Type": "Training", "Arguments": {"ResourceConfig": {"InstanceType": "ml.c5.xlarge"}}},
        {
            "Type": "Processing",
            "Arguments": {"ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.c5.2xlarge"}}},
        },
        {"Type": "Condition", "Arguments": {"IfSteps": [train_step("In", "ml.c5.4xlarge")]}},
        {"Type": "Condition", "Arguments": {"ElseSteps": [train_step("Out", "ml.c5.9xlarge")]}},
        {"Type": "Training"},
        {"Type": "Processing"},
        {"Type": "Condition"},
    )
    got = check_types(t.PIPELINE, {"pipelineDefinition": definition})
    assert [line.split(":")[0] for line in got] == [
        "pipelineDefinition step ? = ml.c5.xlarge",
        "pipelineDefinition step ? = ml.c5.2xlarge",
        "pipelineDefinition step In = ml.c5.4xlarge",
        "pipelineDefinition step Out = ml.c5.9xlarge",
    ]
    assert check_types(t.PIPELINE, {"pipelineDefinition": {"Version": "2020-12-01"}}) == []
    assert check_types(t.PIPELINE, {"pipelineDefinition": ""}) == []
    assert check_types(t.PIPELINE, {}) == []


def test_allowed_absent_and_parameter_instance_types_pass() -> None:
    props = {
        "productionVariants": [
            {"instanceType": "ml.t2.medium"},
            {"serverlessConfig": {}},
            {"instanceType": {"Get": "Parameters.Type"}},
        ]
    }
    assert check_types(t.ENDPOINT_CONFIGURATION, props) == []
    assert check_types(t.BUCKET, {"resourceConfig": {"instanceType": "ml.p5.48xlarge"}}) == []


def test_an_instance_type_not_known_yet_is_no_violation() -> None:
    definition = pipeline(train_step("Train", UNKNOWN_STRING_VALUE))
    assert check_types(t.PIPELINE, {"pipelineDefinition": definition}) == []
    with pytest.raises(values.Unknown):
        check_types(
            t.ENDPOINT_CONFIGURATION, {"productionVariants": [{"instanceType": UNKNOWN_STRING_VALUE}]}
        )


def test_the_default_allow_list_is_small_cpu_types() -> None:
    assert sagemaker.DEFAULT_ALLOWED_INSTANCE_TYPES == (
        "ml.t2.medium",
        "ml.m5.large",
        "ml.m5.xlarge",
        "ml.m5.2xlarge",
    )


def test_a_processing_step_without_a_cluster_config_names_no_instance_type() -> None:
    definition = pipeline({"Name": "P", "Type": "Processing", "Arguments": {"ProcessingResources": {}}})
    assert check_types(t.PIPELINE, {"pipelineDefinition": definition}) == []
    no_config = pipeline({"Name": "T", "Type": "Training", "Arguments": {"ResourceConfig": {}}})
    assert check_types(t.PIPELINE, {"pipelineDefinition": no_config}) == []


def test_an_output_config_without_a_key_is_refused() -> None:
    props = training()
    props["outputDataConfig"] = {"s3OutputPath": "s3://models/training"}
    assert list(sagemaker.check_training_encryption(t.TRAINING_JOB, props, {})) == [
        "outputDataConfig.kmsKeyId is missing: model artifacts must be encrypted with the stack's key"
    ]

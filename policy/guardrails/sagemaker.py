"""SageMaker resources: captured and encrypted endpoints, encrypted and bounded training, allowed instances."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .instance_storage import has_instance_storage
from .resource_types import DATA_QUALITY_JOB_DEFINITION, ENDPOINT_CONFIGURATION, PIPELINE, TRAINING_JOB
from .values import get, is_unknown, items, truthy

DEFAULT_ALLOWED_INSTANCE_TYPES = ("ml.t2.medium", "ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge")


def variants(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [v for v in items(props, "productionVariants") if isinstance(v, dict)]


def is_serverless_config(props: Mapping[str, Any]) -> bool:
    """A configuration whose every production variant is serverless (SageMaker cannot capture those)."""
    found = variants(props)
    return bool(found) and all(get(v, "serverlessConfig") is not None for v in found)


def check_endpoint_capture(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type != ENDPOINT_CONFIGURATION or is_serverless_config(props):
        return  # SageMaker does not support data capture on serverless endpoints
    capture = get(props, "dataCaptureConfig")
    if capture is None:
        yield "dataCaptureConfig is missing: the drift engine needs captured requests and responses"
        return
    if not truthy(get(capture, "enableCapture")):
        yield "dataCaptureConfig.enableCapture must be true"
    sampling = get(capture, "initialSamplingPercentage")
    if not isinstance(sampling, int | float) or sampling <= 0:
        yield f"dataCaptureConfig.initialSamplingPercentage = {sampling!r}: expected 1-100"
    modes = {get(option, "captureMode") for option in items(capture, "captureOptions")}
    missing = {"Input", "Output"} - modes
    if missing:
        yield f"dataCaptureConfig.captureOptions must capture Input and Output (missing {', '.join(sorted(missing))})"
    if not get(capture, "destinationS3Uri"):
        yield "dataCaptureConfig.destinationS3Uri is missing"


def check_endpoint_volume_encryption(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type != ENDPOINT_CONFIGURATION or is_serverless_config(props):
        return  # serverless endpoints have no volume to encrypt, and SageMaker rejects a key for them
    types = [get(v, "instanceType") for v in variants(props)]
    if any(isinstance(t, str) and has_instance_storage(t) for t in types):
        return  # SageMaker rejects a volume key for instance types with local NVMe storage
    if not get(props, "kmsKeyArn"):
        yield "kmsKeyArn is missing: the endpoint's ML storage volumes must be encrypted with the stack's key"


def check_training_encryption(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type != TRAINING_JOB:
        return
    if not get(props, "outputDataConfig", "kmsKeyId"):
        yield "outputDataConfig.kmsKeyId is missing: model artifacts must be encrypted with the stack's key"
    instance_type = get(props, "resourceConfig", "instanceType")
    nvme = isinstance(instance_type, str) and has_instance_storage(instance_type)
    if not nvme and not get(props, "resourceConfig", "volumeKmsKeyId"):
        yield "resourceConfig.volumeKmsKeyId is missing: the training volume must be encrypted with the stack's key"


def check_training_stopping_condition(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type != TRAINING_JOB:
        return
    runtime = get(props, "stoppingCondition", "maxRuntimeInSeconds")
    if not isinstance(runtime, int | float) or runtime <= 0:
        yield "stoppingCondition.maxRuntimeInSeconds is missing: a runaway job would bill until someone stops it"
        return
    if truthy(get(props, "enableManagedSpotTraining") or False):
        wait = get(props, "stoppingCondition", "maxWaitTimeInSeconds")
        if not isinstance(wait, int | float) or wait < runtime:
            yield (
                f"stoppingCondition.maxWaitTimeInSeconds = {wait!r}: spot training needs it, "
                f"at least maxRuntimeInSeconds ({runtime})"
            )


def _pipeline_instance_types(definition: Any) -> Iterator[tuple[str, str]]:
    """(step name, instance type) of every Training and Processing step, nested condition branches included."""
    if isinstance(definition, str):
        definition = json.loads(definition)
    pending = list(definition.get("Steps", []))
    while pending:
        step = pending.pop(0)
        arguments = step.get("Arguments", {})
        if step.get("Type") == "Training":
            yield step.get("Name", "?"), arguments.get("ResourceConfig", {}).get("InstanceType")
        elif step.get("Type") == "Processing":
            yield (
                step.get("Name", "?"),
                arguments.get("ProcessingResources", {}).get("ClusterConfig", {}).get("InstanceType"),
            )
        elif step.get("Type") == "Condition":
            pending += arguments.get("IfSteps", []) + arguments.get("ElseSteps", [])


def _instance_types(resource_type: str, props: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if resource_type == TRAINING_JOB:
        yield "resourceConfig.instanceType", get(props, "resourceConfig", "instanceType")
        for index, group in enumerate(items(props, "resourceConfig", "instanceGroups")):
            yield f"resourceConfig.instanceGroups[{index}].instanceType", get(group, "instanceType")
    elif resource_type == ENDPOINT_CONFIGURATION:
        for prop in ("productionVariants", "shadowProductionVariants"):
            for index, variant in enumerate(items(props, prop)):
                yield f"{prop}[{index}].instanceType", get(variant, "instanceType")
    elif resource_type == PIPELINE:
        definition = get(props, "pipelineDefinition")
        if definition:
            for step, instance_type in _pipeline_instance_types(definition):
                yield f"pipelineDefinition step {step}", instance_type
    elif resource_type == DATA_QUALITY_JOB_DEFINITION:
        yield (
            "jobResources.clusterConfig.instanceType",
            get(props, "jobResources", "clusterConfig", "instanceType"),
        )


def check_instance_types(
    resource_type: str, props: dict[str, Any], config: Mapping[str, Any]
) -> Iterable[str]:
    allowed = set(config["allowedInstanceTypes"])
    for where, instance_type in _instance_types(resource_type, props):
        # Pipeline parameters ({"Get": ...}) and absent values (serverless variants) are not instance types.
        if isinstance(instance_type, str) and not is_unknown(instance_type) and instance_type not in allowed:
            yield f"{where} = {instance_type}: not in this stack's allow-list ({', '.join(sorted(allowed))})"

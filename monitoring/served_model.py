"""The model an endpoint serves now: endpoint -> endpoint configuration -> model -> artifact or package.

The drift engine asks this at every run instead of trusting a URL fixed at deploy time, so its baseline
follows promotions (a pinned model package) and rollbacks (the endpoint back on an older configuration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSION_VARIABLE = "SAGESTACK_MODEL_VERSION"  # set on every model the stack creates


class ServedModelError(RuntimeError):
    """The endpoint's chain does not lead to one model artifact; the message names the broken link."""


@dataclass(frozen=True)
class ServedModel:
    endpoint_config_name: str
    model_name: str
    model_data_url: str
    version: str  # the stack's model version, else the package ARN, else the model name
    model_package_arn: str | None = None


def served_model(sagemaker: Any, endpoint_name: str, variant_name: str) -> ServedModel:
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config_name = endpoint["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    if variant_name not in variants:
        raise ServedModelError(
            f"endpoint configuration {config_name} has no variant {variant_name!r} (it has {sorted(variants)})"
        )
    model_name = variants[variant_name]["ModelName"]
    model = sagemaker.describe_model(ModelName=model_name)
    containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers", [])
    if len(containers) != 1:
        raise ServedModelError(f"model {model_name} has {len(containers)} containers; expected exactly one")
    container = containers[0]
    version = container.get("Environment", {}).get(VERSION_VARIABLE)
    if container.get("ModelDataUrl"):
        return ServedModel(config_name, model_name, container["ModelDataUrl"], version or model_name)
    package_arn = container.get("ModelPackageName")
    if not package_arn:
        raise ServedModelError(f"model {model_name} names neither a ModelDataUrl nor a ModelPackageName")
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    package_containers = package.get("InferenceSpecification", {}).get("Containers", [])
    urls = [c["ModelDataUrl"] for c in package_containers if c.get("ModelDataUrl")]
    if len(urls) != 1:
        raise ServedModelError(
            f"model package {package_arn} has {len(urls)} model artifacts; expected exactly one"
        )
    return ServedModel(config_name, model_name, urls[0], version or package_arn, package_arn)

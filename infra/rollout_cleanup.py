"""What a rollout leaves behind, deleted once the deployment was verified: the stack's endpoint configurations
and models its endpoint no longer serves (Pulumi retains them so that SageMaker can roll back to them).

Run by `python -m infra.rollout` (infra/rollout.py `main`), from the deploy workflow after verification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from infra.rollout import IN_SERVICE, RolloutError


def _owned(sagemaker: Any, arn: str, tags: Mapping[str, str]) -> bool:
    found = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn).get("Tags", [])}
    return all(found.get(key) == value for key, value in tags.items())


def clean_up(
    sagemaker: Any,
    *,
    endpoint_name: str,
    base_name: str,
    tags: Mapping[str, str],
    keep_previous: int = 1,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Delete this stack's endpoint configurations and models that the endpoint no longer needs.

    Kept: the configuration the endpoint serves, the `keep_previous` newest before it (to roll back to by
    hand), their models, and everything created after the served configuration (a deployment in flight).
    Only resources named after the stack and tagged as the stack's are touched.
    """
    endpoint = _describe_or_none(sagemaker, endpoint_name)
    if endpoint is not None and endpoint["EndpointStatus"] != IN_SERVICE:
        raise RolloutError(
            f"endpoint {endpoint_name} is {endpoint['EndpointStatus']}: clean up after it settles"
        )
    configs = _stack_items(sagemaker, _CONFIG_LISTING, base_name, tags)
    models = _stack_items(sagemaker, _MODEL_LISTING, base_name, tags)
    served = endpoint["EndpointConfigName"] if endpoint else None
    served_at = next((c["CreationTime"] for c in configs if c["EndpointConfigName"] == served), None)
    keep: set[str] = set()
    if served is not None:
        keep.add(served)
        older = [c for c in configs if served_at is not None and c["CreationTime"] < served_at]
        keep.update(
            c["EndpointConfigName"] for c in sorted(older, key=_created, reverse=True)[:keep_previous]
        )
        keep.update(
            c["EndpointConfigName"] for c in configs if served_at is None or c["CreationTime"] > served_at
        )
    needed_models = {
        variant["ModelName"]
        for name in keep
        for variant in sagemaker.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
    }
    newest_kept = max((c["CreationTime"] for c in configs if c["EndpointConfigName"] in keep), default=None)
    deleted = []
    for config in configs:
        if config["EndpointConfigName"] not in keep:
            sagemaker.delete_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
            deleted.append(config["EndpointConfigName"])
    for model in models:
        in_flight = newest_kept is not None and model["CreationTime"] > newest_kept
        if model["ModelName"] not in needed_models and not in_flight:
            sagemaker.delete_model(ModelName=model["ModelName"])
            deleted.append(model["ModelName"])
    for name in deleted:
        log(f"deleted {name}")
    return deleted


def _created(item: Mapping[str, Any]) -> datetime:
    created: datetime = item["CreationTime"]
    return created


def _describe_or_none(sagemaker: Any, endpoint_name: str) -> dict[str, Any] | None:
    try:
        return dict(sagemaker.describe_endpoint(EndpointName=endpoint_name))
    except sagemaker.exceptions.ClientError as error:
        if "Could not find endpoint" in str(error):
            return None
        raise


# How to list each kind clean-up deletes: (list operation, page key, name field, ARN field).
_CONFIG_LISTING = ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn")


_MODEL_LISTING = ("list_models", "Models", "ModelName", "ModelArn")


def _stack_items(
    sagemaker: Any, listing: tuple[str, str, str, str], base_name: str, tags: Mapping[str, str]
) -> list[dict[str, Any]]:
    operation, key, name_key, arn_key = listing
    items = []
    for page in sagemaker.get_paginator(operation).paginate(NameContains=base_name):
        for item in page[key]:
            if item[name_key].startswith(f"{base_name}-") and _owned(sagemaker, item[arn_key], tags):
                items.append(item)
    return items

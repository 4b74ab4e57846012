"""Tags: every aws resource goes through an explicit provider whose defaultTags carry the required keys."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .adapters import StackResource
from .resource_types import AWS_PROVIDER
from .values import Unknown, known

REQUIRED_TAGS = ("project", "stack", "owner", "cost-centre")


def provider_default_tags(provider_props: Mapping[str, Any]) -> dict[str, Any]:
    """An aws provider's defaultTags.tags; the engine may hand provider config over as a JSON string."""
    default_tags = known(provider_props.get("defaultTags"))
    if isinstance(default_tags, str):
        default_tags = json.loads(default_tags) if default_tags else {}
    tags = known((default_tags or {}).get("tags"))
    if isinstance(tags, str):
        tags = json.loads(tags) if tags else {}
    return dict(tags or {})


def check_required_tags(
    resources: list[StackResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    required = list(config["requiredTags"])
    reported_providers: set[str] = set()
    for resource in resources:
        if not resource.type.startswith("aws:"):
            continue
        if resource.provider_type != AWS_PROVIDER or (resource.provider_name or "").startswith("default"):
            yield (
                (
                    f"{resource.type} {resource.name}: uses the default aws provider, which sets no default tags; "
                    "pass the stack's explicit provider"
                ),
                resource.urn,
            )
            continue
        try:
            tags = provider_default_tags(resource.provider_props)
        except Unknown:
            continue
        missing = [t for t in required if not isinstance(tags.get(t), str) or not tags[t].strip()]
        if missing and resource.provider_name not in reported_providers:
            reported_providers.add(resource.provider_name or "")
            yield (
                (
                    f"aws provider {resource.provider_name}: defaultTags.tags lacks {', '.join(missing)} "
                    f"(used by {resource.type} {resource.name} and others)"
                ),
                resource.urn,
            )

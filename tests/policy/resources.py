"""Hand-built stack resources for the guardrail rules' unit tests (what the pack's adapters hand a rule)."""

from __future__ import annotations

from typing import Any

from policy.guardrails.adapters import StackResource


def res(
    type_: str, name: str, props: dict[str, Any], deps: dict[str, set[str]] | None = None
) -> StackResource:
    """A resource of the default provider, its URN made from its name."""
    return StackResource(
        type=type_,
        name=name,
        urn=f"urn:{name}",
        props=props,
        provider_type=None,
        provider_name=None,
        provider_props={},
        dependency_urns=deps or {},
    )

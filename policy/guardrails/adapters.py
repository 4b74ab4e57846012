"""Plumbing between the engine and the checks.

A check is a plain function: a resource check takes (type, plain props, config) and yields messages; a
stack check takes every resource as a `StackResource` and yields (message, urn). The adapters here turn
them into pulumi-policy objects: they copy the engine's proxies into plain values, fill in the defaults of
the policy's config schema, and treat `Unknown` as "nothing to say yet".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from .values import Unknown, is_unknown, plain

Check = Callable[[str, dict[str, Any], Mapping[str, Any]], Iterable[str]]


@dataclass
class StackResource:
    """A resource as the stack policies see it: plain props plus what other resources refer to it by."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    provider_type: str | None
    provider_name: str | None
    provider_props: dict[str, Any]
    dependency_urns: dict[str, set[str]] = field(default_factory=dict)

    @property
    def identities(self) -> set[str]:
        """Values a reference to this resource may hold: its id, physical name or ARN."""
        found = set()
        for prop in ("id", "name", "bucket", "arn", "alarmName", "endpointName"):
            value = self.props.get(prop)
            if isinstance(value, str) and value and not is_unknown(value):
                found.add(value)
        return found


StackCheck = Callable[[list[StackResource], Mapping[str, Any]], Iterable[tuple[str, str | None]]]


def stack_resources(args: StackValidationArgs) -> list[StackResource]:
    found = []
    for resource in args.resources:
        provider = resource.provider
        found.append(
            StackResource(
                type=resource.resource_type,
                name=resource.name,
                urn=resource.urn,
                props=plain(resource.props),
                provider_type=provider.resource_type if provider else None,
                provider_name=provider.name if provider else None,
                provider_props=plain(provider.props) if provider else {},
                dependency_urns={
                    prop: {d.urn for d in deps} for prop, deps in resource.property_dependencies.items()
                },
            )
        )
    return found


def of_type(resources: Sequence[StackResource], resource_type: str) -> list[StackResource]:
    return [r for r in resources if r.type == resource_type]


UNRESOLVED = object()


def referenced(
    resource: StackResource, prop: str, targets: Sequence[StackResource]
) -> StackResource | object | None:
    """The target `resource.prop` refers to, None if none, `UNRESOLVED` if the reference is not known yet."""
    urns = resource.dependency_urns.get(prop, set())
    for target in targets:
        if target.urn in urns:
            return target
    value = resource.props.get(prop)
    if value is None:
        return None
    if is_unknown(value):
        return UNRESOLVED
    for target in targets:
        if value in target.identities:
            return target
    return None


def attached(
    targets: Sequence[StackResource], subresources: Sequence[StackResource], prop: str
) -> tuple[dict[str, list[StackResource]], bool]:
    """Sub-resources per target URN, and whether some sub-resource's target is not known yet."""
    by_target: dict[str, list[StackResource]] = {t.urn: [] for t in targets}
    unresolved = False
    for sub in subresources:
        target = referenced(sub, prop, targets)
        if target is UNRESOLVED:
            unresolved = True
        elif isinstance(target, StackResource):
            by_target[target.urn].append(sub)
    return by_target, unresolved


def _config(schema: PolicyConfigSchema | None, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy's config: the defaults its schema declares, overridden by what the pack config sets."""
    properties = schema.properties if schema else {}
    defaults = {key: spec["default"] for key, spec in properties.items() if "default" in spec}
    return {**defaults, **(given or {})}


def resource_policy(
    name: str,
    description: str,
    check: Check,
    *,
    severity: Severity = Severity.HIGH,
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        config = _config(config_schema, args.get_config())
        try:
            for message in check(args.resource_type, plain(args.props), config):
                report_violation(message, None)
        except Unknown:
            return

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=severity,
        config_schema=config_schema,
    )


def stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    *,
    severity: Severity = Severity.HIGH,
    config_schema: PolicyConfigSchema | None = None,
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = _config(config_schema, args.get_config())
        for message, urn in check(stack_resources(args), config):
            report_violation(message, urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=severity,
        config_schema=config_schema,
    )
